"""The live page and its stream caps: events with snapshots (/events/<id>.jpg), the charts (/history.json),
a phone-width window in real headless Chromium; --serve-size / --serve-fps; faults: 10 viewers, a viewer
that disconnects, one that never reads (its frames dropped and counted, its thread freed)."""
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from browser import CHROMIUM, dump_dom

pytest.importorskip("prometheus_client")
cv2 = pytest.importorskip("cv2")
import edge.service.live as live_module  # noqa: E402
from edge.errors import ConfigError  # noqa: E402
from edge.service.live import LiveState, fit_size  # noqa: E402
from edge.service.serve import ServeConfig, start_server  # noqa: E402

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
def serve():
    """start(server options, **LiveState options) → (state, server on a free loopback port)."""
    servers = []

    def start(server_options=None, **options):
        state = LiveState(info={"model": "m.onnx", "source": "test"}, **options)
        servers.append(start_server(state, "127.0.0.1:0", **(server_options or {})))
        return state, servers[-1]
    yield start
    for server in servers:
        server.close()


def view(i, w=1280, h=720):
    """An annotated frame stand-in: a gradient that changes with ``i``."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = (np.arange(w) * 255 // w)[None, :]
    img[:, :, 1] = (i * 23) % 256
    return img


def noise(i, w=640, h=480):
    return np.random.RandomState(i).randint(0, 256, (h, w, 3)).astype(np.uint8)  # ~200 kB as JPEG


def face_jpeg(i):
    ok, buf = cv2.imencode(".jpg", np.full((80, 64, 3), (40 * i) % 256, np.uint8))
    return buf.tobytes()


def stats(n):
    per = {"people": n, "with_mask": n - n // 3, "without_mask": n // 3,
           "compliance": round((n - n // 3) / n, 4) if n else None}
    return dict(per, per_minute=dict(per), per_hour=dict(per), since=1000.0)


def event(n, kind="person"):
    return {"type": kind, "phase": "confirmed", "track_id": n, "label": "with_mask", "confidence": 0.9,
            "first_seen": 1000.0 + n, "last_seen": 1001.0 + n, "frames": 8}


class Publisher:
    """Publish ``frames(i)`` at ``rate`` fps in a thread; ``ms``: the time each publish() took."""

    def __init__(self, state, frames, rate=30.0, on_frame=None):
        self.state, self.frames, self.rate, self.on_frame = state, frames, rate, on_frame
        self.stop, self.ms, self.n = threading.Event(), [], 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t0 = time.monotonic()
        while not self.stop.is_set():
            frame = self.frames(self.n)
            t = time.perf_counter()
            self.state.publish(frame, {"frame": self.n, "ms": {"total": 5.0}, "labels": []})
            self.ms.append((time.perf_counter() - t) * 1000)
            if self.on_frame:
                self.on_frame(self.n)
            self.n += 1
            time.sleep(max(0.0, t0 + self.n / self.rate - time.monotonic()))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def read_streams(url, viewers, seconds):
    """``viewers`` clients reading ``url`` at once for ``seconds``: (each one's parts, errors)."""
    streams, errors = [[] for _ in range(viewers)], []
    readers = [threading.Thread(target=read_stream, args=(url, seconds, s, errors)) for s in streams]
    for r in readers:
        r.start()
    for r in readers:
        r.join(15)
    return streams, errors


def read_stream(url, seconds, out, errors, first_timeout=5):
    """Read /stream.mjpg for ``seconds``: (arrival time, JPEG bytes) of each part into ``out``."""
    try:
        with urllib.request.urlopen(url, timeout=first_timeout) as r:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                line = r.readline()
                if not line.startswith(b"--edgeframe"):
                    raise AssertionError("expected a boundary, found {!r}".format(line[:40]))
                headers = dict(h.decode().lower().split(":", 1) for h in iter(r.readline, b"\r\n"))
                out.append((time.monotonic(), r.read(int(headers["content-length"]))))
                assert r.read(2) == b"\r\n"
    except Exception as e:  # reported by the test thread
        errors.append(repr(e))


def get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def shape(jpeg):
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2]


@pytest.mark.parametrize("w,h,box,expected", [
    (1280, 720, (), (1280, 720)), (1280, 720, (320, 180), (320, 180)), (1280, 720, (640, 640), (640, 360)),
    (640, 480, (320, 180), (240, 180)), (320, 180, (1280, 720), (320, 180)), (1920, 1080, (100, 16), (28, 16)),
])
def test_fit_size_keeps_the_aspect_and_never_scales_up(w, h, box, expected):
    assert fit_size(w, h, box) == expected


@pytest.mark.parametrize("options,key", [({"size": (8, 8)}, "serve.size"), ({"size": (320,)}, "serve.size"),
                                         ({"fps": -1.0}, "serve.fps"), ({"fps": 1000.0}, "serve.fps")])
def test_serve_config_rejects_bad_caps(options, key):
    with pytest.raises(ConfigError, match=re.escape("'{}'".format(key))):
        ServeConfig(**options)


@pytest.mark.parametrize("frame_size,expected", [((1280, 720), (180, 320)), ((640, 480), (180, 240))])
def test_serve_size_scales_the_stream_to_fit(serve, frame_size, expected):
    state, server = serve(size=(320, 180))
    frames, errors = [], []
    with Publisher(state, lambda i: view(i, *frame_size)):
        read_stream(server.url + "stream.mjpg", 1.0, frames, errors)
    assert not errors and len(frames) >= 5, (errors, len(frames))
    assert {shape(j) for _, j in frames} == {expected}


def test_full_frames_without_serve_size(serve):
    state, server = serve()
    frames, errors = [], []
    with Publisher(state, view):
        read_stream(server.url + "stream.mjpg", 0.5, frames, errors)
    assert not errors and frames and shape(frames[-1][1]) == (720, 1280)


def test_serve_fps_caps_each_viewer(serve):
    """Frames published at 30 fps; --serve-fps 5 lets about 5 a second through to each viewer."""
    state, server = serve(fps=5.0, size=(160, 90))
    with Publisher(state, lambda i: view(i, 320, 180)) as pub:
        streams, errors = read_streams(server.url + "stream.mjpg", 2, 3.0)
    assert not errors, errors
    assert pub.n > 60  # the publisher ran at ~30 fps
    for s in streams:
        times = [t for t, _ in s][1:]  # the first is the latest picture, sent at once
        rate = (len(times) - 1) / (times[-1] - times[0])
        assert 3.5 <= rate <= 6.5, "a viewer got {:.1f} frames/s, expected about 5".format(rate)


def test_ten_viewers_each_frame_encoded_once(serve, monkeypatch):
    """10 viewers at once all get frames; each published frame is encoded at most once, whatever the number
    of viewers, and not at all while nobody watches."""
    encodes = []
    real = live_module.encode_view
    monkeypatch.setattr(live_module, "encode_view", lambda *a, **k: encodes.append(1) or real(*a, **k))
    state, server = serve(size=(320, 180))
    for i in range(20):
        state.publish(view(i), {})
    assert encodes == []  # no viewer: no JPEG
    with Publisher(state, view) as pub:
        streams, errors = read_streams(server.url + "stream.mjpg", 10, 2.0)
    assert not errors, errors[:3]
    got = [len(s) for s in streams]
    assert min(got) >= 15, "viewers received {} frames".format(got)
    assert 0 < len(encodes) <= pub.n, (len(encodes), pub.n)
    status = json.loads(get(server.url + "status.json")[2])["stream"]
    assert status["frames_sent"] >= sum(got) and status["size"] == [320, 180]  # some were in flight


def test_a_viewer_that_never_reads_is_dropped_and_counted(serve):
    """A client whose window is full: the publisher does not wait, another viewer keeps receiving, that
    client's frames are dropped and counted, and its thread ends after the client timeout."""
    state, server = serve({"client_timeout": 1.5})
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((server.host, server.port))
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # ... and never read
    frames, errors = [], []
    try:
        with Publisher(state, noise) as pub:
            read_stream(server.url + "stream.mjpg", 2.0, frames, errors)
            status = json.loads(get(server.url + "status.json")[2])["stream"]
            metrics = get(server.url + "metrics")[2].decode()
            end = time.monotonic() + 10  # the stalled client is still connected: its thread gives up on it
            while state.status()["stream"]["viewers"] and time.monotonic() < end:
                time.sleep(0.2)
            left = state.status()["stream"]["viewers"]
        assert not errors, errors
        assert len(frames) >= 20, "the reading viewer got {} frames".format(len(frames))
        assert status["frames_dropped"] > 10, status
        dropped = float(re.search(r"^edge_stream_frames_dropped_total ([0-9.e+]+)$", metrics, re.M).group(1))
        assert dropped >= status["frames_dropped"]
        assert np.median(pub.ms) < 20 and max(pub.ms) < 200, "publish() waited: max {:.0f} ms".format(max(pub.ms))
        assert left == 0
    finally:
        stalled.close()


def test_viewers_that_disconnect_leave_no_error_lines(serve, capfd, caplog):
    import logging
    import struct

    caplog.set_level(logging.DEBUG, logger="edge.service.serve")
    state, server = serve()
    with Publisher(state, lambda i: view(i, 320, 180)):
        for i in range(20):
            s = socket.create_connection((server.host, server.port), timeout=5)
            s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            s.recv(1000)  # the headers and part of a frame
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
            s.close()
        time.sleep(0.5)
        assert get(server.url + "status.json")[0] == 200
    end = time.monotonic() + 5
    while json.loads(get(server.url + "status.json")[2])["stream"]["viewers"] and time.monotonic() < end:
        time.sleep(0.1)
    assert json.loads(get(server.url + "status.json")[2])["stream"]["viewers"] == 0
    assert capfd.readouterr().err == ""
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_event_snapshots_behind_the_token_and_host_rule():
    state = LiveState()
    server = start_server(state, "127.0.0.1:0", token=TOKEN)
    try:
        state.add_event(event(1), face_jpeg(1))
        state.add_event(event(1, kind="no_mask"))  # no snapshot
        events = json.loads(get(server.url + "status.json?token=" + TOKEN)[2])["events"]
        assert events[0]["id"] == 2 and "image" not in events[0] and events[1]["image"] == "events/1.jpg"
        url = server.url + "events/1.jpg"
        assert get(url)[0] == 401
        code, ctype, body = get(url + "?token=" + TOKEN)
        assert code == 200 and ctype == "image/jpeg" and body == face_jpeg(1) and shape(body) == (80, 64)
        assert get(server.url + "events/2.jpg?token=" + TOKEN)[0] == 404
        assert get(server.url + "history.json")[0] == 401
        assert get(server.url + "history.json", {"X-Edge-Token": TOKEN})[0] == 200
        import http.client

        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        conn.putrequest("GET", "/events/1.jpg?token=" + TOKEN, skip_host=True)
        conn.putheader("Host", "evil.example")
        conn.endheaders()
        assert conn.getresponse().status == 421
        conn.close()
        for n in range(2, 13):  # memory stays bounded: only the last 10 events' snapshots are kept
            state.add_event(event(n), face_jpeg(n))
        assert get(url + "?token=" + TOKEN)[0] == 404
        assert get(server.url + "events/13.jpg?token=" + TOKEN)[0] == 200
        assert len(state._snapshots) == 10
    finally:
        server.close()


def test_history_has_fps_and_last_minute_compliance():
    t = [1000.0]
    state = LiveState(clock=lambda: t[0], history_step=5.0)
    for i in range(300):  # 30 s at 10 fps, people counted along the way
        if i % 50 == 0:
            state.set_people(stats(i // 50 + 1))
        state.publish(None, {})
        t[0] = 1000.0 + (i + 1) / 10.0
    h = state.history()
    assert len(h["t"]) == len(h["fps"]) == len(h["compliance"]) == 7  # one point per 5 s, plus now
    assert h["fps"][1:] == pytest.approx([10.0] * 6, rel=0.05)
    assert h["compliance"][0] == 1.0 and h["compliance"][-1] == stats(6)["compliance"]
    t[0] += 60  # the frames stop: the FPS falls to 0 on the chart
    assert state.history()["fps"][-1] == 0.0


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")
def test_live_page_on_a_phone_in_headless_chromium(serve):
    """A 375-px window: events show their snapshots, the charts draw, nothing overflows sideways."""
    state, server = serve(size=(640, 360), fps=10.0, history_step=0.1)
    counted = [0]

    def on_frame(i):
        if i % 5 == 0:
            counted[0] += 1
            state.set_people(stats(counted[0]))
        if i % 15 == 0:
            state.add_event(event(i), face_jpeg(i))

    with Publisher(state, view, on_frame=on_frame):
        time.sleep(1.0)  # a few stats updates and history points before the page loads
        dom, body = dump_dom(server.url, 4000, window=(375, 800))
    assert int(body["viewport-width"]) == 375, body
    assert int(body["scroll-width"]) <= 375, "the page is {} px wide in a 375-px window".format(body["scroll-width"])
    assert int(body["snapshots-loaded"]) >= 1, body  # an event's <img> loaded (naturalWidth > 0)
    assert re.search(r'<img alt="snapshot of track \d+" src="events/\d+\.jpg">', dom)
    assert int(body["chart-fps"]) >= 3 and int(body["chart-compliance"]) >= 3, body
    points = re.search(r'id="chart-fps".*?<polyline[^>]* points="([^"]+)"', dom, re.S).group(1)
    assert len(points.split()) >= 3
    assert int(body["stream-width"]) == 640, body  # the stream at --serve-size
    assert re.search(r'<div class="card"><b>\d+</b>people</div>', dom)
