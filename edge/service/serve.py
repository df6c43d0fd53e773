"""Live view over HTTP (standard library only): the annotated stream, status JSON and Prometheus metrics.

    state = LiveState(info={"model": "small.engine", "source": "csi://0"}, size=(640, 360), fps=15)
    server = start_server(state, "127.0.0.1:8080", token=None)   # binds now: errors before the loop starts
    for each frame:  state.publish(view, frame_record)              # never blocks on clients
    on reconnect:    state.count("reconnects")
    on each event:   state.add_event(event, jpeg)                   # the last 10, with their snapshots
    every N frames:  state.set_telemetry({"power_w": {...}, "temperature_c": {...}, "gpu_load": 0.4})
    at exit:         server.close()

Endpoints: ``/`` (page), ``/stream.mjpg``, ``/status.json``, ``/history.json`` (the charts), ``/metrics``,
``/events/<id>.jpg`` (a recent event's snapshot). Localhost by default; any other address needs a token, sent
as ``X-Edge-Token``, ``Authorization: Bearer …`` or ``?token=``.
A request whose ``Host`` is a name other than localhost, the bound name or one of ``--serve-hosts`` gets 421
(DNS rebinding: a page of another site reaching the tokenless localhost view); IP literals always pass,
since a rebinding page can only use its own name.

A stream viewer that stops reading only blocks its own thread, which ends after the handler timeout
(``client_timeout``); meanwhile its frames are dropped and counted (``edge.service.live``).
"""
import errno
import hmac
import http.server
import ipaddress
import logging
import re
import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

from edge import jsonsafe
from edge.config import check_fields, setting
from edge.errors import UsageError
from edge.service.hosts import LOCAL_NAMES, host_allowed, host_name
from edge.service.live import LiveState

BOUNDARY = "edgeframe"
MIN_TOKEN_LENGTH = 16
CLIENT_TIMEOUT_S = 15.0  # a client that stops reading frees its thread after this many seconds
EVENT_JPEG = re.compile(r"^/events/([0-9]{1,12})\.jpg$")

log = logging.getLogger("edge.service.serve")


@dataclass
class ServeConfig:
    """``--serve HOST:PORT``, ``--serve-token`` and ``--serve-hosts``: off unless an address is given."""

    address: Optional[str] = setting(None, "--serve", "Serve the live view (page, /stream.mjpg, /status.json, "
                                                      "/metrics) on HOST:PORT, e.g. 127.0.0.1:8080; other hosts "
                                                      "need a token.")
    token: Optional[str] = setting(None, "--serve-token", "Token clients must send (≥ 16 characters; required for "
                                                          "anything but localhost). Also read from "
                                                          "EDGE_SERVE_TOKEN.", secret=True,
                                   envvar="EDGE_SERVE_TOKEN")
    hosts: List[str] = setting([], "--serve-hosts", "More host names the live view answers to, comma-separated "
                                                    "(e.g. jetson.local; config file: a list); besides localhost, "
                                                    "IP addresses and the --serve name, other Host headers get "
                                                    "421 (DNS rebinding).")
    size: Tuple[int, ...] = setting((), "--serve-size", "Scale the live stream down to fit WIDTHxHEIGHT, keeping "
                                                        "its aspect, e.g. 640x360 (config file: [WIDTH, HEIGHT]; "
                                                        "default: full frames).", metavar="WxH")
    fps: float = setting(15.0, "--serve-fps", "At most this many frames per second to each live-stream viewer "
                                              "(0: every frame).")

    def __post_init__(self):
        self.size = tuple(int(v) for v in (self.size or ()))
        check_fields(self, [
            (len(self.size) == 0 or (len(self.size) == 2 and 16 <= min(self.size) and max(self.size) <= 8192),
             "size", "[WIDTH, HEIGHT], each 16…8192"),
            (0 <= self.fps <= 240, "fps", "0 ≤ frames per second ≤ 240 (0 = every frame)"),
        ], section="serve.")


def parse_address(text: str) -> Tuple[str, int]:
    """"HOST:PORT", "[v6]:PORT" or ":PORT"/"PORT" (localhost) → (host, port); UsageError otherwise."""
    t = text.strip()
    if t.isdigit():
        t = ":" + t
    host, sep, port = t.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536 or (":" in host and not host.startswith("[")):
        raise UsageError("expected --serve HOST:PORT (e.g. 127.0.0.1:8080), found '{}'".format(text))
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_token(token: Optional[str]) -> None:
    """UsageError when a --serve-token is given but shorter than ``MIN_TOKEN_LENGTH`` (the live view's and the
    RTSP output's rule)."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise UsageError("expected --serve-token of at least {} characters, found {} (make one with: "
                         "python3 -c 'import secrets; print(secrets.token_urlsafe())')".format(
                             MIN_TOKEN_LENGTH, len(token)))


def check_serve(address: str, token: Optional[str]) -> Tuple[str, int]:
    """Validate the bind address and token before anything starts; (host, port) or UsageError."""
    host, port = parse_address(address)
    check_token(token)
    if not is_loopback(host) and not token:
        raise UsageError("refusing to serve the live view on {}:{} without --serve-token: anything but "
                         "localhost needs a token (or use 127.0.0.1 and an SSH tunnel)".format(host, port))
    return host, port


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        """One log line, no traceback on stderr: a client that resets or times out is routine (debug)."""
        import sys

        e = sys.exc_info()[1]
        if isinstance(e, (ConnectionError, socket.timeout)):
            log.debug("live view: client %s went away: %s", client_address[0], e)
        else:
            log.warning("live view: request from %s failed: %s: %s", client_address[0], type(e).__name__, e)
            log.debug("live view: the failed request's traceback", exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "edge"
    timeout = CLIENT_TIMEOUT_S  # the socket timeout: LiveServer.client_timeout replaces it in setup()

    def setup(self):
        self.timeout = self.server.live.client_timeout  # type: ignore[attr-defined]
        super().setup()

    def log_message(self, format, *args):  # no per-request lines on stderr (and no tokens in logs)
        pass

    def do_GET(self):
        live = self.server.live  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        if not host_allowed(self.headers.get("Host"), live.hosts):
            return self._send(421, "text/plain; charset=utf-8", "unknown host '{}': the live view answers to "
                              "localhost, IP addresses, its --serve name and --serve-hosts names\n".format(
                                  host_name(self.headers.get("Host"))).encode("utf-8"))
        if not self._authorized(live.token, url.query):
            return self._send(401, "text/plain; charset=utf-8", b"token required\n",
                              extra={"WWW-Authenticate": "Bearer"})
        if url.path in ("/", "/index.html"):
            from edge.service.page import PAGE

            return self._send(200, "text/html; charset=utf-8", PAGE.encode("utf-8"))
        if url.path == "/status.json":
            return self._send(200, "application/json", jsonsafe.dumps(live.state.status()).encode("utf-8"))
        if url.path == "/metrics":
            return self._send(200, "text/plain; version=0.0.4; charset=utf-8", live.state.metrics())
        if url.path == "/history.json":
            return self._send(200, "application/json", jsonsafe.dumps(live.state.history()).encode("utf-8"))
        if url.path == "/stream.mjpg":
            return self._stream(live)
        m = EVENT_JPEG.match(url.path)
        jpeg = live.state.event_jpeg(int(m.group(1))) if m else None
        if jpeg is not None:
            return self._send(200, "image/jpeg", jpeg)
        return self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _authorized(self, token: Optional[str], query: str) -> bool:
        if not token:
            return True
        given = self.headers.get("X-Edge-Token") or ""
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            given = auth[len("Bearer "):].strip()
        given = given or (parse_qs(query).get("token") or [""])[0]
        return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))

    def _send(self, code: int, ctype: str, body: bytes, extra: Optional[Mapping[str, str]] = None):
        self.send_response(code, "Misdirected Request" if code == 421 else None)  # 421: not in Python 3.6's table
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, live: "LiveServer"):
        if not live.streams.acquire(blocking=False):
            return self._send(503, "text/plain; charset=utf-8", b"too many viewers\n")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=" + BOUNDARY)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            viewer = live.state.open_viewer()
            try:
                while not live.closing.is_set():
                    jpeg = live.state.next_frame(viewer, timeout=0.5)
                    if jpeg is None:
                        if _hung_up(self.connection):
                            break
                        continue
                    head = "--{}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n".format(
                        BOUNDARY, len(jpeg))
                    self.wfile.write(head.encode("ascii") + jpeg + b"\r\n")
                    self.wfile.flush()
                    live.state.note_streamed(viewer)
            finally:
                live.state.close_viewer(viewer)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the viewer went away
        finally:
            live.streams.release()
            self.close_connection = True


def _hung_up(sock: socket.socket) -> bool:
    """Whether the client closed its side (a viewer that left while no frame came to fail a write)."""
    import select

    try:
        if not select.select([sock], [], [], 0)[0]:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class LiveServer:
    """The HTTP server in a background thread. Binding happens in __init__, so errors come first."""

    def __init__(self, state: LiveState, host: str, port: int, token: Optional[str] = None,
                 max_streams: int = 32, hosts: Sequence[str] = (), client_timeout: float = CLIENT_TIMEOUT_S):
        self.state, self.token, self.client_timeout = state, token, client_timeout
        self.hosts = frozenset(host_name(h) for h in tuple(LOCAL_NAMES) + (host,) + tuple(hosts))
        self.closing = threading.Event()
        self.streams = threading.BoundedSemaphore(max_streams)
        self.httpd = _bind(host, port)
        self.httpd.live = self  # type: ignore[attr-defined]
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="edge-serve", daemon=True)

    @property
    def url(self) -> str:
        host = "[{}]".format(self.host) if ":" in self.host else self.host
        return "http://{}:{}/".format(host, self.port)

    def start(self) -> "LiveServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()


def _bind(host: str, port: int) -> _Server:
    """The HTTP server bound to (host, port), not yet serving; UsageError saying why it cannot bind."""
    cls = _Server
    if ":" in host:
        cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    try:
        return cls((host, port), _Handler)
    except OSError as e:
        raise UsageError(_bind_error(host, port, e)) from None


def check_bind(address: str, token: Optional[str]) -> None:
    """``check_serve``, then bind the address and release it at once: UsageError when the port is taken."""
    _bind(*check_serve(address, token)).server_close()


def _bind_error(host: str, port: int, e: OSError) -> str:
    where = "cannot serve the live view on {}:{}: ".format(host, port)
    if e.errno == errno.EADDRINUSE:
        return where + "the port is already in use (choose another with --serve HOST:PORT)"
    if e.errno == errno.EACCES:
        return where + "permission denied (ports below 1024 need root; use e.g. 8080)"
    if isinstance(e, socket.gaierror):
        return where + "cannot resolve the host name ({})".format(e.strerror)
    if e.errno == errno.EADDRNOTAVAIL:
        return where + "this machine has no such address"
    return where + (e.strerror or str(e))


def start_server(state: LiveState, address: str = "127.0.0.1:8080", token: Optional[str] = None,
                 max_streams: int = 32, hosts: Sequence[str] = (),
                 client_timeout: float = CLIENT_TIMEOUT_S) -> LiveServer:
    """Check the address and token, bind, and serve in a background thread (UsageError on failure).

    ``hosts``: more names the ``Host`` header may carry (``ServeConfig.hosts``); ``client_timeout``: seconds
    a client may leave a request unread (or a stream unread) before its thread gives up on it."""
    host, port = check_serve(address, token)
    return LiveServer(state, host, port, token, max_streams, hosts, client_timeout).start()
