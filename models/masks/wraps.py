"""Face coverings that wrap: a bandana (a folded triangle tied behind the head, its point below the
chin) and a neck gaiter (a stretchy tube pulled up over the nose, covering the neck)."""
from typing import Dict

import numpy as np

from models.masks.common import darker, fabric_fill, lighter, nose_top
from models.masks.geometry import NECK, across, outline, span
from models.masks.render import Canvas

BANDANA_PRINTS = ("solid", "dots", "floral", "solid", "stripes")
GAITER_PRINTS = ("solid", "solid", "camo", "stripes", "dots", "plaid")


def bandana(c: Canvas, image_bgr, keypoints, rng: np.random.Generator, style: Dict) -> Dict:
    nose, top0 = nose_top(c, rng, style)
    s = span(c.frame, inset=rng.uniform(1.0, 1.08))
    point = NECK + rng.uniform(-0.2, 0.3)
    side = rng.uniform(0.9, 1.2)
    skew = rng.uniform(-0.15, 0.15)
    top = lambda t: top0 + 0.06 * t ** 2  # noqa: E731
    bottom = lambda t: point - (point - side) * np.abs(t - skew) ** 0.9  # noqa: E731
    poly = outline(s, top, bottom)
    style = dict({"pattern": BANDANA_PRINTS[rng.integers(len(BANDANA_PRINTS))]}, **style)
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, style, poly)
    u = s.unit
    c.line(np.stack([across(s, np.linspace(-1, 1, 20)), (top(np.linspace(-1, 1, 20)) + 0.06) * u], 1),
           darker(base, 0.7), 0.05 * u)  # the fold
    for k in range(int(rng.integers(2, 5))):  # drape folds towards the point
        t0 = rng.uniform(-0.7, 0.7)
        c.line(np.array([[float(across(s, np.array([t0]))[0]), (top0 + 0.3) * u],
                         [float(across(s, np.array([skew * 0.5]))[0]), (point - 0.3) * u]]),
               darker(base, 0.8), 0.04 * u)
    c.shade(rng, region, curvature=0.35, wrinkles=3)
    info.update(nose=nose)
    return info


def gaiter(c: Canvas, image_bgr, keypoints, rng: np.random.Generator, style: Dict) -> Dict:
    nose, top0 = nose_top(c, rng, style)
    s = span(c.frame, inset=rng.uniform(1.02, 1.12))
    bottom0 = NECK + 0.55
    top = lambda t: top0 + 0.1 * t ** 2  # noqa: E731
    bottom = lambda t: bottom0 + 0 * t  # noqa: E731
    poly = outline(s, top, bottom)
    style = dict({"pattern": GAITER_PRINTS[rng.integers(len(GAITER_PRINTS))]}, **style)
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, style, poly)
    u = s.unit
    xs = across(s, np.linspace(-1, 1, 24))
    for y in np.sort(rng.uniform(1.5, NECK + 0.3, int(rng.integers(2, 5)))):  # ruching: bunched folds
        wave = y + 0.05 * np.sin(np.linspace(0, rng.uniform(4, 9), 24))
        c.line(np.stack([xs, wave * u], 1), darker(base, 0.7), 0.05 * u)
        c.line(np.stack([xs, (wave - 0.05) * u], 1), lighter(base, 0.2), 0.03 * u)
    c.shade(rng, region, curvature=0.45, wrinkles=4)
    info.update(nose=nose)
    return info
