"""H.264 MP4 files a browser plays, from BGR frames: the encoder is whichever this machine has.

    name = choose_encoder(available_encoders())   # "nvv4l2h264enc" on a Jetson, else x264enc, openh264enc …
    w = open_writer("clip.mp4", 1280, 720, fps=10, warn=print)
    w.write(bgr, pts_s=0.0); …; w.close()         # moov before mdat (mp4mux faststart): plays while loading

``open_writer`` builds ``appsrc ! videoconvert ! ENCODER ! h264parse ! mp4mux faststart=true ! filesink`` through
PyGObject; with no H.264 encoder in GStreamer (or no GStreamer) it falls back to OpenCV's MPEG-4 writer with
one warning: that file plays in VLC, not in a browser.
"""
import sys
from typing import Callable, Iterable, List, Optional

from edge.errors import EdgeError

# Best first: the Jetson's hardware encoder, then the software ones as GStreamer packages them.
H264_ENCODERS = ("nvv4l2h264enc", "x264enc", "openh264enc", "avenc_h264")
ENCODER_PACKAGES = {"nvv4l2h264enc": "nvidia-l4t-gstreamer", "x264enc": "gstreamer1.0-plugins-ugly",
                    "openh264enc": "gstreamer1.0-plugins-bad", "avenc_h264": "gstreamer1.0-libav"}
MUX_ELEMENTS = ("appsrc", "videoconvert", "h264parse", "mp4mux", "filesink")
OPENCV = "opencv-mp4v"  # the fallback writer's name (not an H.264 encoder)
EOS_TIMEOUT_S = 30.0  # longest wait for the muxer to finish a file on close


def choose_encoder(available: Iterable[str]) -> Optional[str]:
    """The best H.264 encoder among the element names ``available`` (None: none of them)."""
    have = set(available)
    return next((name for name in H264_ENCODERS if name in have), None)


def encoder_chain(name: str, fps: float, bitrate_kbps: int = 2000) -> str:
    """The pipeline part from raw video to H.264 for encoder element ``name``: I420 4:2:0 (what browsers
    decode), a key frame every 2 s so a clip seeks."""
    gop = max(1, int(round(2 * fps)))
    if name == "nvv4l2h264enc":
        return ("video/x-raw, format=I420 ! nvvidconv ! video/x-raw(memory:NVMM), format=NV12 ! "
                "nvv4l2h264enc bitrate={} iframeinterval={} insert-sps-pps=true".format(bitrate_kbps * 1000, gop))
    if name == "x264enc":
        return ("video/x-raw, format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency bitrate={} "
                "key-int-max={}".format(bitrate_kbps, gop))
    if name == "openh264enc":
        return "video/x-raw, format=I420 ! openh264enc bitrate={} gop-size={}".format(bitrate_kbps * 1000, gop)
    if name == "avenc_h264":
        return "video/x-raw, format=I420 ! avenc_h264 bitrate={} gop-size={}".format(bitrate_kbps * 1000, gop)
    raise ValueError("expected an encoder of {}, found '{}'".format(", ".join(H264_ENCODERS), name))


def mp4_pipeline(path: str, encoder: str, width: int, height: int, fps: float, bitrate_kbps: int = 2000) -> str:
    """``gst_parse_launch`` text: BGR buffers pushed into ``appsrc name=src`` → a faststart H.264 MP4 at ``path``."""
    from edge.sources.pipelines import quote

    caps = "video/x-raw,format=BGR,width={},height={},framerate={}/1".format(width, height, max(1, int(round(fps))))
    return ("appsrc name=src format=time is-live=false block=true max-bytes={} caps={} ! videoconvert ! {} ! "
            "h264parse ! mp4mux faststart=true ! filesink location={}".format(
                4 * width * height * 3, caps, encoder_chain(encoder, fps, bitrate_kbps), quote(path)))


def available_encoders() -> List[str]:
    """The H.264 encoders of ``H264_ENCODERS`` this GStreamer has (with the muxing elements); [] without
    PyGObject/GStreamer."""
    from edge.errors import MissingDependency
    from edge.sources.gst import gst

    try:
        Gst = gst()
    except MissingDependency:
        return []
    if any(Gst.ElementFactory.find(e) is None for e in MUX_ELEMENTS):
        return []
    return [name for name in H264_ENCODERS if Gst.ElementFactory.find(name) is not None]


def no_encoder_warning() -> str:
    return ("no H.264 encoder in GStreamer ({}; on Debian: apt install {}): writing MPEG-4 with OpenCV, which "
            "browsers do not play".format("/".join(H264_ENCODERS[1:]), ENCODER_PACKAGES["x264enc"]))


class GstH264Writer:
    """BGR frames → a faststart H.264 MP4 through GStreamer; ``write`` blocks while the encoder catches up.
    Its errors (EdgeError) give the reason and the element, not the path: the caller names the file."""

    def __init__(self, path: str, width: int, height: int, fps: float, encoder: str, bitrate_kbps: int = 2000):
        from edge.sources.gst import gst

        self.Gst = Gst = gst()
        self.path, self.size, self.fps, self.encoder = path, (width, height), fps, encoder
        try:
            self.pipeline = Gst.parse_launch(mp4_pipeline(path, encoder, width, height, fps, bitrate_kbps))
        except Exception as e:  # GLib.Error: a property this encoder version lacks
            raise EdgeError("cannot build the {} pipeline for '{}': {}".format(encoder, path, e)) from None
        self.src = self.pipeline.get_by_name("src")
        self.bus = self.pipeline.get_bus()
        self.pipeline.set_state(Gst.State.PLAYING)
        self.frames = 0

    def write(self, bgr, pts_s: float) -> None:
        Gst = self.Gst
        self._raise_error()
        buf = Gst.Buffer.new_wrapped(bgr.tobytes())
        buf.pts = int(max(0.0, pts_s) * Gst.SECOND)
        buf.duration = int(Gst.SECOND / self.fps)
        if self.src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            self._raise_error(timeout_s=1.0)
            raise EdgeError("the {} pipeline stopped".format(self.encoder))
        self.frames += 1

    def close(self) -> None:
        """End the stream and wait for the muxer to write the index; EdgeError when the pipeline failed."""
        Gst = self.Gst
        try:
            self.src.emit("end-of-stream")
            msg = self.bus.timed_pop_filtered(int(EOS_TIMEOUT_S * Gst.SECOND),
                                              Gst.MessageType.EOS | Gst.MessageType.ERROR)
            if msg is None:
                raise EdgeError("the {} pipeline did not finish the file within {:g} s".format(
                    self.encoder, EOS_TIMEOUT_S))
            if msg.type == Gst.MessageType.ERROR:
                raise self._error(msg)
        finally:
            self.pipeline.set_state(Gst.State.NULL)

    def _raise_error(self, timeout_s: float = 0.0) -> None:
        msg = self.bus.timed_pop_filtered(int(timeout_s * self.Gst.SECOND), self.Gst.MessageType.ERROR)
        if msg is not None:
            raise self._error(msg)

    def _error(self, msg) -> EdgeError:
        err, _ = msg.parse_error()
        return EdgeError("{} ({} pipeline, {})".format(err.message.rstrip("."), self.encoder, msg.src.get_name()))


class OpenCVWriter:
    """The fallback: OpenCV's MPEG-4 Part 2 writer at a constant rate (``pts_s`` ignored)."""

    encoder = "mp4v (OpenCV)"

    def __init__(self, path: str, width: int, height: int, fps: float):
        import cv2

        self.path, self.size, self.frames = path, (width, height), 0
        self._w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not self._w.isOpened():
            raise EdgeError("cannot write a video to '{}' with OpenCV".format(path))

    def write(self, bgr, pts_s: float) -> None:
        self._w.write(bgr)
        self.frames += 1

    def close(self) -> None:
        self._w.release()


def pick_encoder(warn: Optional[Callable[[str], None]] = None) -> str:
    """``choose_encoder(available_encoders())``, or ``OPENCV`` after one ``warn`` line when there is none."""
    name = choose_encoder(available_encoders())
    if name is None:
        (warn or _stderr)(no_encoder_warning())
    return name or OPENCV


def open_writer(path: str, width: int, height: int, fps: float, encoder: Optional[str] = None,
                warn: Optional[Callable[[str], None]] = None, bitrate_kbps: int = 2000):
    """A writer (``write(bgr, pts_s)``, ``close()``, ``.encoder``, ``.size``) of an MP4 at ``path`` with
    ``encoder`` (an element of ``H264_ENCODERS``, or ``OPENCV``; default: ``pick_encoder(warn)``)."""
    encoder = encoder or pick_encoder(warn)
    if encoder == OPENCV:
        return OpenCVWriter(path, width, height, fps)
    return GstH264Writer(path, width, height, fps, encoder, bitrate_kbps)


def _stderr(line: str) -> None:
    print("edge: warning: " + line, file=sys.stderr)
