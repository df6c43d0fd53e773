"""BlazeFace keypoints → the face's own frame, and mask outlines drawn in it.

BlazeFace order (MediaPipe): 0 right eye, 1 left eye (the person's; image left / right on a frontal
face), 2 nose tip, 3 mouth centre, 4 right ear tragion, 5 left ear tragion.

The face frame: origin at the eye midpoint, ``u`` along the eye line (image left → right), ``v``
perpendicular to it, pointing down the face (roll turns both); lengths in pixels. A mask is drawn
on a canvas aligned with that frame and warped into the image with one affine map, so it follows
head roll. Yaw shows in the keypoints themselves: the nose and mouth move towards one ear and the
far ear's projection shrinks; outlines are built from those projections, so the mask's ridge
follows the nose and its near half is wider than its far half.
"""
from typing import NamedTuple, Tuple

import numpy as np

R_EYE, L_EYE, NOSE, MOUTH, R_EAR, L_EAR = range(6)
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")

# vertical landmarks in units of the eye-to-mouth distance (0 = eye line, 1 = mouth)
CHIN = 1.65
NECK = 2.5


class FaceFrame(NamedTuple):
    """Where a face sits: ``origin`` (eye midpoint), unit vectors ``u`` (eye line) and ``v`` (down the
    face), ``unit`` (eye-to-mouth distance in px) and the keypoints projected into the frame (6, 2)."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    unit: float
    local: np.ndarray

    @property
    def roll(self) -> float:
        """Head roll in degrees (positive: clockwise in the image, i.e. the left eye lower)."""
        return float(np.degrees(np.arctan2(self.u[1], self.u[0])))

    @property
    def yaw(self) -> float:
        """A yaw index in [-1, 1]: the nose's offset from the ears' midpoint over half the ear distance
        (0 frontal, ±1 profile; positive: the nose towards the image-right ear)."""
        left, right = self.local[R_EAR, 0], self.local[L_EAR, 0]
        half = max((right - left) / 2.0, 1e-3)
        return float(np.clip((self.local[NOSE, 0] - (left + right) / 2.0) / half, -1, 1))

    def to_image(self, pts: np.ndarray) -> np.ndarray:
        """Points (…, 2) in the frame (px along u, px along v) → image pixels."""
        pts = np.asarray(pts, np.float64)
        return self.origin + pts[..., :1] * self.u + pts[..., 1:2] * self.v

    def affine(self, canvas_origin: Tuple[float, float]) -> np.ndarray:
        """2×3 map from a canvas whose pixel (0, 0) is frame point ``canvas_origin`` to the image."""
        ox, oy = canvas_origin
        t = self.origin + ox * self.u + oy * self.v
        return np.array([[self.u[0], self.v[0], t[0]], [self.u[1], self.v[1], t[1]]], np.float64)


def face_frame(keypoints_xy) -> FaceFrame:
    """The face frame of 6 BlazeFace keypoints (pixels)."""
    k = np.asarray(keypoints_xy, np.float64).reshape(6, 2)
    eye = k[L_EYE] - k[R_EYE]
    ears = k[L_EAR] - k[R_EAR]
    axis = eye / max(np.linalg.norm(eye), 1e-6) + ears / max(np.linalg.norm(ears), 1e-6)  # steadier under yaw
    u = axis / max(np.linalg.norm(axis), 1e-6)
    v = np.array([-u[1], u[0]])
    origin = (k[R_EYE] + k[L_EYE]) / 2.0
    local = np.stack([(k - origin) @ u, (k - origin) @ v], axis=1)
    unit = max(float(local[MOUTH, 1]), 0.25 * float(np.linalg.norm(ears)), 2.0)
    return FaceFrame(origin, u, v, unit, local)


def template_keypoints(box) -> np.ndarray:
    """Keypoints of a frontal face in box (x, y, w, h), BlazeFace order: a fallback when the detector
    finds no face (proportions measured on the package photos)."""
    x, y, w, h = (float(b) for b in box)
    rel = np.array([[0.33, 0.38], [0.67, 0.38], [0.50, 0.58], [0.50, 0.76], [0.05, 0.45], [0.95, 0.45]])
    return rel * [w, h] + [x, y]


def rotate_keypoints(keypoints_xy, degrees: float, centre=None) -> np.ndarray:
    """Keypoints turned by ``degrees`` (clockwise in the image) about ``centre`` (default: their mean)."""
    k = np.asarray(keypoints_xy, np.float64).reshape(6, 2)
    c = k.mean(0) if centre is None else np.asarray(centre, np.float64)
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (k - c) @ rot.T + c


def yaw_keypoints(keypoints_xy, amount: float) -> np.ndarray:
    """Frontal keypoints as seen with the head turned: ``amount`` in [-1, 1] moves the nose and mouth
    towards one ear (positive: image right) and foreshortens the far side (a rough projection)."""
    k = np.asarray(keypoints_xy, np.float64).reshape(6, 2).copy()
    f = face_frame(k)
    loc = f.local.copy()
    a = float(np.clip(amount, -0.9, 0.9)) * np.pi / 2
    depth = np.array([0.35, 0.35, 1.0, 0.8, -0.6, -0.6]) * (loc[L_EAR, 0] - loc[R_EAR, 0]) / 2.0
    loc[:, 0] = loc[:, 0] * np.cos(a) + depth * np.sin(a)
    return f.to_image(loc)


class Span(NamedTuple):
    """Horizontal extent of the lower face in frame px: ``left`` / ``right`` (ears, inset), ``ridge``
    (the nose's x, where a mask folds), and the vertical landmarks in px."""

    left: float
    right: float
    ridge: float
    nose: float
    mouth: float
    chin: float
    unit: float


def span(frame: FaceFrame, inset: float = 0.92) -> Span:
    loc = frame.local
    ridge = 0.6 * loc[NOSE, 0] + 0.4 * loc[MOUTH, 0]
    left = ridge + (loc[R_EAR, 0] - ridge) * inset
    right = ridge + (loc[L_EAR, 0] - ridge) * inset
    return Span(float(left), float(right), float(ridge), float(loc[NOSE, 1]), float(loc[MOUTH, 1]),
                float(CHIN * frame.unit), frame.unit)


def across(s: Span, t: np.ndarray) -> np.ndarray:
    """x in frame px for t in [-1, 1] across the face: −1 the right ear (image left), 0 the ridge."""
    t = np.asarray(t, np.float64)
    return np.where(t < 0, s.ridge + t * (s.ridge - s.left), s.ridge + t * (s.right - s.ridge))


def outline(s: Span, top, bottom, n: int = 40) -> np.ndarray:
    """A closed outline (2n, 2) in frame px from ``top(t)`` and ``bottom(t)`` (y in units) over t ∈ [−1, 1]."""
    t = np.linspace(-1, 1, n)
    xs = across(s, t)
    upper = np.stack([xs, np.asarray(top(t), np.float64) * s.unit], 1)
    lower = np.stack([xs[::-1], np.asarray(bottom(t[::-1]), np.float64) * s.unit], 1)
    return np.concatenate([upper, lower])
