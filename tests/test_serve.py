"""Live view: bind rules, token, endpoints, 20 concurrent clients at 30 fps, /metrics, real Chromium."""
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from browser import CHROMIUM, dump_dom
from edge.errors import UsageError

pytest.importorskip("prometheus_client")
from edge.service.live import LiveState, frame_facts  # noqa: E402
from edge.service.serve import check_serve, parse_address, start_server  # noqa: E402

TOKEN = "s3cret-token-0123456789"


def _jpeg(i, size=(48, 64)):
    import cv2

    ok, buf = cv2.imencode(".jpg", np.full(size + (3,), (i * 37) % 256, np.uint8))
    return buf.tobytes()


def _record(i):
    return {"frame": i, "stages_ms": {"detect": 4.0 + i % 3, "classify": 1.5, "total": 6.0 + i % 3},
            "faces": [{"label": "with_mask"}, {"label": "without_mask"}] if i % 2 else [{"label": "with_mask"}]}


@pytest.fixture
def serve():
    """start(**LiveState options) → (state, server on a free loopback port); closed after the test."""
    servers = []

    def start(**options):
        state = LiveState(info={"model": "small.onnx", "source": "test"}, **options)
        servers.append(start_server(state, "127.0.0.1:0"))
        return state, servers[-1]
    yield start
    for server in servers:
        server.close()


@pytest.fixture
def live(serve):
    return serve()


def _get(url, headers=None, timeout=5):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


@pytest.mark.parametrize("text,expected", [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("8080", ("127.0.0.1", 8080)), (":9000", ("127.0.0.1", 9000)),
    ("0.0.0.0:80", ("0.0.0.0", 80)), ("[::1]:8080", ("::1", 8080)), ("localhost:1", ("localhost", 1)),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "host:http", "::1:8080", "1.2.3.4:70000", ""])
def test_parse_address_rejects(text):
    with pytest.raises(UsageError, match="expected --serve HOST:PORT"):
        parse_address(text)


@pytest.mark.parametrize("address,token,message", [
    ("0.0.0.0:8080", None, "refusing to serve the live view on 0.0.0.0:8080 without --serve-token"),
    ("192.168.1.5:8080", None, "without --serve-token"),
    ("jetson.local:8080", None, "without --serve-token"),
    ("0.0.0.0:8080", "short", "expected --serve-token of at least 16 characters, found 5"),
    ("127.0.0.1:8080", "short", "at least 16 characters"),
])
def test_check_serve_refuses(address, token, message):
    with pytest.raises(UsageError) as e:
        check_serve(address, token)
    assert message in str(e.value)


@pytest.mark.parametrize("address,token", [("127.0.0.1:8080", None), ("localhost:8080", None),
                                           ("[::1]:8080", None), ("0.0.0.0:8080", TOKEN)])
def test_check_serve_allows(address, token):
    check_serve(address, token)


def test_port_in_use_is_one_clear_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        with pytest.raises(UsageError) as e:
            start_server(LiveState(), "127.0.0.1:{}".format(port))
        assert str(e.value) == ("cannot serve the live view on 127.0.0.1:{}: the port is already in use "
                                "(choose another with --serve HOST:PORT)".format(port))
    finally:
        s.close()


def test_frame_facts():
    assert frame_facts(_record(1)) == ({"detect": 5.0, "classify": 1.5, "total": 7.0},
                                       ["with_mask", "without_mask"])
    assert frame_facts({"latency_ms": {"a": 1, "bad": "x"}, "detections": [{"label": 0}, {}]}) == (
        {"a": 1.0}, ["0"])
    assert frame_facts({}) == ({}, [])


def test_fps_drops_to_zero_when_frames_stop():
    t = [100.0]
    state = LiveState(clock=lambda: t[0])
    for _ in range(31):
        state.publish(None, {})
        t[0] += 0.1
    assert state.fps() == pytest.approx(10.0, rel=0.01)
    t[0] += 2.5  # the pipeline stalls
    assert state.fps() == 0.0 and state.status()["fps"] == 0.0


def test_endpoints(live):
    state, server = live
    for i in range(1, 11):
        state.publish(_jpeg(i), _record(i))
    state.count("reconnects")
    state.count("dropped_frames", 3)
    state.set_telemetry({"power_w": {"VDD_IN": 4.75}, "temperature_c": {"GPU": 41.5}, "gpu_load": 0.37,
                         "power_mode": "MAXN"})
    code, ctype, body = _get(server.url)
    assert code == 200 and ctype.startswith("text/html") and b"stream.mjpg" in body
    status = json.loads(_get(server.url + "status.json")[2])
    assert status["frames"] == 10 and status["faces"] == {"with_mask": 10, "without_mask": 5}
    assert status["counters"] == {"dropped_frames": 3, "reconnects": 1, "decode_errors": 0}
    assert status["latency_ms"]["classify"]["p50"] == 1.5 and status["last"]["frame"] == 10
    assert status["telemetry"]["power_mode"] == "MAXN" and status["info"]["model"] == "small.onnx"
    assert _get_status(server.url + "nope") == 404
    with pytest.raises(ValueError, match="unknown counter"):
        state.count("frames")


def _get_status(url, headers=None):
    try:
        return _get(url, headers)[0]
    except urllib.error.HTTPError as e:
        return e.code


def test_token_is_required_when_set():
    state = LiveState()
    server = start_server(state, "127.0.0.1:0", token=TOKEN)
    try:
        for path in ("", "status.json", "metrics", "stream.mjpg"):
            assert _get_status(server.url + path) == 401
            assert _get_status(server.url + path + "?token=wrong-token-0123456789") == 401
        assert _get_status(server.url + "status.json?token=" + TOKEN) == 200
        assert _get_status(server.url + "metrics", {"X-Edge-Token": TOKEN}) == 200
        assert _get_status(server.url, {"Authorization": "Bearer " + TOKEN}) == 200
    finally:
        server.close()


def parse_metrics(text):
    """{(name, labels frozenset): value} via prometheus_client's own parser (fails on invalid text)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_metrics_exposition(serve, tmp_path):
    t = [1000.0]
    state, server = serve(clock=lambda: t[0])
    for i in range(1, 21):  # 20 frames at 8 fps
        state.publish(_jpeg(i), _record(i))
        t[0] += 0.125
    state.count("decode_errors", 2)
    state.set_telemetry({"power_w": {"VDD_IN": 4.75, "VDD_CPU_GPU_CV": 1.5}, "temperature_c": {"GPU": 41.5},
                         "gpu_load": 0.37})
    code, ctype, body = _get(server.url + "metrics")
    assert ctype.startswith("text/plain; version=0.0.4")
    m = parse_metrics(body.decode())
    assert m[("edge_frames_total", frozenset())] == 20
    assert m[("edge_faces_total", frozenset({("class", "without_mask")}))] == 10
    assert m[("edge_decode_errors_total", frozenset())] == 2
    assert m[("edge_stage_latency_seconds_count", frozenset({("stage", "detect")}))] == 20
    # detect took 4, 5 or 6 ms: all within the 10 ms bucket, none within 2.5 ms
    assert m[("edge_stage_latency_seconds_bucket", frozenset({("stage", "detect"), ("le", "0.01")}))] == 20
    assert m[("edge_stage_latency_seconds_bucket", frozenset({("stage", "detect"), ("le", "0.0025")}))] == 0
    assert m[("edge_power_watts", frozenset({("rail", "VDD_IN")}))] == 4.75
    assert m[("edge_gpu_load_ratio", frozenset())] == 0.37
    assert m[("edge_info", frozenset({("model", "small.onnx"), ("source", "test")}))] == 1
    assert m[("edge_fps", frozenset())] == pytest.approx(8.0) == json.loads(_get(server.url + "status.json")[2])["fps"]
    promtool = shutil.which("promtool")
    if promtool:  # Debian's `prometheus` package; the parser above already checked the syntax
        r = subprocess.run([promtool, "check", "metrics"], input=body, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        assert r.returncode == 0, r.stdout.decode()


def _read_stream(url, seconds, frames, errors):
    """Read multipart JPEG parts from /stream.mjpg for ``seconds``; append each part to ``frames``."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=edgeframe"
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                line = r.readline()
                if not line.startswith(b"--edgeframe"):
                    raise AssertionError("expected a boundary, found {!r}".format(line[:40]))
                headers = {}
                for h in iter(r.readline, b"\r\n"):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                data = r.read(int(headers["content-length"]))
                assert headers["content-type"] == "image/jpeg" and r.read(2) == b"\r\n"
                frames.append(data)
    except Exception as e:  # reported by the test thread
        errors.append(repr(e))


def _poll(url, seconds, count, errors):
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            code, _, body = _get(url)
            assert code == 200 and body
            count.append(1)
    except Exception as e:
        errors.append(repr(e))


def test_twenty_concurrent_clients_while_publishing_at_30fps(live):
    """10 stream viewers + 10 pollers (page, status, metrics) for 3 s; the publisher keeps its 30 fps."""
    state, server = live
    jpegs = [_jpeg(i, (240, 320)) for i in range(30)]
    publish_ms, stop = [], threading.Event()
    seconds, rate = 3.0, 30.0

    def publisher():
        t0, i = time.monotonic(), 0
        while not stop.is_set():
            t = time.perf_counter()
            state.publish(jpegs[i % 30], _record(i))
            publish_ms.append((time.perf_counter() - t) * 1000)
            i += 1
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))

    pub = threading.Thread(target=publisher)
    pub.start()
    errors, streams, polls = [], [[] for _ in range(10)], []
    clients = [threading.Thread(target=_read_stream, args=(server.url + "stream.mjpg", seconds, f, errors))
               for f in streams]
    clients += [threading.Thread(target=_poll, args=(server.url + p, seconds, polls, errors))
                for p in ("", "status.json", "metrics", "status.json", "metrics") * 2]
    t0 = time.monotonic()
    for c in clients:
        c.start()
    for c in clients:
        c.join(30)
    elapsed = time.monotonic() - t0
    stop.set()
    pub.join()
    assert not errors, errors[:3]
    published_rate = len(publish_ms) / (elapsed + 0.0)
    assert published_rate > 0.85 * rate, "publisher slowed to {:.1f} fps".format(published_rate)
    assert np.median(publish_ms) < 2.0, "publish() must not wait for clients"
    got = [len(f) for f in streams]
    assert min(got) >= 0.5 * rate * seconds, "viewers received {} frames".format(got)
    assert all(f[0][:2] == b"\xff\xd8" and f[0] in jpegs for f in streams)
    assert len(polls) >= 20
    print("publisher {:.1f} fps, publish p50 {:.3f} ms max {:.2f} ms, frames per viewer {}, polls {}".format(
        published_rate, np.median(publish_ms), max(publish_ms), got, len(polls)))




@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")
@pytest.mark.parametrize("telemetry", [None, {"gpu_load": 0.25}])
def test_live_page_in_headless_chromium(live, telemetry):
    """A real browser loads the page: numbers update from status.json and the MJPEG picture changes; the
    telemetry table shows only where there is telemetry (jtop)."""
    state, server = live
    if telemetry:
        state.set_telemetry(telemetry)
    stop = threading.Event()

    def publisher():
        i = 0
        while not stop.is_set():
            i += 1
            state.publish(_jpeg(i), _record(i))
            time.sleep(1 / 30)

    pub = threading.Thread(target=publisher)
    pub.start()
    try:
        dom, body = dump_dom(server.url, 4000)
    finally:
        stop.set()
        pub.join()
    assert int(body["updates"]) >= 3, body  # status.json polled and rendered several times
    assert int(body["stream-width"]) == 64, body  # the MJPEG stream decoded in the browser
    assert int(body.get("stream-changes", 0)) >= 2, body  # ... and its picture changed
    assert int(body["last-frame"]) > 1
    fps = float(re.search(r'id="fps">([0-9.]+)<', dom).group(1))
    assert fps > 0
    assert re.search(r"<th>with_mask</th><td>\d+</td>", dom)
    box = re.search(r'<div id="telemetry-box"([^>]*)>', dom).group(1)
    assert ("hidden" in box) == (telemetry is None), box
    if telemetry:
        assert re.search(r"<th>gpu_load</th><td>0.25</td>", dom)


def test_stalled_viewers_do_not_slow_the_publisher(live):
    """Viewers that never read fill their socket buffers; only their own threads block, not publish()."""
    state, server = live
    big = [np.random.RandomState(i).bytes(200000) for i in range(4)]  # incompressible 200 kB "frames"
    stalled = []
    for _ in range(3):
        s = socket.create_connection((server.host, server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        stalled.append(s)  # ... and never read
    frames, errors = [], []
    reader = threading.Thread(target=_read_stream, args=(server.url + "stream.mjpg", 1.5, frames, errors))
    reader.start()
    t0, n, publish_ms = time.monotonic(), 0, []
    while time.monotonic() - t0 < 2.0:
        t = time.perf_counter()
        state.publish(big[n % 4], _record(n))
        publish_ms.append((time.perf_counter() - t) * 1000)
        n += 1
        time.sleep(max(0.0, t0 + n / 30.0 - time.monotonic()))
    reader.join(10)
    for s in stalled:
        s.close()
    assert not errors, errors
    assert n >= 0.85 * 60 and max(publish_ms) < 50, "publisher blocked: {} frames, max {:.1f} ms".format(
        n, max(publish_ms))
    assert len(frames) >= 20  # a reading viewer still gets its frames


def test_too_many_viewers_get_503():
    state = LiveState()
    server = start_server(state, "127.0.0.1:0", max_streams=1)
    state.publish(_jpeg(1), {})
    try:
        first = urllib.request.urlopen(server.url + "stream.mjpg", timeout=5)
        first.readline()
        assert _get_status(server.url + "stream.mjpg") == 503
        first.close()
    finally:
        server.close()


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("needs IPv6 (this machine has no IPv6 support)")
    try:
        server = start_server(LiveState(), "[::1]:0")
    except UsageError as e:
        pytest.skip("needs an IPv6 loopback address (::1): {}".format(e))
    try:
        assert server.url.startswith("http://[::1]:")
        assert _get_status(server.url + "status.json") == 200
    finally:
        server.close()


def test_no_gpu_reading_exports_no_gpu_gauge(live):
    state, server = live
    state.set_telemetry({"power_w": {}, "temperature_c": {}, "gpu_load": None})
    names = {name for name, _ in parse_metrics(_get(server.url + "metrics")[2].decode())}
    assert "edge_gpu_load_ratio" not in names and "edge_frames_total" in names
    state.set_telemetry({"gpu_load": 0.0})  # a real reading of 0 is exported
    assert parse_metrics(_get(server.url + "metrics")[2].decode())[("edge_gpu_load_ratio", frozenset())] == 0.0


def _reset(sock):
    """Close ``sock`` with an RST (SO_LINGER 0), as a client that resets its connection does."""
    import struct

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_clients_that_reset_leave_stderr_empty(capfd, caplog):
    import logging

    state = LiveState()
    server = start_server(state, "127.0.0.1:0")
    state.publish(_jpeg(1), _record(1))
    caplog.set_level(logging.DEBUG, logger="edge.service.serve")
    try:
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            # half a request line, or a whole request whose answer is never read
            s.sendall(b"GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (b"\r\n" if i % 2 else b""))
            time.sleep(0.005)
            _reset(s)
        time.sleep(1.0)
        assert _get_status(server.url + "status.json") == 200  # still serving
    finally:
        server.close()
    out, err = capfd.readouterr()
    assert err == "", err[:2000]
    went_away = [r for r in caplog.records if "went away" in r.getMessage()]
    assert went_away and all(r.levelno == logging.DEBUG and "\n" not in r.getMessage() for r in went_away)


@pytest.mark.parametrize("header,allowed", [
    ("localhost:8080", True), ("LOCALHOST", True), ("localhost.:8080", True), ("127.0.0.1:8080", True),
    ("[::1]:8080", True), ("192.168.1.5", True), ("jetson.local:8080", True), ("Jetson.Local", True),
    (None, True), ("evil.example:8080", False), ("localhost.evil.example", False), ("127.0.0.1.nip.io", False),
])
def test_host_allowed(header, allowed):
    from edge.service.hosts import host_allowed

    assert host_allowed(header, {"localhost", "jetson.local"}) is allowed


def _get_with_host(url, host):
    """A real HTTP request with a forged Host header: (status, body)."""
    import http.client

    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    try:
        conn.putrequest("GET", (u.path or "/") + ("?" + u.query if u.query else ""), skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_forged_host_headers_get_421():
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    state = LiveState()
    state.publish(_jpeg(1), _record(1))
    server = start_server(state, "127.0.0.1:0", hosts=["jetson.local"])
    port = server.port
    try:
        for path in ("", "status.json", "metrics", "stream.mjpg"):
            code, body = _get_with_host(server.url + path, "evil.example:{}".format(port))
            assert code == 421 and b"unknown host 'evil.example'" in body, (path, code, body)
        for host in ("localhost:{}".format(port), "127.0.0.1:{}".format(port), "jetson.local:{}".format(port),
                     "[::1]:{}".format(port)):
            assert _get_with_host(server.url + "status.json", host)[0] == 200, host
    finally:
        server.close()


def test_the_bound_name_is_accepted():
    """--serve NAME:PORT answers to NAME (this machine's host name here, with the token it needs)."""
    name = socket.gethostname()
    try:
        server = start_server(LiveState(), "{}:0".format(name), token=TOKEN)
    except UsageError as e:
        pytest.fail("cannot bind this machine's own name {!r}: {}".format(name, e))
    try:
        url = server.url + "status.json?token=" + TOKEN
        assert _get_with_host(url, "{}:{}".format(name, server.port))[0] == 200
        assert _get_with_host(url, "other.example")[0] == 421
    finally:
        server.close()


def test_detections_are_counted_per_detector_class(live):
    """edge run records: an object detector's `classes` per box; a face detector's `faces` count is "face"."""
    state, server = live
    for classes in (["person", "car"], ["person"], []):
        state.publish(None, {"frame": 1, "ms": {"detect": 1.0}, "faces": len(classes), "classes": classes,
                             "labels": ["with_mask"] * classes.count("person") + ["car"] * classes.count("car")})
    state.publish(None, {"frame": 2, "ms": {"detect": 1.0}, "faces": 2, "labels": ["with_mask", "with_mask"]})
    status = json.loads(_get(server.url + "status.json")[2])
    assert status["classes"] == {"person": 2, "car": 1, "face": 2}
    assert status["faces"] == {"with_mask": 4, "car": 1}
    m = parse_metrics(_get(server.url + "metrics")[2].decode())
    assert m[("edge_detections_total", frozenset({("class", "person")}))] == 2
    assert m[("edge_detections_total", frozenset({("class", "car")}))] == 1
    assert m[("edge_detections_total", frozenset({("class", "face")}))] == 2
    assert b'id="classes"' in _get(server.url)[2]
