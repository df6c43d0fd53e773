"""--output rtsp://: a real gst-rtsp-server in the process, read by real clients over TCP on localhost.

Frames carry a pixel stamp (edge.bench.stamp) so a client proves it decoded *those* frames, in order, fresh.
Clients use TCP (rtspsrc protocols=tcp; FFmpeg rtsp_transport=tcp): UDP delivered nothing in this sandbox."""
import base64
import os
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edge.bench.stamp import CELL, read_stamp, rtsp_reader, stamp
from edge.errors import UsageError
from edge.outputs.base import OutputSpec
from edge.outputs.options import OutputOptions
from edge.sources.base import Frame
from localnet import free_port, wait_for

TOKEN = "s3cret-token-of-20-chars"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def Gst():
    from edge.errors import MissingDependency
    from edge.sources import gst

    if not gst.available():
        pytest.skip("needs PyGObject with GStreamer (gir1.2-gstreamer-1.0)")
    try:
        from edge.outputs.rtsp import _rtsp_server

        _rtsp_server()
    except MissingDependency:
        pytest.skip("needs gst-rtsp-server's typelib (apt: gir1.2-gst-rtsp-server-1.0)")
    from edge.outputs.encoders import available_encoders

    if not available_encoders():
        pytest.skip("needs an H.264 encoder in GStreamer (apt: gstreamer1.0-plugins-ugly for x264enc)")
    G = gst.gst()
    missing = [e for e in ("rtspsrc", "rtph264depay", "avdec_h264") if G.ElementFactory.find(e) is None]
    if missing:
        pytest.skip("needs the GStreamer elements {} (apt: gstreamer1.0-plugins-good gstreamer1.0-libav)".format(
            ", ".join(missing)))
    return G


class Feeder(threading.Thread):
    """The frame loop: stamped frames (counter, time) written to ``out`` at ``fps``; notes its longest write."""

    def __init__(self, out, size=(320, 240), fps=30.0, noise=False):
        super().__init__(daemon=True)
        self.out, self.size, self.fps = out, size, fps
        rng = np.random.default_rng(0)
        w, h = size
        self.images = ([rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(8)] if noise else
                       [np.full((h, w, 3), 90, np.uint8)])
        self.written, self.longest = 0, 0.0
        self.halted = threading.Event()

    def run(self):
        from edge.bench.stamp import now_ms

        due = time.monotonic()
        while not self.halted.is_set():
            i = self.written
            img = self.images[i % len(self.images)].copy()
            x = 40 + (i * 4) % (self.size[0] - 80)
            img[self.size[1] // 2:self.size[1] // 2 + 30, x:x + 30] = (0, 200, 255)
            stamp(img, i, now_ms())
            t0 = time.monotonic()
            assert self.out.write(Frame(i, img, time.time()), None, img) is True
            self.longest = max(self.longest, time.monotonic() - t0)
            self.written = i + 1
            due += 1.0 / self.fps
            time.sleep(max(0.0, due - time.monotonic()))

    def halt(self):
        self.halted.set()
        self.join(5)


class Reader(threading.Thread):
    """A real client (rtspsrc over TCP → avdec_h264 → BGR appsink) reading until halted: the stamps it read
    (None: a frame whose stamp did not survive) and the frame shape."""

    def __init__(self, url, user="", password="", cell=CELL):
        super().__init__(daemon=True)
        self.src = rtsp_reader(url, user, password)
        self.cell, self.stamps, self.shape, self.error = cell, [], None, None
        self.halted = threading.Event()
        self.start()

    def run(self):
        try:
            while not self.halted.is_set():
                f = self.src.read(timeout=10.0)
                self.shape = f.image.shape
                got = read_stamp(f.image, self.cell)
                self.stamps.append(got[0] if got else None)
        except Exception as e:  # noqa: BLE001 (kept for the assertion)
            if not self.halted.is_set():
                self.error = e

    def counters(self):
        return [c for c in self.stamps if c is not None]

    def wait_frames(self, n, timeout=15.0):
        wait_for(lambda: len(self.counters()) >= n or self.error, timeout, "{} stamped frames".format(n))
        assert self.error is None, self.error
        return self.counters()

    def halt(self):
        self.halted.set()
        self.src.close()
        self.join(5)


@pytest.fixture
def serve(Gst):
    """start(frame (W, H), fps, noise, host, token, **OutputOptions) → (RtspOutput, Feeder, lines warned)."""
    from edge.outputs.rtsp import RtspOutput

    made = []

    def start(frame=(320, 240), fps=30.0, noise=False, host="127.0.0.1", token=None, **opts):
        port = free_port()
        lines = []
        out = RtspOutput(OutputSpec("rtsp", "rtsp://@:{}/live".format(port), host, port, "/live"),
                         OutputOptions(**opts), lines.append, token)
        feeder = Feeder(out, frame, fps, noise)
        made.append((out, feeder))
        feeder.start()
        return out, feeder, lines

    yield start
    for out, feeder in made:
        feeder.halt()
        out.close()


def local(out):
    """The URL a client on this machine opens (a wildcard server announces the host name)."""
    return "rtsp://127.0.0.1:{}/live".format(out.port)


def request(sock, method, url, cseq, headers=""):
    """One RTSP request on ``sock``; (status code, head, body) of the reply (interleaved data after it stays)."""
    sock.sendall("{} {} RTSP/1.0\r\nCSeq: {}\r\n{}\r\n".format(method, url, cseq, headers).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    m = re.search(rb"content-length: *(\d+)", head, re.I)
    while m and len(rest) < int(m.group(1)):
        rest += sock.recv(4096)
    text = head.decode()
    return int(text.split()[1]), text, rest[:int(m.group(1))].decode() if m else ""


def raw_play(url, port, auth="", rcvbuf=0):
    """DESCRIBE/SETUP (TCP interleaved)/PLAY by hand, then return the socket: the caller reads or does not."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    code, head, sdp = request(sock, "DESCRIBE", url, 1, auth + "Accept: application/sdp\r\n")
    assert code == 200, head
    control = re.search(r"a=control:(\S+)", sdp.split("m=video", 1)[1]).group(1)
    track = control if control.startswith("rtsp:") else url.rstrip("/") + "/" + control
    code, head, _ = request(sock, "SETUP", track, 2, auth + "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
    assert code == 200, head
    session = re.search(r"Session: *([^;\r\n]+)", head).group(1)
    code, head, _ = request(sock, "PLAY", url, 3, auth + "Session: {}\r\nRange: npt=0-\r\n".format(session))
    assert code == 200, head
    return sock


def test_frames_decode_at_the_output_size_and_nothing_is_encoded_without_clients(serve):
    out, feeder, lines = serve(frame=(640, 360), size=(320, 180))  # --output-size 320x180
    assert lines and lines[0].startswith("RTSP: serving rtsp://127.0.0.1:{}/live".format(out.port)), lines
    wait_for(lambda: feeder.written >= 15, 10, "frames written")
    assert out.sent == 0 and out.clients == 0  # nobody watching: nothing scaled or encoded

    reader = Reader(out.url, cell=CELL // 2)  # 640x360 → 320x180: the stamp's cells halve too
    counters = reader.wait_frames(10)
    assert reader.shape == (180, 320, 3)
    assert counters == sorted(set(counters)), counters  # in order, each frame once
    assert feeder.written - counters[-1] < 30  # fresh: less than a second behind the frame loop
    reader.halt()
    wait_for(lambda: out.clients == 0, 10, "the client to be gone")
    sent = out.sent
    time.sleep(0.5)
    assert out.sent == sent and out.medias == 1  # the last client left: the encoder idles


def test_opencv_ffmpeg_client(serve, monkeypatch):
    cv2 = pytest.importorskip("cv2")
    if "FFMPEG:                      YES" not in cv2.getBuildInformation():
        pytest.skip("needs an OpenCV built with FFmpeg")
    out, feeder, _ = serve()
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    cap = cv2.VideoCapture(out.url, cv2.CAP_FFMPEG)
    try:
        assert cap.isOpened()
        stamps = []
        for _ in range(60):
            ok, img = cap.read()
            assert ok and img.shape == (240, 320, 3)
            got = read_stamp(img)
            stamps.extend([got[0]] if got else [])
            if len(stamps) >= 5:
                break
        assert len(stamps) >= 5 and stamps == sorted(stamps), stamps
    finally:
        cap.release()


def test_clients_leave_abruptly_or_politely_and_a_new_one_joins(serve):
    out, feeder, _ = serve()
    first = Reader(out.url)
    seen = first.wait_frames(5)
    raw = raw_play(out.url, out.port)
    wait_for(lambda: out.clients == 2, 10, "two clients")
    first.halt()       # TEARDOWN
    raw.close()        # the connection dropped, no TEARDOWN
    wait_for(lambda: out.clients == 0, 10, "both clients to be gone")
    late = Reader(out.url)
    assert min(late.wait_frames(5)) > max(seen)
    assert out.clients_total == 3 and out.medias == 1
    late.halt()


def test_a_new_viewer_starts_with_a_whole_picture(serve):
    out, feeder, _ = serve()
    for _ in range(3):  # joining at three points of the 1 s key-frame interval
        src = rtsp_reader(out.url)
        try:
            firsts = [read_stamp(src.read(timeout=10).image) for _ in range(3)]
        finally:
            src.close()
        assert any(firsts), firsts  # a key frame at once (PLAY asks for one), not garbage until the next
        time.sleep(0.37)


def test_ten_clients_at_once_share_one_encoding(serve):
    out, feeder, _ = serve(fps=15.0)
    readers = [Reader(out.url) for _ in range(10)]
    try:
        for r in readers:
            r.wait_frames(5, timeout=30)
        assert out.clients == 10 and out.medias == 1
        common = set.intersection(*[set(r.counters()) for r in readers])
        assert common, "the ten clients saw no frame in common"
    finally:
        for r in readers:
            r.halt()


def test_a_client_that_never_reads_does_not_stall_the_loop_or_the_others(serve, Gst):
    out, feeder, lines = serve(noise=True, bitrate=20000)  # noise at 20 Mbit/s fills the socket in a second
    stuck = [raw_play(out.url, out.port, rcvbuf=4096)]  # plays, then never reads
    reader = None
    try:
        written = feeder.written
        wait_for(lambda: feeder.written >= written + 90, 20, "the frame loop to go on")  # 3 s of frames
        if Gst.version() >= (1, 16):  # alone, it holds the shared stream back: closed after STALL_S
            wait_for(lambda: out.evicted == 1, 15, "the stuck client to be closed")
            assert out.dropped > 0 and any("stopped reading" in line for line in lines)
        reader = Reader(out.url)  # a new client is not held back by the stuck one
        reader.wait_frames(5)
        stuck.append(raw_play(out.url, out.port, rcvbuf=4096))  # one more, beside a reading client
        n = len(reader.counters())
        reader.wait_frames(n + 60, timeout=20)  # the reading client goes on (2 s of frames)
        assert feeder.longest < 1.0  # no write waited for a client (generous: the machine is shared)
    finally:
        for sock in stuck:
            sock.close()
        if reader is not None:
            reader.halt()


def test_other_addresses_need_the_token_and_clients_log_in(serve):
    from edge.outputs.rtsp import RtspOutput

    spec = OutputSpec("rtsp", "rtsp://0.0.0.0:8554/live", "0.0.0.0", 8554, "/live")
    with pytest.raises(UsageError, match="refusing to serve RTSP on 0.0.0.0:8554 without --serve-token"):
        RtspOutput(spec, OutputOptions(), print)
    with pytest.raises(UsageError, match="at least 16 characters"):
        RtspOutput(spec, OutputOptions(), print, token="short")

    out, feeder, lines = serve(host="0.0.0.0", token=TOKEN)
    assert "user 'edge'" in lines[0] and TOKEN not in lines[0]
    url = local(out)
    for auth in ("", "Authorization: Basic {}\r\n".format(base64.b64encode(b"edge:wrong").decode())):
        with socket.create_connection(("127.0.0.1", out.port), timeout=10) as sock:
            code, head, _ = request(sock, "DESCRIBE", url, 1, auth)
            assert code == 401, head
    good = "Authorization: Basic {}\r\n".format(base64.b64encode(("edge:" + TOKEN).encode()).decode())
    raw_play(url, out.port, auth=good).close()
    reader = Reader(url, "edge", TOKEN)
    reader.wait_frames(3)
    reader.halt()


def test_port_in_use_is_one_line_and_close_frees_it(Gst, cli):
    from edge.outputs.rtsp import RtspOutput

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(UsageError) as e:
            RtspOutput(OutputSpec("rtsp", "x", "127.0.0.1", port, "/live"), OutputOptions(), print)
        assert "already in use" in str(e.value) and "\n" not in str(e.value)
        r = cli(["run", "--camera", "test://ball?frames=5", "--width", "160", "--height", "120", "--headless",
                 "--output", "rtsp://@:{}/live".format(port)])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and lines[-1].startswith("edge: error: ") and "already in use" in lines[-1], r.output
    assert "Traceback" not in r.output
    for _ in range(2):  # the port is free again as soon as the output is closed
        RtspOutput(OutputSpec("rtsp", "x", "127.0.0.1", port, "/live"), OutputOptions(), print).close()


def test_edge_run_serves_rtsp(Gst, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--camera", "test://ball?frames=100000", "--width", "320",
         "--height", "240", "--headless", "--model", "none", "--output", "rtsp://@:{}/live".format(port),
         "--output-size", "160x120", "--output-fps", "15", "--log", str(tmp_path / "frames.jsonl")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    guard = threading.Timer(60, proc.kill)  # a run that never names its URL must not hang the suite
    guard.start()
    try:
        url = "rtsp://127.0.0.1:{}/live".format(port)
        lines = []
        for line in proc.stdout:  # wait for the line that names the URL
            lines.append(line)
            if url in line:
                break
        assert any(url in x for x in lines), "".join(lines)
        src = rtsp_reader(url)
        try:
            shapes = [src.read(timeout=10).image.shape for _ in range(5)]
        finally:
            src.close()
        assert shapes == [(120, 160, 3)] * 5
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=30)[0]
        guard.cancel()
    assert proc.returncode == 0, "".join(lines) + rest
