"""Event clips and snapshots on disk ([record]): pre/post seconds from a ring buffer, an MP4 a browser plays,
retention oldest first, and a free-space floor that stops recording with one warning."""
import contextlib
import http.server
import os
import re
import socketserver
import subprocess
import tempfile
import threading
import time

import cv2
import numpy as np
import pytest
from browser import CHROMIUM, dump_dom
from test_encoders import have_encoders, mp4_facts

from edge.errors import ConfigError
from edge.events import make_event_sinks, retention
from edge.events.clips import ClipRecorder, RecordOptions, sample_due, triggers
from edge.events.retention import RECORDING, Stored, below_floor, recording_name, to_delete
from edge.run.config import RunConfig
from edge.run.sinks import make_sinks
from edge.sources.base import Frame

needs_h264 = pytest.mark.skipif(not have_encoders(), reason="no H.264 encoder in GStreamer here "
                                                            "(apt install gstreamer1.0-plugins-ugly)")
DAY = 86400.0


# --- pure parts ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("times, fps, kept", [
    ([0, 1 / 30, 2 / 30, 3 / 30, 4 / 30, 5 / 30, 6 / 30], 10, [0, 3 / 30, 6 / 30]),  # 30 fps → 10
    ([0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.24, 0.28, 0.32, 0.36, 0.4], 10, [0, 0.12, 0.2, 0.32, 0.4]),  # 25 → 10 on average
    ([0, 0.2, 0.4], 10, [0, 0.2, 0.4]),  # a slower source: every frame
    ([0, 0.1, 5.0, 5.05, 5.1], 10, [0, 0.1, 5.0, 5.1]),  # after a gap the schedule restarts
])
def test_sample_due_table(times, fps, kept):
    out, next_t = [], None
    for t in times:
        keep, next_t = sample_due(t, next_t, fps)
        if keep:
            out.append(t)
    assert out == pytest.approx(kept)


@pytest.mark.parametrize("event, events, want", [
    ({"type": "person", "phase": "confirmed"}, "person", True),
    ({"type": "person", "phase": "ended"}, "person", False),  # its clip started at confirmation
    ({"type": "no_mask", "phase": "confirmed"}, "person", True),
    ({"type": "person", "phase": "confirmed"}, "no_mask", False),
    ({"type": "no_mask", "phase": "confirmed"}, "no_mask", True),
])
def test_triggers_table(event, events, want):
    assert triggers(event, events) is want


def f(name, size, age_days, now=100 * DAY):
    return Stored(name, size, now - age_days * DAY)


@pytest.mark.parametrize("files, max_bytes, max_days, deleted", [
    ([f("a", 10, 1), f("b", 10, 2)], 0, 0, []),  # no limits
    ([f("a", 10, 1), f("b", 10, 9), f("c", 10, 8)], 0, 7, ["b", "c"]),  # by age, oldest first
    ([f("a", 10, 1), f("b", 10, 3), f("c", 10, 2)], 20, 0, ["b"]),  # by size: the oldest goes
    ([f("a", 10, 1), f("b", 10, 3), f("c", 10, 2)], 5, 0, ["b", "c", "a"]),  # all of them, oldest first
    ([f("a", 30, 1), f("b", 10, 9), f("c", 10, 3)], 30, 7, ["b", "c"]),  # age first, then size
    ([f("a", 10, 1), f("b", 10, 1)], 10, 0, ["a"]),  # a tie: by name
])
def test_retention_deletes_oldest_first(files, max_bytes, max_days, deleted):
    assert to_delete(files, 100 * DAY, max_bytes, max_days * DAY) == deleted


@pytest.mark.parametrize("free, floor, stopped, want", [
    (5, 10, False, True), (10, 10, False, False), (10.5, 10, True, True), (11, 10, True, False),
    (0, 0, False, False), (0, 0, True, False),  # floor 0: never stopped
])
def test_free_space_floor_with_hysteresis(free, floor, stopped, want):
    assert below_floor(free, floor, stopped) is want


def test_recording_names_sort_by_time_and_only_they_are_listed(tmp_path):
    a, b = recording_name(1700000000.25, "no_mask", 7, ".mp4"), recording_name(1700000001.0, "Per son!", -1, ".jpg")
    assert RECORDING.match(a) and RECORDING.match(b) and a < b and a.endswith("-250-no_mask-7.mp4")
    for name in (a, b, "notes.txt", "holiday.mp4", ".tmp-" + a):
        (tmp_path / name).write_bytes(b"x")
    assert sorted(os.path.basename(s.path) for s in retention.list_recordings(str(tmp_path))) == [a, b]


def test_record_options_are_checked_with_their_flags():
    with pytest.raises(ConfigError) as e:
        RecordOptions(events="everything", fps=0)
    assert "'record.events' (--record-events)" in str(e.value) and "'record.fps'" in str(e.value)
    assert RunConfig.from_dict({"record": {"dir": "/x", "events": "no_mask"}}).record.events == "no_mask"


# --- the recorder ------------------------------------------------------------------------------------------

def picture(i: int, size=(240, 320)) -> np.ndarray:
    img = np.zeros(size + (3,), np.uint8)
    cv2.putText(img, str(i), (20, 150), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 6)
    return img


def feed(rec, t0: float, seconds: float, fps: float, events=(), snapshot=None, size=(240, 320)):
    """Frames at ``fps`` for ``seconds`` from ``t0``, each given once the recorder has taken the last (no
    frame dropped, so the counts are exact); ``events``: {frame number: event dict}, published with
    ``snapshot`` after that frame."""
    events = dict(events)
    for i in range(int(round(seconds * fps))):
        view = picture(i, size)
        rec.write(Frame(i, view, t0 + i / fps), None, view)
        if i in events and callable(events[i]):  # a command (clip_start / clip_stop): its result kept
            events[i] = events[i]()
        elif i in events:
            rec.publish(events[i], snapshot)
        deadline = time.time() + 10
        while rec._queue.qsize() and time.time() < deadline:
            time.sleep(0.002)
    return events


def person(track_id=1, kind="person"):
    return {"type": kind, "phase": "confirmed", "track_id": track_id}


@needs_h264
def test_a_clip_spans_pre_to_post_seconds_and_its_snapshot_is_written(tmp_path):
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=1.0, post=1.5, min_free_gb=0), warn=print)
    face = cv2.imencode(".jpg", picture(99, (64, 64)))[1].tobytes()
    e1, e2 = person(1), person(2, "no_mask")
    with rec:
        feed(rec, time.time(), 6.0, 20, {40: e1}, snapshot=face)  # 20 fps, the event at 2.0 s
        rec.publish(e2, None)  # after the first clip ended: a second one, cut short by close()
    assert rec.dropped == 0 and rec.failed == 0 and rec.written == [e1["clip"]] + [e2["clip"]]
    assert open(e1["snapshot"], "rb").read() == face
    assert cv2.imdecode(np.fromfile(e2["snapshot"], np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
    kinds, duration, samples = mp4_facts(e1["clip"])
    assert kinds.index("moov") < kinds.index("mdat"), kinds
    # 10 fps from 1.0 s to 3.5 s: 26 frames, or 25 where a float time lands just outside the span
    assert samples in (25, 26) and duration == pytest.approx(2.5 + 0.1, abs=0.15), (samples, duration)
    assert re.search(r"-person-1\.mp4$", e1["clip"]) and re.search(r"-no_mask-2\.jpg$", e2["snapshot"])
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith(".tmp-")]


@needs_h264
def test_an_event_during_a_clip_extends_it(tmp_path):
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=0.5, post=1.0, min_free_gb=0))
    events = {10: person(1), 18: person(2)}  # 10 fps: at 1.0 s and 1.8 s (inside the first's 1 s after)
    with rec:
        feed(rec, time.time(), 4.0, 10, events)
    assert events[10]["clip"] == events[18]["clip"] == rec.written[0] and len(rec.written) == 1
    assert events[10]["snapshot"] != events[18]["snapshot"]
    _, duration, samples = mp4_facts(rec.written[0])
    assert samples == 24 and duration == pytest.approx(2.4, abs=0.11)  # 0.5 s … 2.8 s (1.8 s + 1 s)


@needs_h264
def test_clip_start_to_clip_stop_writes_one_clip_with_the_ring_before_it(tmp_path):
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=1.0, post=5.0, min_free_gb=0))
    with rec:  # 20 fps in, 10 fps kept: clip_start at 2.0 s, clip_stop at 3.5 s, a second clip_stop at 4.0 s
        done = feed(rec, time.time(), 5.0, 20, {40: rec.clip_start, 70: rec.clip_stop, 80: rec.clip_stop})
    started, stopped = done[40], done[70]
    assert started["result"] == "started" and stopped == {"result": "stopped", "clip": started["clip"]}
    assert done[80] is None and rec.written == [started["clip"]] and rec.failed == 0
    assert re.search(r"-manual-0\.mp4$", started["clip"]) and re.search(r"-manual-0\.jpg$", started["snapshot"])
    assert cv2.imdecode(np.fromfile(started["snapshot"], np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
    kinds, duration, samples = mp4_facts(started["clip"])
    assert kinds.index("moov") < kinds.index("mdat"), kinds
    # 1.0 s … 3.5 s at 10 fps (pre, then until clip_stop; post is for events): 26 frames (25 at a float edge)
    assert samples in (25, 26) and duration == pytest.approx(2.6, abs=0.15), (samples, duration)


@needs_h264
def test_a_manual_clip_ends_at_max_clip_s_with_a_warning(tmp_path, monkeypatch):
    from edge.events import clips

    monkeypatch.setattr(clips, "MAX_CLIP_S", 1.5)
    lines = []
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=0.5, post=1.0, min_free_gb=0), warn=lines.append)
    with rec:  # 10 fps: clip_start at 1.0 s (the clip from 0.5 s), the limit at 2.0 s, clip_stop at 3.0 s
        done = feed(rec, time.time(), 4.0, 10, {10: rec.clip_start, 30: rec.clip_stop})
    assert done[30] is None and rec.written == [done[10]["clip"]]
    assert len(lines) == 1 and "reached 1.5 s without a clip_stop" in lines[0], lines
    _, duration, samples = mp4_facts(rec.written[0])
    assert samples == 16 and duration == pytest.approx(1.6, abs=0.11), (samples, duration)


@needs_h264
def test_clip_start_takes_over_an_event_clip_and_clip_stop_keeps_an_events_post(tmp_path):
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=0.5, post=1.0, min_free_gb=0))
    e1, e2 = person(1), person(2)  # 10 fps: e1 at 0.5 s (its clip from 0 s), clip_start at 1.0 s, e2 at 2.0 s,
    with rec:                      # clip_stop at 2.5 s: the clip runs to e2's 3.0 s
        done = feed(rec, time.time(), 4.0, 10, {5: e1, 10: rec.clip_start, 15: rec.clip_start, 20: e2,
                                                25: rec.clip_stop})
    assert done[10]["clip"] == e1["clip"] == e2["clip"] == done[25]["clip"] and rec.written == [e1["clip"]]
    assert done[15] == {"result": "already recording", "clip": e1["clip"]}
    _, duration, samples = mp4_facts(rec.written[0])
    assert samples == 31 and duration == pytest.approx(3.1, abs=0.11), (samples, duration)


def test_clip_start_below_the_free_space_floor_does_not_start(tmp_path):
    lines = []
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), min_free_gb=1.0), warn=lines.append,
                       free_bytes=lambda folder: 10 ** 8)
    with rec:
        started, stopped = rec.clip_start(), rec.clip_stop()
    assert started == {"result": "not started: recording is stopped at the free-space floor"} and stopped is None
    assert len(lines) == 1 and "recording stopped" in lines[0] and rec.written == []


def test_no_mask_only_ignores_person_events(tmp_path):
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), events="no_mask", min_free_gb=0))
    event = person(1)
    with rec:
        feed(rec, time.time(), 0.5, 10, {2: event})
    assert "snapshot" not in event and "clip" not in event and rec.written == []


def test_the_frame_loop_never_waits_for_a_slow_encoder(tmp_path, monkeypatch):
    from edge.outputs import encoders

    release = threading.Event()

    class Stuck(encoders.OpenCVWriter):
        def write(self, bgr, pts_s):
            release.wait(20)
            super().write(bgr, pts_s)

    monkeypatch.setattr(encoders, "open_writer", lambda path, w, h, fps, enc=None, **kw: Stuck(path, w, h, fps))
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=1, min_free_gb=0), encoder=encoders.OPENCV)
    view = picture(0, (720, 1280))
    worst = 0.0
    try:
        for i in range(200):
            t = time.perf_counter()
            rec.write(Frame(i, view, 1000.0 + i / 10), None, view)
            if i == 5:
                rec.publish(person(1), None)
            worst = max(worst, time.perf_counter() - t)
        # a stuck encoder would hold a write for 20 s; 0.5 s leaves room for a loaded CI machine's JPEG encode
        assert worst < 0.5 and rec.dropped >= 200 - 6 - 16 - 2  # the queue is bounded: the rest dropped
    finally:
        release.set()
        rec.close()


def test_retention_runs_at_start_and_keeps_other_files(tmp_path):
    old = tmp_path / recording_name(time.time() - 10 * DAY, "person", 1, ".mp4")
    new = tmp_path / recording_name(time.time(), "person", 2, ".jpg")
    mine, unfinished = tmp_path / "mine.mp4", tmp_path / (".tmp-" + recording_name(time.time(), "person", 3, ".mp4"))
    for p in (old, new, mine, unfinished):
        p.write_bytes(b"x" * 100)
    os.utime(str(old), (time.time() - 10 * DAY,) * 2)
    ClipRecorder(RecordOptions(dir=str(tmp_path), max_days=7, min_free_gb=0)).close()
    assert not old.exists() and new.exists() and mine.exists() and not unfinished.exists()


def test_retention_by_size_on_disk_deletes_the_oldest_files(tmp_path):
    now = time.time()
    paths = [tmp_path / recording_name(now - age, "person", i, ".mp4") for i, age in enumerate((30, 10, 20, 0))]
    for p, age in zip(paths, (30, 10, 20, 0)):
        p.write_bytes(b"x" * 1000)
        os.utime(str(p), (now - age,) * 2)
    gone = retention.apply_retention(str(tmp_path), max_bytes=2500, max_age_s=0, now=now)
    assert gone == [str(paths[0]), str(paths[2])] and [p.exists() for p in paths] == [False, True, False, True]


def test_the_ring_holds_the_last_seconds_and_is_bounded():
    from edge.events.clips import FrameRing

    ring = FrameRing(seconds=1.0, fps=10)
    for i in range(100):
        ring.add(i / 10, b"%d" % i)
    assert [t for t, _ in ring.items] == pytest.approx([i / 10 for i in range(89, 100)]) and ring.latest() == b"99"
    for i in range(1000):  # a faster source than fps (not sampled): still at most seconds × fps + 2
        ring.add(20 + i / 1000, b"")
    assert len(ring.items) == 12 and ring.since(20.995) == [(t, b"") for t, _ in list(ring.items)[-5:]]


def test_free_space_floor_stops_recording_with_one_warning_and_resumes(tmp_path):
    free = [10 ** 10]
    lines = []
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), min_free_gb=1.0), warn=lines.append,
                       free_bytes=lambda folder: free[0])
    events = [person(i) for i in range(6)]
    with rec:
        rec.publish(events[0], b"jpeg")
        free[0] = 5 * 10 ** 8
        rec.publish(events[1], b"jpeg")
        rec.publish(events[2], b"jpeg")
        free[0] = int(1.05e9)  # above the floor, below the resume mark
        rec.publish(events[3], b"jpeg")
        free[0] = int(2e9)
        rec.publish(events[4], b"jpeg")
    assert ["snapshot" in e for e in events[:5]] == [True, False, False, False, True]
    assert len(lines) == 2 and lines[0].startswith("edge: warning: recording stopped: 0.50 GB free under ")
    assert "min_free_gb 1" in lines[0] and lines[1].startswith("edge: recording resumed: 2.00 GB")


# --- on a real, small file system (root: tmpfs) ----------------------------------------------------------

@contextlib.contextmanager
def tmpfs(size: str):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (these tests run as root in CI)")
    where = tempfile.mkdtemp(prefix="edge-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", where], stderr=subprocess.PIPE)
    if r.returncode:
        os.rmdir(where)
        pytest.skip("cannot mount a tmpfs as root here: " + r.stderr.decode().strip())
    try:
        yield where
    finally:
        subprocess.run(["umount", where])
        os.rmdir(where)


@needs_h264
def test_on_a_small_disk_the_floor_stops_recording_and_deleting_frees_it(tmp_path):
    lines = []
    with tmpfs("16m") as disk:
        filler = os.path.join(disk, "filler")
        rec = ClipRecorder(RecordOptions(dir=disk, pre=0.5, post=0.5, min_free_gb=0.008), warn=lines.append)
        with rec:
            with open(filler, "wb") as out:
                out.write(b"\0" * 10 * 2 ** 20)  # 16 MiB − 10 MiB free: below the 8 MB floor
            stopped = feed(rec, time.time(), 1.0, 10, {2: person(1), 6: person(2)})
            os.remove(filler)
            resumed = feed(rec, time.time(), 2.0, 10, {3: person(3)})
        assert [("snapshot" in e) for e in list(stopped.values()) + list(resumed.values())] == [False, False, True]
        assert [l.split(":")[1].strip() for l in lines] == ["warning", "recording resumed"], lines
        assert rec.written == [resumed[3]["clip"]] and os.path.isfile(resumed[3]["snapshot"])


@needs_h264
def test_a_full_disk_is_one_warning_per_clip_and_leaves_no_temporary_file():
    lines = []
    with tmpfs("1m") as disk:
        rec = ClipRecorder(RecordOptions(dir=disk, pre=0.5, post=3.0, min_free_gb=0), warn=lines.append)
        noise = np.random.RandomState(0)
        with rec:
            for i in range(40):
                view = noise.randint(0, 255, (480, 640, 3)).astype(np.uint8)  # ~incompressible
                rec.write(Frame(i, view, 1000.0 + i / 10), None, view)
                if i == 5:
                    rec.publish(person(1), None)
                while rec._queue.qsize():
                    time.sleep(0.002)
        clip_lines = [l for l in lines if "cannot write the clip" in l]
        assert len(clip_lines) == 1 and "no space left" in clip_lines[0].lower(), lines
        assert rec.written == [] and not [n for n in os.listdir(disk) if n.startswith(".tmp-") or n.endswith(".mp4")]


# --- in a browser --------------------------------------------------------------------------------------------

PAGE = """<!doctype html><html><body data-state="loading"><video id="v" src="{}" muted autoplay playsinline></video>
<script>
var v = document.getElementById("v"), b = document.body;
v.addEventListener("error", function () {{ b.dataset.state = "error " + (v.error && v.error.code); }});
v.addEventListener("timeupdate", function () {{
  if (v.currentTime > 0) {{ b.dataset.state = "playing"; b.dataset.t = v.currentTime; b.dataset.w = v.videoWidth; }}
}});
var p = v.play(); if (p) p.catch(function (e) {{ b.dataset.state = "play failed: " + e; }});
</script></body></html>"""


def play_in_chromium(folder: str, clip: str) -> dict:
    """The <body> data- attributes after headless Chromium played ``clip`` (in ``folder``) from a local server."""
    with open(os.path.join(folder, "index.html"), "w") as out:
        out.write(PAGE.format(clip))
    handler = type("Handler", (FolderHandler,), {"folder": folder})
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return dump_dom("http://127.0.0.1:{}/index.html".format(server.server_address[1]), 5000,
                        "--autoplay-policy=no-user-gesture-required")[1]
    finally:
        server.shutdown()
        server.server_close()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):  # ThreadingHTTPServer: Python 3.7+
    daemon_threads = True


class FolderHandler(http.server.SimpleHTTPRequestHandler):
    """The files of ``folder`` (``directory=`` is Python 3.7+), quietly."""

    folder = ""

    def translate_path(self, path):
        return os.path.join(self.folder, os.path.basename(path.split("?", 1)[0]))

    def log_message(self, *args):
        pass


@needs_h264
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")
def test_the_clip_plays_in_headless_chromium(tmp_path):
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=1.0, post=1.0, min_free_gb=0))
    events = {15: person(4)}
    with rec:
        feed(rec, time.time(), 3.0, 10, events)
    body = play_in_chromium(str(tmp_path), os.path.basename(events[15]["clip"]))
    assert body["state"] == "playing" and float(body["t"]) > 0.5 and body["w"] == "320", body


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")
def test_the_browser_check_fails_for_opencvs_mpeg4(tmp_path):
    """The check above can fail: OpenCV's MPEG-4 Part 2 (the fallback) does not play in a browser."""
    from edge.outputs.encoders import OpenCVWriter

    w = OpenCVWriter(str(tmp_path / "mp4v.mp4"), 320, 240, 10)
    for i in range(20):
        w.write(picture(i), i / 10)
    w.close()
    assert play_in_chromium(str(tmp_path), "mp4v.mp4")["state"] != "playing"


# --- wiring ---------------------------------------------------------------------------------------------------

def test_record_dir_adds_the_recorder_as_frame_sink_and_first_event_sink(tmp_path):
    cfg = RunConfig(headless=True, record=RecordOptions(dir=str(tmp_path / "clips"), min_free_gb=0))
    sinks = make_sinks(cfg, None)
    try:
        assert [type(s) for s in sinks] == [ClipRecorder] and sinks[0].needs_view
        assert make_event_sinks(cfg, frame_sinks=sinks)[0] is sinks[0]
    finally:
        for s in sinks:
            s.close()
    assert make_sinks(RunConfig(headless=True), None) == []


def test_the_loop_draws_only_the_frames_the_recorder_samples(tmp_path, monkeypatch):
    """Headless with [record] at 5 fps: the overlay is drawn only for the frames the recorder samples (its
    wants_view), and each of those reaches it; the others are not drawn at all."""
    from edge.run import loop

    drawn, views = [], []
    real_draw, real_write = loop.draw, ClipRecorder.write
    monkeypatch.setattr(loop, "draw", lambda image, *a, **kw: drawn.append(1) or real_draw(image, *a, **kw))
    monkeypatch.setattr(ClipRecorder, "write", lambda self, frame, faces, view: views.append(view is not None)
                        or real_write(self, frame, faces, view))
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), fps=5, min_free_gb=0))
    assert [rec.wants_view(1000 + i / 25) for i in range(3)] == [True] * 3  # nothing sampled yet: each is due
    rec.write(Frame(0, picture(0, (120, 160)), 1000.0), None, picture(0, (120, 160)))
    assert [rec.wants_view(1000 + i / 25) for i in range(1, 6)] == [False, False, False, False, True]
    rec.close()
    views.clear()
    cfg = RunConfig(source="test://ball?frames=40", width=160, height=120, headless=True, model="none",
                    detector="haar", capture="gstreamer", threaded=False,
                    record=RecordOptions(dir=str(tmp_path / "run"), fps=5, min_free_gb=0))
    s = loop.run(cfg)
    assert s["frames"] == 40 and len(views) == 40
    assert 1 <= len(drawn) == sum(views) < 40  # test:// runs faster than real time: few frames are due
