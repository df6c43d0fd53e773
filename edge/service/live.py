"""``LiveState``: what the run loop shares with the live view's server (edge.service.serve): the stream's
viewers, recent stage timings, counters, people statistics, recent events with their snapshots, a short
history (FPS, compliance) for the page's charts, telemetry, and the Prometheus registry ``/metrics`` renders.
Thread-safe; ``publish`` never blocks on clients.

The stream: ``publish(view)`` scales the annotated frame to fit ``size`` and encodes it as JPEG once, and
only when a viewer is due a frame (each viewer gets at most ``fps`` frames per second). Each viewer holds one
frame waiting: a viewer still sending the previous one when a newer comes gets the newer, and the older counts
as dropped (``edge_stream_frames_dropped_total``), so a slow or stalled viewer costs the loop nothing.
"""
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from edge.errors import UsageError, require
from edge.timing import FpsMeter, summarize

COUNTERS = ("dropped_frames", "reconnects", "decode_errors")
EVENT_KEYS = ("type", "phase", "track_id", "label", "confidence", "first_seen", "last_seen", "frames")
RECENT_EVENTS = 10  # events in /status.json; their snapshots are kept in memory, older ones forgotten
HISTORY_STEP_S = 5.0  # one chart point per 5 s ...
HISTORY_POINTS = 120  # ... over the last 10 minutes
STREAM_QUALITY = 80  # JPEG quality of the stream
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


def fit_size(width: int, height: int, box: Sequence[int] = ()) -> Tuple[int, int]:
    """(W, H) of a ``width``×``height`` frame scaled down to fit ``box`` (W, H), keeping its aspect; () or a
    bigger box: as it is (never scaled up)."""
    if not box:
        return width, height
    s = min(box[0] / float(width), box[1] / float(height), 1.0)
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


def encode_view(view, box: Sequence[int] = (), quality: int = STREAM_QUALITY) -> Optional[bytes]:
    """A BGR frame scaled to fit ``box`` (fit_size) as JPEG bytes; None when OpenCV cannot encode it."""
    import cv2

    h, w = view.shape[:2]
    size = fit_size(w, h, box)
    if size != (w, h):
        view = cv2.resize(view, size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return jpeg.tobytes() if ok else None


def check_stream(size: Sequence[int], fps: float) -> Tuple[Tuple[int, ...], float]:
    """(size, fps) of the stream, or UsageError: size () or (W, H) each 16…8192, 0 ≤ fps ≤ 240."""
    size = tuple(int(v) for v in (size or ()))
    if size and (len(size) != 2 or min(size) < 16 or max(size) > 8192):
        raise UsageError("expected --serve-size as WIDTHxHEIGHT, each 16…8192, found {!r}".format(list(size)))
    if not 0 <= float(fps) <= 240:
        raise UsageError("expected --serve-fps from 0 (every frame) to 240, found {}".format(fps))
    return size, float(fps)


class Viewer:
    """One stream client: its pacing, the one frame waiting for it, what it was sent and what it missed."""

    def __init__(self, fps: float):
        from edge.outputs.base import Pacer

        self.pacer = Pacer(fps)
        self.pending = None  # type: Optional[bytes]
        self.sent = self.dropped = 0


class LiveState:
    """What the run loop shares with the server: the stream, recent timings, counters, events, telemetry.

    ``size`` (W, H) and ``fps`` cap the stream (``--serve-size``, ``--serve-fps``; () and 0: no cap).
    ``publish`` holds a lock for microseconds and never waits for a client; readers copy under it.
    """

    def __init__(self, info: Optional[Mapping[str, str]] = None, window: int = 300, clock=time.monotonic,
                 size: Sequence[int] = (), fps: float = 0.0, history_step: float = HISTORY_STEP_S):
        self.size, self.stream_fps = check_stream(size, fps)
        prom = require("prometheus_client", "prometheus_client", "the /metrics endpoint")
        if hasattr(prom, "disable_created_metrics"):  # 0.17+: no *_created series (a process-wide switch)
            prom.disable_created_metrics()
        self._clock = clock
        self._cond = threading.Condition()
        self._seq = 0
        self._jpeg = None  # type: Optional[bytes]
        self._viewers = []  # type: List[Viewer]
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
        self._event_seq = 0
        self._snapshots = OrderedDict()  # type: OrderedDict
        self._history = deque(maxlen=HISTORY_POINTS)  # type: deque
        self._history_step = history_step
        self._history_next = None  # type: Optional[float]
        self._started = clock()
        self._last_frame_unix = None  # type: Optional[float]
        self._last_tick = None  # type: Optional[float]
        self.info = dict(info or {})
        self.stream_frames_sent = self.stream_frames_dropped = 0

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
        self._m_sent = prom.Counter("edge_stream_frames_sent", "JPEG frames sent to live-stream viewers.",
                                    registry=r)
        self._m_dropped = prom.Counter("edge_stream_frames_dropped", "Frames a live-stream viewer missed because "
                                       "it was still receiving the previous one (a slow or stalled client).",
                                       registry=r)
        prom.Gauge("edge_stream_viewers", "Live-stream viewers now.", registry=r).set_function(
            lambda: len(self._viewers))
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

    def publish(self, frame=None, record: Optional[Mapping[str, Any]] = None,
                stages_ms: Optional[Mapping[str, float]] = None, labels: Optional[List[str]] = None) -> None:
        """One processed frame and its frame record. ``frame``: the annotated view (a BGR array: scaled and
        encoded once, when a viewer is due one), JPEG bytes (streamed as they are), or None (no picture)."""
        rec = dict(record or {})
        facts = frame_facts(rec)
        stages = dict(stages_ms) if stages_ms is not None else facts[0]
        labels = list(labels) if labels is not None else facts[1]
        classes = detected_classes(rec)
        now = self._clock()
        due = []  # type: List[Viewer]
        if frame is not None:
            with self._cond:
                due = [v for v in self._viewers if v.pacer.due(now)]
        jpeg = bytes(frame) if isinstance(frame, (bytes, bytearray)) else (
            encode_view(frame, self.size) if due and frame is not None else None)
        dropped = 0
        with self._cond:
            self._seq += 1
            if jpeg is not None:
                self._jpeg = jpeg
                for v in due:
                    if v.pending is not None:
                        v.dropped += 1
                        dropped += 1
                    v.pending = jpeg
                self.stream_frames_dropped += dropped
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
            self._sample_locked(now)
            self._cond.notify_all()
        if dropped:
            self._m_dropped.inc(dropped)
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
        """The people statistics (edge.run.people) for /status.json, the page and its compliance chart."""
        with self._cond:
            self._people = dict(stats)

    def add_event(self, event: Mapping[str, Any], jpeg: Optional[bytes] = None) -> None:
        """A person event or alert (edge.run.people) for the recent events of /status.json and the page, with
        its snapshot (the best face as JPEG) served at ``events/<id>.jpg`` while the event is recent."""
        with self._cond:
            self._event_seq += 1
            summary = {k: event.get(k) for k in EVENT_KEYS}
            summary["id"] = self._event_seq
            if jpeg:
                self._snapshots[self._event_seq] = bytes(jpeg)
                summary["image"] = "events/{}.jpg".format(self._event_seq)
                while len(self._snapshots) > RECENT_EVENTS:
                    self._snapshots.popitem(last=False)
            self._events.appendleft(summary)

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

    def open_viewer(self) -> Viewer:
        """A new stream client; it gets the latest picture at once, then the frames its pacing lets through."""
        v = Viewer(self.stream_fps)
        with self._cond:
            v.pending = self._jpeg
            if v.pending is not None:
                v.pacer.due(self._clock())
            self._viewers.append(v)
        return v

    def close_viewer(self, viewer: Viewer) -> None:
        with self._cond:
            if viewer in self._viewers:
                self._viewers.remove(viewer)

    def next_frame(self, viewer: Viewer, timeout: float) -> Optional[bytes]:
        """The JPEG waiting for ``viewer`` (taken: the next one may now be dropped), or None after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: viewer.pending is not None, timeout)
            jpeg, viewer.pending = viewer.pending, None
            return jpeg

    def note_streamed(self, viewer: Optional[Viewer] = None) -> None:
        """One frame sent to a viewer."""
        with self._cond:
            self.stream_frames_sent += 1
            if viewer is not None:
                viewer.sent += 1
        self._m_sent.inc()

    def event_jpeg(self, event_id: int) -> Optional[bytes]:
        """The snapshot of a recent event, or None (no snapshot, or forgotten)."""
        with self._cond:
            return self._snapshots.get(event_id)

    def fps(self) -> float:
        """Frames per second over the last 2 s; 0 once no frame came for 2 s (a stalled pipeline)."""
        with self._cond:
            return self._fps_locked()

    def _fps_locked(self) -> float:
        if self._last_tick is None or self._clock() - self._last_tick > self._fps.window:
            return 0.0
        return self._fps.fps

    def _sample_locked(self, now: float) -> None:
        """A history point (unix time, FPS, last-minute compliance, people) every ``history_step`` seconds."""
        if self._history_next is not None and now < self._history_next:
            return
        self._history_next = now + self._history_step
        minute = self._people.get("per_minute") or {}
        self._history.append((round(time.time(), 1), round(self._fps_locked(), 2), minute.get("compliance"),
                              self._people.get("people")))

    def history(self) -> Dict[str, Any]:
        """The charts' data, oldest first: ``t`` (unix s), ``fps``, ``compliance`` (last minute, 0..1 or None)."""
        with self._cond:
            self._sample_locked(self._clock())  # no frames: the FPS falls to 0 on the chart too
            points = list(self._history)
        return {"step_s": self._history_step, "t": [p[0] for p in points], "fps": [p[1] for p in points],
                "compliance": [p[2] for p in points], "people": [p[3] for p in points]}

    def status(self) -> Dict[str, Any]:
        with self._cond:
            recent = {k: list(v) for k, v in self._recent.items()}
            out = {"frames": self._seq, "fps": round(self._fps_locked(), 2),
                   "uptime_s": round(self._clock() - self._started, 1), "faces": dict(self._faces),
                   "classes": dict(self._classes), "people": dict(self._people),
                   "events": list(self._events),
                   "counters": dict(self._counts), "telemetry": self._telemetry, "last": self._record,
                   "last_frame_unix": self._last_frame_unix, "info": self.info,
                   "stream_frames_sent": self.stream_frames_sent,
                   "stream": {"viewers": len(self._viewers), "frames_sent": self.stream_frames_sent,
                              "frames_dropped": self.stream_frames_dropped, "size": list(self.size) or None,
                              "fps": self.stream_fps}}
        out["latency_ms"] = {k: {m: round(s[m], 3) for m in ("p50", "p90", "max")} if s["n"] else {}
                             for k, s in ((k, summarize(v)) for k, v in recent.items())}
        return out

    def metrics(self) -> bytes:
        return self._prom.generate_latest(self.registry)
