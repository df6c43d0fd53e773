"""``Faces``: one frame's faces as aligned numpy columns, the one record the run loop passes along.

    faces = Faces.from_detections(detector.detect(image))   # boxes + detector scores, ids 0…N-1
    faces = faces[keep]                                      # one mask filters every column together
    faces = faces.replace(labels=names, probs=p)             # the classifier's top-1 per face
    faces.class_names, faces.classes()                      # ("person", "car"), ["car", "person", …] per row

Columns (N rows each; the optional ones are ``None`` when unknown):

* ``boxes``     float32 (N, 4) x1, y1, x2, y2 in frame pixels
* ``track_ids`` int64 (N,) — the tracker's ids; without a tracker the detection's row number
* ``scores``    float32 (N,) detector score, optional (a box the tracker moved has none)
* ``labels``    object (N,) class name of the classifier's top-1, optional until classified
* ``probs``     float64 (N,) probability of that class, optional until classified
* ``keypoints`` float32 (N, K, 2) landmarks in frame pixels, optional
* ``class_ids`` int64 (N,) the detector's class of each box, into ``class_names``; optional (a face detector:
  every box is class 0, "face")

``class_names`` (the detector's, ``("face",)`` by default) is no column: it travels with every copy.
"""
from typing import List, Optional, Tuple

import numpy as np

# name → (dtype, shape after N: None = any size there); ``boxes`` and ``track_ids`` are always present
COLUMNS = (
    ("boxes", np.float32, (4,)),
    ("track_ids", np.int64, ()),
    ("scores", np.float32, ()),
    ("labels", object, ()),
    ("probs", np.float64, ()),
    ("keypoints", np.float32, (None, 2)),
    ("class_ids", np.int64, ()),
)
FACE = ("face",)


def _shape_text(n: Optional[int], tail: Tuple) -> str:
    dims = ["N" if n is None else str(n)] + ["K" if d is None else str(d) for d in tail]
    return "(" + ", ".join(dims) + ("," if not tail else "") + ")"


def _column(name: str, dtype, tail: Tuple, value, n: Optional[int]) -> np.ndarray:
    """``value`` as an array of ``dtype`` shaped (n, *tail); ValueError naming expected and found shapes."""
    a = np.asarray(value, dtype)
    if a.shape == (0,) and tail:
        a = a.reshape((0,) + tuple(d or 0 for d in tail))  # [] for no rows
    fits = a.ndim == 1 + len(tail) and all(d is None or d == s for d, s in zip(tail, a.shape[1:]))
    if not fits or (n is not None and len(a) != n):
        raise ValueError("faces column '{}': expected shape {}, found {}".format(name, _shape_text(n, tail), a.shape))
    return a


class Faces:
    """Aligned columns of one frame's faces; ``faces[mask]`` / ``faces[indices]`` keeps them aligned."""

    __slots__ = tuple(name for name, _, _ in COLUMNS) + ("class_names",)

    def __init__(self, boxes, track_ids=None, scores=None, labels=None, probs=None, keypoints=None,
                 class_ids=None, class_names: Tuple[str, ...] = FACE):
        self.boxes = _column("boxes", np.float32, (4,), boxes, None)
        n = len(self.boxes)
        given = (np.arange(n) if track_ids is None else track_ids, scores, labels, probs, keypoints, class_ids)
        for (name, dtype, tail), value in zip(COLUMNS[1:], given):
            setattr(self, name, None if value is None else _column(name, dtype, tail, value, n))
        self.class_names = tuple(str(c) for c in class_names) or FACE
        ids = self.class_ids if self.class_ids is not None else np.zeros(n, np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.class_names)):
            raise ValueError("faces column 'class_ids': expected ids in 0…{} (class_names {}), found {}".format(
                len(self.class_names) - 1, list(self.class_names), sorted(set(ids.tolist()))))

    @classmethod
    def empty(cls) -> "Faces":
        return cls(np.zeros((0, 4), np.float32))

    @classmethod
    def from_detections(cls, detections, track_ids=None, class_names: Tuple[str, ...] = FACE) -> "Faces":
        """From ``edge.detectors.base.Detections`` (boxes, scores, class ids into the detector's ``class_names``)."""
        return cls(detections.boxes, track_ids, scores=detections.scores, class_ids=detections.class_ids,
                   class_names=class_names)

    def __len__(self) -> int:
        return len(self.boxes)

    def classes(self) -> List[str]:
        """The detector's class name of each row (class 0 for every row without ``class_ids``)."""
        if self.class_ids is None:
            return [self.class_names[0]] * len(self)
        return [self.class_names[i] for i in self.class_ids.tolist()]

    def columns(self):
        """(name, array) of every present column, in ``COLUMNS`` order."""
        return [(name, getattr(self, name)) for name, _, _ in COLUMNS if getattr(self, name) is not None]

    def replace(self, **columns) -> "Faces":
        """A copy with some columns replaced (validated like the constructor)."""
        unknown = set(columns) - set(self.__slots__)
        if unknown:
            raise TypeError("unknown faces column(s): {}".format(", ".join(sorted(unknown))))
        merged = dict(self.columns())
        merged.update(columns)
        return Faces(class_names=self.class_names, **merged)

    def __getitem__(self, index) -> "Faces":
        """The rows picked by one boolean mask (N,), an integer index array or a slice."""
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise ValueError("faces mask: expected shape ({},), found {}".format(len(self), index.shape))
            if index.dtype != bool and (index.ndim != 1 or not np.issubdtype(index.dtype, np.integer)):
                if index.size:
                    raise ValueError("faces index: expected a boolean mask or a 1-D integer array, found {} {}"
                                     .format(index.dtype, index.shape))
                index = index.astype(np.int64).reshape(0)
        return Faces(class_names=self.class_names, **{name: col[index] for name, col in self.columns()})

    def __eq__(self, other) -> bool:
        if not isinstance(other, Faces):
            return NotImplemented
        mine, theirs = self.columns(), other.columns()
        return self.class_names == other.class_names and [n for n, _ in mine] == [n for n, _ in theirs] and all(
            a.shape == b.shape and bool(np.all(a == b)) for (_, a), (_, b) in zip(mine, theirs))

    __hash__ = None  # mutable arrays inside

    def __repr__(self) -> str:
        names = "" if self.class_names == FACE else ", class_names={}".format(list(self.class_names))
        return "Faces({}{})".format(", ".join("{}={}".format(n, c.tolist()) for n, c in self.columns()), names)


def visible(boxes: np.ndarray, shape) -> np.ndarray:
    """Which ``boxes`` (xyxy) keep at least 2×2 pixels once clipped to a frame of ``shape`` (as
    ``edge.run.loop.crop_faces`` crops them: x1, y1 truncated, x2, y2 rounded), without cropping."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(b):
        return np.zeros(0, bool)
    h, w = shape[:2]
    lo = np.maximum(b[:, :2].astype(np.int64), 0)
    hi = np.minimum(np.round(b[:, 2:]).astype(np.int64), [w, h])
    return ((hi - lo) >= 2).all(axis=1)
