"""Object detector outputs → boxes in frame pixels, scores, class ids: pure numpy, table-tested.

Layouts (``recognise_layout`` tells them apart from the output shapes, the class count and the metadata):

    v8       [1, 4+nc, N]   Ultralytics YOLOv8/11: cx, cy, w, h (input pixels), class scores
    v5       [1, N, 5+nc]   YOLOv5: cx, cy, w, h, objectness, class scores (score = objectness × class)
    end2end  [1, K, 6]      NMS inside (Ultralytics ``nms=True``, YOLOv10/26): x1, y1, x2, y2, score, class
    ssd      [1, N, 4] + [1, N, nc]   boxes x1, y1, x2, y2 normalised to the input, class scores

    boxes, scores, ids = decode(layout, outputs, nc, input_wh)      # xyxy in input pixels, every candidate
    keep = select(boxes, scores, ids, conf=0.25, iou=0.45, classes=None, max_det=300, nms=True)
    frame_boxes = to_frame(letterbox_of(frame_wh, input_wh), boxes[keep], frame_wh)

Filtering follows Ultralytics' ``non_max_suppression``: the best class of each box, score > ``conf``, the
``classes`` kept, at most 30000 candidates by score, class-aware NMS, ``max_det`` best. The letterbox
(``edge.detectors.ssd.decode.letterbox``: scale, integer size, padding) matches Ultralytics' ``LetterBox``
(pad 114, centred); mapping back uses the exact inverse of the integer resize.
"""
from typing import Collection, List, Optional, Sequence, Tuple

import numpy as np

from edge.detectors.boxes import class_nms
from edge.detectors.ssd.decode import Letterbox, letterbox, letterbox_image
from edge.errors import InputError, UsageError

LAYOUTS = ("v8", "v5", "end2end", "ssd")
MAX_NMS = 30000  # Ultralytics: candidates into NMS, best first
PAD_VALUE = 114  # Ultralytics' letterbox grey
BACKGROUND = ("background", "__background__", "bg")  # an SSD's class 0 that is no object


def _shapes_text(shapes) -> str:
    return " and ".join(str(list(s)) for s in shapes)


def fitting_layouts(shapes: Sequence[Sequence[int]], num_classes: int) -> List[str]:
    """The layouts whose output shapes fit ``shapes`` (each (1, a, b)) for ``num_classes`` classes."""
    shapes = [tuple(s) for s in shapes]
    if len(shapes) == 2:
        last = sorted(s[-1] for s in shapes)
        ok = all(len(s) == 3 for s in shapes) and shapes[0][1] == shapes[1][1] and last in (
            sorted([4, num_classes]), sorted([4, num_classes + 1]))
        return ["ssd"] if ok else []
    if len(shapes) != 1 or len(shapes[0]) != 3:
        return []
    _, a, b = shapes[0]
    fits = [("v8", a == 4 + num_classes), ("v5", b == 5 + num_classes), ("end2end", b == 6)]
    return [name for name, ok in fits if ok]


def recognise_layout(shapes: Sequence[Sequence[int]], num_classes: int, told: str = "auto", metadata: str = "",
                     source: str = "model") -> str:
    """The layout of outputs of ``shapes`` for ``num_classes`` classes: ``told`` (the user's, when not "auto")
    must fit; else the one that fits, or among several the one the metadata says. One clear error otherwise."""
    fits = fitting_layouts(shapes, num_classes)
    forms = ("[1, {}, N] (v8), [1, N, {}] (v5), [1, K, 6] (end2end), or boxes [1, N, 4] + scores [1, N, {}] "
             "(ssd)").format(4 + num_classes, 5 + num_classes, num_classes)
    if told != "auto":
        if told not in fits:
            raise InputError("{}: expected outputs of the {} layout for {} classes, found {} (layouts: {})".format(
                source, told, num_classes, _shapes_text(shapes), forms))
        return told
    if len(fits) == 1:
        return fits[0]
    if metadata in fits:
        return metadata
    if not fits:
        raise InputError("{}: expected the outputs of an object detector with {} classes (its labels): {}; found {}"
                         "".format(source, num_classes, forms, _shapes_text(shapes)))
    raise InputError("{}: output {} is ambiguous for {} classes (it fits {}) and the metadata does not say; give "
                     "--detector-layout".format(source, _shapes_text(shapes), num_classes, " and ".join(fits)))


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, y, width, height → x1, y1, x2, y2 (float32)."""
    b = np.asarray(b, np.float32)
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def _best(scores: np.ndarray, first: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(best score, its class id) of each row of (N, nc) ``scores``, among classes ``first``…nc-1."""
    ids = np.argmax(scores[:, first:], axis=1) + first
    return scores[np.arange(len(scores)), ids].astype(np.float32), ids.astype(np.int64)


def decode(layout: str, outputs: Sequence[np.ndarray], num_classes: int, input_wh: Tuple[int, int],
           labels: Sequence[str] = ()) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first image's candidates: (boxes xyxy (N, 4) in input pixels, scores (N,), class ids (N,) int64);
    the best class of each box. ``labels``: an SSD whose class 0 is "background" never reports it."""
    outs = [np.asarray(o, np.float32) for o in outputs]
    if layout == "v8":
        x = outs[0][0].T  # (N, 4 + nc)
        scores, ids = _best(x[:, 4:])
        return xywh_to_xyxy(x[:, :4]), scores, ids
    if layout == "v5":
        x = outs[0][0]  # (N, 5 + nc)
        scores, ids = _best(x[:, 5:] * x[:, 4:5])  # > conf implies objectness > conf, YOLOv5's first filter
        return xywh_to_xyxy(x[:, :4]), scores, ids
    if layout == "end2end":
        x = outs[0][0]  # (K, 6)
        return x[:, :4].copy(), x[:, 4].copy(), np.rint(x[:, 5]).astype(np.int64)
    if layout == "ssd":
        b, s = (outs[0][0], outs[1][0]) if outs[0].shape[-1] == 4 and outs[1].shape[-1] != 4 else (
            outs[1][0], outs[0][0])
        first = 1 if labels and str(labels[0]).lower() in BACKGROUND else 0
        scores, ids = _best(s, first)
        return b * np.tile(np.asarray(input_wh, np.float32), 2), scores, ids
    raise UsageError("expected a layout among {}, found '{}'".format(", ".join(LAYOUTS), layout))


def class_ids_of(classes: Collection, labels: Sequence[str]) -> Optional[np.ndarray]:
    """``--classes`` (names or ids, as given) → sorted class ids (int64), or None for every class; one clear
    error for a name or id the model does not have."""
    if not classes:
        return None
    by_name = {name: i for i, name in enumerate(labels)}
    out = set()
    for c in classes:
        text = str(c).strip()
        if text in by_name:
            out.add(by_name[text])
        elif text.isdigit() and int(text) < len(labels):
            out.add(int(text))
        else:
            raise UsageError("expected --classes among the model's classes (names or ids 0…{}), found '{}' (classes: "
                             "{})".format(len(labels) - 1, text, ", ".join(labels[:12]) + (
                                 ", …" if len(labels) > 12 else "")))
    return np.asarray(sorted(out), np.int64)


def select(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, conf: float, iou: float,
           classes: Optional[np.ndarray] = None, max_det: int = 300, nms: bool = True) -> np.ndarray:
    """Indices of the boxes kept, best first: score > ``conf``, class in ``classes`` (None: all), class-aware
    NMS at ``iou`` (``nms=False``: the model did it, end2end), at most ``max_det``."""
    keep = np.flatnonzero(scores > conf)
    if classes is not None:
        keep = keep[np.isin(class_ids[keep], classes)]
    keep = keep[np.argsort(-scores[keep], kind="stable")][:MAX_NMS]
    if nms:
        keep = keep[class_nms(boxes[keep], scores[keep], class_ids[keep], iou, max_det)]
    return keep[:max_det]


def letterbox_of(frame_wh: Tuple[int, int], input_wh: Tuple[int, int]) -> Letterbox:
    """How a whole frame fits the model input as Ultralytics' LetterBox does it (centred, scaled up or down)."""
    return letterbox((0, 0, int(frame_wh[0]), int(frame_wh[1])), (int(input_wh[0]), int(input_wh[1])))


def letterbox_frame(frame: np.ndarray, lb: Letterbox, value: int = PAD_VALUE) -> np.ndarray:
    """The model-input image of ``frame`` (bilinear resize, padding ``value`` as Ultralytics pads)."""
    out = letterbox_image(frame, lb)
    (rw, rh), (px, py) = lb.resized, (int(lb.pad[0]), int(lb.pad[1]))
    out[:py], out[py + rh:], out[:, :px], out[:, px + rw:] = value, value, value, value
    return out


def to_frame(lb: Letterbox, boxes: np.ndarray, frame_wh: Tuple[int, int]) -> np.ndarray:
    """(N, 4) xyxy boxes in input pixels → frame pixels (the exact inverse of ``lb``), clipped to the frame."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4) / np.tile(np.asarray(lb.wh, np.float64), 2)
    out = lb.to_frame(b).astype(np.float32)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, frame_wh[0])
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, frame_wh[1])
    return out


def to_input(lb: Letterbox, boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy boxes in frame pixels → input pixels (what ``to_frame`` inverts; tests place boxes with it)."""
    w, h = lb.resized
    s = np.asarray([w / float(lb.roi[2]), h / float(lb.roi[3])] * 2, np.float64)
    shift = np.asarray(list(lb.roi[:2]) * 2, np.float64)
    return ((np.asarray(boxes, np.float64).reshape(-1, 4) - shift) * s + np.tile(lb.pad, 2)).astype(np.float32)
