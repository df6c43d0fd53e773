"""Where processed frames go: each sink is given every frame with its faces and the annotated view.

    for sink in sinks: sink.write(frame, faces, view)   # False: the user asked to quit
    sink.close(keep=ok)                                  # keep what was written unless the run failed

Today a window (``q``/Esc quits), ``--save`` (a video, or images), or none (``--headless``); an event or
stream output is one more ``Sink`` subclass added in ``make_sinks``.

``--save`` goes by its suffix, checked at start-up with its folder (``check_save_path``): ``.mp4``/``.mov``
is a video of every frame; an image suffix (``.jpg``, ``.png`` …) writes images: for one input image that
file, for anything else (a folder of images, a video, a camera) one image per frame, numbered by frame:
``out.jpg`` → ``out_000000.jpg``, ``out_000001.jpg`` …. A write that fails (a full disk) is one line and
exit 1, with no temporary file left behind.
"""
import os
import sys
import tempfile
from typing import List

from edge.errors import EdgeError, InputError, UsageError
from edge.files import IMAGE_SUFFIXES, check_writable, write_atomic, write_failed
from edge.sources import gst

VIDEO_SUFFIXES = (".mp4", ".mov")  # what both video writers make: an ISO/QuickTime container


class Sink:
    """A frame output; also a context manager that keeps its output only when the run ended cleanly."""

    needs_view = True  # the loop draws the annotated view only when a sink (or the live view) needs it

    def write(self, frame, faces, view) -> bool:
        """One processed frame (``edge.sources.base.Frame``, ``edge.run.results.Faces``, annotated BGR or
        None); False when the user asked to quit."""
        raise NotImplementedError

    def close(self, keep: bool = True) -> None:
        pass

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)


def check_save_path(path: str) -> None:
    """UsageError unless ``path`` ends in a suffix ``--save`` writes, InputError unless it can be written."""
    if not path:
        return
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        raise UsageError("expected --save ending in {} (a video) or an image suffix ({}), found '{}'".format(
            "/".join(VIDEO_SUFFIXES), " ".join(IMAGE_SUFFIXES), path))
    check_writable(path, "--save")


def make_sinks(cfg, source, echo=None) -> List[Sink]:
    """The sinks ``cfg`` asks for: ``--save`` a video or images, else a window unless ``--headless`` or no
    display; and with ``[record] dir`` the clip recorder (``edge.events.clips``: an event sink too, which
    ``edge.events.make_event_sinks`` takes from these)."""
    sinks = _output_sinks(cfg, source, echo)
    record = getattr(cfg, "record", None)  # a RunConfig has it; a stand-in cfg of a test may not
    if record is not None and record.dir:
        from edge.events.clips import ClipRecorder

        sinks.append(ClipRecorder(record, warn=echo))
    return sinks


def _output_sinks(cfg, source, echo=None) -> List[Sink]:
    if cfg.save and cfg.save.lower().endswith(IMAGE_SUFFIXES):
        from edge.sources.reopening import source_kind

        return [ImageSink(cfg.save, numbered=cfg.loop or source_kind(cfg.source_uri()) != "image")]
    if cfg.save:
        return [VideoSink(cfg.save, getattr(getattr(source, "inner", source), "fps", 0) or cfg.fps,
                          jetson=gst.available() and gst.is_jetson())]
    if cfg.headless:
        return []
    reason = no_display_reason()
    if reason:
        if echo:
            echo("{}: running headless (pass --headless to skip this check)".format(reason))
        return []
    return [WindowSink()]


def display_available() -> bool:
    """A GUI can open: an X/Wayland display on Linux (always on Windows/macOS) and an OpenCV with HighGUI."""
    return not no_display_reason()


def no_display_reason() -> str:
    """Why no window can open ("no display here", "this OpenCV has no GUI …"); "" when one can."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display here (DISPLAY is not set)"
    import cv2

    try:
        cv2.namedWindow("edge-probe", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow("edge-probe")
        return ""
    except cv2.error as e:
        if "not implemented" in str(e):  # opencv-python-headless: no HighGUI
            return "this OpenCV has no GUI (the headless wheel; a window needs opencv-python or JetPack's OpenCV)"
        return "cannot open a window: {}".format(" ".join(str(e).split())[:160])


class WindowSink(Sink):
    def __init__(self, title: str = "edge run"):
        self.title = title

    def write(self, frame, faces, view) -> bool:
        """Show the view; False when the user asked to quit."""
        import cv2

        cv2.imshow(self.title, view)
        key = cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27)

    def close(self, keep: bool = True):
        import cv2

        cv2.destroyAllWindows()


class ImageSink(Sink):
    """The annotated view as an image file at ``path`` (its suffix picks the format), or with ``numbered``
    one file per frame beside it (``out_000012.jpg``); each written atomically."""

    def __init__(self, path: str, numbered: bool = False):
        self.path, self.numbered = path, numbered
        self.written = 0

    def frame_path(self, index: int) -> str:
        stem, suffix = os.path.splitext(self.path)
        return "{}_{:06d}{}".format(stem, index, suffix) if self.numbered else self.path

    def write(self, frame, faces, view) -> bool:
        import cv2

        path = self.frame_path(frame.index)
        ok, data = cv2.imencode(os.path.splitext(path)[1], view)
        if not ok:
            raise EdgeError("cannot encode the view as '{}' for --save".format(path))
        try:
            write_atomic(path, data.tobytes())
        except OSError as e:
            raise write_failed("--save", path, e) from None
        self.written += 1
        return True


class VideoSink(Sink):
    """An MP4 written to a temporary file and moved into place on close (never half-written): on close the
    file must be a whole MP4 (``mp4_complete``), else (a full disk) it is removed and the run fails.

    On a Jetson (OpenCV with GStreamer and ``nvv4l2h264enc``) the hardware encoder through
    ``cv2.CAP_GSTREAMER``; elsewhere OpenCV's software MPEG-4 encoder."""

    def __init__(self, path: str, fps: float, jetson: bool = False):
        self.path, self.fps, self.jetson = path, fps or 30.0, jetson
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
        except OSError as e:
            raise write_failed("--save", path, e) from None
        os.close(fd)
        self._writer = None
        self.encoder = ""

    def _open(self, width: int, height: int):
        import cv2

        from edge.sources.opencv import opencv_has_gstreamer
        from edge.sources.pipelines import encoder_pipeline

        if self.jetson and opencv_has_gstreamer():
            w = cv2.VideoWriter(encoder_pipeline(self._tmp, jetson=True), cv2.CAP_GSTREAMER, 0, self.fps,
                                (width, height))
            if w.isOpened():
                self.encoder = "nvv4l2h264enc (GStreamer)"
                return w
        self.encoder = "mp4v (OpenCV software)"
        return cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))

    def write(self, frame, faces, view) -> bool:
        if self._writer is None:
            self._writer = self._open(view.shape[1], view.shape[0])
            if not self._writer.isOpened():
                raise InputError("cannot write a video to '{}'".format(self.path))
        self._writer.write(view)
        return True

    def close(self, keep: bool = True):
        if self._writer is not None:
            self._writer.release()
        try:
            if keep and self._writer is not None:
                if not mp4_complete(self._tmp):
                    raise EdgeError("cannot write --save '{}': the video came out incomplete ({} bytes; is the "
                                    "disk full?)".format(self.path, os.path.getsize(self._tmp)))
                os.chmod(self._tmp, 0o644)
                os.replace(self._tmp, self.path)
        except OSError as e:
            raise write_failed("--save", self.path, e) from None
        finally:
            if os.path.exists(self._tmp):
                os.remove(self._tmp)


def mp4_complete(path: str) -> bool:
    """The file is a whole ISO/QuickTime container: its top-level boxes (ASCII four-character types) tile it
    exactly and one is ``moov`` (the index both writers add last, which a full disk cuts off)."""
    seen, size, at = set(), os.path.getsize(path), 0
    with open(path, "rb") as f:
        while at < size:
            f.seek(at)
            head = f.read(16)
            if len(head) < 8:
                return False
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:
                length = size - at
            if length < 8 or at + length > size or not all(32 <= c < 127 for c in kind):  # 4CCs are ASCII
                return False
            seen.add(kind)
            at += length
    return b"moov" in seen
