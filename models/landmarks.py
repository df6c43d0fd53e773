"""BlazeFace's 6 keypoints for a face already found (a Haar box): the placement points of mask synthesis.

The bundled short-range BlazeFace runs on a square around the box with context (2× its size), the
best face overlapping the box is kept; when none is found, ``template_keypoints`` of the box are used
and the caller records ``kp_source='template'``.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

from models.masks.geometry import template_keypoints

_SESSION = {}


def _session(model: str):
    if model not in _SESSION:
        from edge.detectors.blazeface import SsdSession, model_path

        _SESSION[model] = SsdSession(model_path(model), {"threads": 1})
    return _SESSION[model]


def face_keypoints(image_bgr: np.ndarray, box: Sequence[int], model: str = "short",
                   min_score: float = 0.5) -> Tuple[np.ndarray, str, Optional[np.ndarray]]:
    """(keypoints (6, 2) image px, 'blazeface' or 'template', BlazeFace's box xyxy or None) for ``box``."""
    import cv2

    from edge.detectors.boxes import iou
    from edge.detectors.ssd import decode as D
    from edge.detectors.ssd.anchors import ssd_anchors
    from edge.preprocess import normalize

    x, y, w, h = (int(v) for v in box)
    side = int(max(w, h) * 2.0)
    cx, cy = x + w // 2, y + h // 2
    pad = side
    big = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    x0, y0 = cx - side // 2 + pad, cy - side // 2 + pad
    roi = (x0, y0, side, side)
    s = _session(model)
    size = s.meta.layout.input_size
    lb = D.letterbox(roi, size)
    batch = normalize(D.letterbox_image(big, lb, None)[None], s.meta)
    reg, logits = s.run(batch)
    scores = D.sigmoid_scores(logits[0, :, 0])
    keep = np.flatnonzero(scores >= min_score)
    if len(keep):
        boxes, kps = D.decode_boxes(reg[0][keep], ssd_anchors(s.meta.layout, (size, size))[keep], size)
        boxes = lb.to_frame(boxes) - pad
        kps = lb.to_frame(kps) - pad
        target = np.array([x, y, x + w, y + h], np.float32)
        o = iou(target, boxes)
        best = int(np.argmax(o * scores[keep]))
        if o[best] > 0.3:
            return kps[best].astype(np.float64), "blazeface", boxes[best]
    return template_keypoints(box), "template", None
