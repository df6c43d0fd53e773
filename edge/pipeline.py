"""The ``edge run`` loop: source → detect faces → classify all faces in one batch → draw → sink → log.

    summary = run(RunConfig(source="test://ball?frames=100", headless=True))

``RunConfig`` is the whole, typed configuration; ``edge run`` flags map one-to-one onto its fields and
``RunConfig.from_dict`` (a TOML table, say) refuses unknown keys.
"""
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from edge.errors import InputError, UsageError
from edge.reconnect import BackoffConfig
from edge.serve import ServeConfig

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(PACKAGE_ROOT, "models", "zoo", "mask_default.onnx")
SAMPLE_VIDEO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sample.mp4")


@dataclass
class RunConfig:
    source: str = ""             # URI (see edge.sources.uri); "" = the bundled sample video
    model: str = ""              # .onnx / .engine / .pt; "" = the bundled default model
    backend: str = "auto"
    threads: int = 1             # inference threads (ONNX Runtime intra-op); 0 = the runtime's default
    labels: Tuple[str, ...] = ()  # override the model's labels
    input_size: Tuple[int, ...] = ()  # (height, width) override
    detector: str = "haar"
    detect_scale: float = 0.4
    min_neighbors: int = 3
    min_size: int = 60
    scale_factor: float = 1.1
    cascade: str = "haarcascade_frontalface_alt2.xml"
    blazeface_model: str = "full"   # full, short, or a .onnx / .engine path
    blazeface_grid: str = "auto"    # frame (whole frame at blazeface_scale), COLSxROWS tiles, or auto
    blazeface_scale: float = 0.4    # frame mode: the frame's resize
    detect_every: int = 1
    width: int = 1280
    height: int = 720
    fps: int = 30
    flip: int = 0
    capture: str = "auto"
    threaded: bool = True
    loop: bool = False
    headless: bool = False
    save: str = ""
    max_frames: int = 0
    log: str = ""
    summary_every: float = 5.0
    timeout: float = 10.0
    wait_for_source: bool = False  # at start-up, retry a source that cannot be opened yet (back-off)
    log_max_mb: float = 0.0      # rotate the JSONL log past this size (0: never)
    log_keep: int = 5            # rotated logs kept (frames.jsonl.1 … .N)
    telemetry_every: int = 30    # jtop readings into the JSONL every N frames (0: off)
    serve: ServeConfig = field(default_factory=ServeConfig)
    reconnect: BackoffConfig = field(default_factory=BackoffConfig)

    def __post_init__(self):
        self.labels = tuple(self.labels or ())
        self.input_size = tuple(int(v) for v in (self.input_size or ()))
        checks = [
            (len(self.input_size) in (0, 2), "input_size", "HEIGHT WIDTH", self.input_size),
            (0 < self.detect_scale <= 1, "detect_scale", "a number in (0, 1]", self.detect_scale),
            (0 < self.blazeface_scale <= 1, "blazeface_scale", "a number in (0, 1]", self.blazeface_scale),
            (self.detect_every >= 1, "detect_every", "≥ 1", self.detect_every),
            (self.max_frames >= 0, "max_frames", "≥ 0 (0 = until the stream ends)", self.max_frames),
            (0 <= self.flip <= 7, "flip", "a flip-method 0…7", self.flip),
            (self.width > 0 and self.height > 0 and self.fps > 0, "width/height/fps", "positive",
             (self.width, self.height, self.fps)),
            (self.timeout > 0, "timeout", "> 0 seconds", self.timeout),
            (self.threads >= 0, "threads", "≥ 0 (0 = the runtime's default)", self.threads),
            (self.log_max_mb >= 0 and self.log_keep >= 0, "log_max_mb/log_keep", "≥ 0",
             (self.log_max_mb, self.log_keep)),
            (self.telemetry_every >= 0, "telemetry_every", "≥ 0 frames (0 = off)", self.telemetry_every),
            (self.reconnect.initial >= 0 and self.reconnect.factor >= 1 and self.reconnect.max_delay >= 0
             and 0 <= self.reconnect.jitter < 1 and self.reconnect.attempts >= 0, "reconnect",
             "initial ≥ 0, factor ≥ 1, max_delay ≥ 0, 0 ≤ jitter < 1, attempts ≥ 0", self.reconnect),
        ]
        for ok, key, expected, found in checks:
            if not ok:
                raise UsageError("run config '{}': expected {}, found {!r}".format(key, expected, found))
        from edge.detectors import check_name

        check_name(self.detector)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "run config") -> "RunConfig":
        """Strictly typed (see ``edge.config``): unknown keys and wrong types name the key."""
        from edge.config import from_dict

        return from_dict(cls, data, where=source + ": ")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def model_path(self) -> str:
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


def crop_faces(image: np.ndarray, boxes: np.ndarray) -> Tuple[List[np.ndarray], np.ndarray]:
    """Crops of ``boxes`` (xyxy, clipped to the frame) and the boxes kept (those with any area)."""
    h, w = image.shape[:2]
    crops, kept = [], []
    for box in np.asarray(boxes, np.float32).reshape(-1, 4):
        x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
        x2, y2 = min(int(round(box[2])), w), min(int(round(box[3])), h)
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            crops.append(image[y1:y2, x1:x2])
            kept.append(box)
    return crops, np.asarray(kept, np.float32).reshape(-1, 4)


def find_faces(image, index: int, detector, tracker, every: int):
    """Detect on every ``every``-th frame, track in between → (boxes, track ids)."""
    if tracker is None:
        boxes = detector.detect(image).boxes
        return boxes, list(range(len(boxes)))
    if index % every == 0:
        return tracker.update(image, detector.detect(image).boxes)
    return tracker.predict(image)


def run(cfg: RunConfig, echo: Optional[Callable[[str], None]] = None, on_frame=None) -> Dict:
    """Run until the stream ends, ``max_frames``, ``q``/Esc, SIGTERM or Ctrl-C; return the summary.

    Start-up order: settings that can be wrong (log folder, --serve) are checked first, then the model
    loads, then the source opens — a bad setting never leaves a half-started daemon (see edge.daemon).
    """
    from edge import sources
    from edge.backends import MetaOverrides, load_backend
    from edge.daemon import Daemon
    from edge.detectors import create_detector
    from edge.framelog import FrameLog, frame_record
    from edge.overlay import banner_text, draw
    from edge.preprocess import preprocess, top1
    from edge.reconnect import RetryStopped
    from edge.sources import EndOfStream
    from edge.timing import FpsMeter, StageTimer
    from edge.track import BoxTracker

    uri = cfg.source_uri()
    daemon = Daemon(cfg, echo, info={"model": os.path.basename(cfg.model_path()), "source": uri})
    backend = detector = source = sink = log = None
    stopped, ok, summary = "end of stream", False, None
    try:
        daemon.slow_start("loading the model")
        overrides = MetaOverrides({k: v for k, v in (("labels", cfg.labels), ("input_size", cfg.input_size)) if v})
        backend = load_backend(cfg.model_path(), cfg.backend, overrides,
                               {"threads": cfg.threads} if cfg.threads else {})
        meta = backend.meta
        detector = create_detector(cfg.detector, **cfg.detector_options())
        tracker = BoxTracker(scale=cfg.detect_scale) if cfg.detect_every > 1 else None
        daemon.slow_start("opening the source")
        source = daemon.open_source(lambda: sources.open_source(uri, cfg.width, cfg.height, cfg.fps, cfg.flip,
                                                                cfg.capture, cfg.threaded, cfg.loop),
                                    uri)
        sink = make_sink(cfg, source.inner, echo)
        log = FrameLog(cfg.log, cfg.summary_every, echo, max_bytes=int(cfg.log_max_mb * 2 ** 20), keep=cfg.log_keep)
        daemon.start_telemetry()
        fps = FpsMeter()
        while not cfg.max_frames or log.frames < cfg.max_frames:
            if daemon.stop.is_set():
                break
            t = StageTimer()
            with t.stage("capture_wait"):
                try:
                    frame = source.read(cfg.timeout)
                except (EndOfStream, RetryStopped):
                    break
            with t.stage("detect"):
                boxes, ids = find_faces(frame.image, frame.index, detector, tracker, cfg.detect_every)
            with t.stage("preprocess"):
                crops, boxes = crop_faces(frame.image, boxes)
                batch = preprocess(crops, meta)
            with t.stage("infer"):
                logits = backend.infer(batch)  # one batched call for all faces of the frame
            with t.stage("postprocess"):
                results = top1(logits, meta.labels)
            fps.tick()
            with t.stage("output"):
                view = None
                if sink is not None or daemon.serving:
                    banner = banner_text(fps.fps, t.total(), len(results), source.dropped)
                    view = draw(frame.image, boxes, results, meta.labels, banner)
                if sink is not None and not sink.write(view):
                    stopped = "quit by the user"
                    break
            record = frame_record(frame.index, frame.t_capture, t.times, boxes, results, fps.fps,
                                  source.dropped, source.corrupt, ids[:len(results)])
            daemon.frame(record, view, [r[0] for r in results], source)
            log.add(record)
            if on_frame is not None:
                on_frame(frame, boxes, results)
        else:
            stopped = "--max-frames reached"
        stopped = daemon.stop_reason or stopped
        ok = True
    except KeyboardInterrupt:
        stopped, ok = "interrupted", True
    finally:
        daemon.stopping()
        if source is not None:
            source.close()
        if sink is not None:
            sink.close(keep=ok)
        if log is not None:
            extra = {"stopped": stopped, "source": source.describe(), "backend": backend.info(),
                     "detector": detector.info(), "reconnects": source.reconnects}
            extra.update(daemon.summary_extra(log.summary()["mean_fps"]))
            summary = log.close(extra)
        if backend is not None:
            backend.close()
        if detector is not None:
            detector.close()
        daemon.close()
    return summary


def make_sink(cfg: RunConfig, source, echo=None):
    from edge.sinks import VideoSink, WindowSink, display_available

    if cfg.save:
        from edge.sources import gst

        return VideoSink(cfg.save, getattr(getattr(source, "inner", source), "fps", 0) or cfg.fps,
                         jetson=gst.available() and gst.is_jetson())
    if cfg.headless:
        return None
    if not display_available():
        if echo:
            echo("no display here: running headless (pass --headless to skip this check)")
        return None
    return WindowSink()


def describe_source(cfg: RunConfig, jetson: Optional[bool] = None) -> str:
    """What ``--print-pipeline`` prints: the GStreamer description, or how OpenCV opens the source."""
    from edge.sources import gst, parse_uri, pipeline_for

    spec = parse_uri(cfg.source_uri())
    if jetson is None:
        jetson = gst.available() and gst.is_jetson()
    desc = pipeline_for(spec, cfg.width, cfg.height, cfg.fps, cfg.flip, jetson=jetson)
    return desc or "{} '{}' read with cv2.imread".format(spec.kind, spec.target)
