"""Mask colours by name and group: the whole hue wheel, skin-like tones, black, white and greys.

Groups: ``skin`` (beige, tan, peach, pink, brown…, and ``skin_match``: the wearer's own skin colour),
``dark`` (black, charcoal, navy), ``light`` (white, light grey, cream) and ``chromatic`` (a hue anywhere
on the wheel, named by its hue bin). Skin-like masks are the hard case for a classifier that looks
for "a colour unlike skin over the mouth", so evaluation reports them apart.
"""
import colorsys
from typing import FrozenSet, Optional, Tuple

import numpy as np

GROUPS = ("skin", "dark", "light", "chromatic")

NAMED_RGB = {  # name: (R, G, B)
    # skin-like
    "beige": (225, 198, 160), "tan": (205, 160, 115), "peach": (250, 200, 165), "light_pink": (248, 200, 205),
    "pink": (240, 165, 180), "rose": (215, 140, 140), "caramel": (175, 120, 75), "brown": (130, 85, 55),
    "dark_brown": (85, 55, 38), "nude": (235, 185, 160),
    # dark
    "black": (22, 22, 24), "charcoal": (60, 62, 66), "navy": (30, 40, 80),
    # light
    "white": (246, 246, 244), "light_grey": (200, 202, 205), "cream": (245, 240, 220), "grey": (150, 150, 152),
    # chromatic stock colours (the rest of the wheel comes from random hues)
    "surgical_blue": (150, 200, 235), "surgical_green": (150, 215, 190), "sky_blue": (135, 195, 240),
    "teal": (40, 150, 140), "red": (200, 30, 40), "olive": (110, 120, 50),
}
SKIN_TONED: FrozenSet[str] = frozenset(n for n in ("beige", "tan", "peach", "light_pink", "pink", "rose", "caramel", "brown",
                                   "dark_brown", "nude", "skin_match"))
_GROUP = dict({n: "skin" for n in SKIN_TONED}, black="dark", charcoal="dark", navy="dark", white="light",
              light_grey="light", cream="light", grey="light")
HUE_NAMES = ("red", "orange", "yellow", "lime", "green", "teal", "cyan", "sky", "blue", "violet", "magenta",
             "crimson")


def colour_group(name: str) -> str:
    """``skin`` / ``dark`` / ``light`` / ``chromatic`` for a colour name (hue names are chromatic)."""
    return _GROUP.get(name, "chromatic")


def bgr(name: str) -> Tuple[int, int, int]:
    r, g, b = NAMED_RGB[name]
    return (b, g, r)


def hue_colour(rng: np.random.Generator, sat=(0.35, 1.0), val=(0.3, 1.0)) -> Tuple[str, Tuple[int, int, int]]:
    """A colour anywhere on the hue wheel: (hue-bin name, BGR)."""
    h = rng.uniform()
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return "hue_" + HUE_NAMES[int(h * len(HUE_NAMES)) % len(HUE_NAMES)], (int(b * 255), int(g * 255), int(r * 255))


def skin_colour(image_bgr: np.ndarray, cheek_xy) -> Tuple[int, int, int]:
    """The median colour of a small patch at ``cheek_xy`` (the wearer's skin)."""
    h, w = image_bgr.shape[:2]
    x, y = int(np.clip(cheek_xy[0], 0, w - 1)), int(np.clip(cheek_xy[1], 0, h - 1))
    r = max(2, min(h, w) // 40)
    patch = image_bgr[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].reshape(-1, 3)
    return tuple(int(v) for v in np.median(patch, axis=0))


def pick(rng: np.random.Generator, group: Optional[str] = None, skin: Optional[Tuple[int, int, int]] = None,
         weights=(0.25, 0.15, 0.15, 0.45)) -> Tuple[str, Tuple[int, int, int]]:
    """(name, BGR) of a random colour, from ``group`` or from a group drawn with ``weights``
    (skin, dark, light, chromatic). ``skin`` (the wearer's colour) makes ``skin_match`` possible."""
    if group is None:
        group = GROUPS[int(rng.choice(len(GROUPS), p=np.asarray(weights) / np.sum(weights)))]
    if group == "chromatic":
        if rng.uniform() < 0.3:
            name = ("surgical_blue", "surgical_green", "sky_blue", "teal", "red", "olive")[rng.integers(6)]
            return name, jitter(bgr(name), rng)
        return hue_colour(rng)
    names = sorted(n for n in NAMED_RGB if colour_group(n) == group)
    if group == "skin" and skin is not None and rng.uniform() < 0.3:
        return "skin_match", jitter(skin, rng, 10)
    name = names[rng.integers(len(names))]
    return name, jitter(bgr(name), rng)


def jitter(c, rng: np.random.Generator, amount: float = 12) -> Tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.asarray(c, np.float64) + rng.normal(0, amount / 2, 3), 0, 255))
