"""``--output rtsp://@:8554/live``: an RTSP server inside the edge process (gst-rtsp-server through PyGObject).

    out = RtspOutput(parse_output("rtsp://@:8554/live"), opts, warn=echo)   # binds now (errors before the loop)
    out.write(frame, faces, view)     # never blocks: pushed to the shared media's appsrc, or dropped
    out.close()

The server runs in a GLib main loop on its own thread. Every client gets the same media
(``set_shared(True)``): each frame is encoded once, however many watch, and not at all while nobody does
(the media, once made, is held prepared between clients). The frame loop never waits: a frame that finds the
encoder's queue full is dropped and counted (``dropped``); appsrc's ``leaky-type`` is GStreamer 1.20+, so
``write`` checks ``current-level-bytes`` itself (JetPack 4.6 has 1.14). A client that stops reading holds
the shared stream back in GStreamer 1.16+ (1.14 drops that client's data itself): when no frame got through
for ``STALL_S`` while frames kept coming, the clients whose TCP send queue is not empty are closed
(``evicted``) and the others go on. SPS/PPS travel with every key frame (one a second), and a client's PLAY
asks the encoder for a key frame at once: a new viewer's first picture is a whole one.

``@`` is localhost; any other address needs the token (``--serve-token``): clients then log in with RTSP
Basic auth, user ``edge``, the token as password. Clients here should use TCP (``rtspsrc protocols=tcp``;
OpenCV/FFmpeg: ``OPENCV_FFMPEG_CAPTURE_OPTIONS="rtsp_transport;tcp"``): UDP delivered nothing in a sandbox.
"""
import socket
import threading
import time
from typing import Callable, Dict, Optional

from edge.errors import MissingDependency, UsageError
from edge.outputs.base import OutputSpec, Pacer
from edge.run.sinks import Sink

USER = "edge"  # the RTSP Basic-auth user name; the password is the token
ROLE = "edge"  # the token role given access to the mount
STALL_S = 2.0  # the media accepted no frame this long while clients were connected: a client stopped reading
WATCH_MS = 250  # how often the server's thread looks for that
QUEUE_FRAMES = 2  # raw frames appsrc may hold before write() drops (a live stream: old frames are worthless)
DEFAULT_FPS = 30.0  # the frame rate announced until the source's is measured
RTSP_INSTALL = "`sudo apt-get install gir1.2-gst-rtsp-server-1.0 libgstrtspserver-1.0-0` (Debian, Ubuntu, JetPack)"
KEYFRAME_PROPERTIES = {"x264enc": ("key-int-max",), "openh264enc": ("gop-size",), "avenc_h264": ("gop-size",),
                       "nvv4l2h264enc": ("iframeinterval", "idrinterval")}
WILDCARDS = ("0.0.0.0", "::", "")


def check_rtsp(spec: OutputSpec, token: Optional[str]) -> None:
    """UsageError unless ``spec`` may be served: localhost, or another address with a token (the ``--serve``
    rule and wording)."""
    from edge.service.serve import check_token, is_loopback

    check_token(token)
    if not is_loopback(spec.host) and not token:
        raise UsageError("refusing to serve RTSP on {}:{} without --serve-token: anything but localhost needs a "
                         "token (or use rtsp://@:{}{} and an SSH tunnel)".format(
                             spec.host, spec.port, spec.port, spec.path or "/"))


def client_url(spec: OutputSpec, port: int) -> str:
    """The URL a client opens: the bound address, or this machine's name for a wildcard one."""
    host = socket.gethostname() if spec.host in WILDCARDS else spec.host
    if ":" in host:
        host = "[{}]".format(host)
    return "rtsp://{}:{}{}".format(host, port, mount_path(spec))


def mount_path(spec: OutputSpec) -> str:
    path = spec.path or "/live"
    return path if path.startswith("/") else "/" + path


def launch_line(encoder: str, fps: float, bitrate_kbps: int) -> str:
    """The media's ``gst_parse_launch`` text: BGR pushed into ``appsrc name=src`` (stamped on arrival, never
    blocking) → H.264 → RTP as ``pay0``, with SPS/PPS before every key frame (``config-interval=-1``)."""
    from edge.outputs.encoders import h264_chain

    return ("( appsrc name=src is-live=true format=time do-timestamp=true block=false ! videoconvert ! {} ! "
            "rtph264pay name=pay0 pt=96 config-interval=-1 )".format(
                h264_chain(encoder, fps, bitrate_kbps, single_slice=True)))  # FFmpeg clients want one slice


def _rtsp_server():
    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, GstRtspServer
    except (ImportError, ValueError):
        raise MissingDependency("gi.repository.GstRtspServer", "gst-rtsp-server", "--output rtsp://",
                                install=RTSP_INSTALL) from None
    return GLib, GstRtspServer


class RtspOutput(Sink):
    """An RTSP server on ``spec.host:spec.port`` serving the annotated view at ``spec.path``."""

    def __init__(self, spec: OutputSpec, opts, warn: Callable[[str], None], token: Optional[str] = None):
        from edge.sources.gst import gst

        check_rtsp(spec, token)
        self.Gst = gst()
        GLib, RS = _rtsp_server()
        self.spec, self.opts, self.warn, self.token = spec, opts, warn, token
        from edge.outputs.encoders import OPENCV, missing_encoder_error, resolve_encoder

        what = "--output " + spec.uri
        self.encoder = resolve_encoder(opts.encoder, warn, fallback=False, what=what)
        if self.encoder == OPENCV:
            raise missing_encoder_error("auto", what)
        self.pacer = Pacer(opts.fps, opts.size)
        self.clients = 0          # RTSP clients connected now
        self.clients_total = 0    # every client that connected
        self.sent = 0             # frames pushed to the encoder
        self.dropped = 0          # frames dropped because the encoder or a client was behind
        self.evicted = 0          # clients closed because they stopped reading and stalled the stream
        self.medias = 0           # media pipelines made (1 however many clients: the encoding is shared)
        self._stalled_since = None  # monotonic time of the first drop of the current run of drops
        self._last_drop = 0.0
        self._key_wanted = False
        self._drain = {}  # type: dict  # client → (unsent bytes, when its send queue last shrank or was empty)
        self._lock = threading.Lock()
        self._src = None          # the shared media's appsrc while one is prepared, else None
        self._held = None         # that media, held prepared between clients
        self._caps = None         # (appsrc, (W, H)) of the caps last set
        self._t_last = None       # capture time of the previous frame (the source's rate, for the caps)
        self._interval = 0.0

        self.server = server = RS.RTSPServer()
        server.set_address(spec.host or "127.0.0.1")
        server.set_service(str(spec.port))
        self.factory = factory = RS.RTSPMediaFactory()
        factory.set_shared(True)
        factory.set_latency(0)
        factory.set_launch(launch_line(self.encoder, DEFAULT_FPS, int(opts.bitrate)))  # key frames: per media
        factory.connect("media-configure", self._configure)
        if token:
            server.set_auth(self._require_login(RS, factory, token))
        server.get_mount_points().add_factory(mount_path(spec), factory)
        server.connect("client-connected", self._connected)

        self.context = GLib.MainContext.new()
        self.loop = GLib.MainLoop.new(self.context, False)
        try:
            source = server.create_source(None)  # binds now: a taken port is an error before the loop
        except GLib.Error as e:
            raise UsageError(_bind_error(spec, e)) from None
        source.attach(self.context)
        self._source = source  # it alone holds the listening socket
        watch = GLib.timeout_source_new(WATCH_MS)
        watch.set_callback(lambda *a: self._watch())
        watch.attach(self.context)
        self._watch_source = watch
        self.port = server.get_bound_port()
        self.url = client_url(spec, self.port)
        self._thread = threading.Thread(target=self._run, name="rtsp-server", daemon=True)
        self._thread.start()
        warn("RTSP: serving {} ({}{}; clients: use TCP, e.g. rtspsrc protocols=tcp)".format(
            self.url, self.encoder, ", user '{}' with the token as password".format(USER) if token else ""))

    # -- the server's thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        self.context.push_thread_default()
        try:
            self.loop.run()
        finally:
            self.context.pop_thread_default()

    @staticmethod
    def _require_login(RS, factory, token: str):
        auth = RS.RTSPAuth()
        rtoken = RS.RTSPToken()
        rtoken.set_string("media.factory.role", ROLE)
        auth.add_basic(RS.RTSPAuth.make_basic(USER, token), rtoken)
        perms = RS.RTSPPermissions()
        perms.add_permission_for_role(ROLE, "media.factory.access", True)
        perms.add_permission_for_role(ROLE, "media.factory.construct", True)
        factory.set_permissions(perms)
        return auth

    def _connected(self, server, client) -> None:
        with self._lock:
            self.clients += 1
            self.clients_total += 1
        client.connect("closed", self._closed)
        client.connect("play-request", self._play)

    def _play(self, client, ctx) -> None:
        self._key_wanted = True  # a new viewer: the next frame is a key frame (with SPS/PPS), not in ≤ 1 s

    def _closed(self, client) -> None:
        with self._lock:
            self.clients -= 1
        self._drain.pop(client, None)

    def _watch(self) -> bool:
        """Every WATCH_MS on the server's thread: note which clients drain their TCP send queue; once the
        shared stream has been stuck for ``STALL_S`` (1.16+ holds every client back to the slowest; 1.14
        drops that client's data itself), close the clients that drained nothing for ``STALL_S``."""
        _, RS = _rtsp_server()
        now = time.monotonic()
        since = self._stalled_since
        stalled = since is not None and now - since >= STALL_S and now - self._last_drop < 1.0

        def check(server, client, data):
            unsent = _unsent_bytes(client)
            last, t_moved = self._drain.get(client, (0, now))
            if unsent == 0 or unsent < last:
                t_moved = now
            self._drain[client] = (unsent, t_moved)
            if stalled and now - t_moved >= STALL_S:
                self.evicted += 1
                self._drain.pop(client, None)
                self.warn("RTSP: closing a client that stopped reading ({} connected)".format(self.clients))
                return RS.RTSPFilterResult.REMOVE
            return RS.RTSPFilterResult.KEEP

        self.server.client_filter(check, None)
        return True

    def _configure(self, factory, media) -> None:
        """A new shared media (the first client after none): its appsrc gets the frames from now on."""
        bin_ = media.get_element()
        src = bin_.get_by_name("src")
        fps = self.fps()
        for element in _elements(bin_):
            kind = element.get_factory().get_name()
            for prop in KEYFRAME_PROPERTIES.get(kind, ()):  # a key frame a second
                if element.find_property(prop) is not None:
                    element.set_property(prop, max(1, int(round(fps))))
        media.connect("unprepared", self._unprepared)
        media.connect("prepared", self._prepared)
        with self._lock:
            self._src = src
            self.medias += 1

    def _prepared(self, media) -> None:
        """Hold the shared media prepared (an extra prepare) so clients come and go without a teardown: the
        server's unprepare races with the next client's DESCRIBE (a 503). Frames stop with the last client."""
        if self._held is None:
            self._held = media
            GLib, _ = _rtsp_server()
            idle = GLib.idle_source_new()
            idle.set_callback(lambda *a: media.prepare(None) and False)
            idle.attach(self.context)

    def _unprepared(self, media) -> None:
        with self._lock:
            src = media.get_element().get_by_name("src")
            if self._src is src:
                self._src = None

    # -- the frame loop's thread ---------------------------------------------------------------------------

    def fps(self) -> float:
        """The frame rate sent: ``--output-fps``, else the source's (measured), else 30."""
        if self.opts.fps:
            return float(self.opts.fps)
        return 1.0 / self._interval if self._interval > 0 else DEFAULT_FPS

    def write(self, frame, faces, view) -> bool:
        t = frame.t_capture
        if self._t_last is not None and t > self._t_last:
            dt = t - self._t_last
            self._interval = dt if not self._interval else 0.9 * self._interval + 0.1 * dt
        self._t_last = t
        src = self._src
        if src is None or view is None or not self.clients:  # nobody watching: nothing is scaled or encoded
            return True
        bgr = self.pacer.take(view, t)
        if bgr is None:
            return True
        h, w = bgr.shape[:2]
        if src.get_property("current-level-bytes") + bgr.nbytes > QUEUE_FRAMES * bgr.nbytes:
            self.dropped += 1
            self._last_drop = time.monotonic()
            if self._stalled_since is None:
                self._stalled_since = self._last_drop
            return True
        self._stalled_since = None
        if self._key_wanted:
            self._key_wanted = False
            event = _key_unit_event(self.Gst)
            if event is not None:
                src.send_event(event)
        from edge.outputs.encoders import bgr_caps

        Gst = self.Gst
        if self._caps != (src, (w, h)):
            src.set_property("max-bytes", QUEUE_FRAMES * bgr.nbytes)
            src.set_property("caps", Gst.Caps.from_string(bgr_caps(w, h, self.fps())))
            self._caps = (src, (w, h))
        if src.emit("push-buffer", Gst.Buffer.new_wrapped(bgr.tobytes())) == Gst.FlowReturn.OK:
            self.sent += 1
        return True

    def describe(self) -> str:
        return "RTSP server at {} ({})".format(self.url, self.encoder)

    def info(self) -> Dict[str, object]:
        """For the run summary: the URL, the encoder, clients now and in all, frames sent and dropped."""
        return {"url": self.url, "encoder": self.encoder, "clients": self.clients,
                "clients_total": self.clients_total, "frames_sent": self.sent, "dropped": self.dropped,
                "evicted": self.evicted}

    def close(self, keep: bool = True) -> None:
        if self.loop is None:
            return
        GLib, RS = _rtsp_server()

        def stop():
            self.server.client_filter(lambda server, client, data: RS.RTSPFilterResult.REMOVE, None)
            if self._held is not None:
                self._held.unprepare()
            self._source.destroy()
            self._watch_source.destroy()
            self._source = self._watch_source = None  # the last reference: the listening socket closes now
            self.loop.quit()
            return False

        src = GLib.idle_source_new()
        src.set_callback(lambda *a: stop())
        src.attach(self.context)
        self._thread.join(5.0)
        self.loop, self._src, self._held = None, None, None


def _elements(bin_):
    it = bin_.iterate_recurse()
    out = []
    while True:
        res, elem = it.next()
        if res.value_nick != "ok":
            break
        out.append(elem)
    return out


def _key_unit_event(Gst):
    """A force-key-unit event (with SPS/PPS) for the encoder; None without GstVideo's typelib."""
    try:
        import gi

        gi.require_version("GstVideo", "1.0")
        from gi.repository import GstVideo
    except (ImportError, ValueError):
        return None
    none = Gst.CLOCK_TIME_NONE
    return GstVideo.video_event_new_downstream_force_key_unit(none, none, none, True, 0)


def _unsent_bytes(client) -> int:
    """Bytes the kernel still holds for ``client``'s TCP connection (Linux ``SIOCOUTQ``; 0 elsewhere)."""
    import fcntl
    import struct
    import termios

    try:
        fd = client.get_connection().get_write_socket().get_fd()
        return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (AttributeError, OSError, TypeError):
        return 0


def _bind_error(spec: OutputSpec, e) -> str:
    where = "cannot serve RTSP on {}:{}: ".format(spec.host, spec.port)
    msg = str(getattr(e, "message", e))
    low = msg.lower()
    if "in use" in low:
        host = "@" if spec.host == "127.0.0.1" else ("[{}]".format(spec.host) if ":" in spec.host else spec.host)
        return where + "the port is already in use (choose another, e.g. --output rtsp://{}:{}{})".format(
            host, spec.port + 1, mount_path(spec))
    if "permission" in low:
        return where + "permission denied (ports below 1024 need root; use e.g. 8554)"
    if "assign requested address" in low:
        return where + "this machine has no such address"
    return where + msg.rstrip(".")
