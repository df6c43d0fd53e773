"""OpenCV Haar-cascade face detection on a downscaled grey frame, boxes mapped back to full resolution.

Detection cost grows with the pixels scanned, so detecting at ``scale=0.5`` is ~4× cheaper than at full
resolution; ``min_size`` is given in full-resolution pixels and scaled with the image. The defaults,
scale 0.4 and faces of at least 60 px, keep a 60-px face at 24 px, above the cascade's 20-px window, and
skip smaller faces, which the mask classifier cannot label reliably anyway (≈ 69 % at 64 px,
docs/COMPRESSION.md); faces that small need ``--min-size`` lowered or ``--detector blazeface``. The default
cascade is ``frontalface_alt2``: on masked faces it keeps finding faces where ``frontalface_default``
(what most tutorials use) loses most of them, with no more false positives (see docs/BENCHMARKS.md).
"""
import os
import sys
from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence

import numpy as np

from edge.config import check_fields, setting
from edge.detectors.base import Detections, Detector
from edge.errors import InputError, UsageError

DEFAULT_CASCADE = "haarcascade_frontalface_alt2.xml"


# OpenCV's cascades outside the pip wheels' ``cv2.data`` (JetPack's OpenCV has none), after the environment's own
# share/ (conda): a source build, JetPack 4.6's OpenCV and Debian/Ubuntu's opencv-data, Ubuntu 18.04's, older JetPack.
SYSTEM_CASCADE_DIRS = ("/usr/local/share/opencv4/haarcascades", "/usr/share/opencv4/haarcascades",
                       "/usr/share/opencv/haarcascades", "/usr/share/OpenCV/haarcascades")
CASCADE_FIX = ("install OpenCV's cascades (Jetson: sudo apt-get install nvidia-opencv; Debian/Ubuntu: sudo apt-get "
               "install opencv-data; pip: opencv-python-headless<5) or pass --cascade FILE")


def cascade_folders(wheel_dir: Optional[str], prefix: str, system: Sequence[str]) -> List[str]:
    """The folders searched for a cascade name, in order: ``cv2.data.haarcascades`` of a pip wheel (None where
    cv2 has no ``cv2.data``), ``prefix``/share/opencv4/haarcascades, then ``system``'s."""
    out = []  # type: List[str]
    for folder in [wheel_dir, os.path.join(prefix, "share", "opencv4", "haarcascades")] + list(system):
        if folder and os.path.normpath(folder) not in out:
            out.append(os.path.normpath(folder))
    return out


def opencv_cascade_folders() -> List[str]:
    """cascade_folders() of the OpenCV imported here."""
    try:
        from cv2 import data
        wheel_dir = getattr(data, "haarcascades", None)
    except ImportError:  # JetPack's and Debian's OpenCV: no cv2.data
        wheel_dir = None
    return cascade_folders(wheel_dir, sys.prefix, SYSTEM_CASCADE_DIRS)


def find_cascade(name: str, folders: Sequence[str]) -> Optional[str]:
    """The first ``folder/name`` that is a file, or None."""
    for folder in folders:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def cascade_path(name: str) -> str:
    """A cascade file: a path, or the name of one of OpenCV's cascades (see cascade_folders)."""
    if os.path.isfile(name):
        return name
    if os.path.dirname(name):
        raise InputError("expected a Haar cascade XML file, found nothing at '{}'".format(name))
    folders = opencv_cascade_folders()
    found = find_cascade(name, folders)
    if found is None:
        raise InputError("expected a Haar cascade XML file or one of OpenCV's cascades, found no '{}' in {}: {}".format(
            name, ", ".join(folders), CASCADE_FIX))
    return found


def looks_like_cascade(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(1 << 16)  # bundled cascades start with long licence comments
    return b"<opencv_storage>" in head and (b"<cascade" in head or b"<stages>" in head or b"_cascade" in head)


def scale_boxes(xywh: np.ndarray, scale: float, width: int, height: int) -> np.ndarray:
    """(N, 4) x, y, w, h found on an image scaled by ``scale`` → float32 x1, y1, x2, y2 in the full frame."""
    b = np.asarray(xywh, np.float32).reshape(-1, 4) / np.float32(scale)
    boxes = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    return boxes


@dataclass
class HaarOptions:
    """``[haar]`` of a run config: HaarDetector's keyword options (``edge run --detect-scale`` ...)."""

    scale: float = setting(0.4, "--detect-scale", "Haar (and the tracker): detect on the frame scaled by this "
                                                  "(0–1]; 0.5 scans 4× fewer pixels.")
    min_neighbors: int = setting(3, "--min-neighbors", "Haar minNeighbors: higher = fewer, surer faces.")
    min_size: int = setting(60, "--min-size", "Smallest face side in full-resolution pixels.")
    scale_factor: float = setting(1.1, "--scale-factor", "Haar scaleFactor between pyramid levels.")
    cascade: str = setting(DEFAULT_CASCADE, "--cascade", "Haar cascade: a file, or the name of one of OpenCV's "
                                                         "bundled cascades.")

    def __post_init__(self):
        check_fields(self, [(0 < self.scale <= 1, "scale", "a number in (0, 1]")],
                     section=HaarDetector.name + ".")


class HaarDetector(Detector):
    name = "haar"

    def __init__(self, scale: float = HaarOptions.scale, min_neighbors: int = HaarOptions.min_neighbors,
                 min_size: int = HaarOptions.min_size, scale_factor: float = HaarOptions.scale_factor,
                 cascade: str = HaarOptions.cascade, equalize: bool = False, max_size: Optional[int] = None):
        import cv2

        if not 0 < scale <= 1:
            raise UsageError("expected a detection scale in (0, 1], found {}".format(scale))
        if min_neighbors < 0 or min_size < 1 or scale_factor <= 1.0:
            raise UsageError("expected min_neighbors ≥ 0, min_size ≥ 1 and scale_factor > 1, found {}, {}, {}".format(
                min_neighbors, min_size, scale_factor))
        self.scale, self.min_neighbors, self.min_size = scale, min_neighbors, min_size
        self.scale_factor, self.equalize, self.max_size = scale_factor, equalize, max_size
        path = self.cascade_file = cascade_path(cascade)
        if not looks_like_cascade(path):  # OpenCV can crash on XML that is no cascade: check first
            raise InputError("expected a Haar cascade XML file (<opencv_storage> with a <cascade>), found "
                             "something else: '{}'".format(path))
        try:
            self.cascade = cv2.CascadeClassifier(path)
        except (cv2.error, SystemError):  # a file that is XML but no cascade
            self.cascade = None
        if self.cascade is None or self.cascade.empty():
            raise InputError("expected a Haar cascade XML file, found one OpenCV cannot load: '{}'".format(path))

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        import cv2

        h, w = frame_bgr.shape[:2]
        grey = frame_bgr if frame_bgr.ndim == 2 else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        if self.scale != 1.0:
            grey = cv2.resize(grey, (max(1, int(round(w * self.scale))), max(1, int(round(h * self.scale)))),
                              interpolation=cv2.INTER_AREA)
        if self.equalize:
            grey = cv2.equalizeHist(grey)
        side = max(1, int(round(self.min_size * self.scale)))
        kw = {"maxSize": (int(self.max_size * self.scale),) * 2} if self.max_size else {}
        found = self.cascade.detectMultiScale(grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                              minSize=(side, side), **kw)
        if len(found) == 0:
            return Detections.empty()
        boxes = scale_boxes(found, self.scale, w, h)
        return Detections(boxes, np.ones(len(boxes), np.float32))

    def info(self):
        return {"detector": self.name, "cascade": os.path.basename(self.cascade_file), "scale": self.scale,
                "min_neighbors": self.min_neighbors, "min_size": self.min_size, "scale_factor": self.scale_factor}


def config_options(cfg) -> dict:
    """The keyword options from a run config: its ``[haar]`` section."""
    return asdict(cfg.haar)


DETECTOR = HaarDetector
