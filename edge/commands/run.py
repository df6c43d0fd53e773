"""``edge run``: faces from a camera, file or folder, classified in real time (see edge/pipeline.py)."""
import json
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    camera: str = typer.Option("", "--camera", "--source", "-c",
                               help="What to read: csi, csi://N (Jetson CSI camera), usb, N, /dev/videoN "
                                    "(webcam), rtsp://…, test:// or test://ball?frames=N (GStreamer test "
                                    "pattern), a video file, an image, or a folder of images. "
                                    "Default: the bundled sample video."),
    model: str = typer.Option("", "--model", "-m", help="Classifier to run on each face (.onnx, .engine, .pt). "
                                                        "Default: the bundled mask model models/zoo/mask_default.onnx."),
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
    detect_scale: float = typer.Option(0.5, "--detect-scale", help="Detect on the frame scaled by this (0–1]; "
                                                                   "0.5 scans 4× fewer pixels."),
    min_neighbors: int = typer.Option(3, "--min-neighbors", help="Haar minNeighbors: higher = fewer, surer faces."),
    min_size: int = typer.Option(40, "--min-size", help="Smallest face side in full-resolution pixels."),
    scale_factor: float = typer.Option(1.1, "--scale-factor", help="Haar scaleFactor between pyramid levels."),
    cascade: str = typer.Option("haarcascade_frontalface_alt2.xml", "--cascade",
                                help="Haar cascade: a file, or the name of one of OpenCV's bundled cascades."),
    blazeface_model: str = typer.Option("full", "--blazeface-model",
                                        help="BlazeFace model: full (192 px), short (128 px), or a .onnx path "
                                             "or a TensorRT .engine built from one (`edge export --engine`)."),
    blazeface_grid: str = typer.Option("3x2", "--blazeface-grid",
                                       help="BlazeFace tiles COLSxROWS run with the whole frame in one batch, "
                                            "for small faces; 1x1: the whole frame only."),
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
    loop: bool = typer.Option(False, "--loop", help="Start a video file or image folder again at its end."),
    headless: bool = typer.Option(False, "--headless", help="No window (automatic when there is no display)."),
    save: str = typer.Option("", "--save", help="Write the annotated video to this .mp4 (hardware encoder on a "
                                                "Jetson)."),
    max_frames: int = typer.Option(0, "--max-frames", help="Stop after N frames (0: at the end of the stream)."),
    log: str = typer.Option("", "--log", help="Write one JSON line per frame (stage times, faces, labels) here."),
    summary_every: float = typer.Option(5.0, "--summary-every", help="Print a progress line every N seconds "
                                                                     "(0: never)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for a frame before giving up."),
    print_pipeline: bool = typer.Option(False, "--print-pipeline", help="Print the capture pipeline for the "
                                                                        "source and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Detect faces, classify all faces of a frame in one batch, draw, log per-frame latency and FPS.

    Example: edge run --camera csi --detect-every 3 --log frames.jsonl
    Example: edge run --headless --max-frames 200     (the bundled sample video and model)
    Example: edge run --detector blazeface --blazeface-grid 3x2 --log frames.jsonl
    """
    from edge.pipeline import RunConfig, describe_source
    from edge.pipeline import run as run_pipeline

    cfg = RunConfig(
        source=camera, model=model, backend=backend, threads=threads, labels=tuple(labels or ()),
        input_size=tuple(input_size or ()), detector=detector, detect_scale=detect_scale,
        min_neighbors=min_neighbors, min_size=min_size, scale_factor=scale_factor, cascade=cascade,
        blazeface_model=blazeface_model, blazeface_grid=blazeface_grid,
        detect_every=detect_every, width=width, height=height, fps=fps, flip=flip, capture=capture,
        threaded=threaded, loop=loop, headless=headless, save=save, max_frames=max_frames, log=log,
        summary_every=summary_every, timeout=timeout)
    if print_pipeline:
        typer.echo(describe_source(cfg))
        return
    summary = run_pipeline(cfg, echo=lambda line: typer.echo(line, err=True))
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        from edge.framelog import format_summary

        typer.echo(format_summary(summary))
