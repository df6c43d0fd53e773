"""A light tracker for ``--detect-every N``: between detections each face box follows the median
optical flow (pyramidal Lucas-Kanade) of corner points inside it, on a downscaled grey frame; on a
detection frame, detections take over the tracks they overlap (IoU), so ids stay stable. Detecting on
every frame (people counting), each track first moves by its constant-velocity prediction (its last step),
so two people crossing paths keep their ids, and a track missed for a few frames coasts along its path.

    tracker = BoxTracker()
    boxes, ids = tracker.update(frame, detections.boxes)   # a detection frame
    boxes, ids = tracker.predict(frame)                     # frames in between
"""
from typing import List, Tuple

import numpy as np

from edge.detectors.boxes import greedy_match, iou_matrix


class BoxTracker:
    def __init__(self, scale: float = 0.5, iou_threshold: float = 0.3, max_missed: int = 1, flow: bool = True):
        self.scale = scale
        self.flow = flow  # False: update() only (detections on every frame), no grey frame kept for predict()
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed  # detection frames a track survives without a detection
        self.boxes = np.zeros((0, 4), np.float32)
        self.ids = []  # type: List[int]
        self._missed = []  # type: List[int]
        self._velocity = np.zeros((0, 4), np.float32)  # per-frame step of each track (no flow between updates)
        self._flowed = False  # predict() moved the boxes since the last update: no velocity step then
        self._next_id = 0
        self._prev = None

    @property
    def missed(self) -> List[int]:
        """Detection frames each returned box has gone without a detection (0: detected this time)."""
        return list(self._missed)

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        g = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self.scale != 1.0:
            g = cv2.resize(g, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        return g

    def update(self, frame: np.ndarray, detections: np.ndarray) -> Tuple[np.ndarray, List[int]]:
        """Detections of this frame replace the tracks they match; unmatched detections start tracks."""
        det = np.asarray(detections, np.float32).reshape(-1, 4)
        step = np.zeros_like(self._velocity) if self._flowed else self._velocity
        predicted = self.boxes + step
        moving = not self._flowed  # the smoothed last step: the velocity of detections on consecutive frames
        pairs = greedy_match(iou_matrix(predicted, det), self.iou_threshold)
        matched_t = {t for t, _ in pairs}
        matched_d = {d: t for t, d in pairs}
        boxes, ids, missed, velocity = [], [], [], []
        for d in range(len(det)):
            boxes.append(det[d])
            if d in matched_d:
                t = matched_d[d]
                ids.append(self.ids[t])
                velocity.append(0.5 * (step[t] + det[d] - self.boxes[t]) if moving else np.zeros(4, np.float32))
            else:
                ids.append(self._next_id)
                self._next_id += 1
                velocity.append(np.zeros(4, np.float32))
            missed.append(0)
        for t in range(len(self.boxes)):
            if t not in matched_t and self._missed[t] < self.max_missed:
                boxes.append(predicted[t])
                ids.append(self.ids[t])
                missed.append(self._missed[t] + 1)
                velocity.append(step[t])
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self._velocity = np.asarray(velocity, np.float32).reshape(-1, 4)
        self.ids, self._missed = ids, missed
        self._flowed = False
        self._prev = self._grey(frame) if self.flow else None
        return self.boxes.copy(), list(self.ids)

    def predict(self, frame: np.ndarray) -> Tuple[np.ndarray, List[int]]:
        """Move every track by the optical flow from the previous frame to this one."""
        import cv2

        grey = self._grey(frame)
        self._flowed = True
        if self._prev is None or len(self.boxes) == 0 or grey.shape != self._prev.shape:
            self._prev = grey
            return self.boxes.copy(), list(self.ids)
        h, w = frame.shape[:2]
        for i, box in enumerate(self.boxes):
            x1, y1, x2, y2 = (box * self.scale).astype(int)
            mask = np.zeros_like(self._prev)
            mask[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = 255
            pts = cv2.goodFeaturesToTrack(self._prev, maxCorners=40, qualityLevel=0.01, minDistance=3, mask=mask)
            if pts is None or len(pts) < 3:
                continue
            new, status, _ = cv2.calcOpticalFlowPyrLK(self._prev, grey, pts, None, winSize=(15, 15), maxLevel=2)
            ok = status.reshape(-1) == 1
            if ok.sum() < 3:
                continue
            dx, dy = np.median((new - pts).reshape(-1, 2)[ok], axis=0) / self.scale
            self.boxes[i] = shift_box(box, dx, dy, w, h)
        self._prev = grey
        return self.boxes.copy(), list(self.ids)


def every_frame_tracker(max_missed: int) -> BoxTracker:
    """The tracker for detections on every frame (people counting): ids and constant-velocity matching only,
    no optical flow; a track survives ``max_missed`` frames without a detection."""
    return BoxTracker(max_missed=max_missed, flow=False)


def shift_box(box: np.ndarray, dx: float, dy: float, width: int, height: int) -> np.ndarray:
    """``box`` moved by (dx, dy), kept inside the frame without changing its size."""
    b = np.asarray(box, np.float32) + np.array([dx, dy, dx, dy], np.float32)
    bw, bh = b[2] - b[0], b[3] - b[1]
    x1 = float(np.clip(b[0], 0, max(width - bw, 0)))
    y1 = float(np.clip(b[1], 0, max(height - bh, 0)))
    return np.array([x1, y1, x1 + bw, y1 + bh], np.float32)
