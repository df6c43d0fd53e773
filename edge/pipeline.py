"""The ``edge run`` loop: source → detect faces → classify all faces in one batch → draw → sink → log.

    summary = run(RunConfig(source="test://ball?frames=100", headless=True))

``RunConfig`` is the whole, typed configuration; ``edge run`` flags map one-to-one onto its fields and
``RunConfig.from_dict`` (a TOML table, say) refuses unknown keys.
"""
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from edge.errors import InputError, UsageError

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
    detect_scale: float = 0.5
    min_neighbors: int = 3
    min_size: int = 40
    scale_factor: float = 1.1
    cascade: str = "haarcascade_frontalface_alt2.xml"
    blazeface_model: str = "full"   # full, short, or a .onnx / .engine path
    blazeface_grid: str = "3x2"     # tiles (cols x rows) besides the whole frame; "1x1": none
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

    def __post_init__(self):
        self.labels = tuple(self.labels or ())
        self.input_size = tuple(int(v) for v in (self.input_size or ()))
        checks = [
            (len(self.input_size) in (0, 2), "input_size", "HEIGHT WIDTH", self.input_size),
            (0 < self.detect_scale <= 1, "detect_scale", "a number in (0, 1]", self.detect_scale),
            (self.detect_every >= 1, "detect_every", "≥ 1", self.detect_every),
            (self.max_frames >= 0, "max_frames", "≥ 0 (0 = until the stream ends)", self.max_frames),
            (0 <= self.flip <= 7, "flip", "a flip-method 0…7", self.flip),
            (self.width > 0 and self.height > 0 and self.fps > 0, "width/height/fps", "positive",
             (self.width, self.height, self.fps)),
            (self.timeout > 0, "timeout", "> 0 seconds", self.timeout),
            (self.threads >= 0, "threads", "≥ 0 (0 = the runtime's default)", self.threads),
        ]
        for ok, key, expected, found in checks:
            if not ok:
                raise UsageError("run config '{}': expected {}, found {!r}".format(key, expected, found))
        from edge.detectors import check_name

        check_name(self.detector)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "run config") -> "RunConfig":
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UsageError("{}: unknown key '{}' (known: {})".format(source, unknown[0], ", ".join(known)))
        try:
            return cls(**dict(data))
        except TypeError as e:
            raise UsageError("{}: {}".format(source, e)) from None

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
    """Run until the stream ends, ``max_frames``, ``q``/Esc or Ctrl-C; return the summary."""
    from edge.backends import MetaOverrides, load_backend
    from edge.detectors import create_detector
    from edge.framelog import FrameLog, frame_record
    from edge.overlay import banner_text, draw
    from edge.preprocess import preprocess, top1
    from edge.sources import EndOfStream, open_source
    from edge.timing import FpsMeter, StageTimer
    from edge.track import BoxTracker

    overrides = MetaOverrides({k: v for k, v in (("labels", cfg.labels), ("input_size", cfg.input_size)) if v})
    backend = load_backend(cfg.model_path(), cfg.backend, overrides, {"threads": cfg.threads} if cfg.threads else {})
    meta = backend.meta
    detector = create_detector(cfg.detector, **cfg.detector_options())
    tracker = BoxTracker(scale=cfg.detect_scale) if cfg.detect_every > 1 else None
    source = open_source(cfg.source_uri(), cfg.width, cfg.height, cfg.fps, cfg.flip, cfg.capture, cfg.threaded,
                         cfg.loop)
    sink, log, stopped, ok = None, None, "end of stream", False
    try:
        sink = make_sink(cfg, source, echo)
        log = FrameLog(cfg.log, cfg.summary_every, echo)
        fps = FpsMeter()
        while not cfg.max_frames or log.frames < cfg.max_frames:
            t = StageTimer()
            with t.stage("capture_wait"):
                try:
                    frame = source.read(cfg.timeout)
                except EndOfStream:
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
                if sink is not None:
                    banner = banner_text(fps.fps, t.total(), len(results), source.dropped)
                    if not sink.write(draw(frame.image, boxes, results, meta.labels, banner)):
                        stopped = "quit by the user"
                        break
            log.add(frame_record(frame.index, frame.t_capture, t.times, boxes, results, fps.fps,
                                 source.dropped, source.corrupt, ids[:len(results)]))
            if on_frame is not None:
                on_frame(frame, boxes, results)
        else:
            stopped = "--max-frames reached"
        ok = True
    except KeyboardInterrupt:
        stopped, ok = "interrupted", True
    finally:
        source.close()
        if sink is not None:
            sink.close(keep=ok)
        summary = log.close({"stopped": stopped, "source": source.describe(), "backend": backend.info(),
                             "detector": detector.info()}) if log is not None else None
        backend.close()
        detector.close()
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
