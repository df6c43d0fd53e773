"""The face-detector interface: a BGR frame in, boxes and scores out (frame pixel coordinates)."""
from typing import Any, Dict, NamedTuple, Optional

import numpy as np

from edge.errors import UsageError


class Detections(NamedTuple):
    """Boxes as float32 (N, 4) x1, y1, x2, y2 in frame pixels; scores float32 (N,) in [0, 1]; class_ids
    int64 (N,) into the detector's ``class_names``, or None for a one-class detector (faces)."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: Optional[np.ndarray] = None

    @staticmethod
    def empty() -> "Detections":
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    @staticmethod
    def from_xywh(xywh, scores=None) -> "Detections":
        b = np.asarray(xywh, np.float32).reshape(-1, 4)
        boxes = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
        s = np.ones(len(b), np.float32) if scores is None else np.asarray(scores, np.float32).reshape(-1)
        return Detections(boxes, s)

    def __len__(self):
        return len(self.boxes)

    def validate(self) -> "Detections":
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4 or self.scores.shape != (len(self.boxes),):
            raise UsageError("expected boxes (N, 4) and scores (N,), found {} and {}".format(
                self.boxes.shape, self.scores.shape))
        return self


class Detector:
    """Finds faces in a BGR uint8 frame. Subclasses set ``name`` and implement ``detect``."""

    name = "base"
    class_names = ("face",)  # Tuple[str, ...]: what Detections.class_ids index (an object detector: its labels)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        raise NotImplementedError

    def info(self) -> Dict[str, Any]:
        """What the run log records about the detector (name, model, device, options)."""
        return {"detector": self.name}

    def close(self) -> None:
        pass
