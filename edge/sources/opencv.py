"""OpenCV sources: video files and webcams through ``cv2.VideoCapture`` (FFmpeg / V4L2, or a GStreamer
pipeline string with ``cv2.CAP_GSTREAMER`` on JetPack's OpenCV), and still images or folders of them."""
import contextlib
import os
import sys
import threading
from typing import List, Optional, Tuple

import numpy as np

from edge.errors import HardwareError, InputError
from edge.sources.base import MAX_CONSECUTIVE_BAD, EndOfStream, Source, valid_image
from edge.files import IMAGE_SUFFIXES

FFMPEG_LOGLEVEL = "OPENCV_FFMPEG_LOGLEVEL"  # read by OpenCV when it first sets FFmpeg up; -8 = AV_LOG_QUIET


@contextlib.contextmanager
def quiet_opencv():
    """OpenCV's and FFmpeg's own log lines off while a capture opens or seeks: edge says what failed in one
    line. OpenCV's log level and ``$OPENCV_FFMPEG_LOGLEVEL`` (a value the user set is kept) are restored
    after; FFmpeg keeps the quiet level it was set up with (its damaged-frame messages stay out of stderr)."""
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    get_level = getattr(logging, "getLogLevel", None) or getattr(cv2, "getLogLevel", None)
    set_level = getattr(logging, "setLogLevel", None) or getattr(cv2, "setLogLevel", None)
    env_was = os.environ.get(FFMPEG_LOGLEVEL)
    if env_was is None:
        os.environ[FFMPEG_LOGLEVEL] = "-8"
    level = get_level() if get_level and set_level else None
    if level is not None:
        set_level(0)  # LOG_LEVEL_SILENT
    # OpenCV 4.1 (JetPack 4.6) has neither: its C++ and FFmpeg write to fd 2 whatever Python asks. Silence fd 2
    # itself then, in the main thread only (opening a source: nothing else writes then); a capture thread's
    # seek past damage could swallow a line another thread prints, so there FFmpeg may still speak.
    with _stderr_silenced(level is None and threading.current_thread() is threading.main_thread()):
        try:
            yield
        finally:
            if level is not None:
                set_level(level)
            if env_was is None:
                os.environ.pop(FFMPEG_LOGLEVEL, None)


def has_log_control() -> bool:
    """This OpenCV can silence its own (and FFmpeg's) logging in-process (4.5 and later; not JetPack's 4.1)."""
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    return bool(getattr(logging, "setLogLevel", None) or getattr(cv2, "setLogLevel", None))


@contextlib.contextmanager
def _stderr_silenced(active: bool):
    """File descriptor 2 pointed at /dev/null for the block (when ``active``), then restored."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def looks_like_text(path: str) -> bool:
    """FFmpeg renders a text file as a video (its 'tty' demuxer): refuse text before OpenCV sees it."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def opencv_has_gstreamer() -> bool:
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


class CvSource(Source):
    """``cv2.VideoCapture`` on a file, a camera index, or a GStreamer description (``api=CAP_GSTREAMER``)."""

    name = "opencv"

    def __init__(self, uri: str, target, kind: str = "video", api=None, width: int = 0, height: int = 0,
                 fps: int = 0, loop: bool = False):
        import cv2

        super().__init__(uri)
        self.kind = kind
        if kind == "video" and api is None and looks_like_text(target):
            raise InputError("expected a video file OpenCV can decode, found a text file: '{}'".format(target))
        self.live = kind in ("usb", "csi", "rtsp", "http")
        self.loop = loop
        with quiet_opencv():
            self.cap = cv2.VideoCapture(target) if api is None else cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            self.cap.release()
            if kind == "video":
                raise InputError("expected a video file OpenCV can decode, found one it cannot open: '{}'".format(
                    target))
            hint = "; is the CSI camera connected and nvargus-daemon running?" if kind == "csi" else \
                " (is it reachable? is the URL right?)" if kind in ("rtsp", "http") else \
                " (does it exist? is another program using it?)"
            raise HardwareError("cannot open the {} camera '{}'{}".format(kind, uri, hint))
        if kind == "usb":
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                                (cv2.CAP_PROP_FPS, fps)):
                if value:
                    self.cap.set(prop, value)
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if kind == "video" else 0
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0)
        self._next = 0  # position in the file of the next frame to read
        self._pending = None
        if kind == "video":  # a file that opens but yields no decodable frame is not a video either
            with quiet_opencv():
                first = self._read_video()
            if first is None:
                self.cap.release()
                raise InputError("expected a video file OpenCV can decode, found no decodable frame in '{}'".format(
                    target))
            self._pending = first

    def read(self, timeout: float = 5.0):
        import cv2

        if self._pending is not None:
            img, self._pending = self._pending, None
            return self._frame(img, self.cap.get(cv2.CAP_PROP_POS_MSEC))
        if self.kind == "video":
            while True:
                img = self._read_video()
                if img is not None:
                    return self._frame(img, self.cap.get(cv2.CAP_PROP_POS_MSEC))
                if not self.loop or not self._index:
                    raise EndOfStream()
                self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                self._next = 0
        bad = 0
        while True:
            ok, img = self.cap.read()
            if ok and valid_image(img):
                return self._frame(img, self.cap.get(cv2.CAP_PROP_POS_MSEC))
            if bad == 0 and not ok and self.kind == "http" and self._index == 0:
                raise InputError("expected MJPEG or HLS frames OpenCV can decode from '{}', found none".format(
                    self.uri))
            if bad == 0 and not ok:
                raise HardwareError("the {} camera '{}' stopped delivering frames".format(self.kind, self.uri))
            bad += 1
            self.corrupt += 1
            if bad >= MAX_CONSECUTIVE_BAD:
                raise InputError("'{}': {} undecodable frames in a row".format(self.uri, bad))

    def _read_video(self) -> Optional[np.ndarray]:
        """The file's next decodable frame, or None at its end. A frame that fails before the container's
        frame count is damage: seek past it (``_seek_past``) and count the frames skipped as corrupt."""
        image = self._grab()
        if image is not None or self._next >= self.frame_count:
            return image
        failed = self._next
        with quiet_opencv():
            found = self._seek_past(failed)
        if found is None:
            self.corrupt += self.frame_count - failed  # the tail is lost (a truncated file)
            self._next = self.frame_count
            return None
        self.corrupt += found[0] - failed
        self._next = found[0] + 1
        return found[1]

    def _grab(self, position: Optional[int] = None) -> Optional[np.ndarray]:
        """Read one frame (at ``position``: seek there first); None where it cannot be decoded."""
        import cv2

        if position is not None:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, position)
        ok, image = self.cap.read()
        if not (ok and valid_image(image)):
            return None
        self._next = (position if position is not None else self._next) + 1
        return image

    def _seek_past(self, bad: int) -> Optional[Tuple[int, np.ndarray]]:
        """(position, frame) of the first frame after the undecodable ``bad`` that decodes, found by seeking
        ahead 1, 2, 4 … frames, then halving the gap back; None when nothing after ``bad`` decodes. The
        capture is left just after the frame returned."""
        step, good = 1, None
        while good is None:
            probe = min(bad + step, self.frame_count - 1)
            if probe <= bad:
                return None
            image = self._grab(probe)
            if image is not None:
                good = (probe, image)
            elif probe == self.frame_count - 1:
                return None
            bad, step = (bad, step) if good else (probe, step * 2)
        last = good[0]
        while good[0] - bad > 1:
            last = (bad + good[0]) // 2
            image = self._grab(last)
            if image is not None:
                good = (last, image)
            else:
                bad = last
        if last != good[0]:  # the last probe failed: read the frame found again, to continue after it
            image = self._grab(good[0])
            if image is None:
                return None
            good = (good[0], image)
        return good

    def describe(self) -> str:
        return "OpenCV {} source '{}'".format(self.kind, self.uri)

    def close(self) -> None:
        self.cap.release()


def list_images(folder: str) -> List[str]:
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))


class ImageSource(Source):
    """One image or every image of a folder (sorted by name); unreadable files are skipped and counted."""

    name = "images"

    def __init__(self, uri: str, paths: List[str], loop: bool = False):
        super().__init__(uri)
        if not paths:
            raise InputError("expected images ({}) in the folder '{}', found none".format(
                "/".join(IMAGE_SUFFIXES), uri))
        self.paths = paths
        self.loop = loop
        self._next = 0
        self._decoded = 0  # images decoded in this pass over the folder

    def read(self, timeout: float = 5.0):
        import cv2

        while True:
            if self._next >= len(self.paths):
                if not self._decoded:  # a whole pass and not one image: not a folder of images at all
                    raise InputError("expected images OpenCV can decode in the folder '{}', found none of its "
                                     "{} files decodable".format(self.uri, len(self.paths)))
                if not self.loop:
                    raise EndOfStream()
                self._next, self._decoded = 0, 0
            path = self.paths[self._next]
            self._next += 1
            with quiet_opencv():
                img = cv2.imread(path, cv2.IMREAD_COLOR)
            if valid_image(img):
                self._decoded += 1
                return self._frame(img)
            self.corrupt += 1
            if len(self.paths) == 1:
                raise InputError("expected an image file, found one OpenCV cannot decode: '{}'".format(path))

    def describe(self) -> str:
        return "image source '{}' ({} file{})".format(self.uri, len(self.paths), "" if len(self.paths) == 1 else "s")
