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
        shrink = crop.shape[0] > h or crop.shape[1] > w
        batch[i] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return normalize(batch, meta)


def normalize(batch_bgr: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """NHWC uint8 BGR images already at input size → NCHW float32 per ``meta``."""
    if meta.channel_order == "GRAY":
        x = batch_bgr.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)
        x = x[..., None]
    elif meta.channel_order == "RGB":
        x = batch_bgr[..., ::-1].astype(np.float32)
    else:
        x = batch_bgr.astype(np.float32)
    scale = 1.0 / (255.0 * np.asarray(meta.std, np.float32))
    offset = -np.asarray(meta.mean, np.float32) / np.asarray(meta.std, np.float32)
    x = x * scale + offset
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top1(logits: np.ndarray, labels: Sequence[str]) -> List[Tuple[str, float]]:
    """(label, probability) of the best class for each row of ``logits``."""
    p = softmax(np.asarray(logits, dtype=np.float64))
    idx = p.argmax(axis=1)
    return [(labels[i], float(p[r, i])) for r, i in enumerate(idx)]
