"""What every mask family shares: where its top edge sits over the nose, fabric fill, the info record."""
from typing import Dict

import numpy as np

from models.masks import colours
from models.masks.render import Canvas, style_colour

NOSE_COVER = ("over", "tip", "under")  # over the bridge, at the tip, below the nose (nostrils visible)
NOSE_P = (0.7, 0.15, 0.15)


def nose_top(c: Canvas, rng: np.random.Generator, style: Dict) -> (str, float):
    """(coverage, top edge in units): ``style['nose']`` or drawn with ``NOSE_P``. A mask below the nose
    still covers the mouth and counts as worn (``with_mask``); see docs/DATA.md."""
    nose = style.get("nose") or NOSE_COVER[int(rng.choice(3, p=NOSE_P))]
    n = c.span.nose / c.span.unit  # the nose tip, in units (≈ 0.5)
    top = {"over": rng.uniform(0.22, 0.34), "tip": n - rng.uniform(0.0, 0.06),
           "under": n + rng.uniform(0.06, 0.14)}[nose]
    return nose, float(top)


def fabric_fill(c: Canvas, image_bgr, keypoints, rng: np.random.Generator, style: Dict, poly,
                pattern: str = "solid", group=None):
    """Paint the outline with the style's colour and pattern (or ``style['texture']``); returns
    (region mask, info, base colour BGR)."""
    name, base = style_colour(image_bgr, keypoints, rng, style, group)
    info = {"colour": name, "colour_group": colours.colour_group(name), "pattern": style.get("pattern", pattern)}
    if style.get("texture") is not None:
        fill = c.texture(np.asarray(style["texture"]), poly)
        info["pattern"] = "texture"
        base = tuple(int(v) for v in fill[fill.sum(-1) > 0].mean(0)) if (fill.sum(-1) > 0).any() else base
    else:
        other = style.get("other_colour")
        if other is None:
            other = colours.pick(rng)[1]
        fill, extra = c.fabric(rng, base, info["pattern"], other)
        info.update(extra)
        if info["pattern"] == "solid":  # woven cloth: a fine grain
            fill = fill + rng.normal(0, 3.0, fill.shape[:2])[..., None].astype(np.float32)
    region = c.paint(poly, fill)
    return region, info, base


def darker(c, k: float = 0.7):
    return tuple(float(v) * k for v in c)


def lighter(c, k: float = 0.35):
    return tuple(float(v) + (255 - float(v)) * k for v in c)
