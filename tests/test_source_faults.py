"""Sources that fail, as a user meets them (issue 14 items 3, 13, 14, 15): an RTSP camera with nothing behind
it (a real closed localhost port), MP4 files damaged in the test from the bundled sample (index removed,
bytes zeroed mid-file, tail truncated), a folder of undecodable images, SIGHUP, and stderr being one line."""
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from edge.errors import EdgeError, HardwareError
from edge.run.config import RunConfig
from edge.sources import open_source
from edge.sources.backoff import BackoffConfig, RetryStopped, backoff_delay
from edge.sources.reopening import ReopeningSource
from edge.zoo import SAMPLE_VIDEO
from localnet import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_FRAMES = 180
FAST = BackoffConfig(initial=0.05, factor=2.0, max_delay=0.2)
BY_HAND_ATTEMPTS = 6  # edge.sources.backoff.BY_HAND_ATTEMPTS, as --help states it


def gst_or_skip(*elements):
    from edge.sources import gst

    if not gst.available() or gst.missing_elements(" ! ".join(elements)):
        pytest.skip("needs PyGObject and the GStreamer elements {}".format(", ".join(elements)))




def edge_run(args, env=None, timeout=120):
    """`python -m edge run --headless ARGS` as a user runs it: (exit code, stdout, stderr, seconds)."""
    full = dict(os.environ, PYTHONUNBUFFERED="1")
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL"):
        full.pop(key, None)
    full.update(env or {})
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "edge", "run", "--headless"] + args, cwd=ROOT, env=full,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def summary_of(log):
    rows = [json.loads(x) for x in open(str(log)).read().splitlines() if x.strip()]
    return [r["summary"] for r in rows if "summary" in r]


# --- damaged MP4s, built from the bundled sample -------------------------------------------------------

def _boxes(data, start, end):
    i = start
    while i < end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        yield kind, i, size
        i += size


def _faststart(data):
    """The sample with its index (moov) moved before the media data (mdat), chunk offsets shifted: a file
    that still plays when its tail is cut off."""
    top = {kind: (i, size) for kind, i, size in _boxes(data, 0, len(data))}
    (mdat, _), (moov_at, moov_size) = top[b"mdat"], top[b"moov"]
    if moov_at < mdat:  # already faststart (the bundled H.264 sample since issue 16)
        return data
    moov = bytearray(data[moov_at:moov_at + moov_size])

    def shift(start, end):
        for kind, i, size in _boxes(moov, start, end):
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                shift(i + 8, i + size)
            elif kind == b"stco":
                for k in range(struct.unpack(">I", moov[i + 12:i + 16])[0]):
                    o = i + 16 + 4 * k
                    moov[o:o + 4] = struct.pack(">I", struct.unpack(">I", moov[o:o + 4])[0] + moov_size)
            assert kind != b"co64"

    shift(8, moov_size)
    return data[:mdat] + bytes(moov) + data[mdat:moov_at]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """{"no_index": moov removed, "zeroed": 64 KiB zeroed at 40 %, "truncated": faststart, cut at 60 %}."""
    data = open(SAMPLE_VIDEO, "rb").read()
    folder = tmp_path_factory.mktemp("damaged")
    moov_at, moov_size = dict((k, (i, size)) for k, i, size in _boxes(data, 0, len(data)))[b"moov"]
    zeroed = bytearray(data)
    at = len(data) * 4 // 10
    zeroed[at:at + 65536] = bytes(65536)
    fast = _faststart(data)
    files = {"no_index": data[:moov_at] + data[moov_at + moov_size:], "zeroed": bytes(zeroed),
             "truncated": fast[:len(fast) * 6 // 10],
             "faststart": fast}
    out = {}
    for name, content in files.items():
        out[name] = str(folder / (name + ".mp4"))
        with open(out[name], "wb") as f:
            f.write(content)
    return out


def read_all(path, capture):
    with open_source(path, capture=capture, threaded=False) as src:
        frames = list(src)
        return len(frames), src.corrupt, [f.index for f in frames]


CAPTURES = ("opencv", "gstreamer")


@pytest.mark.parametrize("capture", CAPTURES)
def test_the_rebuilt_sample_plays_whole(damaged, capture):
    """The faststart copy (the base of the truncated file) is intact: all 180 frames, none corrupt."""
    if capture == "gstreamer":
        gst_or_skip("filesrc", "decodebin", "videoconvert", "appsink")
    assert read_all(damaged["faststart"], capture)[:2] == (SAMPLE_FRAMES, 0)


def test_opencv_seeks_past_mid_file_damage_and_counts_what_is_lost(damaged):
    n, corrupt, indices = read_all(damaged["zeroed"], "opencv")
    assert n + corrupt == SAMPLE_FRAMES and indices == list(range(n))
    assert n >= 140, "frames after the damage were lost: {} of {} decoded".format(n, SAMPLE_FRAMES)  # was 72


def test_gstreamer_counts_mid_file_damage(damaged):
    gst_or_skip("filesrc", "decodebin", "videoconvert", "appsink")
    n, corrupt, _ = read_all(damaged["zeroed"], "gstreamer")
    assert corrupt >= 1 and n + corrupt == SAMPLE_FRAMES


@pytest.mark.parametrize("capture", CAPTURES)
def test_truncated_tail_is_counted_as_lost(damaged, capture):
    if capture == "gstreamer":
        gst_or_skip("filesrc", "decodebin", "videoconvert", "appsink")
    n, corrupt, _ = read_all(damaged["truncated"], capture)
    assert 90 <= n <= 120 and n + corrupt == SAMPLE_FRAMES, (n, corrupt)


@pytest.mark.parametrize("capture", CAPTURES)
def test_file_without_index_is_bad_input_for_both_captures(damaged, tmp_path, capture):
    """Exit 3, one line on stderr, and the summary (GStreamer fails on its first read, after the log opened)
    says the run failed, not "end of stream". GStreamer's qtdemux usually says "no playable streams" at once
    but now and then stalls without a word: then no first frame within --timeout is the same bad input."""
    if capture == "gstreamer":
        gst_or_skip("filesrc", "decodebin", "videoconvert", "appsink")
    log = tmp_path / "f.jsonl"
    code, out, err, seconds = edge_run(["--camera", damaged["no_index"], "--capture", capture, "--log", str(log),
                                        "--timeout", "3"])
    assert code == 3 and seconds < 15, (code, err, seconds)  # --timeout 3 plus start-up, on a loaded 2-core CI machine
    assert len(err.splitlines()) == 1 and err.startswith("edge: error: "), err
    if capture == "gstreamer":
        (summary,) = summary_of(log)
        stopped = summary["stopped"]
        assert summary["frames"] == 0 and stopped.startswith("failed: ") and \
            ("no playable streams" in stopped or "found no frame in GStreamer video source" in stopped), summary


def test_damaged_video_keeps_ffmpeg_out_of_stderr(damaged):
    """With OpenCV ≥ 4.5 stderr stays empty. OpenCV 4.1 (JetPack 4.6, the Python 3.6 CI leg) cannot silence
    FFmpeg in-process, and a damaged frame is read in the capture thread: there only FFmpeg's own decoder
    lines may appear (JetPack reads files through GStreamer anyway), never anything else."""
    from edge.sources.opencv import has_log_control

    code, out, err, _ = edge_run(["--camera", damaged["zeroed"], "--capture", "opencv", "--json",
                                  "--summary-every", "0"])
    if has_log_control():
        assert code == 0 and err == "", err[:500]
    else:
        assert code == 0 and all(re.match(r"\[\w+ @ 0x[0-9a-f]+\] ", line) for line in err.splitlines()), err[:500]
    s = json.loads(out.strip().splitlines()[-1])
    assert s["frames"] + s["corrupt"] == SAMPLE_FRAMES and s["frames"] >= 140, s


def test_missing_camera_is_one_line_on_stderr():
    code, out, err, _ = edge_run(["--camera", "/dev/video57", "--capture", "opencv"])
    assert code == 5 and err == "edge: error: cannot open the usb camera '/dev/video57' (does it exist? is " \
                                "another program using it?)\n", err


# --- item 14: images, SIGHUP -----------------------------------------------------------------------------

def test_folder_of_only_undecodable_images_is_bad_input(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8 truncated")
    (folder / "b.png").write_bytes(b"not a png")
    code, out, err, _ = edge_run(["--camera", str(folder)])
    assert code == 3 and err == "edge: error: expected images OpenCV can decode in the folder '{}', found none " \
                                "of its 2 files decodable\n".format(folder), err


def test_sighup_stops_like_sigterm_with_the_summary_written(tmp_path):
    gst_or_skip("videotestsrc", "videoconvert", "appsink")
    log = str(tmp_path / "frames.jsonl")
    full = dict(os.environ, PYTHONUNBUFFERED="1")
    full.pop("NOTIFY_SOCKET", None)
    p = subprocess.Popen([sys.executable, "-m", "edge", "run", "--headless", "--camera", "test://ball?frames=100000",
                          "--width", "160", "--height", "120", "--log", log], cwd=ROOT, env=full,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and not (os.path.exists(log) and len(open(log).read().splitlines()) >= 10):
            time.sleep(0.05)
        p.send_signal(signal.SIGHUP)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (p.returncode, err)
    (summary,) = summary_of(log)
    assert summary["stopped"] == "SIGHUP" and summary["frames"] >= 10 and out.startswith("{} frames in".format(
        summary["frames"]))


# --- item 3: a camera with nothing behind it -------------------------------------------------------------

def test_attempt_limit():
    from edge.sources import backoff
    from edge.sources.backoff import BY_HAND_BACKOFF_S, BY_HAND_GIVE_UP_S, attempt_limit

    assert backoff.BY_HAND_ATTEMPTS == BY_HAND_ATTEMPTS
    assert [attempt_limit(a, service) for a, service in ((0, False), (0, True), (2, False), (2, True))] == \
        [BY_HAND_ATTEMPTS, 0, 2, 2]
    defaults = BackoffConfig()
    waits = sum(backoff_delay(n, defaults.initial, defaults.factor, defaults.max_delay)
                for n in range(1, BY_HAND_ATTEMPTS))
    assert BY_HAND_BACKOFF_S == waits and BY_HAND_GIVE_UP_S == waits + BY_HAND_ATTEMPTS * RunConfig().timeout
    assert "{:.0f} s".format(BY_HAND_GIVE_UP_S) in BackoffConfig.__dataclass_fields__["attempts"].metadata["help"]


def test_rtsp_camera_with_nothing_behind_it_gives_up_after_the_attempts(tmp_path):
    gst_or_skip("rtspsrc", "decodebin", "videoconvert", "appsink")
    url = "rtsp://127.0.0.1:{}/x".format(free_port())
    log = tmp_path / "f.jsonl"
    code, out, err, seconds = edge_run(["--camera", url, "--timeout", "2", "--reconnect-attempts", "2",
                                        "--log", str(log)])
    lines = err.splitlines()
    assert code == 5 and seconds < 30, (code, err)
    assert len(lines) == 2 and lines[0].startswith("cannot open {} (attempt 1 of 2): ".format(url)), err
    assert "Could not open resource" in lines[0] and "Failed to connect" in lines[0]  # GStreamer's own words
    assert lines[1].startswith("edge: error: GStreamer rtsp source") and "gave up after 2 failed attempts" in lines[1]
    (summary,) = summary_of(log)
    assert summary["reconnects"] == 0 and summary["stopped"].startswith("failed: ") and summary["frames"] == 0


def test_by_hand_the_default_is_a_bounded_number_of_attempts():
    gst_or_skip("rtspsrc", "decodebin", "videoconvert", "appsink")
    url = "rtsp://127.0.0.1:{}/x".format(free_port())
    code, out, err, _ = edge_run(["--camera", url, "--reconnect-initial", "0.05", "--reconnect-max-delay", "0.1"])
    lines = err.splitlines()
    assert code == 5 and len(lines) == BY_HAND_ATTEMPTS, err
    assert "(attempt {} of {})".format(BY_HAND_ATTEMPTS - 1, BY_HAND_ATTEMPTS) in lines[-2]
    assert "gave up after {} failed attempts".format(BY_HAND_ATTEMPTS) in lines[-1]


def test_under_systemd_it_keeps_retrying_but_stops_extending_start_up(tmp_path, monkeypatch, notify_socket):
    """NOTIFY_SOCKET set: no attempt limit; READY=1 never (no frame); EXTEND_TIMEOUT_USEC only up to
    SOURCE_START_MAX_S after the source began opening, so systemd's start timeout can fail the unit."""
    gst_or_skip("rtspsrc", "decodebin", "videoconvert", "appsink")
    import edge.service.daemon as daemon_mod

    address, receive = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setattr(daemon_mod, "SLOW_START_S", 0.4)  # extend every 0.1 s while waiting
    monkeypatch.setattr(daemon_mod, "SOURCE_START_MAX_S", 1.5)
    url = "rtsp://127.0.0.1:{}/x".format(free_port())
    lines, msgs, raised = [], [], []

    def read(src):
        try:
            src.read(1.0)
        except RetryStopped as e:
            raised.append(e)

    with daemon_mod.Daemon(RunConfig(source=url, reconnect=FAST), lines.append) as daemon:
        t0 = time.monotonic()
        src = daemon.open_source(lambda: open_source(url, threaded=False), url)
        reader = threading.Thread(target=read, args=(src,))
        reader.start()
        def attempts_so_far():
            return sum(x.startswith("cannot open {} (attempt ".format(url)) for x in list(lines))

        # 4 s at least (the start-up deadline's checks), longer while a loaded machine is slow to try again
        while time.monotonic() < t0 + 4.0 or (attempts_so_far() <= BY_HAND_ATTEMPTS and time.monotonic() < t0 + 20):
            msgs += receive(0.05)  # (arrival time, message) as they come
        daemon.stop.set()
        reader.join(10)
        src.close()
    assert raised, "the read did not stop with the daemon"
    attempts = [x for x in lines if x.startswith("cannot open {} (attempt ".format(url))]
    assert len(attempts) > BY_HAND_ATTEMPTS and " of " not in attempts[-1], lines
    assert not any("READY=1" in m for _, m in msgs)
    extends = [(t, int(m.split("=")[1]) / 1e6) for t, m in msgs if m.startswith("EXTEND_TIMEOUT_USEC=")]
    assert extends, msgs
    assert max(t + s for t, s in extends) <= t0 + 1.5 + 0.3, extends  # the start-up deadline is bounded
    assert max(t for t, _ in extends) < t0 + 1.6 < time.monotonic() - 2


class _Scripted:
    """open_fn that opens real sources in turn: each entry is a URI (opened with open_source, capture
    forced where given as (uri, capture)); the last one repeats."""

    def __init__(self, *uris):
        self.uris, self.opened = list(uris), 0

    def __call__(self):
        uri = self.uris[min(self.opened, len(self.uris) - 1)]
        self.opened += 1
        uri, capture = uri if isinstance(uri, tuple) else (uri, "auto")
        return open_source(uri, 160, 120, 30, capture=capture, threaded=False)


def _camera(open_fn, limit, lines):
    backoff = BackoffConfig(initial=0.05, factor=2.0, max_delay=0.2, attempts=limit)
    return ReopeningSource(open_fn, "cam", "usb", False, backoff, threading.Event(), lines.append)


@pytest.mark.parametrize("limit", [3, 2])
def test_back_only_after_a_frame_and_attempts_count_every_kind_of_failure(limit):
    """A camera that ends after 5 frames, then opens without a frame (RTSP to a closed port), then cannot be
    opened at all (/dev/video57), then works: two failed attempts in a row, one reconnect."""
    gst_or_skip("rtspsrc", "videotestsrc", "decodebin", "videoconvert", "appsink")
    rtsp = "rtsp://127.0.0.1:{}/x".format(free_port())
    script = _Scripted("test://ball?frames=5", rtsp, ("/dev/video57", "opencv"), "test://ball?frames=5")
    lines = []
    src = _camera(script, limit, lines).start(False)
    try:
        got = [src.read(2.0).index for _ in range(5)]
        if limit == 2:
            with pytest.raises(HardwareError, match="cannot open the usb camera.*gave up after 2 failed attempts"):
                src.read(2.0)
            assert src.reconnects == 0 and not any(x.startswith("source back") for x in lines), lines
            return
        got += [src.read(2.0).index for _ in range(5)]
    finally:
        src.close()
    assert got == list(range(10)) and src.reconnects == 1
    assert [x.split(":")[0].split(" (")[0] for x in lines] == [
        "source lost", "cannot open cam", "cannot open cam", "source back"], lines
    assert "(attempt 1 of 3)" in lines[1] and "Could not open resource" in lines[1] and "(attempt 2 of 3)" in lines[2]


def test_a_loop_that_restarts_is_not_a_reconnect(damaged):
    lines = []
    src = ReopeningSource(lambda: open_source(damaged["faststart"], capture="opencv", threaded=False),
                          damaged["faststart"], "video", True, FAST, threading.Event(), lines.append).start(False)
    try:
        frames = [src.read(2.0).index for _ in range(SAMPLE_FRAMES + 3)]
    finally:
        src.close()
    assert frames == list(range(SAMPLE_FRAMES + 3)) and src.reconnects == 0 and lines == []


def test_given_up_error_keeps_its_exit_code():
    src = _camera(_Scripted(("/dev/video57", "opencv")), 1, [])
    with pytest.raises(EdgeError) as e:
        src.start(True)
    assert e.value.exit_code == 5 and "gave up after 1 failed attempt;" in str(e.value)


def test_closing_a_stalled_camera_does_not_wait_for_its_read():
    """Tearing down a camera that stopped sending (each reopening does) interrupts the capture thread's read
    instead of waiting out its timeout."""
    gst_or_skip("videotestsrc", "videoconvert", "appsink")
    from edge.sources.gst import GstSource
    from edge.sources.threaded import ThreadedSource

    desc = ("videotestsrc is-live=true ! video/x-raw, width=64, height=48, framerate=1/10 ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink name=sink drop=1 max-buffers=1 sync=false")
    src = ThreadedSource(GstSource("test://stalled", desc, "test"), read_timeout=5.0)
    src.read(5.0)  # the first frame comes at once, the next in 10 s
    time.sleep(0.3)  # the capture thread is waiting for it
    t0 = time.monotonic()
    src.close()
    assert time.monotonic() - t0 < 1.5
