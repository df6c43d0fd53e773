"""OpenCV sources: video files and webcams through ``cv2.VideoCapture`` (FFmpeg / V4L2, or a GStreamer
pipeline string with ``cv2.CAP_GSTREAMER`` on JetPack's OpenCV), and still images or folders of them."""
import os
from typing import List

from edge.errors import HardwareError, InputError
from edge.sources.base import EndOfStream, Source, valid_image
from edge.files import IMAGE_SUFFIXES

MAX_CONSECUTIVE_BAD = 25  # undecodable frames in a row before a file counts as ended/broken


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
        self.live = kind in ("usb", "csi", "rtsp")
        self.loop = loop
        self.cap = cv2.VideoCapture(target) if api is None else cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            self.cap.release()
            if kind == "video":
                raise InputError("expected a video file OpenCV can decode, found one it cannot open: '{}'".format(
                    target))
            hint = "; is the CSI camera connected and nvargus-daemon running?" if kind == "csi" else \
                " (does it exist? is another program using it?)"
            raise HardwareError("cannot open the {} camera '{}'{}".format(kind, uri, hint))
        if kind == "usb":
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                                (cv2.CAP_PROP_FPS, fps)):
                if value:
                    self.cap.set(prop, value)
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if kind == "video" else 0
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0)
        if kind == "video":  # a file that opens but yields no first frame is not a video either
            ok, first = self.cap.read()
            if not ok or not valid_image(first):
                self.cap.release()
                raise InputError("expected a video file OpenCV can decode, found no decodable frame in '{}'".format(
                    target))
            self._pending = first
        else:
            self._pending = None

    def read(self, timeout: float = 5.0):
        import cv2

        if self._pending is not None:
            img, self._pending = self._pending, None
            return self._frame(img, self.cap.get(cv2.CAP_PROP_POS_MSEC))
        bad, last_pos = 0, -1
        while True:
            ok, img = self.cap.read()
            if ok and valid_image(img):
                return self._frame(img, self.cap.get(cv2.CAP_PROP_POS_MSEC))
            pos = int(self.cap.get(cv2.CAP_PROP_POS_FRAMES) or 0)
            if self.kind == "video":
                stuck = pos == last_pos  # the decoder cannot get past a damaged tail: the rest is lost
                if stuck:  # every frame the container lists but we could not deliver
                    self.corrupt = max(self.frame_count - self._index, 0)
                if stuck or not self.frame_count or pos >= self.frame_count - 1:
                    if not self.loop:
                        raise EndOfStream()
                    self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    last_pos = -1
                    continue
                last_pos = pos
            elif bad == 0 and not ok:
                raise HardwareError("the {} camera '{}' stopped delivering frames".format(self.kind, self.uri))
            bad += 1
            self.corrupt += 1
            if bad >= MAX_CONSECUTIVE_BAD:
                raise InputError("'{}': {} undecodable frames in a row at frame {}".format(self.uri, bad, pos))

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

    def read(self, timeout: float = 5.0):
        import cv2

        while True:
            if self._next >= len(self.paths):
                if not self.loop or self.corrupt >= len(self.paths):
                    raise EndOfStream()
                self._next = 0
            path = self.paths[self._next]
            self._next += 1
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if valid_image(img):
                return self._frame(img)
            self.corrupt += 1
            if len(self.paths) == 1:
                raise InputError("expected an image file, found one OpenCV cannot decode: '{}'".format(path))

    def describe(self) -> str:
        return "image source '{}' ({} file{})".format(self.uri, len(self.paths), "" if len(self.paths) == 1 else "s")
