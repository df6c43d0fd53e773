"""Surgical (procedure) masks: a pleated rectangle with a bound edge, a nose wire and ear loops."""
from typing import Dict

import numpy as np

from models.masks.common import darker, fabric_fill, lighter, nose_top
from models.masks.geometry import CHIN, across, outline
from models.masks.render import Canvas

STOCK = ("surgical_blue", "white", "black", "light_pink", "surgical_green", "light_grey", "navy")


def draw(c: Canvas, image_bgr, keypoints, rng: np.random.Generator, style: Dict) -> Dict:
    nose, top0 = nose_top(c, rng, style)
    bottom0 = CHIN + rng.uniform(0.0, 0.12)
    side = rng.uniform(0.95, 1.15)  # where the lower corners sit (units)
    arc = rng.uniform(0.0, 0.12)
    top = lambda t: top0 + arc * t ** 2  # noqa: E731
    bottom = lambda t: bottom0 - (bottom0 - side) * np.abs(t) ** 2.5  # noqa: E731
    poly = outline(c.span, top, bottom)
    if "colour" not in style and "colour_group" not in style and rng.uniform() < 0.6:
        style = dict(style, colour=STOCK[rng.integers(len(STOCK))])
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, style, poly)
    u = c.span.unit
    t = np.linspace(-0.92, 0.92, 30)
    xs = across(c.span, t)
    pleats = int(rng.integers(2, 4))
    for k in range(1, pleats + 1):  # folds: a shadow under a highlight
        f = k / (pleats + 1.0)
        ys = (top(t) + (bottom(t) - top(t)) * f) * u
        c.line(np.stack([xs, ys + 0.03 * u], 1), darker(base, 0.72), 0.05 * u)
        c.line(np.stack([xs, ys], 1), lighter(base, 0.25), 0.025 * u)
    c.line(poly, darker(base, 0.8), max(1.0, 0.05 * u), closed=True)  # bound edge
    if nose == "over":
        c.line(np.stack([across(c.span, np.linspace(-0.35, 0.35, 10)), (top(np.linspace(-0.35, 0.35, 10)) + 0.05) * u],
                        1), lighter(base, 0.4), 0.04 * u)
    c.shade(rng, region, curvature=0.3)
    corners = ((poly[0], poly[-1]), (poly[len(poly) // 2 - 1], poly[len(poly) // 2]))
    loop = (240, 240, 240) if rng.uniform() < 0.6 else base
    from models.masks.render import ear_loops

    ear_loops(c, corners, darker(loop, 0.95), max(1.0, 0.04 * u))
    info.update(nose=nose, pleats=pleats)
    return info
