"""``RunConfig``: the whole, typed configuration of ``edge run``.

Each field carries its default, its ``edge run`` flag and help (``edge.config.setting``); each detector's
options are its own section (``[haar]``: ``HaarOptions``, ``[blazeface]``: ``BlazeFaceOptions``,
``[objects]``: ``YoloOptions`` for ``--detector PATH``, in the detector's module), as are ``[serve]`` and
``[reconnect]``. ``RunConfig.from_dict`` (a TOML table, say) refuses unknown keys.
"""
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Mapping, Tuple

from edge.config import check_fields, from_dict, setting
from edge.detectors.blazeface import BlazeFaceOptions
from edge.detectors.haar import HaarOptions
from edge.detectors.yolo import YoloOptions
from edge.errors import InputError
from edge.events.clips import RecordOptions
from edge.events.mqtt import MqttOptions
from edge.events.queue import QueueOptions
from edge.events.webhook import WebhookOptions
from edge.outputs.options import OutputOptions
from edge.run.people import PeopleOptions
from edge.service.serve import ServeConfig
from edge.sources.backoff import BackoffConfig
from edge.zoo import MASK_MODEL as DEFAULT_MODEL
from edge.zoo import SAMPLE_VIDEO

NO_MODEL = "none"  # --model none: detection only
DAY_S = 86400.0  # bound of every seconds setting: past it (1e12, inf) a wait overflows, NaN compares false


@dataclass
class RunConfig:
    """Every field is a config key and (``setting``) an ``edge run`` flag with its default and help."""

    source: str = setting("", ("--camera", "--source", "-c"), "What to read: csi, csi://N (Jetson CSI camera), "
                          "usb, N, /dev/videoN, v4l2:///dev/videoN (webcam), rtsp://… (network camera), "
                          "http(s)://… (MJPEG camera or another edge's /stream.mjpg?token=…; HLS: ….m3u8), "
                          "test:// or test://ball?frames=N (GStreamer test pattern), a video file, an image, "
                          "a folder of images or a glob of them ('file:///data/cam/*.jpg', quoted). "
                          "Default: the bundled sample video.")
    model: str = setting("", ("--model", "-m"), "Classifier to run on each face or object (.onnx, .engine, .pt), "
                                                "or none: detection only, each box keeps its detector class as "
                                                "label. Default: the bundled mask model "
                                                "edge/zoo/mask_default.onnx (with --detector PATH: none).")
    backend: str = setting("auto", "--backend", "Inference backend: auto, onnxruntime, tensorrt, pytorch.")
    threads: int = setting(1, "--threads", "Inference threads (ONNX Runtime intra-op; 0 = its default). 1 is "
                                           "fastest for a few faces while detection runs too.")
    labels: Tuple[str, ...] = setting((), "--labels", "Class names in output order, for a model without edge "
                                                      "metadata: a,b,c or a text file with one per line "
                                                      "(config file: a list).")
    input_size: Tuple[int, ...] = setting((), "--input-size", "Model input size, N (square) or HxW such as 96x64, "
                                                              "for a model without edge metadata (config file: "
                                                              "[HEIGHT, WIDTH]).")
    detector: str = setting("blazeface", "--detector", "Face detector: blazeface (default: MediaPipe BlazeFace, "
                                                       "finds masked faces too; [blazeface]) or haar (OpenCV "
                                                       "cascade, the original method; [haar]); or an object "
                                                       "detector's PATH.onnx / PATH.engine (a YOLO or SSD "
                                                       "export; [objects]).")
    haar: HaarOptions = field(default_factory=HaarOptions)
    blazeface: BlazeFaceOptions = field(default_factory=BlazeFaceOptions)
    objects: YoloOptions = field(default_factory=YoloOptions)
    classify_classes: Tuple[str, ...] = setting((), "--classify-classes", "Classify only the boxes of these "
                                                "detector classes (person,car; config file: a list); the others "
                                                "keep their detector class. Default: every box (an object "
                                                "detector's too: name the classes the --model was trained on).")
    detect_every: int = setting(1, "--detect-every", "Detect on every N-th frame; a light optical-flow tracker "
                                                     "moves the boxes in between.")
    width: int = setting(1280, "--width", "Camera frame width (CSI/USB/test).")
    height: int = setting(720, "--height", "Camera frame height (CSI/USB/test).")
    fps: int = setting(30, "--fps", "Camera frame rate (CSI/USB/test).")
    flip: int = setting(0, "--flip", "CSI nvvidconv flip-method 0–7 (2 = rotate 180°).")
    capture: str = setting("auto", "--capture", "Capture: auto, gstreamer (PyGObject appsink, or OpenCV's "
                                                "CAP_GSTREAMER) or opencv.")
    threaded: bool = setting(True, "--threaded/--no-threaded", "Capture in its own thread (a camera never "
                                                               "stalls; stale frames dropped).")
    loop: bool = setting(False, "--loop", "Start a video file or image folder again at its end (and reopen it "
                                          "after an error, like a camera).")
    headless: bool = setting(False, "--headless", "No window. Without it a window opens when there is a display "
                                                  "and no --output/--save is given.")
    save: str = setting("", "--save", "Write the annotated video to this .mp4/.mkv (H.264; a browser plays the "
                                      "MP4), or images: out.jpg for an image input, out_000000.jpg … per "
                                      "frame otherwise (one more --output).")
    max_frames: int = setting(0, "--max-frames", "Stop after N frames (0: at the end of the stream).")
    log: str = setting("", "--log", "Append one JSON line per frame (stage times, faces, labels) to this file "
                                    "(its folder is made; a restart appends).")
    summary_every: float = setting(5.0, "--summary-every", "Print a progress line every N seconds (0: never).")
    input_rtsp_latency: int = setting(200, "--input-rtsp-latency", "RTSP input jitter buffer in ms (rtspsrc "
                                                                   "latency): lower lags less, higher rides "
                                                                   "through a lossy network (0…10000). "
                                                                   "GStreamer captures only: --capture opencv "
                                                                   "(FFmpeg) has no such buffer to set.")
    timeout: float = setting(10.0, "--timeout", "Seconds to wait for a frame; then a camera is reopened, a file "
                                                "ends the run with an error.")
    wait_for_source: bool = setting(False, "--wait-for-source", "At start-up, keep retrying a source that cannot "
                                                                "be opened yet (with the reconnect back-off) "
                                                                "instead of failing.")
    log_max_mb: float = setting(0.0, "--log-max-mb", "Rotate the --log file past this many MB (frames.jsonl → "
                                                     "frames.jsonl.1 …; 0: never).")
    log_keep: int = setting(5, "--log-keep", "Rotated log files to keep.")
    telemetry_every: int = setting(30, "--telemetry-every", "Every N frames, jtop power, temperatures, GPU load, "
                                                            "power mode and clocks go into the log (Jetson with "
                                                            "jetson-stats; 0: off).")
    output: OutputOptions = field(default_factory=OutputOptions)
    serve: ServeConfig = field(default_factory=ServeConfig)
    reconnect: BackoffConfig = field(default_factory=BackoffConfig)
    record: RecordOptions = field(default_factory=RecordOptions)
    people: PeopleOptions = field(default_factory=PeopleOptions)
    mqtt: MqttOptions = field(default_factory=MqttOptions)
    webhook: WebhookOptions = field(default_factory=WebhookOptions)
    event_queue: QueueOptions = field(default_factory=QueueOptions)

    def __post_init__(self):
        self.labels = tuple(self.labels or ())
        self.classify_classes = tuple(str(c) for c in (self.classify_classes or ()))
        self.input_size = tuple(int(v) for v in (self.input_size or ()))
        check_fields(self, [
            (len(self.input_size) in (0, 2), "input_size", "HEIGHT WIDTH"),
            (self.detect_every >= 1, "detect_every", "≥ 1"),
            (self.max_frames >= 0, "max_frames", "≥ 0 (0 = until the stream ends)"),
            (0 <= self.flip <= 7, "flip", "a flip-method 0…7"),
            (self.width > 0 and self.height > 0 and self.fps > 0, "width/height/fps", "positive"),
            (0 < self.timeout <= DAY_S, "timeout", "0 < seconds ≤ {:g} (a day)".format(DAY_S)),
            (0 <= self.summary_every <= DAY_S, "summary_every", "0 ≤ seconds ≤ {:g} (0 = never)".format(DAY_S)),
            (self.threads >= 0, "threads", "≥ 0 (0 = the runtime's default)"),
            (0 <= self.log_max_mb <= 2 ** 20 and self.log_keep >= 0, "log_max_mb/log_keep",
             "0 ≤ log_max_mb ≤ 1048576 (1 TiB), log_keep ≥ 0"),
            (0 <= self.input_rtsp_latency <= 10000, "input_rtsp_latency", "0 ≤ ms ≤ 10000"),
            (self.telemetry_every >= 0, "telemetry_every", "≥ 0 frames (0 = off)"),
            (self.classifies or not self.classify_classes, "classify_classes",
             "none with --model none (no classifier runs)"),
            (0 <= self.reconnect.initial <= DAY_S and 1 <= self.reconnect.factor <= 100
             and 0 <= self.reconnect.max_delay <= DAY_S and 0 <= self.reconnect.jitter < 1
             and self.reconnect.attempts >= 0, "reconnect", "0 ≤ initial ≤ {0:g} s, 1 ≤ factor ≤ 100, "
             "0 ≤ max_delay ≤ {0:g} s, 0 ≤ jitter < 1, attempts ≥ 0".format(DAY_S)),
        ])
        from edge.detectors import check_name

        check_name(self.detector)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "run config") -> "RunConfig":
        """Strictly typed (see ``edge.config``): unknown keys and wrong types name the key."""
        return from_dict(cls, data, where=source + ": ")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @property
    def classifies(self) -> bool:
        """A classifier runs: --model is not none (an empty --model is none with an object detector)."""
        from edge.detectors import is_object_detector

        return self.model.lower() != NO_MODEL and (bool(self.model) or not is_object_detector(self.detector))

    def model_path(self) -> str:
        """The classifier's file (``classifies`` only)."""
        if self.model:
            return self.model
        if not os.path.isfile(DEFAULT_MODEL):
            raise InputError("the bundled default model is missing ({}); pass --model PATH".format(DEFAULT_MODEL))
        return DEFAULT_MODEL

    def source_uri(self) -> str:
        if self.source:
            return self.source
        if not os.path.isfile(SAMPLE_VIDEO):
            raise InputError("the bundled sample video is missing ({}); pass --camera".format(SAMPLE_VIDEO))
        return SAMPLE_VIDEO

    def detector_options(self) -> Dict[str, Any]:
        from edge.detectors import config_options

        return config_options(self.detector, self)

    @property
    def track_scale(self) -> float:
        """The optical-flow tracker's downscale (``--detect-every`` > 1): Haar's ``scale`` (``--detect-scale``),
        whichever detector runs: the tracker was tuned with Haar's detection scale and shares it."""
        return self.haar.scale
