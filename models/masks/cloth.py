"""Cloth masks: a fitted two-panel shape with a centre seam that rises over the nose, in a solid colour
(``cloth``) or a printed pattern (``patterned``: dots, stripes, plaid, florals, logos, camo)."""
from typing import Dict

import numpy as np

from models.masks.common import darker, fabric_fill, nose_top
from models.masks.geometry import CHIN, outline
from models.masks.render import Canvas, ear_loops
from models.masks.textures import PATTERNS

PRINTS = tuple(p for p in PATTERNS if p != "solid")


def _shape(c: Canvas, rng, style):
    nose, top0 = nose_top(c, rng, style)
    bottom0 = CHIN + rng.uniform(0.05, 0.2)
    side = rng.uniform(0.9, 1.1)
    rise = rng.uniform(0.12, 0.3)
    top = lambda t: top0 + rise * np.abs(t) ** 1.4  # noqa: E731
    bottom = lambda t: bottom0 - (bottom0 - side) * t ** 2  # noqa: E731
    return nose, outline(c.span, top, bottom), top0, bottom0


def _finish(c: Canvas, rng, region, base, poly, top0, bottom0) -> None:
    u = c.span.unit
    t = np.linspace(top0, bottom0, 12)
    seam = np.stack([c.span.ridge + 0.05 * u * np.sin(np.linspace(0, np.pi, 12)), t * u], 1)
    c.line(seam, darker(base, 0.7), max(1.0, 0.035 * u))
    c.shade(rng, region, curvature=0.4, wrinkles=4)
    c.line(poly, darker(base, 0.75), max(1.0, 0.04 * u), closed=True)
    mid = len(poly) // 2
    ear_loops(c, ((poly[0], poly[-1]), (poly[mid - 1], poly[mid])), darker(base, 0.85), 0.06 * u)


def cloth(c: Canvas, image_bgr, keypoints, rng: np.random.Generator, style: Dict) -> Dict:
    nose, poly, top0, bottom0 = _shape(c, rng, style)
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, dict({"pattern": "solid"}, **style), poly)
    _finish(c, rng, region, base, poly, top0, bottom0)
    info.update(nose=nose)
    return info


def patterned(c: Canvas, image_bgr, keypoints, rng: np.random.Generator, style: Dict) -> Dict:
    nose, poly, top0, bottom0 = _shape(c, rng, style)
    style = dict({"pattern": PRINTS[rng.integers(len(PRINTS))]}, **style)
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, style, poly)
    _finish(c, rng, region, base, poly, top0, bottom0)
    info.update(nose=nose)
    return info
