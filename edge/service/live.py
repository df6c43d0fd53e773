"""``LiveState``: what the run loop shares with the live view's server (edge.service.serve): the latest
JPEG, recent stage timings, counters, people statistics, recent events and telemetry, and the Prometheus
registry ``/metrics`` renders. Thread-safe; ``publish`` never blocks on clients.
"""
import threading
import time
from collections import deque
from typing import Any, Dict, List, Mapping, Optional, Tuple

from edge.errors import require
from edge.timing import FpsMeter, summarize

COUNTERS = ("dropped_frames", "reconnects", "decode_errors")
EVENT_KEYS = ("type", "phase", "track_id", "label", "confidence", "first_seen", "last_seen", "frames")
RECENT_EVENTS = 10
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5)


def frame_facts(record: Mapping[str, Any]) -> Tuple[Dict[str, float], List[str]]:
    """(stage → milliseconds, class label of each face) from a frame record.

    Reads the ``edge run`` record (``ms`` and ``labels``, see edge.run.framelog) or ``stages_ms`` /
    ``latency_ms`` and ``faces`` / ``detections`` as lists of dicts with ``label``.
    """
    stages = record.get("ms", record.get("stages_ms", record.get("latency_ms"))) or {}
    faces = record.get("faces", record.get("detections")) or []
    if isinstance(record.get("labels"), list):
        labels = [str(x) for x in record["labels"]]
    else:
        labels = [str(f["label"]) for f in faces if isinstance(f, Mapping) and f.get("label") is not None] \
            if isinstance(faces, list) else []
    return {str(k): float(v) for k, v in stages.items() if isinstance(v, (int, float))}, labels


def detected_classes(record: Mapping[str, Any]) -> List[str]:
    """The detector class of each box of an ``edge run`` frame record: its ``classes`` (an object detector),
    else "face" for each of its ``faces``."""
    if isinstance(record.get("classes"), list):
        return [str(c) for c in record["classes"]]
    n = record.get("faces")
    return ["face"] * n if isinstance(n, int) and not isinstance(n, bool) else []


class LiveState:
    """What the run loop shares with the server: the latest JPEG, recent timings, counters, telemetry.

    ``publish`` holds a lock for microseconds and never waits for a client; readers copy under it.
    """

    def __init__(self, info: Optional[Mapping[str, str]] = None, window: int = 300, clock=time.monotonic):
        prom = require("prometheus_client", "prometheus_client", "the /metrics endpoint")
        if hasattr(prom, "disable_created_metrics"):  # 0.17+: no *_created series (a process-wide switch)
            prom.disable_created_metrics()
        self._clock = clock
        self._cond = threading.Condition()
        self._seq = 0
        self._jpeg = None  # type: Optional[bytes]
        self._record = {}  # type: Dict[str, Any]
        self._recent = {}  # type: Dict[str, deque]
        self._window = window
        self._fps = FpsMeter(window=2.0, clock=clock)
        self._faces = {}  # type: Dict[str, int]
        self._classes = {}  # type: Dict[str, int]
        self._counts = dict((c, 0) for c in COUNTERS)
        self._telemetry = {}  # type: Dict[str, Any]
        self._people = {}  # type: Dict[str, Any]
        self._events = deque(maxlen=RECENT_EVENTS)  # type: deque
        self._started = clock()
        self._last_frame_unix = None  # type: Optional[float]
        self._last_tick = None  # type: Optional[float]
        self.info = dict(info or {})
        self.stream_frames_sent = 0

        r = self.registry = prom.CollectorRegistry(auto_describe=True)
        self._m_frames = prom.Counter("edge_frames", "Frames processed.", registry=r)
        self._m_stage = prom.Histogram("edge_stage_latency_seconds", "Time per pipeline stage per frame.",
                                       ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self._m_faces = prom.Counter("edge_faces", "Faces seen, by predicted class.", ["class"], registry=r)
        self._m_detections = prom.Counter("edge_detections", "Boxes detected, by detector class.", ["class"],
                                          registry=r)
        self._m_people = prom.Counter("edge_people", "People counted (confirmed tracks), by voted label.", ["label"],
                                      registry=r)
        self._m_counts = {c: prom.Counter("edge_" + c, "Count of " + c.replace("_", " ") + ".", registry=r)
                          for c in COUNTERS}
        prom.Gauge("edge_fps", "Frames per second over the last 2 s.", registry=r).set_function(self.fps)
        self._m_last = prom.Gauge("edge_last_frame_timestamp_seconds", "Unix time of the last frame.",
                                  registry=r)
        self._m_power = prom.Gauge("edge_power_watts", "Power by rail (jtop).", ["rail"], registry=r)
        self._m_temp = prom.Gauge("edge_temperature_celsius", "Temperature by zone (jtop).", ["zone"], registry=r)
        self._m_gpu = None  # edge_gpu_load_ratio: registered with the first GPU reading (none without a GPU)
        if self.info:
            keys = sorted(self.info)
            prom.Gauge("edge_info", "Model and source of this run.", keys, registry=r).labels(
                *[str(self.info[k]) for k in keys]).set(1)
        self._prom = prom

    # --- the run loop's side ------------------------------------------------------------------

    def publish(self, jpeg: Optional[bytes], record: Optional[Mapping[str, Any]] = None,
                stages_ms: Optional[Mapping[str, float]] = None, labels: Optional[List[str]] = None) -> None:
        """One processed frame: its annotated JPEG (None keeps the last image) and its frame record."""
        rec = dict(record or {})
        facts = frame_facts(rec)
        stages = dict(stages_ms) if stages_ms is not None else facts[0]
        labels = list(labels) if labels is not None else facts[1]
        classes = detected_classes(rec)
        now = self._clock()
        with self._cond:
            self._seq += 1
            if jpeg is not None:
                self._jpeg = jpeg
            self._record = rec
            self._fps.tick(now)
            self._last_tick = now
            for stage, ms in stages.items():
                self._recent.setdefault(stage, deque(maxlen=self._window)).append(ms)
            for lab in labels:
                self._faces[lab] = self._faces.get(lab, 0) + 1
            for name in classes:
                self._classes[name] = self._classes.get(name, 0) + 1
            self._last_frame_unix = time.time()
            self._cond.notify_all()
        self._m_frames.inc()
        for stage, ms in stages.items():
            self._m_stage.labels(stage).observe(ms / 1000.0)
        for lab in labels:
            self._m_faces.labels(lab).inc()
        for name in classes:
            self._m_detections.labels(name).inc()
        self._m_last.set(self._last_frame_unix)

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter: one of COUNTERS (dropped_frames, reconnects, decode_errors)."""
        if name not in self._counts:
            raise ValueError("unknown counter {!r}, expected one of {}".format(name, COUNTERS))
        with self._cond:
            self._counts[name] += n
        self._m_counts[name].inc(n)

    def count_person(self, label: str) -> None:
        """One person confirmed with this label (edge_people_total{label=...})."""
        self._m_people.labels(str(label)).inc()

    def set_people(self, stats: Mapping[str, Any]) -> None:
        """The people statistics (edge.run.people) for /status.json and the page."""
        with self._cond:
            self._people = dict(stats)

    def add_event(self, event: Mapping[str, Any]) -> None:
        """A person event or alert (edge.run.people) for the recent events of /status.json and the page."""
        with self._cond:
            self._events.appendleft({k: event.get(k) for k in EVENT_KEYS})

    def set_telemetry(self, telemetry: Mapping[str, Any]) -> None:
        """jtop readings: ``power_w`` {rail: W}, ``temperature_c`` {zone: °C}, ``gpu_load`` 0..1, others as-is."""
        with self._cond:
            self._telemetry = dict(telemetry)
        for rail, w in (telemetry.get("power_w") or {}).items():
            self._m_power.labels(str(rail)).set(float(w))
        for zone, c in (telemetry.get("temperature_c") or {}).items():
            self._m_temp.labels(str(zone)).set(float(c))
        if telemetry.get("gpu_load") is not None:
            if self._m_gpu is None:
                self._m_gpu = self._prom.Gauge("edge_gpu_load_ratio", "GPU load 0..1 (jtop).", registry=self.registry)
            self._m_gpu.set(float(telemetry["gpu_load"]))

    # --- the server's side ----------------------------------------------------------------------

    def note_streamed(self) -> None:
        with self._cond:
            self.stream_frames_sent += 1

    def fps(self) -> float:
        """Frames per second over the last 2 s; 0 once no frame came for 2 s (a stalled pipeline)."""
        with self._cond:
            return self._fps_locked()

    def _fps_locked(self) -> float:
        if self._last_tick is None or self._clock() - self._last_tick > self._fps.window:
            return 0.0
        return self._fps.fps

    def wait_frame(self, after: int, timeout: float) -> Optional[Tuple[int, bytes]]:
        """(seq, jpeg) of a frame newer than ``after``, or None after ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after and self._jpeg is not None, timeout)
            if self._seq > after and self._jpeg is not None:
                return self._seq, self._jpeg
            return None

    def status(self) -> Dict[str, Any]:
        with self._cond:
            recent = {k: list(v) for k, v in self._recent.items()}
            out = {"frames": self._seq, "fps": round(self._fps_locked(), 2),
                   "uptime_s": round(self._clock() - self._started, 1), "faces": dict(self._faces),
                   "classes": dict(self._classes), "people": dict(self._people),
                   "events": list(self._events),
                   "counters": dict(self._counts), "telemetry": self._telemetry, "last": self._record,
                   "last_frame_unix": self._last_frame_unix, "info": self.info,
                   "stream_frames_sent": self.stream_frames_sent}
        out["latency_ms"] = {k: {m: round(s[m], 3) for m in ("p50", "p90", "max")} if s["n"] else {}
                             for k, s in ((k, summarize(v)) for k, v in recent.items())}
        return out

    def metrics(self) -> bytes:
        return self._prom.generate_latest(self.registry)
