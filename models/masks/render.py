"""Drawing on the face-frame canvas and putting the canvas on the image.

A ``Canvas`` is a float32 BGR layer plus an alpha plane, in face-frame pixels (see ``geometry``);
families fill outlines on it, add folds and shading, then ``Canvas.composite`` warps it into the
image with the face frame's affine map (so roll and yaw come for free).
"""
from typing import Dict, Optional, Tuple

import numpy as np

from models.masks import colours, textures
from models.masks.geometry import CHIN, NECK, FaceFrame, face_frame, span


class Canvas:
    def __init__(self, frame: FaceFrame, margin: float = 0.6):
        self.frame = frame
        self.span = span(frame)
        s, u = self.span, frame.unit
        loc = frame.local
        x0 = min(loc[:, 0].min(), s.left) - margin * u
        x1 = max(loc[:, 0].max(), s.right) + margin * u
        y0, y1 = -0.8 * u, (NECK + 0.6) * u
        self.origin = (float(x0), float(y0))
        self.w, self.h = int(np.ceil(x1 - x0)) + 1, int(np.ceil(y1 - y0)) + 1
        self.layer = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)

    def px(self, pts) -> np.ndarray:
        """Frame px → canvas px (float)."""
        return np.asarray(pts, np.float64) - np.asarray(self.origin)

    def poly_mask(self, poly) -> np.ndarray:
        """An anti-aliased [0, 1] mask of a frame-px polygon."""
        import cv2

        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [np.round(self.px(poly) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        return m.astype(np.float32) / 255.0

    def paint(self, poly, fill: np.ndarray, opacity: float = 1.0) -> np.ndarray:
        """Paint ``fill`` (H×W×3 layer or a BGR colour) inside ``poly``; returns the polygon's mask."""
        m = self.poly_mask(poly) * opacity
        f = np.broadcast_to(np.asarray(fill, np.float32), self.layer.shape)
        self.layer = self.layer * (1 - m[..., None]) + f * m[..., None]
        self.alpha = np.maximum(self.alpha, m)
        return m

    def line(self, pts, colour, width: float, closed: bool = False) -> None:
        import cv2

        m = np.zeros((self.h, self.w), np.uint8)
        cv2.polylines(m, [np.round(self.px(pts) * 4).astype(np.int32)], closed, 255,
                      max(1, int(round(width))), cv2.LINE_AA, shift=2)
        a = m.astype(np.float32) / 255.0
        self.layer = self.layer * (1 - a[..., None]) + np.asarray(colour, np.float32) * a[..., None]
        self.alpha = np.maximum(self.alpha, a)

    def fabric(self, rng: np.random.Generator, base, kind: str = "solid", other=None) -> Tuple[np.ndarray, Dict]:
        """A full-canvas pattern layer in ``base`` (and ``other``) colours."""
        if other is None:
            other = colours.pick(rng)[1]
        layer, info = textures.pattern(kind, (self.h, self.w), base, other, rng, self.frame.unit)
        return layer, info

    def texture(self, tex_bgr: np.ndarray, poly) -> np.ndarray:
        """A texture image stretched over the polygon's bounding box, as a full-canvas layer."""
        import cv2

        p = self.px(poly)
        x0, y0 = np.floor(p.min(0)).astype(int)
        x1, y1 = np.ceil(p.max(0)).astype(int)
        layer = np.zeros_like(self.layer)
        ww, hh = max(1, x1 - x0), max(1, y1 - y0)
        patch = cv2.resize(tex_bgr, (ww, hh)).astype(np.float32)
        ys, xs = slice(max(y0, 0), min(y1, self.h)), slice(max(x0, 0), min(x1, self.w))
        layer[ys, xs] = patch[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        return layer

    def shade(self, rng: np.random.Generator, region: np.ndarray, curvature: float = 0.35,
              wrinkles: int = 3) -> Dict:
        """Light the painted fabric: a cylinder falloff across the face, a random light direction, soft
        wrinkles; only where ``region`` > 0."""
        import cv2

        s = self.span
        xs = np.arange(self.w, dtype=np.float32) + self.origin[0]
        t = np.where(xs < s.ridge, (xs - s.ridge) / max(s.ridge - s.left, 1), (xs - s.ridge) / max(s.right - s.ridge, 1))
        g = 1 - curvature * np.clip(t, -1.3, 1.3) ** 2
        ys = np.arange(self.h, dtype=np.float32)[:, None] + self.origin[1]
        d = rng.uniform(-1, 1, 2)
        light = 1 + 0.15 * (d[0] * t[None, :] + d[1] * (ys / (CHIN * s.unit) - 1))
        f = np.clip(g[None, :] * light, 0.35, 1.3)
        n = int(rng.integers(0, wrinkles + 1))
        if n:
            wr = np.zeros((self.h, self.w), np.float32)
            for _ in range(n):
                x0, y0 = rng.uniform(0, self.w), rng.uniform(0.3, 0.8) * self.h
                pts = np.array([[x0 + k * self.w * 0.08, y0 + rng.normal(0, self.h * 0.02)]
                                for k in range(-3, 4)], np.int32)
                cv2.polylines(wr, [pts], False, float(rng.choice([-1, 1])), max(1, int(s.unit * 0.05)), cv2.LINE_AA)
            wr = cv2.GaussianBlur(wr, (0, 0), max(0.8, s.unit * 0.04))
            f = f * (1 + 0.18 * wr)
        sel = region > 0
        self.layer[sel] *= f[sel][:, None]
        return {"wrinkles": n, "light": [round(float(v), 2) for v in d]}

    def composite(self, image_bgr: np.ndarray) -> np.ndarray:
        """The image with the canvas warped onto it by the face frame's affine map."""
        import cv2

        h, w = image_bgr.shape[:2]
        m = self.frame.affine(self.origin)
        layer = cv2.warpAffine(np.clip(self.layer, 0, 255), m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
        a = cv2.warpAffine(self.alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        out = image_bgr.astype(np.float32) * (1 - a[..., None]) + layer * a[..., None]
        return np.clip(np.round(out), 0, 255).astype(np.uint8)


def ear_loops(c: Canvas, corners, colour, width: float) -> None:
    """Elastic loops from the mask's side corners (upper, lower per side) to the ears."""
    loc = c.frame.local
    for (up, low), ear in zip(corners, (loc[4], loc[5])):
        mid = np.array([ear[0], ear[1] - 0.1 * c.frame.unit])
        c.line(np.array([up, mid, low]), colour, width)


def style_colour(image_bgr, keypoints, rng, style: Dict, group: Optional[str] = None):
    """The fabric colour: ``style['colour']`` (a name or BGR) or a random one (``style['colour_group']``)."""
    col = style.get("colour")
    if isinstance(col, str):
        return col, colours.bgr(col)
    if col is not None:
        return style.get("colour_name", "custom"), tuple(int(v) for v in col)
    f = face_frame(keypoints)
    cheek = f.to_image(np.array([[f.local[4, 0] * 0.5, f.local[2, 1]]]))[0]
    skin = colours.skin_colour(image_bgr, cheek)
    return colours.pick(rng, style.get("colour_group", group), skin=skin)
