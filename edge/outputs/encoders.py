"""H.264 from BGR frames with whichever encoder this machine has: MP4/MKV files, and the chains RTP/RTSP use.

    name = choose_encoder(available_encoders())   # "nvv4l2h264enc" on a Jetson Nano, else x264enc, openh264enc …
    name = resolve_encoder("auto", warn=print)    # --encoder: a name, or the best here (OPENCV: none, one warning)
    w = open_writer("clip.mp4", 1280, 720, fps=10, warn=print)
    w.write(bgr, pts_s=0.0); …; w.close()         # moov before mdat (mp4mux faststart): plays while loading
    encoder_chain("x264enc", 30, 4000)            # raw video → H.264, for appsrc pipelines (RTP, RTSP)

``open_writer`` builds ``appsrc ! videoconvert ! ENCODER ! h264parse ! mp4mux faststart=true ! filesink`` (or
``matroskamux`` for ``.mkv``) through PyGObject; with no H.264 encoder in GStreamer (or no GStreamer) it falls
back to OpenCV's MPEG-4 writer with one warning: that file plays in VLC, not in a browser. The Orin Nano has
no hardware encoder (its GStreamer may still list ``nvv4l2h264enc``): it gets a software one.
"""
import sys
from fractions import Fraction
from typing import Callable, Iterable, List, Optional

from edge.errors import EdgeError, HardwareError

# Best first: the Jetson's hardware encoder, then the software ones as GStreamer packages them.
H264_ENCODERS = ("nvv4l2h264enc", "x264enc", "openh264enc", "avenc_h264")
ENCODER_PACKAGES = {"nvv4l2h264enc": "nvidia-l4t-gstreamer", "x264enc": "gstreamer1.0-plugins-ugly",
                    "openh264enc": "gstreamer1.0-plugins-bad", "avenc_h264": "gstreamer1.0-libav"}
MUX_ELEMENTS = ("appsrc", "videoconvert", "h264parse", "mp4mux", "filesink")
# The container of a video file by its suffix: ISO/QuickTime with the index first, or Matroska.
MUXERS = {".mp4": "mp4mux faststart=true", ".mov": "qtmux faststart=true", ".mkv": "matroskamux"}
OPENCV = "opencv-mp4v"  # the fallback writer's name (not an H.264 encoder)
EOS_TIMEOUT_S = 30.0  # longest wait for the muxer to finish a file on close


def choose_encoder(available: Iterable[str]) -> Optional[str]:
    """The best H.264 encoder among the element names ``available`` (None: none of them)."""
    have = set(available)
    return next((name for name in H264_ENCODERS if name in have), None)


def encoder_chain(name: str, fps: float, bitrate_kbps: int = 2000) -> str:
    """The pipeline part from raw video to H.264 for encoder element ``name``: I420 4:2:0 (what browsers
    decode), a key frame every 2 s so a clip seeks and a stream joins; ``bitrate_kbps`` (--bitrate)."""
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


def h264_chain(name: str, fps: float, bitrate_kbps: int = 2000, single_slice: bool = False) -> str:
    """``encoder_chain`` then ``h264parse``: parsed H.264 for a muxer or an RTP payloader. ``single_slice``:
    x264enc in one thread, one slice per frame (FFmpeg-based RTP/RTSP receivers such as OpenCV and VLC
    mis-decode the several slices of zerolatency's sliced threads)."""
    chain = encoder_chain(name, fps, bitrate_kbps)
    if single_slice and name == "x264enc":
        chain += " threads=1"
    return chain + " ! h264parse"


def framerate(fps: float) -> str:
    """A caps framerate fraction: 30 → "30/1", 12.5 → "25/2" (0 or less: "30/1")."""
    f = Fraction(fps if fps and fps > 0 else 30.0).limit_denominator(1001)
    return "{}/{}".format(f.numerator, f.denominator)


def bgr_caps(width: int, height: int, fps: float) -> str:
    return "video/x-raw,format=BGR,width={},height={},framerate={}".format(width, height, framerate(fps))


def file_pipeline(path: str, encoder: str, width: int, height: int, fps: float, bitrate_kbps: int = 2000,
                  mux: str = MUXERS[".mp4"], faststart_file: str = "") -> str:
    """``gst_parse_launch`` text: BGR buffers pushed into ``appsrc name=src`` → H.264 in ``mux`` at ``path``;
    ``faststart_file``: where mp4mux keeps the media data until it writes the index first (default: /tmp)."""
    from edge.sources.pipelines import quote

    if faststart_file and "faststart=true" in mux:
        mux += " faststart-file={}".format(quote(faststart_file))
    return ("appsrc name=src format=time is-live=false block=true max-bytes={} caps={} ! videoconvert ! {} ! "
            "{} ! filesink location={}".format(4 * width * height * 3, bgr_caps(width, height, fps),
                                               h264_chain(encoder, fps, bitrate_kbps), mux, quote(path)))


def mp4_pipeline(path: str, encoder: str, width: int, height: int, fps: float, bitrate_kbps: int = 2000) -> str:
    """``file_pipeline`` of a faststart H.264 MP4 at ``path``."""
    return file_pipeline(path, encoder, width, height, fps, bitrate_kbps)


def hardware_encoder_usable(model: Optional[str] = None) -> bool:
    """False on an Orin Nano (``model``: the device-tree name; default: this board's): it has no NVENC,
    though JetPack's GStreamer still lists ``nvv4l2h264enc``."""
    if model is None:
        from edge.files import jetson_model

        model = jetson_model() or ""
    return "orin nano" not in model.lower()


def available_encoders() -> List[str]:
    """The H.264 encoders of ``H264_ENCODERS`` this GStreamer has (with the muxing elements) and this board
    can run; [] without PyGObject/GStreamer."""
    from edge.errors import MissingDependency
    from edge.sources.gst import gst

    try:
        Gst = gst()
    except MissingDependency:
        return []
    if any(Gst.ElementFactory.find(e) is None for e in MUX_ELEMENTS):
        return []
    names = [name for name in H264_ENCODERS if Gst.ElementFactory.find(name) is not None]
    return [n for n in names if n != "nvv4l2h264enc" or hardware_encoder_usable()]


def no_encoder_warning() -> str:
    return ("no H.264 encoder in GStreamer ({}; on Debian: apt install {}): writing MPEG-4 with OpenCV, which "
            "browsers do not play".format("/".join(H264_ENCODERS[1:]), ENCODER_PACKAGES["x264enc"]))


def missing_encoder_error(name: str, what: str = "--encoder") -> EdgeError:
    """Why encoder ``name`` (or, for ``name`` "auto", any H.264 encoder) cannot run here, naming the package."""
    from edge.sources.gst import MissingElement, available, gst

    if not available():
        gst()  # raises MissingDependency: PyGObject and its typelibs
    if name == "nvv4l2h264enc" and not hardware_encoder_usable():
        return HardwareError("the Orin Nano has no hardware H.264 encoder: {} nvv4l2h264enc cannot run here; "
                             "use --encoder auto (a software encoder: x264enc)".format(what))
    if name == "nvv4l2h264enc":
        from edge.files import is_jetson

        if not is_jetson():
            return HardwareError("{} nvv4l2h264enc is a Jetson's hardware encoder (JetPack's {}); this machine "
                                 "is not one: use --encoder auto".format(what, ENCODER_PACKAGES[name]))
    if name in ("auto", ""):
        pkg = ENCODER_PACKAGES["x264enc"]
        return MissingElement("{} needs an H.264 encoder in GStreamer ({}); install the apt package {} "
                              "(`sudo apt-get install {}`)".format(what, "/".join(H264_ENCODERS[1:]), pkg, pkg))
    pkg = ENCODER_PACKAGES.get(name, "the GStreamer plugin that provides it")
    return MissingElement("the H.264 encoder '{}' ({}) is not in this GStreamer; install the apt package {} "
                          "(`sudo apt-get install {}`)".format(name, what, pkg, pkg))


def resolve_encoder(choice: str = "auto", warn: Optional[Callable[[str], None]] = None, fallback: bool = True,
                    what: str = "--encoder") -> str:
    """The encoder ``--encoder`` ``choice`` means here: "auto" → the best available (none: ``OPENCV`` after
    one ``warn`` line, or with ``fallback`` False the error naming the package); a name → that encoder, or
    the error (exit 4, or 5 for a hardware encoder this board lacks)."""
    have = available_encoders()
    if choice in ("auto", "", None):
        name = choose_encoder(have)
        if name is None and not fallback:
            raise missing_encoder_error("auto", what)
        if name is None:
            (warn or _stderr)(no_encoder_warning())
        return name or OPENCV
    if choice not in have:
        raise missing_encoder_error(choice, what)
    return choice


def describe_encoder(name: Optional[str]) -> str:
    """"nvv4l2h264enc (hardware)", "x264enc (software)" …, for messages and ``edge doctor``."""
    if not name or name == OPENCV:
        return "OpenCV mp4v (MPEG-4 Part 2: no browser plays it)"
    return "{} ({})".format(name, "hardware" if name == "nvv4l2h264enc" else "software")


class GstH264Writer:
    """BGR frames → an H.264 file through GStreamer (``mux``: a faststart MP4 by default, or ``MUXERS[".mkv"]``);
    ``write`` blocks while the encoder catches up. Its errors (EdgeError) give the reason and the element,
    not the path: the caller names the file."""

    def __init__(self, path: str, width: int, height: int, fps: float, encoder: str, bitrate_kbps: int = 2000,
                 mux: str = MUXERS[".mp4"], faststart_file: str = ""):
        from edge.sources.gst import gst

        self.Gst = Gst = gst()
        self.path, self.size, self.fps, self.encoder = path, (width, height), fps or 30.0, encoder
        try:
            self.pipeline = Gst.parse_launch(file_pipeline(path, encoder, width, height, self.fps, bitrate_kbps,
                                                           mux, faststart_file))
        except Exception as e:  # GLib.Error: a property this encoder version lacks
            raise EdgeError("cannot build the {} pipeline for '{}': {}".format(encoder, path, e)) from None
        self.src = self.pipeline.get_by_name("src")
        self.bus = self.pipeline.get_bus()
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._raise_error(timeout_s=1.0)
            self.abort()
            raise EdgeError("the {} pipeline did not start".format(encoder))
        self.frames = 0

    def abort(self) -> None:
        """Stop at once, without finishing the file (a run that failed)."""
        self.pipeline.set_state(self.Gst.State.NULL)

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
        return EdgeError(gst_error_text(msg, self.encoder))


class OpenCVWriter:
    """The fallback: OpenCV's MPEG-4 Part 2 writer at a constant rate (``pts_s`` ignored)."""

    encoder = "mp4v (OpenCV)"

    def __init__(self, path: str, width: int, height: int, fps: float):
        import cv2

        self.path, self.size, self.frames = path, (width, height), 0
        self._w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps or 30.0, (width, height))
        if not self._w.isOpened():
            raise EdgeError("cannot write a video to '{}' with OpenCV".format(path))

    def write(self, bgr, pts_s: float) -> None:
        self._w.write(bgr)
        self.frames += 1

    def close(self) -> None:
        self._w.release()

    abort = close


def pick_encoder(warn: Optional[Callable[[str], None]] = None) -> str:
    """``choose_encoder(available_encoders())``, or ``OPENCV`` after one ``warn`` line when there is none."""
    name = choose_encoder(available_encoders())
    if name is None:
        (warn or _stderr)(no_encoder_warning())
    return name or OPENCV


def open_writer(path: str, width: int, height: int, fps: float, encoder: Optional[str] = None,
                warn: Optional[Callable[[str], None]] = None, bitrate_kbps: int = 2000, mux: str = MUXERS[".mp4"],
                faststart_file: str = ""):
    """A writer (``write(bgr, pts_s)``, ``close()``, ``.encoder``, ``.size``) of an H.264 file at ``path``
    (``mux``: MP4 by default) with ``encoder`` (an element of ``H264_ENCODERS``, or ``OPENCV``; default:
    ``pick_encoder(warn)``)."""
    encoder = encoder or pick_encoder(warn)
    if encoder == OPENCV:
        return OpenCVWriter(path, width, height, fps)
    return GstH264Writer(path, width, height, fps, encoder, bitrate_kbps, mux, faststart_file)


def gst_error_text(msg, what: str) -> str:
    """A bus ERROR message as one line: its text, the OS reason from the debug text where there is one
    ("No space left on device"), and the element: "Could not write to resource: No space left on device
    (x264enc pipeline, filesink)"."""
    import re

    err, debug = msg.parse_error()
    text = err.message.rstrip(".")
    reason = re.search(r"(No space left on device|Disk quota exceeded|Permission denied|Input/output error|"
                       r"Connection refused|Network is unreachable|No route to host)", debug or "")
    if reason and reason.group(1) not in text:
        text += ": " + reason.group(1)
    return "{} ({} pipeline, {})".format(text, what, msg.src.get_name())


def _stderr(line: str) -> None:
    print("edge: warning: " + line, file=sys.stderr)
