"""One synthesized image from one source face: its style (mask family, negative or bare), head roll,
and camera effects (face size, blur, brightness, JPEG, noise) — each recorded in the manifest row.

Family order: variant ``k`` of a person wears a held-out family when ``k % 3 == 1`` and a training
family otherwise, each list cycled from a per-person offset, so every person has images of both
kinds (a test person's held-out images are its test set; a training person's are dropped by the
leave-style-out split, ``models.protocol``).
"""
import hashlib
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from models.masks import FAMILIES, NEGATIVES

DEFAULT_HOLDOUT = ("kn95", "patterned", "gaiter")  # held-out families of the default protocol
NEGATIVE_RATE = 0.2  # share of without_mask images that carry a hard negative
MANIFEST_COLUMNS = ("file", "label", "person", "kind", "family", "colour", "colour_group", "pattern", "nose",
                    "roll", "yaw", "face_px", "blur", "brightness", "jpeg", "noise", "grey", "kp_source", "source")


def _offset(person: str) -> int:
    return int(hashlib.sha256(person.encode()).hexdigest()[:8], 16)


def mask_family(person: str, k: int, holdout: Sequence[str]) -> str:
    """The family variant ``k`` of ``person`` wears (see the module doc)."""
    held = [f for f in FAMILIES if f in holdout]
    train = [f for f in FAMILIES if f not in holdout]
    o = _offset(person)
    if held and (k % 3 == 1 or not train):
        return held[(o + k // 3) % len(held)]
    n = k - (k + 2) // 3 if held else k  # index among this person's training-family variants
    return train[(o + n) % len(train)]


def negative_kind(person: str, k: int, rng: np.random.Generator) -> Optional[str]:
    """A hard negative for variant ``k``'s bare image (``NEGATIVE_RATE`` of them), else None."""
    if rng.uniform() >= NEGATIVE_RATE:
        return None
    return NEGATIVES[(_offset(person) + k) % len(NEGATIVES)]


def face_region(img: np.ndarray, box: Sequence[int], kp: np.ndarray, roll: float, context: float = 1.6,
                max_face: int = 200) -> Tuple[np.ndarray, Tuple[int, int, int, int], np.ndarray]:
    """A square region around the face (``context`` × its size on each side, replicate-padded), turned
    by ``roll`` degrees about the face centre: (region, face box in it, keypoints in it). A face wider
    than ``max_face`` px is scaled down to it first (the crop is smaller still)."""
    import cv2

    x, y, w, h = box
    f = min(1.0, max_face / float(max(w, h)))
    if f < 1.0:
        x0, y0 = max(0, int(x - context * w)), max(0, int(y - context * h))
        x1, y1 = min(img.shape[1], int(x + w + context * w) + 1), min(img.shape[0], int(y + h + context * h) + 1)
        img = cv2.resize(img[y0:y1, x0:x1], (max(1, int((x1 - x0) * f)), max(1, int((y1 - y0) * f))),
                         interpolation=cv2.INTER_AREA)
        kp = (np.asarray(kp, np.float64) - [x0, y0]) * f
        box = ((x - x0) * f, (y - y0) * f, w * f, h * f)
        x, y, w, h = box
        w, h = int(round(w)), int(round(h))
    side = int(max(w, h) * (1 + 2 * context))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    pad = max(0, -x0, -y0, x0 + side - img.shape[1], y0 + side - img.shape[0])
    if pad:
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    region = img[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    kp = np.asarray(kp, np.float64) - [x0, y0]
    c = (cx - x0, cy - y0)
    if roll:
        m = cv2.getRotationMatrix2D(c, -roll, 1.0)  # positive roll: clockwise in the image
        region = cv2.warpAffine(region, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        kp = kp @ m[:, :2].T + m[:, 2]
    else:
        region = region.copy()
    return region, (int(round(c[0] - w / 2.0)), int(round(c[1] - h / 2.0)), w, h), kp


def camera(img: np.ndarray, rng: np.random.Generator, face_px: float) -> Tuple[np.ndarray, Dict]:
    """Camera effects on a face crop: a small face (shrink, then back), blur (defocus or motion),
    brightness, sensor noise and a JPEG quality for writing. ``face_px``: the face's width in the crop."""
    import cv2

    h, w = img.shape[:2]
    info = {"face_px": int(round(face_px)), "blur": 0.0, "brightness": 1.0, "noise": 0.0, "jpeg": 92}
    if rng.uniform() < 0.25:  # a distant face: 32–90 px across
        target = rng.uniform(32, 90)
        if target < face_px:
            f = target / face_px
            small = cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            info["face_px"] = int(round(target))
    if rng.uniform() < 0.2:
        sigma = float(rng.uniform(0.8, 3.0))
        if rng.uniform() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        else:  # motion blur along a random direction
            n = max(3, int(sigma * 3) | 1)
            k = np.zeros((n, n), np.float32)
            k[n // 2] = 1.0 / n
            k = cv2.warpAffine(k, cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(0, 180), 1.0), (n, n))
            img = cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))
        info["blur"] = round(sigma, 2)
    x = img.astype(np.float32)
    if rng.uniform() < 0.3:
        b = float(rng.uniform(0.35, 1.5))
        x *= b
        info["brightness"] = round(b, 2)
    if rng.uniform() < 0.15:
        s = float(rng.uniform(2, 10))
        x += rng.normal(0, s, x.shape).astype(np.float32)
        info["noise"] = round(s, 1)
    if rng.uniform() < 0.25:
        info["jpeg"] = int(rng.integers(30, 80))
    return np.clip(x, 0, 255).astype(np.uint8), info


def pick_style(rng: np.random.Generator) -> Dict:
    """The colour of a mask: 40 % the family's own stock colours, else a colour group with skin-like
    tones a quarter of the time."""
    if rng.uniform() < 0.4:
        return {}
    group = ("skin", "dark", "light", "chromatic")[int(rng.choice(4, p=(0.25, 0.17, 0.18, 0.40)))]
    return {"colour_group": group}
