"""Hard negatives, all ``without_mask``: something near the mouth that is not a worn mask — a hand or a
phone in front of the mouth, a beard, a scarf below the chin, a microphone, a mask pulled down under
the chin (the mouth and nose are bare: not worn)."""
from typing import Dict

import numpy as np

from models.masks import colours
from models.masks.common import darker, fabric_fill, lighter
from models.masks.geometry import CHIN, NECK, across, outline, span
from models.masks.render import Canvas


def _ellipse(cx, cy, rx, ry, angle=0.0, n=32):
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(a), ry * np.sin(a)
    ca, sa = np.cos(angle), np.sin(angle)
    return np.stack([cx + x * ca - y * sa, cy + x * sa + y * ca], 1)


def _capsule(p0, p1, r, n=12):
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    ang = np.arctan2(d[1], d[0])
    a0 = np.linspace(np.pi / 2, 3 * np.pi / 2, n) + ang
    a1 = np.linspace(-np.pi / 2, np.pi / 2, n) + ang
    return np.concatenate([p0 + r * np.stack([np.cos(a0), np.sin(a0)], 1),
                           p1 + r * np.stack([np.cos(a1), np.sin(a1)], 1)])


def _skin(image_bgr, c: Canvas, rng):
    f = c.frame
    cheek = f.to_image(np.array([[f.local[4, 0] * 0.5, f.local[2, 1]]]))[0]
    base = colours.skin_colour(image_bgr, cheek)
    if rng.uniform() < 0.3:  # someone else's hand
        base = colours.bgr(("beige", "tan", "peach", "caramel", "brown", "dark_brown")[rng.integers(6)])
    return colours.jitter(base, rng, 14)


def hand(c: Canvas, image_bgr, keypoints, rng, style) -> Dict:
    u, s = c.span.unit, c.span
    col = _skin(image_bgr, c, rng)
    cx = s.ridge + rng.uniform(-0.3, 0.3) * u
    cy = s.mouth + rng.uniform(-0.1, 0.35) * u
    ang = rng.uniform(-0.6, 0.6) + (np.pi if rng.uniform() < 0.5 else 0.0)
    palm = _ellipse(cx, cy, 0.55 * u, 0.45 * u, ang)
    m = c.paint(palm, np.asarray(col, np.float32))
    d = np.array([np.cos(ang), np.sin(ang)])
    n = np.array([-d[1], d[0]])
    for k in range(4):  # fingers across the mouth
        base = np.array([cx, cy]) + d * 0.4 * u + n * (k - 1.5) * 0.24 * u
        tip = base + d * rng.uniform(0.55, 0.8) * u
        m = np.maximum(m, c.paint(_capsule(base, tip, 0.11 * u), np.asarray(col, np.float32)))
    for k in range(3):
        p = np.array([cx, cy]) + d * 0.42 * u + n * (k - 1.0) * 0.24 * u
        c.line(np.array([p, p + d * 0.5 * u]), darker(col, 0.8), max(1.0, 0.03 * u))
    c.shade(rng, m, curvature=0.2, wrinkles=0)
    return {"colour": "skin", "colour_group": "skin", "pattern": "none"}


def phone(c: Canvas, image_bgr, keypoints, rng, style) -> Dict:
    u, s = c.span.unit, c.span
    name, col = colours.pick(rng, ("dark", "light", "chromatic")[rng.integers(3)])
    cx = s.ridge + rng.uniform(-0.5, 0.5) * u
    cy = s.mouth + rng.uniform(-0.2, 0.3) * u
    w, h = rng.uniform(0.5, 0.7) * u, rng.uniform(1.0, 1.4) * u
    ang = rng.uniform(-0.5, 0.5)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    body = corners @ rot.T + [cx, cy]
    m = c.paint(body, np.asarray(col, np.float32))
    screen = (corners * 0.85) @ rot.T + [cx, cy]
    if rng.uniform() < 0.5:  # the screen side faces the camera
        c.paint(screen, np.asarray((30, 25, 20) if rng.uniform() < 0.6 else lighter((200, 120, 60), 0.3), np.float32))
    else:  # the back: a camera bump
        c.paint(_ellipse(*(np.array([-w * 0.25, -h * 0.3]) @ rot.T + [cx, cy]), 0.1 * u, 0.1 * u),
                np.asarray((20, 20, 20), np.float32))
    col_skin = _skin(image_bgr, c, rng)
    for k in range(2):  # fingers holding it
        p = body[1] + (body[2] - body[1]) * (0.4 + 0.25 * k)
        c.paint(_capsule(p - [0.25 * u, 0], p + [0.1 * u, 0], 0.08 * u), np.asarray(col_skin, np.float32))
    c.shade(rng, m, curvature=0.1, wrinkles=0)
    return {"colour": name, "colour_group": colours.colour_group(name), "pattern": "none"}


def beard(c: Canvas, image_bgr, keypoints, rng, style) -> Dict:
    import cv2

    u, s = c.span.unit, c.span
    name = ("black", "dark_brown", "brown", "grey", "light_grey")[rng.integers(5)]
    col = colours.bgr(name) if name in colours.NAMED_RGB else colours.bgr("grey")
    top = lambda t: 0.75 + 0.1 * np.abs(t)  # noqa: E731
    bottom = lambda t: CHIN + 0.15 - (CHIN + 0.15 - 0.9) * np.abs(t) ** 2  # noqa: E731
    poly = outline(s, top, bottom)
    hair = np.empty((c.h, c.w, 3), np.float32)
    hair[:] = col
    noise = cv2.GaussianBlur(rng.normal(0, 1, (c.h, c.w)).astype(np.float32), (0, 0), max(0.6, u * 0.02))
    hair *= (1 + 0.35 * noise)[..., None]
    c.paint(poly, hair, opacity=rng.uniform(0.75, 0.95))
    mouth = _ellipse(s.ridge, s.mouth, 0.35 * u, 0.12 * u)
    mm = c.poly_mask(mouth)  # the mouth stays visible
    c.alpha *= 1 - mm
    if rng.uniform() < 0.6:  # moustache
        c.paint(outline(s._replace(left=s.ridge - 0.45 * u, right=s.ridge + 0.45 * u),
                        lambda t: 0.72 + 0 * t, lambda t: 0.85 - 0.05 * np.abs(t)), hair, 0.9)
    return {"colour": name, "colour_group": colours.colour_group(name), "pattern": "hair"}


def scarf(c: Canvas, image_bgr, keypoints, rng, style) -> Dict:
    s = span(c.frame, inset=rng.uniform(1.05, 1.2))
    top0 = CHIN - rng.uniform(-0.05, 0.15)
    poly = outline(s, lambda t: top0 + 0.2 * t ** 2, lambda t: NECK + 0.6 + 0 * t)
    pat = ("solid", "plaid", "stripes", "dots", "floral")[rng.integers(5)]
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, dict({"pattern": pat}, **style), poly)
    c.shade(rng, region, curvature=0.4, wrinkles=4)
    return info


def microphone(c: Canvas, image_bgr, keypoints, rng, style) -> Dict:
    u, s = c.span.unit, c.span
    side = rng.choice([-1, 1])
    cx = s.ridge + side * rng.uniform(0.1, 0.5) * u
    cy = s.mouth + rng.uniform(0.1, 0.4) * u
    r = rng.uniform(0.28, 0.4) * u
    ang = np.pi / 2 + side * rng.uniform(0.1, 0.6)
    d = np.array([np.cos(ang), np.sin(ang)])
    handle = _capsule([cx, cy] + d * r * 0.8, [cx, cy] + d * rng.uniform(1.8, 2.6) * u, r * 0.38)
    hcol = ((20, 20, 20), (40, 40, 45), (200, 200, 200))[rng.integers(3)]
    c.paint(handle, np.asarray(hcol, np.float32))
    grille = np.empty((c.h, c.w, 3), np.float32)
    grille[:] = (150, 150, 155)
    yy, xx = np.mgrid[0:c.h, 0:c.w]
    grille[((xx + yy) % 3 == 0) | ((xx - yy) % 3 == 0)] = (90, 90, 95)
    m = c.paint(_ellipse(cx, cy, r, r), grille)
    c.shade(rng, m, curvature=0.1, wrinkles=0)
    return {"colour": "grey", "colour_group": "light", "pattern": "mesh"}


def chin_mask(c: Canvas, image_bgr, keypoints, rng, style) -> Dict:
    """A surgical or cloth mask pulled down under the chin: mouth and nose bare."""
    s = c.span
    top0 = CHIN - rng.uniform(0.05, 0.3)
    bottom0 = NECK + rng.uniform(-0.1, 0.2)
    poly = outline(s._replace(left=s.ridge + (s.left - s.ridge) * 0.85, right=s.ridge + (s.right - s.ridge) * 0.85),
                   lambda t: top0 + 0.15 * t ** 2, lambda t: bottom0 - 0.3 * t ** 2)
    region, info, base = fabric_fill(c, image_bgr, keypoints, rng, style, poly)
    u = s.unit
    for k in (1, 2):
        f = k / 3.0
        ys = (top0 + (bottom0 - top0) * f) * u + np.zeros(10)
        c.line(np.stack([across(s, np.linspace(-0.75, 0.75, 10)), ys], 1), darker(base, 0.75), 0.04 * u)
    c.shade(rng, region, curvature=0.3)
    mid = len(poly) // 2
    from models.masks.render import ear_loops

    ear_loops(c, ((poly[0], poly[-1]), (poly[mid - 1], poly[mid])), (235, 235, 235), 0.04 * u)
    return info

