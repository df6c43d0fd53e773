"""`edge run` as a daemon, with real sources and real processes: reopening, signals, the systemd
watchdog over a real NOTIFY_SOCKET, the live view, config precedence, log rotation, start-up failures."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from edge.service.daemon import check_log_path, energy_per_frame_mj, live_telemetry
from edge.sources.reopening import reopen_policy
from edge.errors import InputError
from edge.service.logrotate import RotatingFile
from edge.run.config import RunConfig
from edge.run.loop import run
from edge.sources.backoff import BackoffConfig
from localnet import free_port, wait_for

pytest.importorskip("onnxruntime")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = BackoffConfig(initial=0.1, factor=2.0, max_delay=0.4)




def edge_run(args, env=None, **kw):
    """`python -m edge run ARGS` in a subprocess (the way systemd starts it)."""
    full = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--headless"] + args, cwd=ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)


def frame_lines(path):
    rows = [json.loads(x) for x in open(path).read().splitlines() if x.strip()]
    return [r for r in rows if "frame" in r], [r["summary"] for r in rows if "summary" in r]




# --- pure rules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,loop,expected", [
    ("csi", False, (True, True)), ("usb", False, (True, True)), ("rtsp", False, (True, True)),
    ("test", False, (True, False)), ("video", False, (False, False)), ("folder", False, (False, False)),
    ("video", True, (True, True)), ("image", True, (True, True)),
])
def test_reopen_policy(kind, loop, expected):
    assert reopen_policy(kind, loop) == expected


@pytest.mark.parametrize("power,fps,expected", [(5000.0, 25.0, 200.0), (None, 25.0, None), (5000.0, 0.0, None)])
def test_energy_per_frame(power, fps, expected):
    assert energy_per_frame_mj(power, fps) == expected


def test_live_telemetry_shape():
    sample = {"power": {"total_mw": 4200.0, "rails_mw": {"POM_5V_GPU": 1500.0, "off": None}}, "gpu_load": 37.0,
              "temperature_c": {"GPU": 41.5}, "nvpmodel": "MAXN", "jetson_clocks": "ON", "clocks": {"gpu_mhz": 921.6}}
    t = live_telemetry(sample)
    assert t["power_w"] == {"POM_5V_GPU": 1.5, "total": 4.2} and t["gpu_load"] == pytest.approx(0.37)
    assert t["temperature_c"] == {"GPU": 41.5} and t["nvpmodel"] == "MAXN"


@pytest.mark.parametrize("max_bytes,keep,lines,files", [
    (0, 3, 50, {"f.jsonl": 50}),                                    # never rotates
    (100, 2, 10, {"f.jsonl": 1, "f.jsonl.1": 3, "f.jsonl.2": 3}),   # 30-byte lines, 3 per file, oldest dropped
    (100, 0, 10, {"f.jsonl": 1}),                                   # keep nothing old
    (10, 1, 3, {"f.jsonl": 1, "f.jsonl.1": 1}),                     # a line longer than the limit is not split
])
def test_rotating_file(tmp_path, max_bytes, keep, lines, files):
    f = RotatingFile(str(tmp_path / "f.jsonl"), max_bytes, keep)
    for i in range(lines):
        f.write(json.dumps({"frame": i, "pad": "x" * 5}) + "\n")  # 30 bytes
    f.close()
    found = {n: len(open(str(tmp_path / n)).read().splitlines()) for n in os.listdir(str(tmp_path))}
    assert found == files
    last = [json.loads(x)["frame"] for x in open(str(tmp_path / "f.jsonl"))]
    assert last[-1] == lines - 1  # the newest lines are in the current file


def test_log_rotates_in_the_run(seeded_onnx, tmp_path):
    log = tmp_path / "frames.jsonl"
    s = run(RunConfig(source="test://ball?frames=40", width=160, height=120, model=seeded_onnx, headless=True,
                      log=str(log), log_max_mb=2500 / 2 ** 20, log_keep=2))
    assert sorted(os.listdir(str(tmp_path))) == ["frames.jsonl", "frames.jsonl.1", "frames.jsonl.2"]
    assert all(os.path.getsize(str(tmp_path / n)) <= 2500 for n in os.listdir(str(tmp_path)))
    rows = [json.loads(x) for n in ("frames.jsonl.2", "frames.jsonl.1", "frames.jsonl")
            for x in open(str(tmp_path / n))]
    frames = [r["frame"] for r in rows if "frame" in r]  # not the summary (its detector has "mode": "frame")
    assert frames == list(range(frames[0], 40)) and s["frames"] == 40  # contiguous: no line lost at rotation


# --- start-up: bad settings fail before the model and the camera open -------------------------------

def test_check_log_path(tmp_path):
    (tmp_path / "file").write_text("x")
    for path, words in ((tmp_path / "file" / "f.jsonl", "expected a folder for --log, found the file"),
                        (tmp_path / "file" / "a" / "f.jsonl", "expected a folder for --log, found the file"),
                        (tmp_path, "expected a file path for --log"),
                        ("/proc/f.jsonl", "cannot write --log in '/proc'"),
                        ("/proc/new/f.jsonl", "cannot write --log in '/proc'"),
                        ("/proc/version", "cannot write --log '/proc/version'")):  # read-only, also for root
        with pytest.raises(InputError, match=re.escape(words)):
            check_log_path(str(path))
    with pytest.raises(InputError, match=re.escape("expected a regular file for --log (rotated)")):
        check_log_path("/dev/full", rotating=True)  # a device can be appended to, not rotated
    check_log_path("/dev/full")
    check_log_path(str(tmp_path / "ok.jsonl"))
    check_log_path(str(tmp_path / "new" / "deeper" / "ok.jsonl"), rotating=True)  # made when the log opens
    check_log_path(str(tmp_path / "file"), rotating=True)  # an existing log is appended to
    assert os.listdir(str(tmp_path)) == ["file"]  # the probes left nothing behind


@pytest.fixture
def busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


@pytest.mark.parametrize("args,code,words", [
    (["--config", "{toml:detect_evry = 3}"], 2, "unknown key 'detect_evry'"),
    (["--config", "{toml:[serve]\nadress = 'x'}"], 2, "unknown key 'serve.adress'"),
    (["--config", "{toml:max_frames = 'ten'}"], 2, "'max_frames' expected an integer, found string \"ten\""),
    (["--config", "{toml:max_frames = [}"], 2, "not valid TOML"),  # a config error (README: 2)
    (["--config", "/no/such.toml"], 3, "cannot read config file /no/such.toml"),
    (["--serve", "127.0.0.1:{busy}"], 2, "the port is already in use"),
    (["--serve", "0.0.0.0:8080"], 2, "refusing to serve the live view on 0.0.0.0:8080 without --serve-token"),
    (["--serve", "0.0.0.0:8080", "--serve-token", "short"], 2, "at least 16 characters"),
    (["--log", "/proc/frames.jsonl"], 3, "cannot write --log in '/proc'"),
    (["--log", "/proc/version"], 3, "cannot write --log '/proc/version'"),  # an existing read-only file
    (["--log", "{tmp}"], 3, "expected a file path for --log, found the folder"),
    (["--save", "/proc/out.mp4"], 3, "cannot write --save in '/proc'"),
    (["--save", "{tmp}/sub/out.jpg", "--log", "{tmp}"], 3, "for --log"),  # a new --save folder is fine
    (["--save", "{tmp}"], 2, "expected --save ending in .mp4/.mov (a video) or an image suffix"),
    (["--save", "{tmp}/f.mp4/x.mp4"], 3, "expected a folder for --save, found the file"),
    (["--save", "{tmp}/out.avi"], 2, "expected --save ending in .mp4/.mov"),
    (["--timeout", "1e12"], 2, "run config 'timeout' (--timeout): expected 0 < seconds ≤ 86400"),
    (["--timeout", "inf"], 2, "run config 'timeout' (--timeout): expected 0 < seconds ≤ 86400"),
    (["--summary-every", "nan"], 2, "run config 'summary_every'"),
    (["--log-max-mb", "inf"], 2, "run config 'log_max_mb/log_keep'"),
    (["--reconnect-max-delay", "1e300"], 2, "run config 'reconnect'"),
    (["--reconnect-factor", "0.5"], 2, "run config 'reconnect'"),
])
def test_startup_failures_are_one_line_before_model_and_camera(cli, tmp_path, busy_port, args, code, words):
    """The model and camera named here do not exist: the error must be the setting's, so it came first."""
    def expand(a):
        m = re.match(r"^\{toml:(.*)\}$", a, re.S)
        if m:
            path = tmp_path / "c.toml"
            path.write_text(m.group(1) + "\n")
            return str(path)
        return a.replace("{busy}", str(busy_port)).replace("{tmp}", str(tmp_path))

    (tmp_path / "f.mp4").write_text("a file where a folder is expected")
    r = cli(["run", "--headless", "--model", "/no/model.onnx", "--camera", "/no/video.mp4"] +
            [expand(a) for a in args])
    lines = r.output.strip().splitlines()
    assert r.exit_code == code and len(lines) == 1 and lines[0].startswith("edge: error: ") and words in lines[0], \
        r.output
    assert not os.path.exists("/no")


# --- config file + command line -------------------------------------------------------------------

def test_config_file_then_explicit_flags(cli, tmp_path, seeded_onnx, monkeypatch):
    toml = tmp_path / "config.toml"
    toml.write_text('source = "test://ball?frames=50"\nmodel = "{}"\nwidth = 160\nheight = 120\nmax_frames = 5\n'
                    'headless = true\ndetect_every = 2\n[reconnect]\nmax_delay = 4\n'.format(seeded_onnx))
    r = cli(["run", "--config", str(toml), "--print-pipeline"])
    assert r.exit_code == 0 and "width=160, height=120" in r.output, r.output
    r = cli(["run", "--config", str(toml), "--height", "100", "--print-pipeline"])
    assert "width=160, height=100" in r.output  # the flag wins, the file's other keys stay
    r = cli(["run", "--config", str(toml), "--json"])
    assert r.exit_code == 0 and json.loads(r.output.strip().splitlines()[-1])["frames"] == 5, r.output
    r = cli(["run", "--config", str(toml), "--max-frames", "3", "--json"])
    assert json.loads(r.output.strip().splitlines()[-1])["frames"] == 3
    # what `edge config show` prints for the file is what runs; the token comes from the environment
    from edge.config import cli_overrides, load_config, merge_cli  # noqa: F401  (the same path as edge run)

    r = cli(["config", "show", "--config", str(toml)])
    assert r.exit_code == 0 and "detect_every = 2" in r.output and "max_delay = 4.0" in r.output
    monkeypatch.setenv("EDGE_SERVE_TOKEN", "short")  # read as --serve-token (checked, so nothing listens)
    r = cli(["run", "--config", str(toml), "--serve", "0.0.0.0:8080"])
    assert r.exit_code == 2 and "expected --serve-token of at least 16 characters, found 5" in r.output, r.output


def test_service_exec_start_runs_the_installed_config(cli, tmp_path, seeded_onnx):
    """`edge service install` writes ExecStart=... run --config /etc/edge/config.toml: run exactly that."""
    import shlex

    cfg = tmp_path / "mine.toml"
    cfg.write_text('source = "test://ball?frames=3"\nmodel = "{}"\nwidth = 160\nheight = 120\nheadless = true\n'
                   .format(seeded_onnx))
    root = tmp_path / "root"
    r = cli(["service", "install", "--apply", "--root", str(root), "--config-from", str(cfg),
             "--exec", sys.executable])
    assert r.exit_code == 0, r.output
    unit = (root / "etc/systemd/system/edge.service").read_text()
    exec_start = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    assert exec_start[1:] == ["run", "--config", "/etc/edge/config.toml"]
    r = cli(["run", "--config", str(root / "etc/edge/config.toml"), "--json"])
    assert r.exit_code == 0 and json.loads(r.output.strip().splitlines()[-1])["frames"] == 3, r.output


def test_deploy_doc_config_loads_as_the_service_runs_it():
    """The config in docs/DEPLOY.md is what `edge service install` points ExecStart's --config at."""
    from edge.config import load_config

    text = open(os.path.join(ROOT, "docs", "DEPLOY.md")).read()
    block = re.search(r"```toml\n(# /etc/edge/config.toml.*?)```", text, re.S).group(1)
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(block)
    try:
        cfg = load_config(f.name, RunConfig)
    finally:
        os.remove(f.name)
    assert cfg.source == "csi://0" and cfg.serve.address == "127.0.0.1:8080" and cfg.wait_for_source
    from edge.commands.service import render_unit, _data

    unit = render_unit(_data("edge.service"), ["/usr/local/bin/edge"], "/etc/edge/config.toml", "edge")
    assert "ExecStart=/usr/local/bin/edge run --config /etc/edge/config.toml\n" in unit


# --- faults through real sources ------------------------------------------------------------------

def test_file_that_ends_is_reopened_when_looping(face_video, seeded_onnx, tmp_path):
    from edge.sources import gst

    n = len(face_video[1]["frames"])
    for capture in ("gstreamer", "opencv") if gst.available() else ("opencv",):
        log = tmp_path / "{}.jsonl".format(capture)
        s = run(RunConfig(source=face_video[0], model=seeded_onnx, headless=True, loop=True, capture=capture,
                          max_frames=2 * n + 3, log=str(log), reconnect=FAST))
        frames, _ = frame_lines(str(log))
        assert s["frames"] == 2 * n + 3 and [f["frame"] for f in frames] == list(range(2 * n + 3)), capture
        assert s["reconnects"] == 0 and s["stopped"] == "--max-frames reached"


def test_file_source_that_ends_is_not_reopened_by_default(face_video, seeded_onnx):
    s = run(RunConfig(source=face_video[0], model=seeded_onnx, headless=True, capture="gstreamer"))
    assert s["frames"] == len(face_video[1]["frames"]) and s["stopped"] == "end of stream"


def test_source_that_appears_after_a_few_retries(face_video, seeded_onnx, tmp_path):
    late = str(tmp_path / "late.mp4")
    lines = []
    timer = threading.Timer(0.5, shutil.copy, (face_video[0], late))
    timer.start()
    t0 = time.monotonic()
    s = run(RunConfig(source=late, model=seeded_onnx, headless=True, wait_for_source=True, max_frames=4,
                      reconnect=FAST), echo=lines.append)
    timer.join()
    attempts = [x for x in lines if x.startswith("cannot open {} (attempt".format(late))]
    assert s["frames"] == 4 and len(attempts) >= 2 and time.monotonic() - t0 >= 0.5, lines
    assert "found nothing at" in attempts[0] and "Hint: check that the source exists" in attempts[0]


def test_looping_file_that_vanishes_is_retried_until_it_is_back(face_video, seeded_onnx, tmp_path):
    """GStreamer ends a file and edge reopens it (OpenCV would seek back to frame 0 in the open file)."""
    from edge.sources import gst

    if not gst.available():
        pytest.skip("needs PyGObject/GStreamer")
    path = str(tmp_path / "v.mp4")
    shutil.copy(face_video[0], path)
    n = len(face_video[1]["frames"])
    lines, timers = [], []

    def on_frame(frame, faces):
        if frame.index == n - 2:  # just before the end: take the file away, bring it back in 0.8 s
            os.rename(path, path + ".away")
            timers.append(threading.Timer(0.8, os.rename, (path + ".away", path)))
            timers[-1].start()

    s = run(RunConfig(source=path, model=seeded_onnx, headless=True, loop=True, capture="gstreamer",
                      detector="haar", threaded=False, max_frames=n + 5, reconnect=FAST), echo=lines.append, on_frame=on_frame)
    for t in timers:
        t.join()
    assert s["frames"] == n + 5, lines
    assert len([x for x in lines if "cannot open" in x and "found nothing" in x]) >= 2, lines


def _mkv(path, frames=150):
    """An MJPEG-in-Matroska clip: streamable, so GStreamer can read it from a pipe."""
    gst = pytest.importorskip("edge.sources.gst")
    if not gst.available() or gst.missing_elements("matroskamux ! jpegenc ! matroskademux ! jpegdec"):
        pytest.skip("needs GStreamer with matroskamux/jpegenc (gstreamer1.0-plugins-good)")
    r = subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", "num-buffers={}".format(frames), "pattern=ball", "!",
                        "video/x-raw,width=160,height=120,framerate=30/1", "!", "jpegenc", "!", "matroskamux", "!",
                        "filesink", "location=" + path])
    assert r.returncode == 0
    return open(path, "rb").read()


def test_gstreamer_source_that_stalls_mid_stream_is_torn_down_and_reopened(seeded_onnx, tmp_path):
    """A GStreamer pipeline reading from a pipe whose writer stops mid-stream (a hung camera): no frame
    within --timeout → the pipeline is torn down and reopened; the writer then delivers a whole clip."""
    data = _mkv(str(tmp_path / "clip.mkv"))
    fifo = str(tmp_path / "camera.mkv")
    os.mkfifo(fifo)
    stop = threading.Event()

    def writer():
        stalled = False
        while not stop.is_set():
            try:
                with open(fifo, "wb") as f:  # blocks until the pipeline opens the pipe
                    if not stalled:
                        f.write(data[:len(data) * 6 // 10])  # ~90 frames, whole Matroska clusters
                        f.flush()
                        stalled = True
                        stop.wait(3.0)  # stall, holding the pipe open, for longer than --timeout
                    else:
                        f.write(data)
            except OSError:  # the reader closed the pipe (BrokenPipeError)
                pass

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    lines = []
    try:
        s = run(RunConfig(source=fifo, model=seeded_onnx, headless=True, loop=True, capture="gstreamer",
                          threaded=False, timeout=1.0, max_frames=120, reconnect=FAST), echo=lines.append)
    finally:
        stop.set()
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # release a writer blocked in open()
        th.join(5)
    assert s["frames"] == 120 and s["reconnects"] >= 1, (s, lines)
    assert any(x.startswith("source lost (") and "no frame from" in x for x in lines), lines


def test_corrupt_frames_are_skipped_and_counted_while_looping(face_photos, seeded_onnx, tmp_path):
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.jpg"), face_photos["astronaut"][0])
    (folder / "2.jpg").write_bytes(b"\xff\xd8 truncated")
    cv2.imwrite(str(folder / "3.jpg"), face_photos["grace_hopper"][0])
    s = run(RunConfig(source=str(folder), model=seeded_onnx, headless=True, loop=True, max_frames=6))
    assert (s["frames"], s["corrupt"]) == (6, 3)  # three passes over the folder, the bad file each time


# --- signals, watchdog, live view: `edge run` in a subprocess --------------------------------------

def test_sigterm_stops_cleanly_with_every_frame_logged(seeded_onnx, tmp_path):
    log = str(tmp_path / "frames.jsonl")
    p = edge_run(["--camera", "test://ball?frames=100000", "--width", "160", "--height", "120",
                  "--model", seeded_onnx, "--log", log])
    try:
        seen = wait_for(lambda: os.path.exists(log) and len(frame_lines(log)[0]) >= 20 and frame_lines(log)[0],
                        60, "20 frames in the log")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    frames, summary = frame_lines(log)
    assert [f["frame"] for f in frames] == list(range(len(frames))) and len(frames) >= len(seen)
    assert len(summary) == 1 and summary[0]["frames"] == len(frames) and summary[0]["stopped"] == "SIGTERM"
    assert out.startswith("{} frames in".format(len(frames)))


def test_watchdog_stops_being_fed_when_the_loop_stalls(seeded_onnx, tmp_path, notify_socket):
    """The JSONL log is a pipe nobody reads once the test stops reading: the frame loop blocks in a write,
    a real stall. WATCHDOG=1 must stop, and come back when the pipe drains."""
    address, receive_new = notify_socket
    got = []

    def receive(duration):  # every datagram so far, with its arrival time
        got.extend(receive_new(duration))
        return got

    fifo = str(tmp_path / "frames.jsonl")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    p = edge_run(["--camera", "test://ball?frames=100000", "--width", "160", "--height", "120",
                  "--model", seeded_onnx, "--log", fifo],
                 env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})

    def drain(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                os.read(reader, 65536)
            except BlockingIOError:
                pass
            receive(0.05)

    try:
        wait_for(lambda: any("READY=1" in m for _, m in receive(0.1)), 60, "READY=1")
        drain(1.0)  # flowing: pings every 0.1 s
        t_stop = time.monotonic()
        receive(4.0)  # nobody reads the log: the pipe fills, the loop blocks
        assert p.poll() is None
        pings = [t for t, m in receive(0.0) if m == "WATCHDOG=1"]
        flowing = [t for t in pings if t_stop - 1.0 <= t < t_stop]
        assert len(flowing) >= 4, pings  # WATCHDOG_USEC/2 = 0.1 s apart while frames flow
        assert time.monotonic() - pings[-1] > 2.5, "watchdog still fed while the loop is blocked"
        t_resume = time.monotonic()
        drain(1.0)
        assert [t for t, m in receive(0.0) if m == "WATCHDOG=1" and t > t_resume], "pings did not resume"
        p.send_signal(signal.SIGTERM)
        drain(2.0)
        p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
        os.close(reader)
    msgs = [m for _, m in receive(0.2)]
    assert p.returncode == 0 and any(m.startswith("STOPPING=1") for m in msgs)
    assert any(m.startswith("EXTEND_TIMEOUT_USEC=") for m in msgs)


def test_live_view_answers_while_edge_run_serves(face_video, seeded_onnx, tmp_path):
    port = free_port()
    p = edge_run(["--camera", face_video[0], "--loop", "--model", seeded_onnx, "--serve",
                  "127.0.0.1:{}".format(port)])
    base = "http://127.0.0.1:{}".format(port)

    def status():
        try:
            s = json.loads(urllib.request.urlopen(base + "/status.json", timeout=2).read())
            return s if s["frames"] >= 5 else None
        except OSError:
            return None

    try:
        s = wait_for(status, 60, "/status.json with frames")
        assert s["fps"] > 0 and s["info"]["source"] == face_video[0] and "detect" in s["latency_ms"]
        assert set(s["faces"]) <= {"with_mask", "without_mask"} and sum(s["faces"].values()) > 0
        metrics = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        assert re.search(r"^edge_frames_total [1-9]", metrics, re.M)
        assert 'edge_stage_latency_seconds_bucket{le="0.1",stage="detect"}' in metrics
        page = urllib.request.urlopen(base + "/", timeout=5).read().decode()
        assert "stream.mjpg" in page
        with urllib.request.urlopen(base + "/stream.mjpg", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = r.read(200)
            assert b"Content-Type: image/jpeg" in head and b"\xff\xd8" in head
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "live view: {}/".format(base) in err, err
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/status.json", timeout=2)  # closed with the run


def test_jtop_telemetry_goes_into_the_log_and_the_summary(seeded_onnx, tmp_path, monkeypatch):
    """The run with jtop's documented surface (jetson-stats needs a Jetson): readings every N frames in
    the JSONL, the run's power summary and energy per frame in the summary line."""
    import types

    from tests.test_telemetry import FakeJtop

    monkeypatch.setitem(sys.modules, "jtop", types.SimpleNamespace(jtop=FakeJtop))
    monkeypatch.setattr("edge.service.daemon.JTOP_SOCKET", str(tmp_path))  # "the jtop service is there"
    log = tmp_path / "frames.jsonl"
    s = run(RunConfig(source="test://ball?frames=12", width=160, height=120, model=seeded_onnx, headless=True,
                      log=str(log), telemetry_every=4))
    frames, summary = frame_lines(str(log))
    with_tm = [f["frame"] for f in frames if "telemetry" in f]
    assert with_tm == [3, 7, 11]  # every 4th frame
    t = frames[3]["telemetry"]
    assert t["power"]["total_mw"] == 4500.0 and t["nvpmodel"] == "MAXN" and t["temperature_c"]["CPU"] == 41.5
    assert summary[0]["telemetry"]["power_mw"]["mean"] == 4500.0
    assert s["energy_mj_per_frame"] == pytest.approx(4500.0 / s["mean_fps"], rel=0.01)


def test_reopening_leaks_no_descriptors(seeded_onnx, tmp_path):
    """Each loop of a GStreamer file source is a new pipeline: the old one (bus sockets, threads) must be
    gone at once, not at some later garbage collection (found by bench/daemon_soak.py)."""
    clip = str(tmp_path / "clip.mkv")
    _mkv(clip, frames=10)
    counts = {}

    def on_frame(frame, faces):
        if frame.index in (45, 195):
            counts[frame.index] = len(os.listdir("/proc/self/fd"))

    s = run(RunConfig(source=clip, model=seeded_onnx, headless=True, loop=True, capture="gstreamer", max_frames=200),
            on_frame=on_frame)
    assert s["frames"] == 200 and counts[195] <= counts[45], counts  # 15 reopens in between
