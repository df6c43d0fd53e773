"""Mask synthesis placed by BlazeFace's 6 keypoints: every family of mask a camera sees, and the hard
negatives that are not masks.

    >>> from models.masks import FAMILIES, NEGATIVES, draw_mask, draw_negative, colour_group
    >>> out, info = draw_mask(img_bgr, keypoints_xy, "surgical", np.random.default_rng(0), colour="white")
    >>> info["family"], info["colour_group"]
    ('surgical', 'light')

``keypoints_xy``: (6, 2) float pixels in BlazeFace order (right eye, left eye, nose tip, mouth, right
ear, left ear — the person's right is the image's left). The mask is drawn in the face's own frame
(``geometry``) and warped onto the image, so it follows roll; its outline comes from the keypoints'
projections, so it follows yaw. ``style`` keywords (all optional): ``colour`` (a name from
``colours.NAMED_RGB`` or a BGR tuple), ``colour_group`` (skin/dark/light/chromatic), ``pattern``
(``textures.PATTERNS``), ``other_colour`` (the pattern's second colour), ``texture`` (a BGR image to
stretch over the mask), ``nose`` (over/tip/under: a mask below the nose still counts as worn).

Families (one file per group): surgical (``surgical``), kn95 / n95 / n95_valve (``respirators``),
cloth / patterned (``cloth``), bandana / gaiter (``wraps``). Negatives (``negatives``, all
``without_mask``): hand, phone, beard, scarf, microphone, chin_mask (a mask pulled under the chin).
"""
from typing import Callable, Dict, FrozenSet, Tuple

import numpy as np

from models.masks import cloth, negatives, respirators, surgical, wraps
from models.masks.colours import SKIN_TONED, colour_group  # noqa: F401
from models.masks.geometry import face_frame
from models.masks.render import Canvas

_FAMILY_DRAW: Dict[str, Callable] = {  # family → draw(canvas, image, keypoints, rng, style) -> info; the registry, in order
    "surgical": surgical.draw,
    "kn95": respirators.kn95,
    "n95": respirators.n95,
    "n95_valve": respirators.n95_valve,
    "cloth": cloth.cloth,
    "patterned": cloth.patterned,
    "bandana": wraps.bandana,
    "gaiter": wraps.gaiter,
}
_NEGATIVE_DRAW: Dict[str, Callable] = {
    "hand": negatives.hand,
    "phone": negatives.phone,
    "beard": negatives.beard,
    "scarf": negatives.scarf,
    "microphone": negatives.microphone,
    "chin_mask": negatives.chin_mask,
}

FAMILIES: Tuple[str, ...] = tuple(_FAMILY_DRAW)
NEGATIVES: Tuple[str, ...] = tuple(_NEGATIVE_DRAW)
SKIN_TONED: FrozenSet[str] = SKIN_TONED
LABELS = {"mask": "with_mask", "negative": "without_mask", "bare": "without_mask"}


def _check(keypoints_xy, image_bgr) -> np.ndarray:
    k = np.asarray(keypoints_xy, np.float64)
    if k.shape != (6, 2) or not np.isfinite(k).all():
        raise ValueError("expected keypoints (6, 2) in BlazeFace order, found shape {}".format(k.shape))
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError("expected a BGR uint8 image (H, W, 3), found {} {}".format(image_bgr.dtype, image_bgr.shape))
    return k


def _draw(table, what, image_bgr, keypoints_xy, name, rng, style) -> Tuple[np.ndarray, Dict]:
    if name not in table:
        raise ValueError("unknown {} '{}' (known: {})".format(what, name, ", ".join(table)))
    k = _check(keypoints_xy, image_bgr)
    frame = face_frame(k)
    c = Canvas(frame)
    info = table[name](c, image_bgr, k, rng, dict(style))
    info = dict(info, roll=round(frame.roll, 1), yaw=round(frame.yaw, 2), face_unit=round(frame.unit, 1))
    return c.composite(image_bgr), info


def draw_mask(image_bgr: np.ndarray, keypoints_xy, family: str, rng: np.random.Generator,
              **style) -> Tuple[np.ndarray, Dict]:
    """A copy of ``image_bgr`` with a ``family`` mask on the face at ``keypoints_xy``, and what was drawn
    (family, colour, colour_group, pattern, nose coverage, roll, yaw, …). Label: ``with_mask``."""
    out, info = _draw(_FAMILY_DRAW, "mask family", image_bgr, keypoints_xy, family, rng, style)
    return out, dict(info, family=family, kind="mask", label=LABELS["mask"])


def draw_negative(image_bgr: np.ndarray, keypoints_xy, kind: str, rng: np.random.Generator,
                  **style) -> Tuple[np.ndarray, Dict]:
    """A copy of ``image_bgr`` with a hard negative ``kind`` (``NEGATIVES``) near the mouth, and its info.
    Label: ``without_mask`` (not a worn mask)."""
    out, info = _draw(_NEGATIVE_DRAW, "negative", image_bgr, keypoints_xy, kind, rng, style)
    return out, dict(info, family=kind, kind="negative", label=LABELS["negative"])


def label_of(style: str) -> str:
    """The class a style's images belong to: a mask family → with_mask, a negative or "bare" → without_mask."""
    if style in _FAMILY_DRAW:
        return "with_mask"
    if style in _NEGATIVE_DRAW or style == "bare":
        return "without_mask"
    raise ValueError("unknown style '{}'".format(style))


__all__ = ["FAMILIES", "NEGATIVES", "SKIN_TONED", "colour_group", "draw_mask", "draw_negative", "label_of"]
