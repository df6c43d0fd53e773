"""Labelled images on disk, ImageFolder style: one sub-folder per class (the Kaggle face-mask layout).

    data/with_mask/0001.jpg
    data/without_mask/0002.png

Used for training, calibration and accuracy checks alike; pure Python + OpenCV, Python 3.6+.
"""
import hashlib
import os
from typing import List, NamedTuple, Sequence, Tuple

import numpy as np

from edge.errors import InputError
from edge.files import IMAGE_SUFFIXES


class Sample(NamedTuple):
    path: str
    label: int
    group: str  # a source face/photo; its samples stay in one split, whatever their class


class ImageFolder(NamedTuple):
    root: str
    classes: Tuple[str, ...]
    samples: Tuple[Sample, ...]

    def counts(self):
        return {c: sum(1 for s in self.samples if s.label == i) for i, c in enumerate(self.classes)}


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def group_of(filename: str) -> str:
    """Group key of a file: the part before ``__`` in its name (``0042__mask3.jpg`` → ``0042``), else the stem.

    Generators write variants of one source face as ``<source>__<variant>.jpg`` so that a split
    never puts the same face in both training and test.
    """
    stem = os.path.splitext(os.path.basename(filename))[0]
    return stem.split("__", 1)[0]


def scan(root: str, min_classes: int = 2) -> ImageFolder:
    """List the classes (sorted sub-folder names) and their images; fail clearly on a bad layout."""
    if not os.path.isdir(root):
        raise InputError("expected a data folder with one sub-folder per class, found {} at '{}'".format(
            "a file" if os.path.exists(root) else "nothing", root))
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    samples = []
    empty = []
    for label, cls in enumerate(classes):
        folder = os.path.join(root, cls)
        names = sorted(n for n in os.listdir(folder) if is_image(n))
        if not names:
            empty.append(cls)
        samples += [Sample(os.path.join(folder, n), label, group_of(n)) for n in names]
    if len(classes) < min_classes:
        raise InputError("expected at least {} class sub-folders in '{}', found {}{}".format(
            min_classes, root, len(classes), " ({})".format(", ".join(classes)) if classes else ""))
    if empty:
        raise InputError("expected images ({}) in every class folder of '{}', found none in '{}'".format(
            "/".join(IMAGE_SUFFIXES[:3]), root, empty[0]))
    return ImageFolder(root, tuple(classes), tuple(samples))


def read_image(path: str) -> np.ndarray:
    """BGR uint8 image; an unreadable file is an InputError naming it."""
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError("expected a readable image, found an unreadable file: '{}'".format(path))
    return img


def split(folder: ImageFolder, fractions: Sequence[float] = (0.7, 0.15, 0.15),
          seed: int = 0) -> List[List[Sample]]:
    """Deterministic split by group (a hash of group name and seed), stratified per class.

    Groups are keyed by the source face alone, so where the classes hold the same faces (a face with
    and without a mask) each face lands in the same split in every class: the test split holds only
    faces never seen in training. The same folder and seed always give the same split, on any machine
    and Python version.
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or any(f < 0 for f in fractions):
        raise InputError("expected split fractions that sum to 1, found {}".format(list(fractions)))
    parts = [[] for _ in fractions]
    for label in range(len(folder.classes)):
        groups = sorted({s.group for s in folder.samples if s.label == label},
                        key=lambda g: hashlib.sha256("{}:{}".format(seed, g).encode()).hexdigest())
        bounds = np.cumsum([0.0] + list(fractions)) * len(groups)
        where = {}
        for i, g in enumerate(groups):
            where[g] = min(int(np.searchsorted(bounds, i, side="right")) - 1, len(fractions) - 1)
        for s in folder.samples:
            if s.label == label:
                parts[where[s.group]].append(s)
    return parts
