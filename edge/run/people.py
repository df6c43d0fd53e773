"""People, not frames: each track of the run loop is one person, its label a vote over its frames.

    people = People(PeopleOptions(), camera="door")
    need = people.needs_classify(faces, wanted)          # rows the classifier must see this frame
    faces = people.update(faces, wanted, image, t_unix)  # labels of the other wanted rows: the track's
    for event, jpeg in people.drain(): ...               # "person" confirmed/ended, "no_mask" alerts

A track is confirmed after ``min_frames`` frames (a one-frame flicker never counts; until then its face is
classified on every other frame and on the confirming one) and ended after
``max_missing`` frames unseen. Its label is the probability-weighted vote over its frames; the confidence is
the winning label's share. A confirmed track is classified again only every ``reclassify_every`` frames, when
its box changed (its size or shape: the IoU of the two boxes centred on each other < 0.7, as DeepStream's
classifier re-infers a grown box; or it jumped: IoU < 0.5 with its box one frame before, a possible id switch)
or its detector score changed (its average over frames, ``SCORE_SMOOTHING``: a score that flickers from frame
to frame, as BlazeFace's does on a masked face, is no change); in between its frames vote with the last classified label (DeepStream's
secondary-classifier interval). A track whose classification keeps coming back with the same label (probability
≥ ``STEADY_PROB``) waits twice as long for the next one, up to ``STRETCH`` × ``reclassify_every`` frames; another
label (or a less sure one) brings it back to ``reclassify_every``. A face moving across the frame keeps its label: the crop is the same face.
People are counted at confirmation (with the label voted then), so the counters and the ``no_mask`` alerts
agree; the ``ended`` event carries the vote over all of the track's frames.
"""
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from edge.config import check_fields, setting
from edge.run.results import Faces

WITH, WITHOUT = "with_mask", "without_mask"
RESIZED_IOU = 0.7  # a box with less centred IoU than this with its last classified box is classified again
JUMPED_IOU = 0.5  # so is one with less IoU than this with its box of the frame before
SCORE_CHANGE = 0.2  # so is one whose detector score (averaged) moved by more than this
SCORE_SMOOTHING = 0.25  # each frame moves a track's average score this share of the way to the frame's score
STEADY_PROB = 0.8  # a confirmed track classified again with its label at least this sure: its interval doubles,
STRETCH = 4  # up to this many times reclassify_every
WINDOWS = (("per_minute", 60.0), ("per_hour", 3600.0))


@dataclass
class PeopleOptions:
    """``[people]``: tracking on every frame, one vote per person, events and counts."""

    enabled: bool = setting(True, "--people/--no-people", "Count people: track every face, one label per person "
                                                          "by a vote over its frames, events and statistics; "
                                                          "--no-people: per-frame results only.")
    min_frames: int = setting(5, "--people-min-frames", "Frames a track needs before it counts as a person.")
    max_missing: int = setting(15, "--people-max-missing", "Frames a person may go unseen before its track ends.")
    reclassify_every: int = setting(30, "--reclassify-every", "Classify a person's face again every N frames "
                                                              "(up to {}N while its label holds; sooner when its "
                                                              "box changes size, jumps or its score changes; 1: "
                                                              "every face on every frame).".format(STRETCH))
    stats_every: float = setting(60.0, "--people-stats-every", "Seconds between people statistics lines in the "
                                                               "log and to the event sinks (0: never).")
    device_id: str = setting("", "--device-id", "This device's id in events (default: the host name).")
    camera: str = setting("", "--camera-name", "The camera's name in events (default: the source).")

    def __post_init__(self):
        check_fields(self, [
            (self.min_frames >= 1, "min_frames", "≥ 1"),
            (self.max_missing >= 0, "max_missing", "≥ 0"),
            (self.reclassify_every >= 1, "reclassify_every", "≥ 1 (1: every frame)"),
            (0 <= self.stats_every <= 86400, "stats_every", "0 ≤ seconds ≤ 86400 (0 = never)"),
        ], section="people.")


class Track:
    """One person: its vote, times, the last classified box/score/label and its best face crop."""

    __slots__ = ("id", "first_seen", "last_seen", "frames", "missing", "votes", "confirmed", "label", "prob",
                 "box", "label_box", "label_score", "label_frame", "interval", "score", "best_quality",
                 "best_crop")

    def __init__(self, track_id: int, now: float, interval: int = 1):
        self.id, self.first_seen, self.last_seen = track_id, now, now
        self.frames = self.missing = 0
        self.votes = {}  # type: Dict[str, float]
        self.confirmed = False
        self.label = None  # type: Optional[str]
        self.prob = float("nan")
        self.box = self.label_box = None  # type: Optional[np.ndarray]  # the last box; the last classified one
        self.label_score = self.score = float("nan")  # the average detector score: at its last classification, now
        self.label_frame = -1
        self.interval = interval  # frames from its last classification to the next one (once confirmed)
        self.best_quality = -1.0
        self.best_crop = None  # type: Optional[np.ndarray]

    def vote(self) -> Tuple[Optional[str], float]:
        """(winning label, its share of the probability-weighted votes); (None, 0) before any."""
        total = sum(self.votes.values())
        if not total:
            return None, 0.0
        label = max(self.votes, key=lambda k: self.votes[k])
        return label, self.votes[label] / total


class PeopleStats:
    """People counted, with and without a mask: since ``since`` and over the last minute and hour."""

    def __init__(self, since: float):
        self.since = since
        self.totals = {}  # type: Dict[str, int]
        self._recent = deque(maxlen=100000)  # type: deque  # (time, label) of the last hour's people

    def add(self, label: str, now: float) -> None:
        self.totals[label] = self.totals.get(label, 0) + 1
        self._recent.append((now, label))

    def reset(self, now: float) -> None:
        self.__init__(now)

    def snapshot(self, now: float) -> Dict:
        """The shared stats dict (see the module docstring of edge.events)."""
        while self._recent and self._recent[0][0] < now - WINDOWS[-1][1]:
            self._recent.popleft()
        out = counts(self.totals)
        for name, seconds in WINDOWS:
            window = {}  # type: Dict[str, int]
            for t, label in self._recent:
                if t >= now - seconds:
                    window[label] = window.get(label, 0) + 1
            out[name] = counts(window)
        out["since"] = self.since
        return out


def counts(by_label: Dict[str, int]) -> Dict:
    """people, with_mask, without_mask and compliance (with ÷ (with + without); None before any)."""
    w, wo = by_label.get(WITH, 0), by_label.get(WITHOUT, 0)
    return {"people": sum(by_label.values()), "with_mask": w, "without_mask": wo,
            "compliance": round(w / (w + wo), 4) if w + wo else None}


class People:
    """The tracks of one run; ``update`` once per frame, ``finish`` at the end (ends every live track)."""

    def __init__(self, options: PeopleOptions, camera: str = "", clock=time.time):
        self.options = options
        self.device_id = options.device_id or socket.gethostname()
        self.camera = options.camera or camera
        self.tracks = {}  # type: Dict[int, Track]
        self.stats = PeopleStats(clock())
        self.frame = 0
        self._events = []  # type: List[Tuple[Dict, Optional[bytes]]]
        self._last_stats = None  # type: Optional[float]

    def needs_classify(self, faces: Faces, wanted: np.ndarray) -> np.ndarray:
        """The ``wanted`` rows whose track must be classified this frame: new or unconfirmed, due
        (``reclassify_every``), resized, jumped or rescored since its last classification."""
        need = np.array(wanted, bool)  # a copy
        rows, last = [], []  # the wanted rows of confirmed, labelled tracks; their tracks
        tracks, sparse, min_frames = self.tracks, self.options.reclassify_every > 1, self.options.min_frames
        at = np.flatnonzero(need)
        for i, tid in zip(at.tolist(), faces.track_ids[at].tolist()):
            tr = tracks.get(tid)
            if tr is None or tr.label is None:
                continue
            if tr.confirmed:
                rows.append(i)
                last.append(tr)
            elif sparse:  # a new track: its frames 1, 3, 5 … and the confirming one
                need[i] = tr.frames % 2 == 0 or tr.frames + 1 >= min_frames
        if not rows:
            return need
        frame = self.frame
        due = np.array([frame - tr.label_frame >= tr.interval for tr in last])
        boxes = faces.boxes[rows]
        resized = pairwise_iou(centred(boxes), centred(np.stack([tr.label_box for tr in last]))) < RESIZED_IOU
        jumped = pairwise_iou(boxes, np.stack([tr.box for tr in last])) < JUMPED_IOU
        scores = faces.scores[rows] if faces.scores is not None else np.full(len(rows), np.nan)
        with np.errstate(invalid="ignore"):
            rescored = np.abs(smoothed(np.array([tr.score for tr in last]), scores) -
                              np.array([tr.label_score for tr in last])) > SCORE_CHANGE  # NaN: False
        need[rows] = due | resized | jumped | rescored
        return need

    def update(self, faces: Faces, wanted: np.ndarray, need: np.ndarray, image: np.ndarray, now: float) -> Faces:
        """Count one frame: its ``need`` rows were classified, the other ``wanted`` rows get their track's last
        label; every labelled row votes. Returns ``faces`` with those labels."""
        labelled = faces.labels is not None
        carried = labelled and bool((wanted & ~need).any())
        labels, probs = (faces.labels.copy(), faces.probs.copy()) if carried else (faces.labels, faces.probs)
        boxes = faces.boxes.copy()  # the tracks keep rows of it
        scores = np.full(len(faces), np.nan) if faces.scores is None else faces.scores.astype(np.float64)
        quality = face_quality(boxes, scores, image.shape).tolist()
        fresh = (~np.asarray(wanted, bool) | need).tolist()  # rows whose label is this frame's
        every = self.options.reclassify_every
        longest = every * STRETCH if every > 1 else every
        seen = set()
        for i, tid in enumerate(faces.track_ids.tolist()):
            tr = self.tracks.get(tid)
            if tr is None:
                tr = self.tracks[tid] = Track(tid, now, every)
            seen.add(tid)
            tr.frames += 1
            tr.missing = 0
            tr.last_seen = now
            tr.box = boxes[i]
            if scores[i] == scores[i]:  # known: the average moves (smoothed(), one row)
                tr.score = scores[i] if tr.score != tr.score else tr.score + SCORE_SMOOTHING * (scores[i] - tr.score)
            if quality[i] > tr.best_quality:
                tr.best_quality, tr.best_crop = quality[i], crop_of(image, boxes[i])
            if not labelled:
                continue
            if fresh[i] or tr.label is None:
                label, prob = str(labels[i]), float(probs[i])
                if tr.confirmed:  # a steady, sure label: the next classification can wait longer
                    steady = label == tr.label and prob >= STEADY_PROB
                    tr.interval = min(2 * tr.interval, longest) if steady else every
                tr.label, tr.prob = label, prob
                tr.label_box, tr.label_score, tr.label_frame = boxes[i], float(tr.score), self.frame
            else:
                labels[i], probs[i] = tr.label, tr.prob
            weight = tr.prob if tr.prob == tr.prob else 1.0  # NaN (a tracked box's score): 1
            tr.votes[tr.label] = tr.votes.get(tr.label, 0.0) + weight
            if not tr.confirmed and tr.frames >= self.options.min_frames:
                self._confirm(tr, now)
        for tid in [t for t in self.tracks if t not in seen]:
            tr = self.tracks[tid]
            tr.missing += 1
            if tr.missing > self.options.max_missing:
                self._end(tid)
        self.frame += 1
        return faces.replace(labels=labels, probs=probs) if carried else faces

    def finish(self) -> None:
        """End every live track (the run is over)."""
        for tid in list(self.tracks):
            self._end(tid)

    def drain(self) -> List[Tuple[Dict, Optional[bytes]]]:
        """The (event, best-face JPEG or None) pairs since the last call, in order."""
        out, self._events = self._events, []
        return out

    def due_stats(self, now: float) -> Optional[Dict]:
        """The stats every ``stats_every`` seconds (None in between; the first call starts the clock)."""
        every = self.options.stats_every
        if self._last_stats is None:
            self._last_stats = now
        if not every or now - self._last_stats < every:
            return None
        self._last_stats = now
        return self.stats.snapshot(now)

    def event(self, tr: Track, phase: str, kind: str = "person") -> Dict:
        label, confidence = tr.vote()
        return {"type": kind, "phase": phase, "track_id": int(tr.id), "label": label,
                "confidence": round(confidence, 4), "first_seen": tr.first_seen, "last_seen": tr.last_seen,
                "frames": tr.frames, "device_id": self.device_id, "camera": self.camera}

    def _confirm(self, tr: Track, now: float) -> None:
        tr.confirmed = True
        event = self.event(tr, "confirmed")
        self.stats.add(event["label"], now)
        jpeg = snapshot(tr.best_crop)
        self._events.append((event, jpeg))
        if event["label"] == WITHOUT:
            self._events.append((self.event(tr, "confirmed", "no_mask"), jpeg))

    def _end(self, tid: int) -> None:
        tr = self.tracks.pop(tid)
        if tr.confirmed:
            self._events.append((self.event(tr, "ended"), snapshot(tr.best_crop)))



def face_quality(boxes: np.ndarray, scores: np.ndarray, shape) -> np.ndarray:
    """How good a snapshot each box makes: detector score (1 where unknown) × its area inside the frame
    (-1 for a box under 2 pixels wide or high there)."""
    w = np.minimum(boxes[:, 2], shape[1]) - np.maximum(boxes[:, 0], 0)
    h = np.minimum(boxes[:, 3], shape[0]) - np.maximum(boxes[:, 1], 0)
    q = np.where(np.isfinite(scores), scores, 1.0) * np.clip(w, 0, None) * np.clip(h, 0, None)
    return np.where((w >= 2) & (h >= 2), q, -1.0)


def crop_of(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A copy of ``box``'s pixels (clipped to the frame)."""
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    return image[y1:max(int(round(box[3])), y1 + 1), x1:max(int(round(box[2])), x1 + 1)].copy()


def smoothed(average: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each track's average detector score after this frame's ``score`` (SCORE_SMOOTHING of the way there);
    NaN (unknown) on either side: the other."""
    with np.errstate(invalid="ignore"):
        out = average + SCORE_SMOOTHING * (score - average)
    return np.where(np.isnan(average), score, np.where(np.isnan(score), average, out))


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each box of ``a`` with the box of ``b`` in the same row (both (N, 4) xyxy)."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return inter / np.maximum(union, 1e-9)


def centred(boxes: np.ndarray) -> np.ndarray:
    """The boxes moved to centre (0, 0): their IoU compares size and shape only."""
    half = (boxes[:, 2:] - boxes[:, :2]) / 2
    return np.hstack([-half, half])


def snapshot(crop: Optional[np.ndarray]) -> Optional[bytes]:
    """A face crop as JPEG bytes (None for none)."""
    if crop is None:
        return None
    import cv2

    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return jpeg.tobytes() if ok else None
