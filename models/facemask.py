"""Draw a face mask over the lower half of a real face, from a face box: the masked faces of the bundled
sample video and of ``bench/detectors.py``. ``edge data synth`` uses its successor, ``models.masks``
(eight families placed by BlazeFace keypoints, following roll and yaw).

The mask covers the face box from just below the eyes (≈ 52 % of its height) to below the chin, ear to
ear, as a smooth polygon with the pleats and ear loops of a surgical or cloth mask.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

COLOURS_BGR = (
    (235, 200, 150),  # surgical blue
    (245, 245, 245),  # white
    (40, 40, 40),     # black
    (170, 170, 170),  # grey
    (120, 160, 60),   # teal
    (200, 170, 230),  # pink
)


def mask_polygon(box: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Outline (N×2 int32, image coordinates) of a mask for face box (x, y, w, h), with random jitter."""
    x, y, w, h = box
    top = y + h * rng.uniform(0.50, 0.58)
    bottom = y + h * rng.uniform(0.98, 1.08)
    left, right = x + w * rng.uniform(0.06, 0.14), x + w * rng.uniform(0.86, 0.94)
    cx = (left + right) / 2
    t = np.linspace(0, np.pi, 24)
    # upper edge: a gentle arch over the nose; lower edge: a rounded chin
    upper = np.stack([cx - (right - left) / 2 * np.cos(t), top - h * 0.04 * np.sin(t)], 1)
    lower = np.stack([cx + (right - left) / 2 * np.cos(t), top + (bottom - top) * (0.55 + 0.45 * np.sin(t))], 1)
    return np.round(np.concatenate([upper, lower])).astype(np.int32)


def draw_mask(img: np.ndarray, box: Sequence[int], rng: Optional[np.random.Generator] = None,
              colour: Optional[Tuple[int, int, int]] = None, texture: Optional[np.ndarray] = None) -> np.ndarray:
    """A copy of BGR ``img`` with a mask drawn on the face in ``box``; ``texture`` (BGR) fills it if given."""
    import cv2

    rng = rng or np.random.default_rng()
    out = img.copy()
    poly = mask_polygon(box, rng)
    fill = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(fill, [poly], 255)
    if texture is not None:
        x0, y0, w0, h0 = cv2.boundingRect(poly)
        patch = cv2.resize(texture, (max(w0, 1), max(h0, 1)))
        layer = np.zeros_like(img)
        ys, xs = slice(max(y0, 0), min(y0 + h0, img.shape[0])), slice(max(x0, 0), min(x0 + w0, img.shape[1]))
        layer[ys, xs] = patch[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    else:
        c = colour or COLOURS_BGR[rng.integers(len(COLOURS_BGR))]
        layer = np.empty_like(img)
        layer[:] = c
        shade = rng.uniform(0.85, 1.0)
        layer = (layer * shade).astype(np.uint8)
    out[fill > 0] = layer[fill > 0]
    x, y, w, h = box
    edge = tuple(int(v * 0.7) for v in (layer[fill > 0].mean(axis=0) if (fill > 0).any() else (128, 128, 128)))
    top, bottom = poly[:, 1].min(), poly[:, 1].max()
    for k in (1, 2, 3):  # pleats
        yy = int(top + (bottom - top) * k / 4.5)
        cv2.line(out, (int(x + w * 0.18), yy), (int(x + w * 0.82), yy), edge, max(1, w // 80), cv2.LINE_AA)
    cv2.polylines(out, [poly], True, edge, max(1, w // 60), cv2.LINE_AA)
    for side in (poly[0], poly[len(poly) // 2 - 1]):  # ear loops
        cv2.line(out, tuple(int(v) for v in side), (int(side[0] + (x - side[0]) * 0.5 if side[0] < x + w / 2
                 else side[0] + (x + w - side[0]) * 0.5), int(y + h * 0.45)), edge, max(1, w // 70), cv2.LINE_AA)
    return out
