"""``edge run``: faces from a camera, file or folder, classified in real time (see edge/run/loop.py)."""
import json
from typing import List, Optional

import typer

# Flags whose config key differs from the parameter name (the rest map by name onto RunConfig).
CONFIG_KEYS = {"camera": "source", "serve": "serve.address", "serve_token": "serve.token",
               "reconnect_initial": "reconnect.initial", "reconnect_factor": "reconnect.factor",
               "reconnect_max_delay": "reconnect.max_delay", "reconnect_jitter": "reconnect.jitter",
               "reconnect_attempts": "reconnect.attempts"}
NOT_CONFIG = ("config", "print_pipeline", "as_json")


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    ctx: typer.Context,
    config: Optional[str] = typer.Option(None, "--config", help="Read the settings from this TOML/YAML file "
                                                               "(keys = the flags' long names with _ for -; "
                                                               "[serve] and [reconnect] sections); flags given "
                                                               "on the command line override it. "
                                                               "`edge config show` prints every key."),
    camera: str = typer.Option("", "--camera", "--source", "-c",
                               help="What to read: csi, csi://N (Jetson CSI camera), usb, N, /dev/videoN "
                                    "(webcam), rtsp://…, test:// or test://ball?frames=N (GStreamer test "
                                    "pattern), a video file, an image, or a folder of images. "
                                    "Default: the bundled sample video."),
    model: str = typer.Option("", "--model", "-m", help="Classifier to run on each face (.onnx, .engine, .pt). "
                                                        "Default: the bundled mask model edge/zoo/mask_default.onnx."),
    backend: str = typer.Option("auto", "--backend", help="Inference backend: auto, onnxruntime, tensorrt, pytorch."),
    threads: int = typer.Option(1, "--threads", help="Inference threads (ONNX Runtime intra-op; 0 = its default). "
                                                     "1 is fastest for a few faces while detection runs too."),
    labels: Optional[List[str]] = typer.Option(None, "--labels", help="Class names, in output order, for a "
                                                                      "model without edge metadata; repeat per class."),
    input_size: Optional[List[int]] = typer.Option(None, "--input-size",
                                                   help="Model input HEIGHT then WIDTH (repeat: --input-size 64 "
                                                        "--input-size 64), for a model without metadata."),
    detector: str = typer.Option("haar", "--detector", help="Face detector: haar (OpenCV cascade) or blazeface "
                                                            "(MediaPipe BlazeFace: finds masked faces too)."),
    detect_scale: float = typer.Option(0.4, "--detect-scale", help="Haar (and the tracker): detect on the frame "
                                                                   "scaled by this (0–1]; 0.5 scans 4× fewer pixels."),
    min_neighbors: int = typer.Option(3, "--min-neighbors", help="Haar minNeighbors: higher = fewer, surer faces."),
    min_size: int = typer.Option(60, "--min-size", help="Smallest face side in full-resolution pixels."),
    scale_factor: float = typer.Option(1.1, "--scale-factor", help="Haar scaleFactor between pyramid levels."),
    cascade: str = typer.Option("haarcascade_frontalface_alt2.xml", "--cascade",
                                help="Haar cascade: a file, or the name of one of OpenCV's bundled cascades."),
    blazeface_model: str = typer.Option("full", "--blazeface-model",
                                        help="BlazeFace model: full (192 px), short (128 px), or a .onnx path "
                                             "or a TensorRT .engine built from one (`edge export --engine`)."),
    blazeface_grid: str = typer.Option("auto", "--blazeface-grid",
                                       help="BlazeFace strategy for small faces: frame (the whole frame at "
                                            "--blazeface-scale, one pass, plus a 128 px pass for big faces), "
                                            "COLSxROWS (the model's square on the whole frame plus that many "
                                            "tiles, one batch; 1x1: no tiles), or auto: frame when the model "
                                            "takes any input size, else 3x2."),
    blazeface_scale: float = typer.Option(0.4, "--blazeface-scale",
                                          help="BlazeFace frame mode: resize the frame by this (0–1]; faces "
                                               "narrower than ~20 px after it are missed (50 px at 0.4); 0.35 "
                                               "is 15 % cheaper but misses more small masked faces."),
    detect_every: int = typer.Option(1, "--detect-every", help="Detect on every N-th frame; a light optical-flow "
                                                               "tracker moves the boxes in between."),
    width: int = typer.Option(1280, "--width", help="Camera frame width (CSI/USB/test)."),
    height: int = typer.Option(720, "--height", help="Camera frame height (CSI/USB/test)."),
    fps: int = typer.Option(30, "--fps", help="Camera frame rate (CSI/USB/test)."),
    flip: int = typer.Option(0, "--flip", help="CSI nvvidconv flip-method 0–7 (2 = rotate 180°)."),
    capture: str = typer.Option("auto", "--capture", help="Capture: auto, gstreamer (PyGObject appsink, or "
                                                          "OpenCV's CAP_GSTREAMER) or opencv."),
    threaded: bool = typer.Option(True, "--threaded/--no-threaded", help="Capture in its own thread (a camera "
                                                                         "never stalls; stale frames dropped)."),
    loop: bool = typer.Option(False, "--loop", help="Start a video file or image folder again at its end (and "
                                                          "reopen it after an error, like a camera)."),
    headless: bool = typer.Option(False, "--headless", help="No window (automatic when there is no display)."),
    save: str = typer.Option("", "--save", help="Write the annotated video to this .mp4 (hardware encoder on a "
                                                "Jetson)."),
    max_frames: int = typer.Option(0, "--max-frames", help="Stop after N frames (0: at the end of the stream)."),
    log: str = typer.Option("", "--log", help="Write one JSON line per frame (stage times, faces, labels) here."),
    summary_every: float = typer.Option(5.0, "--summary-every", help="Print a progress line every N seconds "
                                                                     "(0: never)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for a frame; then a camera is "
                                                          "reopened, a file ends the run with an error."),
    wait_for_source: bool = typer.Option(False, "--wait-for-source", help="At start-up, keep retrying a source "
                                                                          "that cannot be opened yet (with the "
                                                                          "reconnect back-off) instead of failing."),
    log_max_mb: float = typer.Option(0.0, "--log-max-mb", help="Rotate the --log file past this many MB "
                                                               "(frames.jsonl → frames.jsonl.1 …; 0: never)."),
    log_keep: int = typer.Option(5, "--log-keep", help="Rotated log files to keep."),
    telemetry_every: int = typer.Option(30, "--telemetry-every", help="Every N frames, jtop power, temperatures, "
                                                                      "GPU load, power mode and clocks go into "
                                                                      "the log (Jetson with jetson-stats; 0: off)."),
    serve: Optional[str] = typer.Option(None, "--serve", help="Serve the live view (page, /stream.mjpg, "
                                                              "/status.json, /metrics) on HOST:PORT, e.g. "
                                                              "127.0.0.1:8080; other hosts need a token."),
    serve_token: Optional[str] = typer.Option(None, "--serve-token", envvar="EDGE_SERVE_TOKEN",
                                              help="Token clients must send (≥ 16 characters; required for "
                                                   "anything but localhost). Also read from EDGE_SERVE_TOKEN."),
    reconnect_initial: float = typer.Option(0.5, "--reconnect-initial", help="Seconds before the first attempt "
                                                                             "to reopen a failed camera."),
    reconnect_factor: float = typer.Option(2.0, "--reconnect-factor", help="Back-off growth per failed attempt."),
    reconnect_max_delay: float = typer.Option(30.0, "--reconnect-max-delay", help="Longest wait between attempts "
                                                                                  "(seconds)."),
    reconnect_jitter: float = typer.Option(0.0, "--reconnect-jitter", help="Randomise each wait by ± this "
                                                                           "fraction (0–1)."),
    reconnect_attempts: int = typer.Option(0, "--reconnect-attempts", help="Give up after N failed attempts "
                                                                           "(0: retry forever, for a service)."),
    print_pipeline: bool = typer.Option(False, "--print-pipeline", help="Print the capture pipeline for the "
                                                                        "source and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Detect faces, classify all faces of a frame in one batch, draw, log per-frame latency and FPS.

    Example: edge run --camera csi --detect-every 3 --log frames.jsonl
    Example: edge run --headless --max-frames 200     (the bundled sample video and model)
    Example: edge run --detector blazeface --log frames.jsonl
    Example: edge run --detector blazeface --blazeface-model face_detection_full_range.engine --blazeface-grid 3x2
    Example: edge run --config /etc/edge/config.toml --serve 127.0.0.1:8080   (as the service runs it)
    """
    from edge.config import cli_overrides, load_config, merge_cli
    from edge.run.config import RunConfig
    from edge.run.loop import describe_source
    from edge.run.loop import run as run_pipeline

    cfg = load_config(config, RunConfig) if config else RunConfig()
    cfg = merge_cli(cfg, cli_overrides(ctx, CONFIG_KEYS, exclude=NOT_CONFIG))
    if print_pipeline:
        typer.echo(describe_source(cfg))
        return
    summary = run_pipeline(cfg, echo=lambda line: typer.echo(line, err=True))
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        from edge.run.framelog import format_summary

        typer.echo(format_summary(summary))
