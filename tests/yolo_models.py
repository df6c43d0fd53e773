"""Object detector test models without downloaded weights: outputs in each layout that place known boxes,
and ONNX graphs (PyTorch) whose output ignores the image (a constant plus 0 × input), with Ultralytics-style
``metadata_props``, so the right detections are known exactly.

    outs = layout_outputs("v8", boxes_in_input_px, scores, class_ids, nc=3, n=50)   # numpy, any Python
    path = constant_onnx(tmp / "v8.onnx", outs, ultralytics_props(NAMES, (640, 640)))  # torch + onnx
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

NAMES = ("person", "bicycle", "car")
FRAME_WH = (1280, 720)  # not square: the letterbox pads 140 px above and below in a 640x640 input
INPUT_HW = (640, 640)
# hand-placed boxes in frame pixels: two people (one found twice), a car over the first person (another class,
# so class-aware NMS keeps it), a bicycle; and a weak box under the default conf
FRAME_BOXES = np.array([[100, 200, 300, 600], [104, 204, 302, 596], [120, 220, 310, 590], [700, 100, 900, 500],
                        [960, 380, 1200, 700], [20, 20, 60, 60]], np.float32)
SCORES = np.array([0.9, 0.8, 0.7, 0.85, 0.6, 0.1], np.float32)
CLASS_IDS = np.array([0, 0, 2, 0, 1, 2], np.int64)
EXPECTED = [0, 3, 2, 4]  # what conf 0.25 / iou 0.45 keeps, best first (row 1 is a duplicate of row 0)


def layout_outputs(layout: str, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, nc: int,
                   n: int = 0, input_wh=(640, 640)) -> List[np.ndarray]:
    """The model outputs (batch 1) of ``layout`` that hold these boxes (xyxy, input pixels) with these scores and
    classes, padded to ``n`` candidates (score 0) when n > len(boxes)."""
    boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    n = max(n, len(boxes))
    cls = np.zeros((n, nc), np.float32)
    cls[np.arange(len(boxes)), class_ids] = scores
    xyxy = np.zeros((n, 4), np.float32)
    xyxy[:len(boxes)] = boxes
    xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    if layout == "v8":
        return [np.concatenate([xywh, cls], axis=1).T[None]]
    if layout == "v5":  # objectness 1 for the boxes: score = objectness × class
        obj = np.zeros((n, 1), np.float32)
        obj[:len(boxes)] = 1
        return [np.concatenate([xywh, obj, cls], axis=1)[None]]
    if layout == "end2end":
        ids = np.zeros((n, 1), np.float32)
        ids[:len(boxes), 0] = class_ids
        return [np.concatenate([xyxy, cls.max(1, keepdims=True), ids], axis=1)[None]]
    if layout == "ssd":  # boxes normalised to the input; scores (model order: scores first, as pytorch-ssd)
        return [cls[None], (xyxy / np.tile(np.asarray(input_wh, np.float32), 2))[None]]
    raise ValueError(layout)


def ultralytics_props(names: Sequence[str], imgsz=(640, 640), **extra) -> Dict[str, str]:
    """``metadata_props`` as ``yolo export format=onnx`` writes them (values through ``str()``)."""
    props = {"description": "Ultralytics YOLOv8n model (test)", "author": "Ultralytics", "version": "8.3.0",
             "stride": 32, "task": "detect", "batch": 1, "imgsz": list(imgsz), "names": dict(enumerate(names)),
             "args": {"batch": 1, "half": False, "nms": False}}
    props.update(extra)
    return {k: str(v) for k, v in props.items() if v is not None}


def constant_onnx(path, outputs: Sequence[np.ndarray], props: Optional[Dict[str, str]] = None,
                  input_hw=(640, 640), dynamic: bool = False) -> str:
    """An ONNX model (opset 13) whose outputs are ``outputs`` whatever the image (constant + 0 × input);
    ``dynamic``: symbolic batch, height and width."""
    import torch

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for i, o in enumerate(outputs):
                self.register_buffer("c{}".format(i), torch.from_numpy(np.ascontiguousarray(o)))

        def forward(self, x):
            zero = x.mean() * 0
            return tuple(getattr(self, "c{}".format(i)) + zero for i in range(len(outputs)))

    names = ["output{}".format(i) for i in range(len(outputs))]
    axes = {"images": {0: "batch", 2: "height", 3: "width"}} if dynamic else None
    torch.onnx.export(Constant().eval(), torch.zeros(1, 3, *input_hw), str(path), opset_version=13,
                      input_names=["images"], output_names=names, dynamic_axes=axes, dynamo=False)
    return add_props(str(path), props or {})


def add_props(path: str, props: Dict[str, str]) -> str:
    import onnx

    model = onnx.load(path)
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, path)
    return path
