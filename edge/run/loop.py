"""The ``edge run`` loop: source → detect faces or objects → classify (all faces, or the boxes of the
``--classify-classes``, in one batch; none with ``--model none``) → people (edge.run.people: one vote per
track; then only new, due or changed faces are classified) → draw → sinks → log; person events go to every
event sink (edge.events).

    summary = run(RunConfig(source="test://ball?frames=100", headless=True))

Per frame ``Loop.step`` turns the image into one ``Faces`` record (edge.run.results) and the annotated
view; every sink (edge.run.sinks) is given (frame, faces, view); the daemon and the log get its line.
"""
import contextlib
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edge import sources
from edge.backends import MetaOverrides, load_backend
from edge.detectors import create_detector
from edge.errors import UsageError
from edge.events import make_event_sinks
from edge.preprocess import preprocess, top1
from edge.run.config import RunConfig
from edge.run.framelog import FrameLog, frame_record
from edge.run.overlay import banner_text, draw
from edge.run.people import People
from edge.run.remote import Remote
from edge.run.results import FACE, Faces, visible
from edge.run.sinks import make_sinks
from edge.run.track import BoxTracker, every_frame_tracker
from edge.service.daemon import Daemon
from edge.sources import EndOfStream, gst
from edge.sources.backoff import RetryStopped
from edge.timing import FpsMeter, StageTimer


def crop_faces(image: np.ndarray, boxes: np.ndarray) -> Tuple[List[np.ndarray], np.ndarray]:
    """Crops of ``boxes`` (xyxy, clipped to the frame) with any area, and the boolean mask of those kept."""
    h, w = image.shape[:2]
    crops, keep = [], []
    for box in np.asarray(boxes, np.float32).reshape(-1, 4):
        x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
        x2, y2 = min(int(round(box[2])), w), min(int(round(box[3])), h)
        keep.append(x2 - x1 >= 2 and y2 - y1 >= 2)
        if keep[-1]:
            crops.append(image[y1:y2, x1:x2])
    return crops, np.array(keep, bool)


def track_classes(ids: List[int], found: Optional[np.ndarray], known: Dict[int, int]) -> np.ndarray:
    """The class id of each track: a detection frame's (``found``: the classes of its detections, which are the
    first rows of ``BoxTracker.update``), else the one the track had. ``known`` {track id: class id} is updated
    and keeps only these tracks."""
    found = np.zeros(0, np.int64) if found is None else np.asarray(found, np.int64)
    out = [int(found[i]) if i < len(found) else known.get(t, 0) for i, t in enumerate(ids)]
    known.clear()
    known.update(zip(ids, out))
    return np.array(out, np.int64)


def class_names_of(detector) -> Tuple[str, ...]:
    """What the detector's class ids index (a detector without ``class_names`` finds faces)."""
    return tuple(getattr(detector, "class_names", FACE))


def find_faces(image: np.ndarray, index: int, detector, tracker: Optional[BoxTracker], every: int,
               known: Optional[Dict[int, int]] = None) -> Faces:
    """Detect on every ``every``-th frame, track in between (ids from the tracker, else row numbers); an
    object detector's class ids follow their tracks (``known``: see track_classes)."""
    names = class_names_of(detector)
    if tracker is None:
        return Faces.from_detections(detector.detect(image), class_names=names)
    if every == 1:  # detections on every frame, ids from the tracker (its first rows: the detections, in order)
        detections = detector.detect(image)
        _, ids = tracker.update(image, detections.boxes)
        return Faces.from_detections(detections, ids[:len(detections)], class_names=names)
    found = None
    if index % every == 0:
        detections = detector.detect(image)
        boxes, ids = tracker.update(image, detections.boxes)
        found = detections.class_ids if detections.class_ids is not None else np.zeros(len(detections), np.int64)
    else:
        boxes, ids = tracker.predict(image)
    if known is None or names == FACE:  # faces: no classes to carry
        return Faces(boxes, ids, class_names=names)
    return Faces(boxes, ids, class_ids=track_classes(ids, found, known), class_names=names)


def chosen_rows(faces: Faces, classify: Optional[Sequence[str]]) -> np.ndarray:
    """The rows the classifier labels: none (``classify`` None: --model none), every row (empty), or those of
    the named detector classes (--classify-classes)."""
    if classify is None:
        return np.zeros(len(faces), bool)
    if not classify:
        return np.ones(len(faces), bool)
    return np.array([c in classify for c in faces.classes()], bool).reshape(-1)


def classify(faces: Faces, chosen: np.ndarray, logits: Optional[np.ndarray], labels) -> Faces:
    """``faces`` with the top-1 label and probability of their ``chosen`` rows (in order, the rows of
    ``logits``); the other rows keep their detector class and score (NaN once tracked) as label and
    probability. Left unlabelled (labels and probs unknown) when the model returned NaN or inf for the frame."""
    if logits is not None and not np.isfinite(logits).all():
        return faces
    names = np.empty(len(faces), object)
    names[:] = faces.classes()
    probs = np.full(len(faces), np.nan) if faces.scores is None else faces.scores.astype(np.float64)
    if chosen.any():
        best = top1(logits, labels)
        names[chosen] = [name for name, _ in best]
        probs[chosen] = [p for _, p in best]
    return faces.replace(labels=names, probs=probs)


def check_classes(names: Sequence[str], class_names: Sequence[str]) -> Tuple[str, ...]:
    """--classify-classes: names among the detector's ``class_names`` (one UsageError line otherwise)."""
    unknown = [n for n in names if n not in class_names]
    if unknown:
        raise UsageError("--classify-classes: the detector has no class {} (its classes: {})".format(
            ", ".join("'{}'".format(n) for n in unknown), ", ".join(class_names)))
    return tuple(names)


class Loop:
    """One run's parts and its frame loop; ``open`` puts every part on an ExitStack in start-up order."""

    def __init__(self, cfg: RunConfig, echo: Optional[Callable[[str], None]] = None):
        self.cfg, self.echo = cfg, echo
        self.stopped = "end of stream"
        self.summary = None  # type: Optional[Dict]

    def open(self, parts: contextlib.ExitStack) -> "Loop":
        cfg = self.cfg
        uri = cfg.source_uri()
        info = {"model": os.path.basename(cfg.model_path()) if cfg.classifies else "none", "source": uri}
        self.daemon = daemon = parts.enter_context(Daemon(cfg, self.echo, info=info))  # settings checked here
        daemon.slow_start("loading the model")
        self.backend = None
        if cfg.classifies:
            overrides = MetaOverrides({k: v for k, v in (("labels", cfg.labels), ("input_size", cfg.input_size))
                                       if v})
            self.backend = parts.enter_context(contextlib.closing(load_backend(
                cfg.model_path(), cfg.backend, overrides, {"threads": cfg.threads} if cfg.threads else {})))
        self.labels = tuple(self.backend.meta.labels) if self.backend else ()
        self.detector = parts.enter_context(contextlib.closing(
            create_detector(cfg.detector, **cfg.detector_options())))
        self.classify = check_classes(cfg.classify_classes, class_names_of(self.detector)) if self.backend else None
        self.people = People(cfg.people, camera=uri) if cfg.people.enabled else None
        self.tracker = BoxTracker(scale=cfg.track_scale) if cfg.detect_every > 1 else (
            every_frame_tracker(cfg.people.max_missing) if self.people else None)
        self.track_classes = {}  # type: Dict[int, int]
        self.noun = "face" if class_names_of(self.detector) == FACE else "detection"
        daemon.slow_start("opening the source")
        self.source = parts.enter_context(contextlib.closing(daemon.open_source(
            lambda: sources.open_source(uri, cfg.width, cfg.height, cfg.fps, cfg.flip, cfg.capture, cfg.threaded,
                                        cfg.loop, rtsp_latency=cfg.input_rtsp_latency), uri)))
        self.sinks = [parts.enter_context(sink) for sink in make_sinks(cfg, self.source.inner, self.echo)]
        self.event_sinks = make_event_sinks(cfg, self.echo, frame_sinks=self.sinks)  # a frame sink first (clips)
        for sink in self.event_sinks:
            if sink not in self.sinks:  # those are closed as frame sinks
                parts.enter_context(contextlib.closing(sink))
        self.remote = Remote(self.event_sinks, self.echo)  # MQTT commands: snapshot, pause/resume, reset, clips
        self.draws = any(sink.needs_view for sink in self.sinks) or daemon.serving
        self.log = FrameLog(cfg.log, cfg.summary_every, self.echo, max_bytes=int(cfg.log_max_mb * 2 ** 20),
                            keep=cfg.log_keep)
        parts.callback(self.finish)  # the first to run on the way out
        daemon.start_telemetry()
        self.fps = FpsMeter()
        return self

    def step(self, frame, t: StageTimer) -> Tuple[Faces, Optional[np.ndarray]]:
        """detect → crop → classify (one batched call for all faces; counting people: those that need it) →
        people → draw: the frame's faces and view. Paused (a ``pause`` command): no faces, the frame as it is."""
        if self.remote.paused:
            return Faces.empty(), frame.image if self.draws else None
        with t.stage("detect"):
            faces = find_faces(frame.image, frame.index, self.detector, self.tracker, self.cfg.detect_every,
                               self.track_classes)
        logits = None
        with t.stage("preprocess"):
            wanted = chosen_rows(faces, self.classify)
            kept = ~wanted | visible(faces.boxes, frame.image.shape)  # crop_faces's rule, without the crops
            if not kept.all():
                faces, wanted = faces[kept], wanted[kept]  # a dropped box takes its track id with it
            chosen = self.people.needs_classify(faces, wanted) if self.people else wanted
            crops = crop_faces(frame.image, faces.boxes[chosen])[0] if chosen.any() else []  # only those classified
            run_model = self.backend is not None and (bool(crops) or not self.people)  # as before: every frame
            batch = preprocess(crops, self.backend.meta) if run_model else None
        with t.stage("infer"):
            if batch is not None:
                logits = self.backend.infer(batch)
        with t.stage("postprocess"):
            faces = classify(faces, chosen, logits, self.labels)
            if self.people:
                faces = self.people.update(faces, wanted, chosen, frame.image, frame.t_capture)
        self.fps.tick()
        with t.stage("output"):
            view = None
            if self.draws and (self.daemon.serving or any(s.wants_view(frame.t_capture) for s in self.sinks)):
                banner = banner_text(self.fps.fps, t.total(), len(faces), self.source.dropped, self.noun)
                view = draw(frame.image, faces, self.labels, banner)
        return faces, view

    def process(self, on_frame: Optional[Callable] = None) -> str:
        """Process frames until the run ends; why it ended."""
        cfg, daemon, source, log = self.cfg, self.daemon, self.source, self.log
        while not cfg.max_frames or log.frames < cfg.max_frames:
            if daemon.stop.is_set():
                break
            t = StageTimer()
            with t.stage("capture_wait"):
                try:
                    frame = source.read(cfg.timeout)
                except (EndOfStream, RetryStopped):
                    break
            faces, view = self.step(frame, t)
            with t.stage("output"):
                if not all([sink.write(frame, faces, view) for sink in self.sinks]):
                    return daemon.stop_reason or "quit by the user"
                self.send_events(frame.t_capture)
                self.remote.apply(frame.image if view is None else view, self.people, frame.t_capture)
            line = frame_record(frame.index, frame.t_capture, t.times, faces, self.fps.fps, source.dropped,
                                source.corrupt)
            daemon.frame(line, view, faces, source)
            log.add(line)
            if on_frame is not None:
                on_frame(frame, faces)
        else:
            return daemon.stop_reason or "--max-frames reached"
        return daemon.stop_reason or "end of stream"

    def send_events(self, now: float, final: bool = False) -> None:
        """People events to every event sink (and the live view's counters); the stats when due (``final``:
        now) to the sinks and the log."""
        if not self.people:
            return
        state = self.daemon.state
        events = self.people.drain()
        for event, jpeg in events:
            if state is not None:
                state.add_event(event, jpeg)  # the live view's recent events
            if state is not None and event["type"] == "person" and event["phase"] == "confirmed":
                state.count_person(event["label"])
            for sink in self.event_sinks:
                sink.publish(event, jpeg)
        stats = self.people.stats.snapshot(now) if final else self.people.due_stats(now)
        if stats is not None:
            if not final:
                self.log.note({"people": stats})
            for sink in self.event_sinks:
                sink.stats(stats)
        if state is not None and (events or stats is not None):
            state.set_people(stats or self.people.stats.snapshot(now))

    def finish(self) -> Dict:
        """STOPPING=1, then the summary: written as the log's last line, kept in ``self.summary``."""
        self.daemon.stopping()
        if self.people:
            self.people.finish()
            self.send_events(time.time(), final=True)
        backend = self.backend.info() if self.backend else {"backend": "none"}
        extra = {"stopped": self.stopped, "source": self.source.describe(), "backend": backend,
                 "detector": self.detector.info(), "reconnects": self.source.reconnects}
        extra.update(self.daemon.summary_extra(self.log.summary()["mean_fps"]))
        if self.people:
            extra["people"] = self.people.stats.snapshot(time.time())
        self.summary = self.log.close(extra)
        return self.summary


def run(cfg: RunConfig, echo: Optional[Callable[[str], None]] = None, on_frame: Optional[Callable] = None) -> Dict:
    """Run until the stream ends, ``max_frames``, ``q``/Esc, SIGTERM, SIGHUP or Ctrl-C; return the summary
    (its ``stopped`` says why: ``failed: <error>`` when the run ends with an error).

    Start-up order: settings that can be wrong (log folder, --serve) are checked first, then the model
    loads, then the source opens — a bad setting never leaves a half-started daemon (see edge.service.daemon).
    Parts close in reverse; the summary is written first, also when the run fails; a saved video is kept
    unless the run failed (Ctrl-C keeps it). ``on_frame(frame, faces)`` is called after each logged frame.
    """
    loop = Loop(cfg, echo)
    with contextlib.ExitStack() as parts:
        try:
            loop.open(parts)
            loop.stopped = loop.process(on_frame)
        except KeyboardInterrupt:
            loop.stopped = "interrupted"
        except Exception as e:  # the summary (written on the way out) says why the run failed
            loop.stopped = "failed: {}".format(" ".join(str(e).split()) or type(e).__name__)
            raise
    return loop.summary


def describe_source(cfg: RunConfig, jetson: Optional[bool] = None) -> str:
    """What ``--print-pipeline`` prints: the GStreamer description, or how OpenCV opens the source."""
    spec = sources.parse_uri(cfg.source_uri())
    if jetson is None:
        jetson = gst.available() and gst.is_jetson()
    desc = sources.pipeline_for(spec, cfg.width, cfg.height, cfg.fps, cfg.flip, jetson=jetson,
                                rtsp_latency=cfg.input_rtsp_latency)
    return desc or "{} '{}' read with cv2.imread".format(spec.kind, spec.target)
