"""Event clips and snapshots on disk (``[record]``): the last ``pre`` seconds of annotated frames in memory,
and on an event a clip from ``pre`` s before it to ``post`` s after, as an H.264 MP4 a browser plays
(``edge.outputs.encoders``), plus its snapshot JPEG.

    rec = ClipRecorder(RecordOptions(dir="/var/lib/edge/clips"), warn=echo)
    rec.write(frame, faces, view)      # a frame sink: feeds the ring buffer (never waits)
    rec.publish(event, face_jpeg)      # an event sink: sets event["snapshot"] (and "clip") to the files it writes
    rec.clip_start(); rec.clip_stop()  # a clip by command (MQTT ``clip_start``/``clip_stop``, edge.run.remote)
    rec.close()                        # the clip in progress is finished

The ring keeps ``fps`` frames a second, JPEG-encoded (quality ``JPEG_QUALITY``): at 1280×720 about 45–150 KB a
frame, so 2–8 MB for the default 5 s × 10 fps (raw frames would be 138 MB). JPEG encoding, clip encoding and
file writes run in one background thread, fed by a queue the frame loop never waits on: past
``MAX_PENDING`` frames waiting, frames are dropped from the clips (counted in ``dropped``).

A new event while a clip is being written extends it (up to ``MAX_CLIP_S``). ``clip_start`` begins a clip now
(``pre`` s from the ring, as an event does; a clip in progress becomes it) that runs until ``clip_stop`` (an
event's ``post`` s still pending are kept) or ``MAX_CLIP_S`` (one warning). Files are written under a
temporary name and renamed when whole; a clip that cannot be written is one warning line. Retention by size
and age (oldest first) runs at start and after each clip; under ``min_free_gb`` free recording stops with one
warning and resumes when the space is back (``edge.events.retention``).
"""
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from edge.config import check_fields, setting
from edge.errors import EdgeError
from edge.events import retention
from edge.files import write_atomic
from edge.outputs.base import sample_due
from edge.run.sinks import Sink

EVENT_KINDS = ("person", "no_mask")
JPEG_QUALITY = 80
MAX_PENDING = 16  # frames waiting for the worker (≤ 44 MB at 1280×720); more are dropped
MAX_CLIP_S = 300.0  # longest clip: events that keep coming start a new one past it
IDLE_S = 2.0  # no frame for post + this many seconds (a stalled source): the clip in progress is finished
GB = 1e9


@dataclass
class RecordOptions:
    """``[record]``: event clips and snapshots on disk."""

    dir: str = setting("", "--record-dir", "Write an MP4 clip (H.264) and a snapshot JPEG of each event into this "
                                           "folder (empty: off).")
    events: str = setting("person", "--record-events", "Which events get a clip: person (every person confirmed, "
                                                       "and no_mask alerts) or no_mask (only no_mask alerts).")
    pre: float = setting(5.0, "--record-pre", "Seconds before the event in its clip (kept in memory as JPEG: "
                                              "2–8 MB at 1280x720 with the defaults).")
    post: float = setting(5.0, "--record-post", "Seconds after the event in its clip; another event meanwhile "
                                                "extends it (to {:g} s at most).".format(MAX_CLIP_S))
    max_gb: float = setting(5.0, "--record-max-gb", "Keep at most this many GB of clips and snapshots, oldest "
                                                    "deleted first (0: no limit).")
    max_days: float = setting(7.0, "--record-max-days", "Delete clips and snapshots older than this many days "
                                                        "(0: no limit).")
    min_free_gb: float = setting(1.0, "--record-min-free-gb", "Stop recording (one warning) while the disk under "
                                                              "--record-dir has less free space than this; it "
                                                              "resumes when the space is back.")
    fps: int = setting(10, "--record-fps", "Frames per second in the clips (the camera's frames are sampled).")

    def __post_init__(self):
        check_fields(self, [
            (self.events in EVENT_KINDS, "events", " or ".join(EVENT_KINDS)),
            (0 <= self.pre <= 60, "pre", "0 ≤ seconds ≤ 60 (the ring buffer is in memory)"),
            (0 <= self.post <= MAX_CLIP_S, "post", "0 ≤ seconds ≤ {:g}".format(MAX_CLIP_S)),
            (0 <= self.max_gb <= 1e6 and 0 <= self.min_free_gb <= 1e6, "max_gb/min_free_gb", "0 ≤ GB ≤ 1e6"),
            (0 <= self.max_days <= 36500, "max_days", "0 ≤ days ≤ 36500"),
            (1 <= self.fps <= 60, "fps", "1 ≤ frames per second ≤ 60"),
        ], section="record.")


class FrameRing:
    """The last ``seconds`` of (time, JPEG bytes), at most ``seconds × fps + 2`` of them."""

    def __init__(self, seconds: float, fps: int):
        import collections

        self.seconds = seconds
        self.items = collections.deque(maxlen=int(seconds * fps) + 2)

    def add(self, t: float, jpeg: bytes) -> None:
        self.items.append((t, jpeg))
        while self.items and self.items[0][0] < t - self.seconds:
            self.items.popleft()

    def since(self, t0: float):
        return [(t, jpeg) for t, jpeg in self.items if t >= t0]

    def latest(self) -> Optional[bytes]:
        return self.items[-1][1] if self.items else None


def triggers(event: dict, events: str) -> bool:
    """Whether ``event`` gets a clip under ``[record] events``."""
    if event.get("type") == "no_mask":
        return True
    return events == "person" and event.get("type") == "person" and event.get("phase") == "confirmed"


class _Clip:
    """A clip being written: the path it gets when whole, its time span, and the writer (opened on its first
    frame)."""

    def __init__(self, path: str, start: float, until: float):
        self.path, self.start, self.until = path, start, until
        self.tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
        self.writer, self.t0, self.failed, self.done = None, None, False, False
        self.manual = self.stopping = False  # started by clip_start; clip_stop came
        self.event_until = start  # the end the events asked for


class ClipRecorder(Sink):
    """A frame sink (``write``) and an event sink (``publish``/``stats``/``close``); see the module."""

    needs_view = True

    def __init__(self, options: RecordOptions, warn: Optional[Callable[[str], None]] = None,
                 encoder: Optional[str] = None, free_bytes: Callable[[str], int] = retention.free_bytes):
        from edge.files import write_failed

        self.options, self.folder, self.encoder = options, options.dir, encoder
        self._echo, self._free_bytes = warn, free_bytes
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as e:
            raise write_failed("--record-dir", self.folder, e) from None
        self.ring = FrameRing(options.pre, options.fps)
        self.dropped = self.failed = 0
        self.written = []  # clip paths, in order
        self._queue = queue.Queue()  # type: queue.Queue
        self._next_t = self._latest_t = None  # type: Optional[float]
        self._queued_frames = False
        self._clip = None  # type: Optional[_Clip]  (the publishing side's view of the clip in progress)
        self._stopped, self._lock = False, threading.Lock()
        self._thread = threading.Thread(target=self._run, name="edge-clips", daemon=True)
        self._thread.start()

    # --- the frame loop's side: never waits -------------------------------------------------------------

    def wants_view(self, t_capture: float) -> bool:
        """Only the frames the ring samples (``[record] fps``): the loop draws no others for the recorder."""
        return sample_due(t_capture, self._next_t, self.options.fps)[0]

    def write(self, frame, faces, view) -> bool:
        self._latest_t = t = frame.t_capture
        keep, self._next_t = sample_due(t, self._next_t, self.options.fps)
        if view is None or not keep:
            return True
        if self._queue.qsize() >= MAX_PENDING:
            self.dropped += 1
            return True
        self._queue.put(("frame", t, view.copy()))
        self._queued_frames = True
        return True

    def publish(self, event: dict, snapshot: Optional[bytes]) -> None:
        """Start (or extend) a clip for ``event`` when ``[record] events`` asks for it; set its
        ``snapshot`` (and ``clip``) to the files that will hold them."""
        if not triggers(event, self.options.events) or self._check_space():
            return
        t = self._latest_t if self._latest_t is not None else time.time()
        opt, clip = self.options, self._clip
        if clip is None or t > clip.until:
            name = retention.recording_name(t, event.get("type", "event"), event.get("track_id", 0), ".mp4")
            clip = self._clip = _Clip(os.path.join(self.folder, name), t - opt.pre, t + opt.post)
        else:
            clip.until = max(clip.until, min(t + opt.post, clip.start + MAX_CLIP_S))
        clip.event_until = max(clip.event_until, t + opt.post)
        event["clip"] = clip.path
        if snapshot is not None or self._queued_frames:
            event["snapshot"] = os.path.join(self.folder, retention.recording_name(
                t, event.get("type", "event"), event.get("track_id", 0), ".jpg"))
        self._queue.put(("event", clip, event.get("snapshot"), snapshot))

    def clip_start(self) -> dict:
        """Begin a clip now (the ring's ``pre`` s first) that runs until ``clip_stop`` or ``MAX_CLIP_S``; a clip in
        progress becomes it. {"result": "started" | "already recording" | "not started: …", "clip", "snapshot"}."""
        if self._check_space():
            return {"result": "not started: recording is stopped at the free-space floor"}
        t = self._latest_t if self._latest_t is not None else time.time()
        clip = self._manual_clip()
        if clip is not None:
            return {"result": "already recording", "clip": clip.path}
        clip = self._clip
        if clip is None or clip.done or t > clip.until:
            name = retention.recording_name(t, "manual", 0, ".mp4")
            clip = self._clip = _Clip(os.path.join(self.folder, name), t - self.options.pre, t)
        clip.manual, clip.until = True, clip.start + MAX_CLIP_S
        out = {"result": "started", "clip": clip.path}
        if self._queued_frames:
            out["snapshot"] = os.path.join(self.folder, retention.recording_name(t, "manual", 0, ".jpg"))
        self._queue.put(("event", clip, out.get("snapshot"), None))
        return out

    def clip_stop(self) -> Optional[dict]:
        """End the ``clip_start`` clip now (an event's ``post`` s still pending are kept): {"result": "stopped",
        "clip"}; None when no such clip is running."""
        clip = self._manual_clip()
        if clip is None:
            return None
        t = self._latest_t if self._latest_t is not None else time.time()
        clip.stopping = True
        clip.until = min(max(t, clip.event_until), clip.until)
        self._queue.put(("stop", clip))
        return {"result": "stopped", "clip": clip.path}

    def _manual_clip(self) -> Optional[_Clip]:
        """The ``clip_start`` clip still running (the publishing side's view), or None."""
        clip, t = self._clip, self._latest_t
        if clip is None or not clip.manual or clip.stopping or clip.done or (t is not None and t > clip.until):
            return None
        return clip

    def stats(self, stats: dict) -> None:
        pass

    def close(self, keep: bool = True) -> None:
        """Finish the clip in progress (a shorter one), then stop the worker."""
        if self._thread.is_alive():
            self._queue.put(("close",))
            self._thread.join()

    # --- the worker ----------------------------------------------------------------------------------

    def _run(self) -> None:
        import cv2

        for path in retention.stale_temporaries(self.folder):
            _remove(path)
        self._sweep()
        clip = None  # type: Optional[_Clip]
        idle_s = self.options.post + IDLE_S
        last_t = None  # type: Optional[float]  # the newest frame taken
        while True:
            try:
                msg = self._queue.get(timeout=idle_s)
            except queue.Empty:  # the source stalled: do not keep a clip open for ever
                self._finish(clip)
                clip = None
                continue
            if msg[0] == "close":
                self._finish(clip)
                return
            if msg[0] == "stop":  # clip_stop: every frame up to it is in (the queue keeps order)
                if msg[1] is clip and last_t is not None and clip.until <= last_t:
                    self._finish(clip)
                    clip = None
                continue
            if msg[0] == "frame":
                _, t, view = msg
                last_t = t
                ok, jpeg = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if ok:
                    self.ring.add(t, jpeg.tobytes())
                if clip is not None:
                    if t > clip.until or self._check_space():
                        if clip.manual and not clip.stopping and t > clip.until:
                            self._warn("the clip '{}' reached {:g} s without a clip_stop: finished (send "
                                       "clip_start for another)".format(clip.path, MAX_CLIP_S))
                        self._finish(clip)
                        clip = None
                    else:
                        self._add(clip, t, view)
                continue
            _, event_clip, snapshot_path, snapshot = msg
            if snapshot_path:
                self._write_snapshot(snapshot_path, snapshot if snapshot is not None else self.ring.latest())
            if event_clip is not clip and not event_clip.done:  # done: the floor or a stall ended it early
                self._finish(clip)
                clip = event_clip
                for t, jpeg in self.ring.since(clip.start):
                    self._add(clip, t, cv2.imdecode(_array(jpeg), cv2.IMREAD_COLOR))

    def _add(self, clip: _Clip, t: float, bgr) -> None:
        if clip.failed:
            return
        try:
            if clip.writer is None:
                from edge.outputs.encoders import open_writer

                if self.encoder is None:  # chosen once: a missing encoder is one warning per run
                    from edge.outputs.encoders import pick_encoder

                    self.encoder = pick_encoder(self._warn)
                clip.t0 = t
                clip.writer = open_writer(clip.tmp, bgr.shape[1], bgr.shape[0], self.options.fps, self.encoder)
            if (bgr.shape[1], bgr.shape[0]) != clip.writer.size:  # the camera reopened at another size
                import cv2

                bgr = cv2.resize(bgr, clip.writer.size)
            clip.writer.write(bgr, t - clip.t0)
        except (EdgeError, OSError) as e:
            self._clip_failed(clip, e)

    def _finish(self, clip: Optional[_Clip]) -> None:
        """Close ``clip``'s file and move it into place."""
        if clip is None or clip.done:
            return
        clip.done = True
        if clip.writer is None:
            return
        try:
            clip.writer.close()
            if not clip.failed:
                if os.path.getsize(clip.tmp) == 0:
                    raise EdgeError("the file came out empty")
                os.replace(clip.tmp, clip.path)
                self.written.append(clip.path)
        except (EdgeError, OSError) as e:
            self._clip_failed(clip, e)
        finally:
            _remove(clip.tmp)
        self._sweep()

    def _clip_failed(self, clip: _Clip, e: Exception) -> None:
        if not clip.failed:
            clip.failed = True
            self.failed += 1
            self._warn("cannot write the clip '{}': {}".format(clip.path, _reason(e)))

    def _write_snapshot(self, path: str, jpeg: Optional[bytes]) -> None:
        if jpeg is None:
            return
        try:
            write_atomic(path, bytes(jpeg), mode=0o644)
        except OSError as e:
            self._warn("cannot write the snapshot '{}': {}".format(path, _reason(e)))

    def _sweep(self) -> None:
        opt = self.options
        retention.apply_retention(self.folder, opt.max_gb * GB, opt.max_days * 86400.0)

    def _check_space(self) -> bool:
        """Whether recording is stopped at the free-space floor (one line when that changes)."""
        floor = self.options.min_free_gb * GB
        try:
            free = self._free_bytes(self.folder)
        except OSError:
            return False
        with self._lock:
            was, self._stopped = self._stopped, retention.below_floor(free, floor, self._stopped)
            changed = was != self._stopped
        if changed and self._stopped:
            self._warn("recording stopped: {:.2f} GB free under {}, below [record] min_free_gb {:g}; it resumes "
                       "at {:.2f} GB free".format(free / GB, self.folder, self.options.min_free_gb,
                                                  floor * retention.RESUME_FACTOR / GB))
        elif changed:
            self._say("edge: recording resumed: {:.2f} GB free under {}".format(free / GB, self.folder))
        return self._stopped

    def _warn(self, line: str) -> None:
        self._say("edge: warning: " + line)

    def _say(self, line: str) -> None:
        if self._echo:
            self._echo(line)
        else:
            print(line, file=sys.stderr)


def _array(jpeg: bytes):
    import numpy as np

    return np.frombuffer(jpeg, np.uint8)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _reason(e: Exception) -> str:
    import errno

    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return "no space left on the device"
    return str(e.strerror if isinstance(e, OSError) and e.strerror else e)
