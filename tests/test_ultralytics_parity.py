"""Against the real thing: real Ultralytics exports (YOLOv8n and YOLO11n, with and without ``nms=True``,
tests/data/ultralytics, see its README.md) through edge's YOLO detector on the photos ultralytics' own
predictor saw, box by box against what it found. Needs no ultralytics: its output is the committed JSON.

Tolerance: matched boxes IoU >= 0.99 (seen: >= 0.9992, box corners within 0.02 px), the same class, scores
within 1e-3 (seen: 3e-5). The JSON rounds scores to 1e-6 and boxes to 1e-4 px; what remains is float32
arithmetic in another ONNX Runtime (ultralytics ran 1.32; CI's Python 3.6 leg has 1.10) and the letterbox's
resize in another OpenCV, amplified by random weights whose scores hang on every pixel."""
import hashlib
import json
import os

import numpy as np
import pytest

DATA = os.path.join(os.path.dirname(__file__), "data", "ultralytics")
MODELS = ("yolov8n", "yolo11n", "yolov8n-nms", "yolo11n-nms")
MIN_IOU, SCORE_TOL = 0.99, 1e-3


def _photo(record):
    """The scikit-image photo ultralytics saw (BGR, as cv2.imread gives it to both), checked pixel for pixel."""
    import cv2
    import skimage

    img = cv2.imread(os.path.join(os.path.dirname(skimage.__file__), "data", record["image"]))
    assert img is not None and hashlib.sha256(img.tobytes()).hexdigest() == record["pixels_sha256"], \
        "{}: not the pixels ultralytics saw".format(record["image"])
    return img


def _iou(a, b):
    """(len(a), len(b)) IoU of xyxy boxes."""
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def match(ref_boxes, ref_scores, ref_classes, boxes, scores, classes):
    """For each reference box, best score first, the unmatched box of the same class that overlaps it most:
    [(reference index, index or None (no box of its class overlaps it), IoU)]."""
    ious = _iou(ref_boxes, boxes) if len(ref_boxes) and len(boxes) else np.zeros((len(ref_boxes), len(boxes)))
    ious[ref_classes[:, None] != classes[None, :]] = -1
    free, out = np.ones(len(boxes), bool), []
    for i in np.argsort(-ref_scores, kind="stable"):
        cand = np.where(free, ious[i], -1)
        j = int(np.argmax(cand)) if len(boxes) else -1
        if j < 0 or cand[j] <= 0:
            out.append((int(i), None, 0.0))
            continue
        free[j] = False
        out.append((int(i), j, float(cand[j])))
    return out


def test_match_pairs_boxes_by_class_and_overlap():
    ref = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    got = np.array([[20, 20, 30, 30.1], [0, 0, 10, 10]], float)
    pairs = match(ref, np.array([0.9, 0.5]), np.array([1, 2]), got, np.array([0.5, 0.9]), np.array([2, 1]))
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 0)] and pairs[1][2] == pytest.approx(100 / 101)
    # each box's class now sits on a box that does not overlap it: nothing matches
    none = match(ref, np.array([0.9, 0.5]), np.array([1, 2]), got, np.array([0.5, 0.9]), np.array([1, 2]))
    assert [j for _, j, _ in none] == [None, None]


@pytest.mark.parametrize("name", MODELS)
def test_edge_finds_the_boxes_ultralytics_found(name):
    from edge.detectors.yolo import YoloDetector

    ref = json.load(open(os.path.join(DATA, name + ".json")))
    p = ref["predict"]
    det = YoloDetector(os.path.join(DATA, name + ".onnx"), conf=p["conf"], iou=p["iou"])
    try:
        assert det.class_names[:2] == ("person", "bicycle") and det.layout == ("end2end" if "nms" in name else "v8")
        for r in ref["results"]:
            d = det.detect(_photo(r))
            rb, rs, rc = np.array(r["boxes"], float).reshape(-1, 4), np.array(r["scores"]), np.array(r["classes"])
            assert len(d.scores) == len(rs) > 0, r["image"]
            for i, j, overlap in match(rb, rs, rc, d.boxes, d.scores, d.class_ids):
                assert j is not None and overlap >= MIN_IOU, (r["image"], i, rb[i], overlap)
                assert abs(d.scores[j] - rs[i]) <= SCORE_TOL, (r["image"], i, d.scores[j], rs[i])
    finally:
        det.close()


@pytest.mark.parametrize("name", ["yolo11n", "yolov8n-nms"])
def test_edge_run_logs_the_boxes_ultralytics_found(tmp_path, cli, name):
    """The same through `edge run --detector X.onnx --model none` on the photo, read from its --log (boxes
    rounded to 0.1 px, scores to 1e-4 there), class names from the export's metadata."""
    import cv2

    ref = json.load(open(os.path.join(DATA, name + ".json")))
    r = ref["results"][0]
    photo, log = str(tmp_path / r["image"]), str(tmp_path / "frames.jsonl")
    cv2.imwrite(photo, _photo(r))
    result = cli(["run", "--detector", os.path.join(DATA, name + ".onnx"), "--model", "none", "--source", photo,
                  "--conf", str(ref["predict"]["conf"]), "--iou", str(ref["predict"]["iou"]), "--headless",
                  "--max-frames", "1", "--log", log])
    assert result.exit_code == 0, result.output
    frame = json.loads(open(log).readline())
    rb, rs = np.array(r["boxes"], float).reshape(-1, 4), np.array(r["scores"])
    rc = np.array([ref["names"][c] for c in r["classes"]])  # ultralytics' class names, by id
    assert len(frame["boxes"]) == len(rs) > 0
    pairs = match(rb, rs, rc, np.array(frame["boxes"], float), np.array(frame["scores"]), np.array(frame["classes"]))
    assert all(j is not None and overlap >= MIN_IOU for _, j, overlap in pairs), pairs
    assert all(abs(frame["scores"][j] - rs[i]) <= SCORE_TOL for i, j, _ in pairs)


def test_fixtures_are_what_their_json_describes():
    """Each committed ONNX is the file the JSON's predictions came from (regenerate both together)."""
    for name in MODELS:
        ref = json.load(open(os.path.join(DATA, name + ".json")))
        blob = open(os.path.join(DATA, name + ".onnx"), "rb").read()
        assert hashlib.sha256(blob).hexdigest() == ref["onnx_sha256"] and len(blob) <= 3 * 2 ** 20, name
        assert ref["export"]["opset"] == 13 and ref["export"]["nms"] == name.endswith("-nms")
