"""Object detectors exported from Ultralytics (YOLOv5/v8/11, end-to-end) and SSD-style boxes + scores.

    >>> det = YoloDetector("yolov8n.onnx")            # or a TensorRT .engine built from one
    >>> dets = det.detect(frame_bgr)                   # Detections: xyxy boxes in frame pixels, scores, class ids
    >>> det.class_names[dets.class_ids[0]]

The model file says what it is: Ultralytics' ``metadata_props`` (``names``, ``imgsz``, ``stride``, ``task``)
give the labels and input size, the output shapes give the layout (``edge.detectors.yolo_decode``); a model
without them takes ``--detector-labels`` and ``--detector-input-size``. Preprocessing as Ultralytics does it:
letterbox to the input (pad 114), BGR→RGB, /255, NCHW float32.
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from edge.config import check_fields, setting
from edge.detectors.base import Detections, Detector
from edge.detectors.yolo_decode import LAYOUTS as DECODE_LAYOUTS
from edge.detectors.yolo_decode import (class_ids_of, decode, letterbox_frame, letterbox_of, recognise_layout, select,
                                        to_frame)
from edge.errors import UsageError

LAYOUTS = ("auto",) + DECODE_LAYOUTS


@dataclass
class YoloOptions:
    """``[objects]`` of a run config: YoloDetector's keyword options (``edge run --conf`` ...)."""

    conf: float = setting(0.25, "--conf", "Object detector: keep boxes scoring at least this (0–1].")
    iou: float = setting(0.45, "--iou", "Object detector: class-aware NMS drops a box overlapping a better one "
                                        "of its class by more than this IoU (end-to-end models: their own NMS).")
    classes: Tuple[str, ...] = setting((), "--classes", "Object detector: keep only these classes, names or ids "
                                                        "(person,car or 0,2; config file: a list). Default: all.")
    max_det: int = setting(300, "--max-det", "Object detector: at most this many boxes per frame, best first.")
    labels: Tuple[str, ...] = setting((), "--detector-labels", "Object detector class names in output order, for "
                                                               "a model without Ultralytics metadata: a,b,c or a "
                                                               "text file with one per line.")
    input_size: Tuple[int, ...] = setting((), "--detector-input-size", "Object detector input size, N or HxW, for a "
                                                                       "model without Ultralytics metadata and a "
                                                                       "dynamic input (config file: [HEIGHT, WIDTH]).")
    layout: str = setting("auto", "--detector-layout", "Object detector output layout: auto (from the shapes and "
                                                       "metadata), v8 (Ultralytics v8/11 [1, 4+nc, N]), v5 ([1, N, "
                                                       "5+nc]), end2end ([1, K, 6], NMS inside) or ssd (boxes + "
                                                       "scores).")

    def __post_init__(self):
        self.classes = tuple(str(c) for c in (self.classes or ()))
        self.labels = tuple(self.labels or ())
        self.input_size = tuple(int(v) for v in (self.input_size or ()))
        check_fields(self, [
            (0 <= self.conf <= 1, "conf", "a score in [0, 1]"),
            (0 <= self.iou <= 1, "iou", "an IoU in [0, 1]"),
            (self.max_det >= 1, "max_det", "≥ 1"),
            (len(self.input_size) in (0, 1, 2) and all(v > 0 for v in self.input_size), "input_size",
             "N or HEIGHT WIDTH, positive"),
            (self.layout in LAYOUTS, "layout", "one of " + ", ".join(LAYOUTS)),
        ], section="objects.")


def input_hw(size: Sequence[int]) -> Optional[Tuple[int, int]]:
    """``--detector-input-size`` (N or HEIGHT WIDTH; () = from the model) → (height, width) or None."""
    size = tuple(int(v) for v in size or ())
    return None if not size else (size[0], size[0]) if len(size) == 1 else (size[0], size[1])


class YoloDetector(Detector):
    """An object detector model (.onnx, or a TensorRT .engine built from one) on whole frames."""

    name = "yolo"

    def __init__(self, model: str, conf: float = YoloOptions.conf, iou: float = YoloOptions.iou,
                 classes: Sequence[str] = (), max_det: int = YoloOptions.max_det, labels: Sequence[str] = (),
                 input_size: Sequence[int] = (), layout: str = YoloOptions.layout, threads: int = 1,
                 backend: str = "auto"):
        """``model``: a .onnx (Ultralytics metadata, or ``labels``/``input_size``) or a TensorRT .engine built
        from one; ``conf``/``iou``/``classes``/``max_det``: the filters (YoloOptions); ``layout``: auto (from
        the output shapes and metadata) or one of LAYOUTS; ``threads``/``backend``: how the model runs."""
        from edge.backends import MetaOverrides, load_backend

        opts = YoloOptions(conf=conf, iou=iou, classes=tuple(classes), max_det=max_det, labels=tuple(labels),
                           input_size=tuple(input_size), layout=layout)  # bad options fail before the model loads
        overrides = MetaOverrides()
        if opts.labels:
            overrides["labels"] = opts.labels
        if opts.input_size:
            overrides["input_size"] = input_hw(opts.input_size)
        self.backend = load_backend(model, backend or "auto", overrides=overrides,
                                    options={"threads": threads} if threads else {}, kind="detector")
        try:
            self.meta = self.backend.objects
            if self.meta is None:
                raise UsageError("'{}' is a face detector (an 'edge.detector' record): run it with --detector "
                                 "blazeface --blazeface-model {}".format(model, model))
            self.class_names = tuple(self.meta.labels)
            self.keep_classes = class_ids_of(opts.classes, self.class_names)
            h, w = self.meta.input_size
            outs = self.backend.run(np.zeros((1, 3, h, w), np.float32))
            self.layout = recognise_layout([o.shape for o in outs], len(self.class_names), opts.layout,
                                           self.meta.layout, "'{}'".format(model))
        except BaseException:
            self.backend.close()
            raise
        self.path, self.opts = model, opts
        self.input_wh = (w, h)
        self._letterbox = {}  # frame (w, h) → Letterbox

    def letterbox(self, frame_wh: Tuple[int, int]):
        if frame_wh not in self._letterbox:
            self._letterbox[frame_wh] = letterbox_of(frame_wh, self.input_wh)
        return self._letterbox[frame_wh]

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        from edge.preprocess import normalize

        frame_wh = (frame_bgr.shape[1], frame_bgr.shape[0])
        lb = self.letterbox(frame_wh)
        x = normalize(letterbox_frame(frame_bgr, lb)[None], self.backend.meta)
        boxes, scores, ids = decode(self.layout, self.backend.run(x), len(self.class_names), self.input_wh,
                                    self.class_names)
        o = self.opts
        keep = select(boxes, scores, ids, o.conf, o.iou, self.keep_classes, o.max_det, self.layout != "end2end")
        return Detections(to_frame(lb, boxes[keep], frame_wh), scores[keep], ids[keep])

    def info(self) -> Dict[str, Any]:
        b = self.backend
        return {"detector": self.name, "path": self.path, "layout": self.layout, "classes": len(self.class_names),
                "input_size": list(self.meta.input_size), "backend": b.name, "device": b.device,
                "precision": b.precision, "conf": self.opts.conf, "iou": self.opts.iou, "max_det": self.opts.max_det,
                "keep_classes": None if self.keep_classes is None else [self.class_names[i] for i in self.keep_classes],
                "version": self.meta.provenance.get("version")}

    def close(self) -> None:
        self.backend.close()


def config_options(cfg) -> dict:
    """The keyword options from a run config: its ``[objects]`` section, the model path (``--detector PATH``)
    and ``threads`` (``--threads``)."""
    return dict(asdict(cfg.objects), model=cfg.detector, threads=cfg.threads)


DETECTOR = YoloDetector
