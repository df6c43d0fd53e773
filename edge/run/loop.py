"""The ``edge run`` loop: source → detect faces → classify all faces in one batch → draw → sink → log.

    summary = run(RunConfig(source="test://ball?frames=100", headless=True))
"""
import os
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from edge.run.config import RunConfig



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
    loads, then the source opens — a bad setting never leaves a half-started daemon (see edge.service.daemon).
    """
    from edge import sources
    from edge.backends import MetaOverrides, load_backend
    from edge.service.daemon import Daemon
    from edge.detectors import create_detector
    from edge.run.framelog import FrameLog, frame_record
    from edge.run.overlay import banner_text, draw
    from edge.preprocess import preprocess, top1
    from edge.sources.backoff import RetryStopped
    from edge.sources import EndOfStream
    from edge.timing import FpsMeter, StageTimer
    from edge.run.track import BoxTracker

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
    from edge.run.sinks import VideoSink, WindowSink, display_available

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
