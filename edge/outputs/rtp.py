"""H.264 RTP over UDP (``--output rtp://HOST:PORT``): fire-and-forget to a receiver that may not be there.

    appsrc ! videoconvert ! ENCODER ! h264parse ! rtph264pay config-interval=1 pt=96 ! udpsink host port

A receiver: ``gst-launch-1.0 udpsrc port=5000 caps="application/x-rtp, media=video, encoding-name=H264,
payload=96, clock-rate=90000" ! rtph264depay ! avdec_h264 ! autovideosink`` (SPS/PPS every second, so it can
join late). The frame loop never waits for it: a frame that finds the encoder's queue full is dropped and
counted (``dropped``); an unreachable destination costs nothing (UDP has no connection, refused datagrams
are ignored); a pipeline error is one warning line, and the output starts again ``RETRY_S`` later. A host
name is resolved once at start; one that does not resolve (the network is not up yet) is one warning, and
it is tried again in the background every ``RESOLVE_S`` (udpsink itself would send nothing, silently).
"""
import socket
import sys
import threading
import time
from typing import Callable, Optional

from edge.outputs import FrameClock
from edge.outputs.base import OutputSpec, Pacer
from edge.outputs.options import OutputOptions
from edge.run.sinks import Sink

QUEUE_FRAMES = 3  # raw frames waiting for the encoder at most; more are dropped
RETRY_S = 2.0  # after a pipeline error, the output restarts this much later
RESOLVE_S = 30.0  # a host name that does not resolve is tried again this often (in the background)
CLOSE_S = 1.0  # longest wait for the last frames on close


def rtp_pipeline(host: str, port: int, encoder: str, width: int, height: int, fps: float,
                 bitrate_kbps: int = 4000) -> str:
    """``gst_parse_launch`` text: BGR buffers pushed into ``appsrc name=src`` (never blocking) → H.264 RTP
    (payload type 96) to ``host``:``port``."""
    from edge.outputs.encoders import bgr_caps, h264_chain
    from edge.sources.pipelines import quote

    return ("appsrc name=src format=time is-live=true block=false max-bytes={} caps={} ! videoconvert ! {} ! "
            "rtph264pay config-interval=1 pt=96 ! udpsink host={} port={} sync=false async=false".format(
                QUEUE_FRAMES * width * height * 3, bgr_caps(width, height, fps),
                h264_chain(encoder, fps, bitrate_kbps, single_slice=True), quote(host), port))


def resolve(host: str) -> Optional[str]:
    """The numeric address of ``host`` for UDP (IPv4 first), or None when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return infos[0][4][0] if infos else None


class RtpOutput(Sink):
    """The annotated view as H.264 RTP to ``spec.host``:``spec.port``; ``encoder``: an element name (default:
    ``resolve_encoder(opts.encoder)``, an error naming the package when there is none)."""

    def __init__(self, spec: OutputSpec, opts: Optional[OutputOptions] = None,
                 warn: Optional[Callable[[str], None]] = None, token: Optional[str] = None,
                 encoder: Optional[str] = None, source_fps: float = 0.0, live: bool = False, flag: str = "--output"):
        from edge.outputs.encoders import OPENCV, missing_encoder_error, resolve_encoder
        from edge.sources.gst import gst

        self.spec, self.live = spec, live
        self.opts = opts or OutputOptions()
        self._warn = warn or (lambda line: print("edge: warning: " + line, file=sys.stderr))
        what = "{} {}".format(flag, spec.uri)
        self.encoder = encoder or resolve_encoder(self.opts.encoder, fallback=False, what=what)
        if self.encoder == OPENCV:  # the file outputs' fallback: RTP needs H.264
            raise missing_encoder_error("auto", what)
        self.Gst = gst()
        self.pacer = Pacer(self.opts.fps, self.opts.size)
        self.source_fps = float(source_fps or 30.0)
        self.clock = FrameClock(live, self.source_fps)
        self.fps = float(self.opts.fps or self.source_fps)
        self.pipeline = self.src = self.bus = None
        self.size = None  # (W, H) of the stream
        self.sent = self.dropped = self.errors = 0
        self._max_bytes = 0
        self._retry_at = 0.0
        self._closed = False
        self._t0 = None  # type: Optional[float]
        self._stop_resolving = threading.Event()
        self.address = resolve(spec.host)  # type: Optional[str]
        if self.address is None:
            self._warn("{}: cannot resolve '{}': nothing is sent until it does (tried again every {:g} s)".format(
                spec.uri, spec.host, RESOLVE_S))
            threading.Thread(target=self._resolve_later, name="rtp-resolve", daemon=True).start()

    def _resolve_later(self) -> None:
        while self.address is None and not self._stop_resolving.wait(RESOLVE_S):
            self.address = resolve(self.spec.host)

    def describe(self) -> str:
        return "RTP H.264 to {}:{} ({})".format(self.spec.host, self.spec.port, self.encoder)

    def write(self, frame, faces, view) -> bool:
        t = self.clock.time(frame)
        bgr = self.pacer.take(view, t)
        if bgr is None:
            return True
        if self.pipeline is None and (self.address is None or not self._start(bgr.shape[1], bgr.shape[0])):
            self.dropped += 1
            return True
        self._poll()
        if self.pipeline is None:
            self.dropped += 1
            return True
        if (bgr.shape[1], bgr.shape[0]) != self.size:  # a camera reopened at another size
            import cv2

            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        if self.src.get_property("current-level-bytes") >= self._max_bytes:
            self.dropped += 1  # the encoder is behind: this frame is not worth a stall
            return True
        Gst = self.Gst
        if self._t0 is None:
            self._t0 = t
        buf = Gst.Buffer.new_wrapped(bgr.tobytes())
        buf.pts = int(max(0.0, t - self._t0) * Gst.SECOND)
        buf.duration = int(Gst.SECOND / self.fps)
        if self.src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            self.dropped += 1
            self._poll(timeout_s=0.1)
            return True
        self.sent += 1
        return True

    def _start(self, width: int, height: int) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        Gst = self.Gst
        self.size = self.size or (width - width % 2, height - height % 2)
        try:
            self.pipeline = Gst.parse_launch(rtp_pipeline(self.address, self.spec.port, self.encoder,
                                                          self.size[0], self.size[1], self.fps, self.opts.bitrate))
        except Exception as e:  # GLib.Error: a property this encoder version lacks
            self._failed("cannot build the pipeline: {}".format(e))
            return False
        self.src, self.bus = self.pipeline.get_by_name("src"), self.pipeline.get_bus()
        self._max_bytes = QUEUE_FRAMES * self.size[0] * self.size[1] * 3
        self._t0 = None
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._poll(timeout_s=0.5)
            if self.pipeline is not None:
                self._failed("the pipeline did not start")
            return False
        return True

    def _poll(self, timeout_s: float = 0.0) -> None:
        """A pipeline error: one warning line, the pipeline stopped, a restart in ``RETRY_S``."""
        if self.bus is None:
            return
        from edge.outputs.encoders import gst_error_text

        msg = self.bus.timed_pop_filtered(int(timeout_s * self.Gst.SECOND), self.Gst.MessageType.ERROR)
        if msg is not None:
            self._failed(gst_error_text(msg, self.encoder))

    def _failed(self, reason: str) -> None:
        self.errors += 1
        self._warn("{}: {}; frames are dropped, it starts again in {:g} s".format(self.spec.uri, reason, RETRY_S))
        self._stop()
        self._retry_at = time.monotonic() + RETRY_S

    def _stop(self) -> None:
        if self.pipeline is not None:
            self.pipeline.set_state(self.Gst.State.NULL)
        self.pipeline = self.src = self.bus = None

    def close(self, keep: bool = True) -> None:
        self._stop_resolving.set()
        if self.pipeline is not None and keep:  # the last frames out: best effort, bounded
            Gst = self.Gst
            self.src.emit("end-of-stream")
            self.bus.timed_pop_filtered(int(CLOSE_S * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR)
        self._stop()
        if self.dropped and keep and not self._closed:
            self._warn("{}: {} of {} frames dropped (the encoder was behind the frame loop, or the output was "
                       "restarting)".format(self.spec.uri, self.dropped, self.dropped + self.sent))
        self._closed = True
