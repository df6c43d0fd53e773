"""GStreamer sources through PyGObject: ``appsink.try_pull_sample(timeout)`` plus the pipeline's bus, so
a timeout, the end of the stream and the pipeline's own error message are told apart.

PyGObject (``gi``) and the GStreamer typelibs are imported lazily; ``available()`` says whether they work.
"""
import time
from typing import List, Optional, Tuple

import numpy as np

from edge.errors import EdgeError, HardwareError, InputError, MissingDependency
from edge.sources.base import MAX_CONSECUTIVE_BAD, EndOfStream, Frame, Source, no_frame_error
from edge.sources.pipelines import APPSINK_NAME, elements, package_for

_GST = None
POLL_S = 0.1  # slices in which the appsink is polled, so a pipeline error is seen as soon as it is posted


def gst():
    """The initialised ``Gst`` module, or MissingDependency naming PyGObject."""
    global _GST
    if _GST is None:
        try:
            import gi

            gi.require_version("Gst", "1.0")
            gi.require_version("GstApp", "1.0")
            from gi.repository import Gst, GstApp  # noqa: F401  (GstApp adds try_pull_sample)
        except (ImportError, ValueError):
            raise MissingDependency("gi", "PyGObject", "GStreamer sources (and apt packages "
                                    "gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0)") from None
        _keep_cxx_exceptions_working()
        Gst.init(None)
        _GST = Gst
    return _GST


def _keep_cxx_exceptions_working() -> None:
    """libgstreamer links libunwind, whose ``_Unwind_*`` symbols, loaded first, take over C++ exception
    unwinding in every library loaded later: torch's JIT (tracing, TorchScript) then dies with
    ``terminate called``. Loading GCC's unwinder globally first keeps it in charge."""
    import ctypes

    try:
        ctypes.CDLL("libgcc_s.so.1", mode=ctypes.RTLD_GLOBAL)
    except OSError:  # not glibc/GCC: nothing to protect
        pass


def available() -> bool:
    try:
        gst()
        return True
    except MissingDependency:
        return False


def missing_elements(pipeline: str) -> List[str]:
    Gst = gst()
    return [e for e in elements(pipeline) if Gst.ElementFactory.find(e) is None]


def is_jetson() -> bool:
    """A Jetson (``edge.files.is_jetson``) whose GStreamer has NVIDIA's elements (nvvidconv): the Jetson
    pipelines can run here."""
    from edge.files import is_jetson as jetson_board

    return jetson_board() and available() and gst().ElementFactory.find("nvvidconv") is not None


def usb_offers_mjpeg(device: str) -> Optional[bool]:
    """Whether the V4L2 camera at ``device`` lists image/jpeg caps (None when it cannot be probed)."""
    if not available():
        return None
    Gst = gst()
    monitor = Gst.DeviceMonitor.new()
    monitor.add_filter("Video/Source", None)
    if not monitor.start():
        return None
    try:
        for dev in monitor.get_devices():
            props = dev.get_properties()
            path = props.get_string("device.path") or props.get_string("api.v4l2.path") if props else None
            if path == device:
                caps = dev.get_caps()
                return any(caps.get_structure(i).get_name() == "image/jpeg" for i in range(caps.get_size()))
    finally:
        monitor.stop()
    return None


class GstSource(Source):
    """Frames from a ``... ! appsink name=sink`` pipeline description."""

    name = "gstreamer"

    def __init__(self, uri: str, pipeline: str, kind: str = "video", start_timeout: float = 10.0):
        super().__init__(uri)
        Gst = gst()
        self.kind = kind
        self.live = kind in ("csi", "usb", "rtsp", "http")
        self.pipeline_str = pipeline
        missing = missing_elements(pipeline)
        if missing:
            raise missing_element_error(missing[0], kind)
        try:
            self.pipeline = Gst.parse_launch(pipeline)
        except Exception as e:  # GLib.Error
            raise InputError("cannot build the GStreamer pipeline for '{}': {}".format(uri, _msg(e))) from None
        self.sink = self.pipeline.get_by_name(APPSINK_NAME)
        self.bus = self.pipeline.get_bus()
        self._eos = self._interrupted = False
        self._bad_run = 0  # frames dropped as undecodable since the last good one
        ret = self.pipeline.set_state(Gst.State.PLAYING)
        if ret == Gst.StateChangeReturn.FAILURE:
            err = self._pop_error(timeout_s=1.0)
            self.close()
            raise err or self._error("the pipeline would not start", "")
        self._first_timeout = start_timeout

    def read(self, timeout: float = 5.0) -> Frame:
        """The next frame; the pipeline's error as soon as it is posted (the appsink is polled in slices of
        POLL_S, the bus checked between them), EndOfStream at the end, else SourceTimeout after ``timeout``."""
        Gst = gst()
        if self._eos:
            raise EndOfStream()
        if self._first_timeout:
            timeout, self._first_timeout = max(timeout, self._first_timeout), 0.0
        deadline = time.monotonic() + timeout
        while True:
            if self._interrupted:
                raise EndOfStream()
            left = deadline - time.monotonic()
            sample = self.sink.try_pull_sample(int(max(min(POLL_S, left), 0.0) * Gst.SECOND))
            if sample is None:
                err = self._count_warnings(errors=True)
                if err is not None:
                    self.close()
                    raise err
                if self.live and self._bad_run >= MAX_CONSECUTIVE_BAD:
                    self.close()
                    raise InputError("{}: {} undecodable frames in a row".format(self.describe(), self._bad_run))
                if self.sink.is_eos():
                    self._count_lost_tail()
                    self._eos = True
                    self.close()  # release the decoder and camera now, not at garbage collection
                    raise EndOfStream()
                if left > POLL_S:
                    continue
                raise no_frame_error(self.describe(), self.kind, timeout, self._index == 0)
            self._count_warnings()
            image, pts = self._to_array(sample)
            self._count_gap(sample, pts)
            if image is None:
                self.corrupt += 1
                continue
            self._bad_run = 0
            return self._frame(image, pts)

    def _to_array(self, sample) -> Tuple[Optional[np.ndarray], Optional[float]]:
        Gst = gst()
        s = sample.get_caps().get_structure(0)
        ok_w, w = s.get_int("width")
        ok_h, h = s.get_int("height")
        buf = sample.get_buffer()
        pts = buf.pts / 1e6 if buf.pts != Gst.CLOCK_TIME_NONE else None
        ok, info = buf.map(Gst.MapFlags.READ)
        if not (ok and ok_w and ok_h):
            return None, pts
        try:
            data = np.frombuffer(info.data, np.uint8)
            if h <= 0 or data.size < h * w * 3:
                return None, pts
            stride = data.size // h  # rows are padded to 4 bytes
            image = data[:h * stride].reshape(h, stride)[:, :w * 3].reshape(h, w, 3).copy()
        finally:
            buf.unmap(info)
        return image, pts

    def _count_gap(self, sample, pts: Optional[float]) -> None:
        """A file's timestamps advance one frame at a time; a jump means frames the decoder dropped."""
        if self.kind != "video" or pts is None:
            return
        ok, num, den = sample.get_caps().get_structure(0).get_fraction("framerate")
        last, self._last_pts = getattr(self, "_last_pts", None), pts
        if ok and num > 0 and last is not None:
            missing = int(round((pts - last) * num / (1000.0 * den))) - 1
            self.corrupt += max(missing, 0)
        if ok and num > 0:
            self._fps = num / den

    def _count_lost_tail(self) -> None:
        """At the end of a file: the frames between the last one decoded and the container's duration (a
        truncated file ends early without an error) are lost."""
        Gst = gst()
        last, fps = getattr(self, "_last_pts", None), getattr(self, "_fps", 0.0)
        if self.kind != "video" or last is None or not fps or self.pipeline is None:
            return
        ok, duration = self.pipeline.query_duration(Gst.Format.TIME)
        if ok and duration > 0:
            self.corrupt += max(int(round((duration / 1e6 - last) * fps / 1000.0)) - 1, 0)

    def _count_warnings(self, errors: bool = False) -> Optional[EdgeError]:
        """Decoders report a damaged frame as a WARNING and go on, or drop it with a QOS message (counted for a
        camera only: a file's dropped frames show as gaps in its timestamps): count it as corrupt. With
        ``errors``, the first ERROR posted is returned too (one pass: popping drops the other messages)."""
        Gst = gst()
        kinds = Gst.MessageType.WARNING
        if self.live:
            kinds |= Gst.MessageType.QOS
        if errors:
            kinds |= Gst.MessageType.ERROR
        while True:
            msg = self.bus.pop_filtered(kinds)
            if msg is None:
                return None
            if msg.type == Gst.MessageType.ERROR:
                return self._error_of(msg)
            self.corrupt += 1
            self._bad_run += 1

    def _pop_error(self, timeout_s: float) -> Optional[EdgeError]:
        Gst = gst()
        msg = self.bus.timed_pop_filtered(int(timeout_s * Gst.SECOND), Gst.MessageType.ERROR)
        return None if msg is None else self._error_of(msg)

    def _error_of(self, msg) -> EdgeError:
        err, debug = msg.parse_error()
        return self._error(_with_detail(err.message, debug or ""), debug or "", err,
                           msg.src.get_name() if msg.src else "")

    def _error(self, message: str, debug: str, err=None, element: str = "") -> EdgeError:
        Gst = gst()
        where = "{} ({})".format(self.describe(), element) if element else self.describe()
        text = "{}: {}".format(where, message.rstrip("."))
        if self.kind == "csi":
            return HardwareError(text + "; is the CSI camera connected and nvargus-daemon running? "
                                 "(`sudo systemctl restart nvargus-daemon`)")
        if err is not None and err.matches(Gst.ResourceError.quark(), Gst.ResourceError.BUSY):
            return HardwareError(text + "; another program is using the camera")
        if self.kind in ("usb", "rtsp", "http"):
            return HardwareError(text)
        if err is not None and (in_domain(err, Gst.StreamError.quark()) or "type" in message.lower()):
            return InputError("expected a video file, found one GStreamer cannot decode: " + text)
        return InputError(text)

    def interrupt(self) -> None:
        """From another thread: make a read that waits for a frame end (EndOfStream) within POLL_S."""
        self._interrupted = True

    def describe(self) -> str:
        return "GStreamer {} source '{}'".format(self.kind, self.uri)

    def close(self) -> None:
        pipeline = getattr(self, "pipeline", None)
        if pipeline is not None:
            self._count_warnings()
            pipeline.set_state(gst().State.NULL)
            self.pipeline = None


class MissingElement(EdgeError):
    """A GStreamer element the pipeline needs is not installed (exit code 4, like a missing package)."""

    exit_code = 4


def missing_element_error(element: str, kind: str) -> EdgeError:
    if package_for(element) == "(Jetson only)":
        return HardwareError("the GStreamer element '{}' is missing: the {} source needs a Jetson with "
                             "JetPack's {} (this machine is not one)".format(element, kind,
                                                                            package_for(element, True)))
    pkg = package_for(element)
    return MissingElement("the GStreamer element '{}' is missing; install the apt package {} "
                          "(`sudo apt-get install {}`)".format(element, pkg, pkg))


def _with_detail(message: str, debug: str) -> str:
    """GStreamer's message plus the reason its debug text ends with ("Failed to connect. (Generic error)"),
    which is all the user can act on; the debug text's first line (source file, element path) is left out."""
    lines = [x.strip() for x in debug.strip().splitlines()]
    detail = lines[-1] if len(lines) > 1 else ""
    return "{} ({})".format(message.rstrip("."), detail.rstrip(".")) if detail else message


def _msg(e: Exception) -> str:
    return str(getattr(e, "message", e)).strip().splitlines()[0][:200]


def in_domain(err, quark: int) -> bool:
    """Whether a ``GLib.Error`` belongs to the error domain ``quark`` (e.g. ``Gst.StreamError.quark()``): PyGObject
    gives ``err.domain`` as the domain's string ("gst-stream-error-quark"), never as the quark's number."""
    from gi.repository import GLib

    return err.domain in (quark, GLib.quark_to_string(quark))
