"""Respirators: KN95 (a folded fish shape with a centre seam, ear loops) and N95 cups (a moulded dome
with head straps), with or without an exhalation valve."""
from typing import Dict

import numpy as np

from models.masks.common import darker, fabric_fill, lighter, nose_top
from models.masks.geometry import CHIN, across, outline
from models.masks.render import Canvas, ear_loops

RESPIRATOR_STOCK = ("white", "white", "black", "light_grey", "charcoal", "surgical_blue", "beige", "light_pink")


def _stock(style, rng):
    if "colour" not in style and "colour_group" not in style and rng.uniform() < 0.6:
        return dict(style, colour=RESPIRATOR_STOCK[rng.integers(len(RESPIRATOR_STOCK))])
    return style


def kn95(c: Canvas, image_bgr, keypoints, rng: np.random.Generator, style: Dict) -> Dict:
    nose, top0 = nose_top(c, rng, style)
    tip = CHIN + rng.uniform(0.05, 0.2)
    side = rng.uniform(0.85, 1.05)
    rise = rng.uniform(0.15, 0.3)
    top = lambda t: top0 + rise * np.abs(t) ** 1.2  # noqa: E731
    bottom = lambda t: tip - (tip - side) * np.abs(t) ** 1.1  # noqa: E731
    poly = outline(c.span, top, bottom)
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, _stock(style, rng), poly)
    u = c.span.unit
    c.line(np.array([[c.span.ridge, top0 * u], [c.span.ridge, tip * u]]), darker(base, 0.75), 0.04 * u)  # seam
    inner = c.span._replace(left=c.span.ridge + (c.span.left - c.span.ridge) * 0.93,
                            right=c.span.ridge + (c.span.right - c.span.ridge) * 0.93)
    c.line(outline(inner, lambda t: top(t) + 0.06, lambda t: bottom(t) - 0.06), darker(base, 0.85), 0.025 * u, True)
    c.line(poly, darker(base, 0.8), max(1.0, 0.03 * u), closed=True)
    c.shade(rng, region, curvature=0.45, wrinkles=1)
    mid = len(poly) // 2
    ear_loops(c, ((poly[0], poly[-1]), (poly[mid - 1], poly[mid])), darker(lighter(base, 0.5), 0.95), 0.035 * u)
    info.update(nose=nose)
    return info


def _cup(c: Canvas, image_bgr, keypoints, rng, style, valve: bool) -> Dict:
    nose, top0 = nose_top(c, rng, dict(style, nose=style.get("nose") or ("over" if rng.uniform() < 0.85 else "tip")))
    bottom0 = CHIN + rng.uniform(0.0, 0.12)
    width = rng.uniform(0.78, 0.92)
    s = c.span._replace(left=c.span.ridge + (c.span.left - c.span.ridge) * width,
                        right=c.span.ridge + (c.span.right - c.span.ridge) * width)
    mid_y = (top0 + bottom0) / 2
    half = (bottom0 - top0) / 2
    top = lambda t: mid_y - half * np.sqrt(np.clip(1 - t ** 2, 0, 1)) ** 0.8  # noqa: E731
    bottom = lambda t: mid_y + half * np.sqrt(np.clip(1 - t ** 2, 0, 1)) ** 0.7  # noqa: E731
    poly = outline(s, top, bottom, 48)
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, _stock(style, rng), poly)
    u = s.unit
    c.shade(rng, region, curvature=0.55, wrinkles=0)
    c.line(poly, darker(base, 0.7), max(1.0, 0.05 * u), closed=True)  # moulded rim
    for side, ear in ((poly[len(poly) // 4], c.frame.local[4]), (poly[3 * len(poly) // 4], c.frame.local[5])):
        for dy in (-0.25, 0.3):  # two head straps
            c.line(np.array([side, [ear[0], ear[1] + dy * u]]), darker(lighter(base, 0.3), 0.9), 0.05 * u)
    if valve:
        vt = rng.choice([-0.4, 0.4]) * rng.uniform(0.7, 1.2)
        cx, cy = float(across(s, np.array([vt]))[0]), (mid_y + rng.uniform(0.0, 0.25)) * u
        r = u * rng.uniform(0.2, 0.3)
        ang = np.linspace(0, 2 * np.pi, 24)
        vcol = style.get("valve_colour") or ((40, 40, 40), (235, 235, 235), (200, 150, 60), base)[rng.integers(4)]
        disk = np.stack([cx + r * np.cos(ang), cy + r * 0.9 * np.sin(ang)], 1)
        m = c.paint(disk, np.asarray(vcol, np.float32))
        c.shade(rng, m, curvature=0.2, wrinkles=0)
        c.line(disk, darker(vcol, 0.6), max(1.0, 0.04 * u), closed=True)
        for k in range(-2, 3):  # ribs
            c.line(np.array([[cx - r * 0.6, cy + k * r * 0.25], [cx + r * 0.6, cy + k * r * 0.25]]),
                   darker(vcol, 0.75), max(1.0, 0.025 * u))
        info["valve_side"] = "image_left" if vt < 0 else "image_right"
    info.update(nose=nose, valve=valve)
    return info


def n95(c, image_bgr, keypoints, rng, style) -> Dict:
    return _cup(c, image_bgr, keypoints, rng, style, valve=False)


def n95_valve(c, image_bgr, keypoints, rng, style) -> Dict:
    return _cup(c, image_bgr, keypoints, rng, style, valve=True)
