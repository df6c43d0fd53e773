"""``RunConfig``: the whole, typed configuration of ``edge run``.

``edge run`` flags map one-to-one onto its fields and ``RunConfig.from_dict`` (a TOML table, say)
refuses unknown keys.
"""
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Mapping, Tuple

from edge.errors import InputError, UsageError
from edge.service.serve import ServeConfig
from edge.sources.backoff import BackoffConfig
from edge.zoo import MASK_MODEL as DEFAULT_MODEL
from edge.zoo import SAMPLE_VIDEO


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
