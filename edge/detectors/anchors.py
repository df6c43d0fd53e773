"""SSD anchor layouts of the BlazeFace models, and the anchor centres they generate.

A layout says how the model tiles its square input: one feature map per distinct stride, ``per_cell``
anchors in every cell of that map, anchors ordered map by map, row by row, cell by cell (MediaPipe's
``SsdAnchorsCalculator`` with fixed-size anchors, as its face-detection graphs configure it).

    >>> layout = LAYOUTS["face_detection_full_range"]
    >>> layout.num_anchors                     # 48 x 48 cells x 1
    2304
    >>> ssd_anchors(layout).shape               # (x, y) centres in [0, 1]
    (2304, 2)
"""
from typing import Any, Dict, Mapping, NamedTuple, Tuple

import numpy as np

from edge.errors import InputError


class SsdLayout(NamedTuple):
    """Anchor layout of a square SSD detector input."""

    input_size: int               # side of the square input, pixels
    strides: Tuple[int, ...]      # one per feature map, e.g. (8, 16): 16x16 and 8x8 cells for 128 px
    per_cell: Tuple[int, ...]     # anchors per cell, one entry per stride
    offset: float = 0.5           # anchor centre inside its cell (0.5 = middle)

    @property
    def grids(self) -> Tuple[int, ...]:
        return tuple(self.input_size // s for s in self.strides)

    @property
    def num_anchors(self) -> int:
        return int(sum(g * g * k for g, k in zip(self.grids, self.per_cell)))

    def to_dict(self) -> Dict[str, Any]:
        return {"input_size": self.input_size, "strides": list(self.strides),
                "per_cell": list(self.per_cell), "offset": self.offset}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "anchor layout") -> "SsdLayout":
        try:
            layout = cls(int(data["input_size"]), tuple(int(s) for s in data["strides"]),
                         tuple(int(k) for k in data["per_cell"]), float(data.get("offset", 0.5)))
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
        return self


# MediaPipe face_detection_short_range_common.pbtxt: num_layers 4, strides [8, 16, 16, 16],
# interpolated_scale_aspect_ratio 1.0 → 2 anchors per layer, layers of equal stride share one map:
# 16x16x2 + 8x8x6 = 896. face_detection_full_range_common.pbtxt: one layer, stride 4,
# interpolated_scale_aspect_ratio 0.0 → 1 anchor per cell: 48x48 = 2304.
LAYOUTS = {
    "face_detection_short_range": SsdLayout(128, (8, 16), (2, 6)),
    "face_detection_full_range": SsdLayout(192, (4,), (1,)),
}


def ssd_anchors(layout: SsdLayout) -> np.ndarray:
    """Anchor centres (x, y) normalised to [0, 1], float32 (num_anchors, 2), in the model's output order."""
    out = []
    for grid, k in zip(layout.grids, layout.per_cell):
        c = (np.arange(grid, dtype=np.float64) + layout.offset) / grid
        ys, xs = np.meshgrid(c, c, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(xy, k, axis=0))
    return np.concatenate(out).astype(np.float32)
