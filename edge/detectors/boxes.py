"""Box geometry, the one home for it: IoU, non-maximum suppression and one-to-one matching by IoU.

Boxes are xyxy (x1, y1, x2, y2), float32, any unit; an empty (zero-area) box overlaps nothing.

    iou_matrix(tracks, detections)          # (M, N) IoU of every pair
    greedy_match(iou_matrix(a, b), 0.3)     # [(row, col), ...] best IoU first, each used once
    nms(boxes, scores, 0.3, weighted=True)  # (kept boxes, their scores), best first
    class_nms(boxes, scores, class_ids, 0.45)  # indices kept, best first; boxes of other classes never suppress
"""
from typing import List, Optional, Tuple

import numpy as np


def as_boxes(boxes) -> np.ndarray:
    """Anything box-like (a list of 4-lists, an (N, 4) array, one box) → float32 (N, 4)."""
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def area(boxes: np.ndarray) -> np.ndarray:
    """(N,) areas of (N, 4) xyxy boxes (0 for an inverted box)."""
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, N) intersection areas of xyxy boxes ``a`` (M, 4) with ``b`` (N, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(rb - lt, 0, None), axis=2)


def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.where(whole > 0, part / np.maximum(whole, 1e-12), 0.0).astype(np.float32)


def iou_matrix(a, b) -> np.ndarray:
    """(M, N) intersection over union of every box in ``a`` (M, 4) with every box in ``b`` (N, 4)."""
    a, b = as_boxes(a), as_boxes(b)
    inter = intersections(a, b)
    return _ratio(inter, area(a)[:, None] + area(b)[None, :] - inter)


def iou(box, boxes) -> np.ndarray:
    """(N,) IoU of one xyxy box against (N, 4) boxes; 0 where the union is empty."""
    return iou_matrix(box, boxes)[0]


def greedy_match(iou: np.ndarray, threshold: float) -> List[Tuple[int, int]]:
    """(row, col) pairs, best IoU first, each row and column used once, IoU ≥ ``threshold``."""
    pairs = []  # type: List[Tuple[int, int]]
    if iou.size == 0:
        return pairs
    order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None, kind="stable"), iou.shape))[0]
    used_r, used_c = set(), set()
    for r, c in order:
        if iou[r, c] < threshold:
            break
        if r not in used_r and c not in used_c:
            pairs.append((int(r), int(c)))
            used_r.add(r)
            used_c.add(c)
    return pairs


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, weighted: bool = False,
        contain_threshold: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Non-maximum suppression, best score first; a box is suppressed when IoU > ``iou_threshold``
    (or, with ``contain_threshold``, when more than that fraction of it lies inside a kept box: a part
    of a face found beside the whole face).

    ``weighted`` (MediaPipe's WEIGHTED overlap type, as its face graphs use): each kept box is the
    score-weighted mean of itself and the boxes it suppresses by IoU; its score stays the best one.
    Returns (boxes (M, 4), scores (M,)), best first.
    """
    boxes = as_boxes(boxes)
    scores = np.asarray(scores, np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    # every pair at once (N is small: candidates above a score threshold), then a loop over kept boxes
    inter = intersections(boxes, boxes)
    sizes = area(boxes)
    overlap = _ratio(inter, sizes[:, None] + sizes[None, :] - inter) > iou_threshold
    np.fill_diagonal(overlap, True)  # the best box itself, even when degenerate
    if contain_threshold is not None:  # [i, j]: the part of box j inside box i
        inside = _ratio(inter, np.broadcast_to(sizes[None, :], inter.shape)) > contain_threshold
    kept_boxes, kept_scores = [], []
    left = np.ones(len(boxes), bool)
    for best in range(len(boxes)):
        if not left[best]:
            continue
        group = left & overlap[best]
        if weighted:
            w = scores[group][:, None]
            kept_boxes.append((boxes[group] * w).sum(0) / w.sum())
        else:
            kept_boxes.append(boxes[best])
        kept_scores.append(scores[best])
        left &= ~group
        if contain_threshold is not None:
            left &= ~inside[best]
    if not kept_boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    return np.stack(kept_boxes).astype(np.float32), np.asarray(kept_scores, np.float32)


MATRIX_NMS = 256  # nms_indices: up to this many boxes one IoU matrix is faster than a box-by-box loop


def nms_indices(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
                limit: Optional[int] = None) -> np.ndarray:
    """Indices of the boxes plain NMS keeps, best score first: a box is suppressed when its IoU with a kept
    box is > ``iou_threshold`` (torchvision's rule); the first ``limit`` of them (greedy NMS's first k do not
    depend on the rest). Up to MATRIX_NMS boxes: every pair's IoU at once; more: each kept box against those
    left, O(N · kept), no N x N matrix."""
    order = np.argsort(-np.asarray(scores, np.float64).reshape(-1), kind="stable")
    b = np.asarray(boxes, np.float64).reshape(-1, 4)[order]
    if len(b) <= MATRIX_NMS:
        inter = intersections(b, b)
        sizes = area(b)
        over = inter > iou_threshold * (sizes[:, None] + sizes[None, :] - inter)
        left = np.ones(len(b), bool)
        kept = []
        for i in range(len(b)):
            if left[i]:
                kept.append(i)
                if limit is not None and len(kept) >= limit:
                    break
                left &= ~over[i]
        return order[np.asarray(kept, np.int64)]
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, k]) for k in range(4))  # best first, compacted as boxes go
    sizes = area(b)
    keep = []
    while order.size and (limit is None or len(keep) < limit):
        keep.append(order[0])
        inter = (np.clip(np.minimum(x2[0], x2[1:]) - np.maximum(x1[0], x1[1:]), 0, None)
                 * np.clip(np.minimum(y2[0], y2[1:]) - np.maximum(y1[0], y1[1:]), 0, None))
        left = np.flatnonzero(inter <= iou_threshold * (sizes[0] + sizes[1:] - inter)) + 1  # IoU ≤ threshold
        order, x1, y1, x2, y2, sizes = order[left], x1[left], y1[left], x2[left], y2[left], sizes[left]
    return np.asarray(keep, np.int64)


def class_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float,
              limit: Optional[int] = None) -> np.ndarray:
    """Class-aware NMS: indices kept, best first (at most ``limit``); a box only suppresses boxes of its own
    class. Each class's boxes are shifted by ``class id × (extent + 1)`` so that classes never overlap, then
    one ``nms_indices``."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0,), np.int64)
    span = float(boxes.max() - boxes.min()) + 1.0
    shift = np.asarray(class_ids, np.float64).reshape(-1, 1) * span
    return nms_indices(boxes - boxes.min() + shift, scores, iou_threshold, limit)
