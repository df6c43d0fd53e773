"""Pre/post-processing derived from ``ModelMeta`` — pure functions over numpy arrays.

Frames and crops are OpenCV images: uint8 HxWx3 in BGR order (or HxW grey).
"""
from typing import List, Sequence, Tuple

import numpy as np

from edge.meta import ModelMeta


def preprocess(crops: Sequence[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """BGR uint8 crops of any sizes → float32 NCHW batch the model expects.

    Each crop is resized to ``meta.input_size`` (area interpolation when shrinking), converted to
    ``meta.channel_order``, scaled to [0, 1] and normalised with ``meta.mean``/``meta.std``; the
    colour conversion and normalisation run once over the whole batch.
    """
    import cv2

    h, w = meta.input_size
    n = len(crops)
    batch = np.empty((n, h, w, 3), dtype=np.uint8)
    for i, crop in enumerate(crops):
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        batch[i] = resize_to_input(crop, h, w)
    return normalize(batch, meta)


def resize_to_input(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Resize to the model input; training (``models.data``) uses this too, so both see the same pixels.

    Area averaging only for a shrink beyond 2× (where bilinear aliases); it costs ~6× bilinear.
    """
    import cv2

    strong_shrink = img.shape[0] > 2 * h or img.shape[1] > 2 * w
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if strong_shrink else cv2.INTER_LINEAR)


def normalize(batch_bgr: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """NHWC uint8 BGR images already at input size → C-contiguous NCHW float32 per ``meta``.

    The layout change and channel order are done on the uint8 view and paid for by the one float copy;
    scaling and offset then run in place (10× faster than broadcasting over NHWC floats).
    """
    if meta.channel_order == "GRAY":
        x = (batch_bgr.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32))[:, None]
    else:
        chw = batch_bgr.transpose(0, 3, 1, 2)
        x = (chw[:, ::-1] if meta.channel_order == "RGB" else chw).astype(np.float32, order="C")
    std = np.asarray(meta.std, np.float32).reshape(1, -1, 1, 1)
    mean = np.asarray(meta.mean, np.float32).reshape(1, -1, 1, 1)
    x *= 1.0 / (255.0 * std)
    x -= mean / std
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top1(logits: np.ndarray, labels: Sequence[str]) -> List[Tuple[str, float]]:
    """(label, probability) of the best class for each row of ``logits``."""
    p = softmax(np.asarray(logits, dtype=np.float64))
    idx = p.argmax(axis=1)
    return [(labels[i], float(p[r, i])) for r, i in enumerate(idx)]
