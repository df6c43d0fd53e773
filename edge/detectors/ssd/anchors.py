"""SSD anchor layouts of the BlazeFace models, and the anchor centres they generate.

A layout says how the model tiles its square input: one feature map per distinct stride, ``per_cell``
anchors in every cell of that map, anchors ordered map by map, row by row, cell by cell (MediaPipe's
``SsdAnchorsCalculator`` with fixed-size anchors, as its face-detection graphs configure it). A fully
convolutional model also takes other inputs whose height and width are multiples of ``input_multiple``
(0: the square only); its anchors then follow the input's own grid.

    >>> layout = LAYOUTS["face_detection_full_range"]
    >>> layout.num_anchors                     # 48 x 48 cells x 1
    2304
    >>> ssd_anchors(layout).shape               # (x, y) centres in [0, 1]
    (2304, 2)
    >>> ssd_anchors(layout, (448, 256)).shape   # a 448x256 input: 112 x 64 cells
    (7168, 2)
"""
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

import numpy as np

from edge.errors import InputError


class SsdLayout(NamedTuple):
    """Anchor layout of a square SSD detector input."""

    input_size: int               # side of the square input, pixels
    strides: Tuple[int, ...]      # one per feature map, e.g. (8, 16): 16x16 and 8x8 cells for 128 px
    per_cell: Tuple[int, ...]     # anchors per cell, one entry per stride
    offset: float = 0.5           # anchor centre inside its cell (0.5 = middle)
    input_multiple: int = 0       # other inputs: height and width multiples of this (0: the square only)

    @property
    def num_anchors(self) -> int:
        return self.anchors_in()

    def anchors_in(self, input_wh: Optional[Tuple[int, int]] = None) -> int:
        """Number of anchors for an input of ``input_wh`` (default: the square)."""
        w, h = input_wh or (self.input_size, self.input_size)
        return int(sum((w // s) * (h // s) * k for s, k in zip(self.strides, self.per_cell)))

    def to_dict(self) -> Dict[str, Any]:
        d = {"input_size": self.input_size, "strides": list(self.strides),
             "per_cell": list(self.per_cell), "offset": self.offset}
        if self.input_multiple:
            d["input_multiple"] = self.input_multiple
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "anchor layout") -> "SsdLayout":
        try:
            layout = cls(int(data["input_size"]), tuple(int(s) for s in data["strides"]),
                         tuple(int(k) for k in data["per_cell"]), float(data.get("offset", 0.5)),
                         int(data.get("input_multiple", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError("{}: expected input_size, strides and per_cell, found {!r} ({})".format(
                source, dict(data) if isinstance(data, Mapping) else data, e)) from None
        return layout.validate(source)

    def validate(self, source: str = "anchor layout") -> "SsdLayout":
        ok = (self.input_size > 0 and len(self.strides) >= 1 and len(self.strides) == len(self.per_cell)
              and all(s > 0 and self.input_size % s == 0 for s in self.strides)
              and all(k > 0 for k in self.per_cell) and 0.0 <= self.offset <= 1.0)
        if not ok:
            raise InputError("{}: expected strides dividing input_size {} and one positive per_cell count "
                             "per stride, found strides {} per_cell {}".format(
                                 source, self.input_size, list(self.strides), list(self.per_cell)))
        m = self.input_multiple
        if m < 0 or (m and (self.input_size % m or any(m % s for s in self.strides))):
            raise InputError("{}: expected input_multiple 0 or a multiple of every stride {} that divides "
                             "input_size {}, found {}".format(source, list(self.strides), self.input_size, m))
        return self

    def input_for(self, frame_wh: Tuple[int, int], scale: float) -> Tuple[int, int]:
        """(width, height) of the input that holds a ``frame_wh`` frame resized by ``scale``: each side
        rounded up to ``input_multiple`` (the frame keeps its aspect ratio; the rest is padding)."""
        m = self.input_multiple
        if not m:
            raise InputError("anchor layout {}: this model takes only its {}x{} square input".format(
                self.to_dict(), self.input_size, self.input_size))
        return tuple(max(m, -(-int(round(v * scale)) // m) * m) for v in frame_wh)


# MediaPipe face_detection_short_range_common.pbtxt: num_layers 4, strides [8, 16, 16, 16],
# interpolated_scale_aspect_ratio 1.0 → 2 anchors per layer, layers of equal stride share one map:
# 16x16x2 + 8x8x6 = 896. face_detection_full_range_common.pbtxt: one layer, stride 4,
# interpolated_scale_aspect_ratio 0.0 → 1 anchor per cell: 48x48 = 2304. Both networks are fully
# convolutional: the full-range one takes any height/width multiple of 32 (its deepest map, stride 32),
# the short-range one multiples of 16 (checked with ONNX Runtime: other sizes fail in a MaxPool/Pad).
LAYOUTS = {
    "face_detection_short_range": SsdLayout(128, (8, 16), (2, 6), input_multiple=16),
    "face_detection_full_range": SsdLayout(192, (4,), (1,), input_multiple=32),
}


def ssd_anchors(layout: SsdLayout, input_wh: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Anchor centres (x, y) normalised to [0, 1] of the input (default: the square), float32
    (num_anchors, 2), in the model's output order."""
    w, h = input_wh or (layout.input_size, layout.input_size)
    out = []
    for s, k in zip(layout.strides, layout.per_cell):
        gw, gh = w // s, h // s
        ys, xs = np.meshgrid((np.arange(gh, dtype=np.float64) + layout.offset) / gh,
                             (np.arange(gw, dtype=np.float64) + layout.offset) / gw, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(xy, k, axis=0))
    return np.concatenate(out).astype(np.float32)
