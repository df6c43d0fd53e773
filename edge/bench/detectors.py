"""Face detectors side by side on the same video frames: per-frame detection time, and recall against
ground truth when there is some (``edge bench-detectors``).

    specs = [parse_spec("haar"), parse_spec("haar:scale=1"), parse_spec("blazeface")]
    report = bench_detectors(specs, "edge/data/sample.mp4", truth=load_truth("edge/data/sample.json"))

Every frame goes through every detector, in an order that rotates frame by frame, so slow drift in
machine load (a shared CPU) hits all alike and the ratios between them are fair. Ground truth is the
``sample.json`` format: ``{"frames": [{"frame": i, "faces": [{"box": [x1, y1, x2, y2], "label": ...}]}]}``.
"""
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edge.errors import InputError, UsageError
from edge.timing import summarize
from edge.detectors.boxes import as_boxes, greedy_match, iou_matrix

SCHEMA = "edge.bench.latency-detectors/1"


class DetectorSpec(NamedTuple):
    label: str      # as given: "haar:scale=1"
    name: str       # registry name: "haar"
    options: Dict[str, Any]  # overrides of the defaults: {"scale": 1}


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_spec(spec: str) -> DetectorSpec:
    """"blazeface:grid=1x1,model=short" → DetectorSpec("blazeface:grid=1x1,model=short", "blazeface",
    {"grid": "1x1", "model": "short"}); option names are the detector's keyword arguments."""
    name, _, rest = spec.strip().partition(":")
    options = OrderedDict()  # type: Dict[str, Any]
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError("expected --detector NAME[:option=value,...] (e.g. haar:scale=1), found '{}'".format(
                spec))
        options[key.strip()] = _value(value.strip())
    return DetectorSpec(spec.strip(), name, dict(options))


def load_truth(path: str) -> Dict[int, List[Mapping[str, Any]]]:
    """frame index → faces (each with "box" xyxy and "label") from a ground-truth JSON file."""
    import json

    try:
        with open(path) as f:
            data = json.load(f)
        return {int(t["frame"]): [{"box": [float(v) for v in face["box"]], "label": str(face.get("label", "face"))}
                                  for face in t["faces"]] for t in data["frames"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError("expected ground truth JSON ({{'frames': [{{'frame', 'faces': [{{'box', 'label'}}]}}]}}) "
                         "at '{}', found {} ({})".format(path, type(e).__name__, e)) from None


def match(boxes: np.ndarray, faces: Sequence[Mapping[str, Any]], iou: float = 0.4) -> Tuple[List[bool], int]:
    """(found per true face, false positives), one to one: pairs of a box and a face ("box" xyxy) with
    IoU ≥ ``iou`` are taken best first, each box and each face at most once; every box left over is a
    false positive (a second box on a found face too). ``bench/detectors.py`` scores with this as well."""
    boxes = as_boxes(boxes)
    pairs = greedy_match(iou_matrix([f["box"] for f in faces], boxes), iou)
    found = [False] * len(faces)
    for face, _ in pairs:
        found[face] = True
    return found, len(boxes) - len(pairs)


def rotation(n: int, index: int) -> List[int]:
    """The order detectors run on frame ``index``: 0..n-1 rotated by the frame index."""
    return [(index + k) % n for k in range(n)]


def score(found: Mapping[str, List[bool]], false: int, frames: int) -> Dict[str, Any]:
    """Recall per label and false positives per 100 frames."""
    return {"recall": {label: round(float(np.mean(v)), 4) for label, v in sorted(found.items()) if v},
            "faces": {label: len(v) for label, v in sorted(found.items())},
            "false_positives": int(false),
            "false_per_100_frames": round(100.0 * false / frames, 2) if frames else 0.0}


def bench_detectors(specs: Sequence[DetectorSpec], frames, create: Callable[[DetectorSpec], Any],
                    truth: Optional[Mapping[int, Sequence[Mapping[str, Any]]]] = None, warmup: int = 2,
                    iou: float = 0.4, clock=time.perf_counter, progress=None) -> Dict[str, Any]:
    """Time ``create(spec).detect(frame)`` for every spec on every ``(index, frame)`` of ``frames``.

    Returns {"detectors": [{"label", "info", "ms": summarize(...), "ratio" (mean / the first's mean),
    "recall"...}], "frames": n}. ``warmup`` untimed calls per detector on the first frame."""
    detectors = [create(s) for s in specs]
    ms = [[] for _ in specs]  # type: List[List[float]]
    found = [dict() for _ in specs]  # type: List[Dict[str, List[bool]]]
    false = [0] * len(specs)
    n = scored = 0
    try:
        for index, image in frames:
            if n == 0:
                for det in detectors:
                    for _ in range(warmup):
                        det.detect(image)
            faces = truth.get(index) if truth is not None else None
            for k in rotation(len(detectors), n):
                t0 = clock()
                boxes = detectors[k].detect(image).boxes
                ms[k].append((clock() - t0) * 1000.0)
                if faces is not None:
                    hit, fp = match(boxes, faces, iou)
                    for face, h in zip(faces, hit):
                        found[k].setdefault(face["label"], []).append(h)
                    false[k] += fp
            scored += faces is not None
            n += 1
            if progress is not None:
                progress(n)
        infos = [d.info() for d in detectors]
    finally:
        for det in detectors:
            det.close()
    if n == 0:
        raise InputError("expected video frames to time the detectors on, found none")
    first = float(np.mean(ms[0]))
    rows = []
    for k, spec in enumerate(specs):
        row = OrderedDict([("label", spec.label), ("info", infos[k]), ("ms", summarize(ms[k])),
                           ("ratio", round(float(np.mean(ms[k])) / first, 4))])
        if scored:
            row.update(score(found[k], false[k], scored))
        rows.append(row)
    return {"schema": SCHEMA, "frames": n, "scored_frames": scored, "iou": iou, "detectors": rows}


def read_frames(path: str, max_frames: int = 0):
    """(index, BGR frame) of a video file, decoded one at a time (OpenCV)."""
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InputError("expected a video file OpenCV can decode, found '{}'".format(path))
    try:
        index = 0
        while not max_frames or index < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            yield index, frame
            index += 1
    finally:
        cap.release()
