"""Where processed frames go: each sink is given every frame with its faces and the annotated view.

    for sink in sinks: sink.write(frame, faces, view)   # False: the user asked to quit
    sink.close(keep=ok)                                  # keep what was written unless the run failed

Today a window (``q``/Esc quits) or a video file (``--save``), or none (``--headless``); an event or
stream output is one more ``Sink`` subclass added in ``make_sinks``.
"""
import os
import sys
import tempfile
from typing import List

from edge.errors import InputError
from edge.sources import gst


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


def make_sinks(cfg, source, echo=None) -> List[Sink]:
    """The sinks ``cfg`` asks for: ``--save`` a video, else a window unless ``--headless`` or no display."""
    if cfg.save:
        return [VideoSink(cfg.save, getattr(getattr(source, "inner", source), "fps", 0) or cfg.fps,
                          jetson=gst.available() and gst.is_jetson())]
    if cfg.headless:
        return []
    if not display_available():
        if echo:
            echo("no display here: running headless (pass --headless to skip this check)")
        return []
    return [WindowSink()]


def display_available() -> bool:
    """A GUI can open: an X/Wayland display on Linux (always on Windows/macOS) and an OpenCV with HighGUI."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2

    try:
        cv2.namedWindow("edge-probe", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow("edge-probe")
        return True
    except cv2.error:  # opencv-python-headless: no HighGUI
        return False


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


class VideoSink(Sink):
    """An MP4 written to a temporary file and moved into place on close (never half-written).

    On a Jetson (OpenCV with GStreamer and ``nvv4l2h264enc``) the hardware encoder through
    ``cv2.CAP_GSTREAMER``; elsewhere OpenCV's software MPEG-4 encoder."""

    def __init__(self, path: str, fps: float, jetson: bool = False):
        self.path, self.fps, self.jetson = path, fps or 30.0, jetson
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise InputError("expected an existing folder for --save, found nothing at '{}'".format(directory))
        fd, self._tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".mp4")
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
        if keep and self._writer is not None:
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
        elif os.path.exists(self._tmp):
            os.remove(self._tmp)
