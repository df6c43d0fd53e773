"""Fabric patterns on a mask canvas (float32 BGR, H×W×3): solid, dots, stripes, plaid, floral, logo, camo."""
from typing import Dict, Tuple

import numpy as np

PATTERNS = ("solid", "dots", "stripes", "plaid", "floral", "logo", "camo")


def pattern(kind: str, shape: Tuple[int, int], base, other, rng: np.random.Generator, scale: float) -> Tuple[
        np.ndarray, Dict]:
    """A (H, W, 3) float32 layer of ``kind`` in colours ``base``/``other`` (BGR); ``scale`` ≈ the face's
    eye-to-mouth distance in px, so a pattern keeps its size on the face. Returns (layer, info)."""
    import cv2

    h, w = shape
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    other = tuple(float(v) for v in other)
    info = {"pattern": kind}
    period = max(3.0, scale * rng.uniform(0.18, 0.45))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "dots":
        r = period * rng.uniform(0.15, 0.32)
        off = (yy // period) % 2 * period / 2 if rng.uniform() < 0.5 else 0  # staggered rows
        sel = ((xx + off) % period - period / 2) ** 2 + (yy % period - period / 2) ** 2 < r * r
        img[sel] = other
    elif kind == "stripes":
        a = rng.choice([0.0, np.pi / 2, np.pi / 4, -np.pi / 4, rng.uniform(0, np.pi)])
        s = (xx * np.cos(a) + yy * np.sin(a)) % period < period * rng.uniform(0.3, 0.6)
        img[s] = other
    elif kind == "plaid":
        third = tuple(float(v) for v in rng.integers(0, 256, 3))
        a = (xx % period) < period * 0.35
        b = (yy % period) < period * 0.35
        img[a] = other
        img[b] = 0.5 * img[b] + 0.5 * np.asarray(third, np.float32)
        img[a & b] = 0.5 * np.asarray(other, np.float32) + 0.5 * np.asarray(third, np.float32)
        fine = ((xx + period / 2) % period < max(1, period * 0.08)) | ((yy + period / 2) % period < max(1, period * 0.08))
        img[fine] = img[fine] * 0.6
    elif kind == "floral":
        third = tuple(float(v) for v in rng.integers(0, 256, 3))
        n = int(w * h / (period * period) * rng.uniform(0.4, 0.9)) + 1
        for _ in range(n):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = period * rng.uniform(0.2, 0.4)
            for p in range(5):
                a = 2 * np.pi * p / 5 + rng.uniform(0, 1)
                cv2.circle(img, (int(cx + r * np.cos(a)), int(cy + r * np.sin(a))), max(1, int(r * 0.55)), other,
                           -1, cv2.LINE_AA)
            cv2.circle(img, (int(cx), int(cy)), max(1, int(r * 0.35)), third, -1, cv2.LINE_AA)
    elif kind == "logo":
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.45, 0.7) * h
        r = scale * rng.uniform(0.15, 0.3)
        shape_kind = ("text", "circle", "star", "tick")[rng.integers(4)]
        info["logo"] = shape_kind
        if shape_kind == "text":
            txt = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, rng.integers(1, 4)))
            cv2.putText(img, txt, (int(cx - r * len(txt) * 0.6), int(cy + r * 0.5)), cv2.FONT_HERSHEY_SIMPLEX,
                        max(0.2, r / 14.0), other, max(1, int(r / 6)), cv2.LINE_AA)
        elif shape_kind == "circle":
            cv2.circle(img, (int(cx), int(cy)), max(1, int(r)), other, -1, cv2.LINE_AA)
        else:
            k = 10 if shape_kind == "star" else 3
            ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
            rad = np.where(np.arange(k) % 2 == 0, r, r * 0.45) if shape_kind == "star" else np.array([r, r * 0.3, r])
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
            if shape_kind == "star":
                cv2.fillPoly(img, [pts], other, cv2.LINE_AA)
            else:
                cv2.polylines(img, [pts], False, other, max(1, int(r / 4)), cv2.LINE_AA)
    elif kind == "camo":
        n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), max(1.0, period / 3))
        img[n > np.percentile(n, 55)] = other
    return img, info
