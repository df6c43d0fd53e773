"""Object detectors in `edge run` (issue 17): `--detector PATH`, `--model none`, `--classify-classes`; the
detector's classes in the result record, the JSONL line, the summary, the overlay; class ids through the tracker."""
import json

import numpy as np
import pytest

from edge.detectors import check_name, is_object_detector
from edge.detectors.base import Detections, Detector
from edge.errors import UsageError
from edge.run.config import RunConfig
from edge.run.loop import chosen_rows, classify, run, track_classes
from edge.run.results import Faces

pytest.importorskip("onnxruntime")

NAMES = ("person", "bicycle", "car")
# boxes on a 320×240 frame: two persons (the first on the astronaut's face), a car, a person too small to crop
BOXES = np.array([[110, 60, 210, 160], [10, 10, 90, 120], [230, 150, 310, 230], [5, 200, 6, 201]], np.float32)
SCORES = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
CLASS_IDS = np.array([0, 0, 2, 0], np.int64)


class Objects(Detector):
    """An object-detector double: the same four boxes (persons and a car) on every frame."""

    name = "objects"
    class_names = NAMES

    def detect(self, image):
        return Detections(BOXES.copy(), SCORES.copy(), CLASS_IDS.copy())


@pytest.fixture
def frame_image(tmp_path, face_photos):
    """A 320×240 image (the astronaut's face near the first box) as a file."""
    import cv2

    img, (x, y, w, h) = face_photos["astronaut"]
    face = cv2.resize(img[y:y + h, x:x + w], (100, 100))
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[60:160, 110:210] = face
    path = str(tmp_path / "frame.png")
    cv2.imwrite(path, frame)
    return path


def count_infer(monkeypatch):
    from edge.backends.base import Backend

    calls, real = [], Backend.infer
    monkeypatch.setattr(Backend, "infer", lambda self, batch: calls.append(len(batch)) or real(self, batch))
    return calls


def run_objects(monkeypatch, tmp_path, source, **kw):
    monkeypatch.setattr("edge.run.loop.create_detector", lambda name, **options: Objects())
    faces = []
    cfg = RunConfig(source=source, headless=True, log=str(tmp_path / "frames.jsonl"), **kw)
    summary = run(cfg, on_frame=lambda frame, f: faces.append(f))
    rows = [json.loads(x) for x in open(cfg.log)]
    return summary, faces, rows


def test_detection_only_keeps_every_box_with_its_class(monkeypatch, tmp_path, frame_image):
    monkeypatch.setattr("edge.run.loop.load_backend", lambda *a, **k: pytest.fail("--model none loads no model"))
    summary, faces, rows = run_objects(monkeypatch, tmp_path, frame_image, model="none")
    f = faces[0]
    assert f.class_names == NAMES and f.class_ids.tolist() == CLASS_IDS.tolist()
    assert f.boxes.tolist() == BOXES.tolist()  # nothing cropped, nothing dropped (the tiny box too)
    assert f.labels.tolist() == ["person", "person", "car", "person"] and f.probs == pytest.approx(SCORES)
    row = rows[0]
    assert list(row)[:7] == ["frame", "t_capture", "ms", "faces", "ids", "boxes", "classes"]
    assert row["classes"] == ["person", "person", "car", "person"] and row["boxes"] == BOXES.tolist()
    assert row["labels"] == row["classes"] and row["scores"] == pytest.approx(SCORES.tolist(), abs=1e-4)
    assert summary["classes"] == {"person": 3, "car": 1} and summary["backend"] == {"backend": "none"}
    assert rows[-1]["summary"]["classes"] == {"person": 3, "car": 1} and summary["unlabelled_frames"] == 0
    from edge.service.live import LiveState

    live = LiveState()
    live.publish(None, row)  # the line as the daemon publishes it: counted per detector class
    assert live.status()["classes"] == {"person": 3, "car": 1}
    assert b'edge_detections_total{class="person"} 3.0' in live.metrics()


def test_two_stages_classify_only_the_chosen_classes(monkeypatch, tmp_path, frame_image, trained_model):
    calls = count_infer(monkeypatch)
    summary, faces, rows = run_objects(monkeypatch, tmp_path, frame_image, model=trained_model,
                                       classify_classes=("person",))
    f = faces[0]
    assert calls[-1] == 2  # the frame's call (after the load's probes): the two persons with an area, not the car
    assert f.boxes.tolist() == BOXES[:3].tolist()  # the person too small to crop is dropped, the car kept
    assert set(f.labels[:2]) <= {"with_mask", "without_mask"} and f.labels[2] == "car"
    assert f.labels[0] == "without_mask"  # the astronaut's bare face
    assert f.probs[2] == pytest.approx(0.7) and rows[0]["classes"] == ["person", "person", "car"]
    assert summary["classes"] == {"person": 2, "car": 1}


def test_every_class_is_classified_by_default(monkeypatch, tmp_path, frame_image, trained_model):
    calls = count_infer(monkeypatch)
    _, faces, _ = run_objects(monkeypatch, tmp_path, frame_image, model=trained_model)
    assert calls[-1] == 3 and set(faces[0].labels) <= {"with_mask", "without_mask"}


def test_classes_follow_their_tracks_between_detections(monkeypatch, tmp_path):
    summary, faces, rows = run_objects(monkeypatch, tmp_path, "test://ball?frames=4", width=320, height=240,
                                       model="none", detect_every=2)
    assert [r["frame"] for r in rows[:-1]] == [0, 1, 2, 3]
    for f in faces:  # the tracker's frames too: each track keeps its class
        assert f.classes()[:3] == ["person", "person", "car"] and f.class_names == NAMES
    assert faces[1].scores is None and rows[1]["classes"][:3] == ["person", "person", "car"]
    assert rows[1]["labels"][:3] == ["person", "person", "car"] and rows[1]["scores"][0] is None  # no score


@pytest.mark.parametrize("ids,found,known,want,after", [
    ([4, 5], [2, 0], {}, [2, 0], {4: 2, 5: 0}),                 # a detection frame: the detections' classes
    ([4, 5, 1], [2, 0], {1: 1, 3: 2}, [2, 0, 1], {4: 2, 5: 0, 1: 1}),  # a track kept without detection
    ([5], None, {4: 2, 5: 0}, [0], {5: 0}),                    # a tracked frame: the track's class
    ([], None, {4: 2}, [], {}),
])
def test_track_classes(ids, found, known, want, after):
    assert track_classes(ids, None if found is None else np.array(found), known).tolist() == want
    assert known == after


@pytest.mark.parametrize("classify_classes,want", [(None, [0, 0, 0, 0]), ((), [1, 1, 1, 1]),
                                                   (("car",), [0, 0, 1, 0]), (("person", "car"), [1, 1, 1, 1])])
def test_chosen_rows(classify_classes, want):
    faces = Faces(BOXES, class_ids=CLASS_IDS, class_names=NAMES)
    assert chosen_rows(faces, classify_classes).astype(int).tolist() == want


def test_classify_labels_the_chosen_rows_and_keeps_the_detector_class_elsewhere():
    faces = Faces(BOXES[:3], scores=SCORES[:3], class_ids=CLASS_IDS[:3], class_names=NAMES)
    chosen = np.array([True, False, True])
    out = classify(faces, chosen, np.array([[2.0, 0.0], [0.0, 3.0]], np.float32), ("a", "b"))
    assert out.labels.tolist() == ["a", "person", "b"] and out.probs[1] == pytest.approx(0.8)
    assert out.class_ids.tolist() == [0, 0, 2] and out.class_names == NAMES
    nan = classify(faces, chosen, np.full((2, 2), np.nan, np.float32), ("a", "b"))
    assert nan.labels is None and nan.probs is None  # the frame is left unlabelled, as for faces


def test_face_detector_with_model_none(cli, face_photos, tmp_path):
    import cv2

    path = str(tmp_path / "astronaut.png")
    cv2.imwrite(path, face_photos["astronaut"][0])
    log = str(tmp_path / "f.jsonl")
    r = cli(["run", "--model", "none", "--camera", path, "--headless", "--json", "--log", log])
    assert r.exit_code == 0, r.output
    row = json.loads(open(log).readline())
    assert row["faces"] >= 1 and set(row["labels"]) == {"face"} and "classes" not in row  # the face line format
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["classes"] == {"face": row["faces"]} and summary["backend"] == {"backend": "none"}


@pytest.mark.parametrize("args,code,words", [
    (["--detector", "{tmp}/missing.onnx"], 3, "expected an object detector's model file (--detector), found "
                                               "nothing at '{tmp}/missing.onnx'"),
    (["--detector", "{tmp}"], 2, "unknown detector '{tmp}' (known: haar, blazeface); an object detector is its "
                                 "model file, PATH.onnx or PATH.engine"),
    (["--detector", "yolo"], 2, "unknown detector 'yolo'"),
    (["--model", "none", "--classify-classes", "person"], 2,
     "'classify_classes' (--classify-classes): expected none with --model none"),
    (["--classify-classes", "person"], 2, "--classify-classes: the detector has no class 'person' (its classes: "
                                          "face)"),
])
def test_errors_are_one_line(cli, tmp_path, frame_image, args, code, words):
    args = [a.format(tmp=tmp_path) for a in args]
    r = cli(["run", "--camera", frame_image, "--headless"] + args)
    lines = r.output.strip().splitlines()
    assert r.exit_code == code and len(lines) == 1 and words.format(tmp=tmp_path) in lines[0], r.output


def test_a_model_path_selects_the_object_detector():
    assert check_name("models/yolov8n.onnx") == check_name("YOLO.ENGINE") == "yolo" and check_name("haar") == "haar"
    assert is_object_detector("x.onnx") and not is_object_detector("blazeface")
    with pytest.raises(UsageError):
        check_name("model.pt")
    assert RunConfig(detector="yolov8n.onnx").classifies is False  # an object detector: none by default
    assert RunConfig(detector="yolov8n.onnx", model="cls.onnx").classifies and RunConfig().classifies


def test_overlay_captions_an_unclassified_object_with_its_class_and_score():
    from edge.run.overlay import PALETTE, caption, draw

    assert caption("person", 0.914) == "person 91%" and caption("car", float("nan")) == "car" == caption("car", None)
    objects = Faces([[100, 100, 200, 220]], scores=[0.9], class_ids=[2], class_names=NAMES)
    img = draw(np.zeros((360, 640, 3), np.uint8), objects)
    assert tuple(img[160, 100]) != PALETTE[-1] and img[80:99, 100:160].any()  # a class colour and a caption
    faces = draw(np.zeros((360, 640, 3), np.uint8), Faces([[100, 100, 200, 220]], scores=[0.9]))
    assert tuple(faces[160, 100]) == PALETTE[-1] and not faces[:95].any()  # an unclassified face: no caption


# --- a real ONNX object detector (tests/yolo_models.py: its output ignores the image, the boxes are known) ---

@pytest.fixture
def wide_image(tmp_path, face_photos):
    """A 1280×720 image (yolo_models.FRAME_WH) with the astronaut's face inside the first person's box."""
    import cv2

    import yolo_models as Y

    img, (x, y, w, h) = face_photos["astronaut"]
    frame = np.full((Y.FRAME_WH[1], Y.FRAME_WH[0], 3), 90, np.uint8)
    frame[200:600, 100:300] = cv2.resize(img[y:y + h, x:x + w], (200, 400))  # square again in the classifier
    path = str(tmp_path / "wide.png")
    cv2.imwrite(path, frame)
    return path


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_an_onnx_object_detector_gives_exactly_the_known_boxes(cli, yolo_onnx, wide_image, tmp_path, layout):
    import yolo_models as Y

    log = str(tmp_path / "f.jsonl")
    r = cli(["run", "--detector", yolo_onnx[layout], "--model", "none", "--camera", wide_image, "--headless",
             "--json", "--log", log])
    assert r.exit_code == 0, r.output
    row = json.loads(open(log).readline())
    want = [Y.NAMES[c] for c in Y.CLASS_IDS[Y.EXPECTED]]
    assert row["classes"] == row["labels"] == want  # the class names from the metadata
    assert np.array(row["boxes"]) == pytest.approx(Y.FRAME_BOXES[Y.EXPECTED], abs=0.051)  # the log's 0.1 px
    assert row["scores"] == pytest.approx(Y.SCORES[Y.EXPECTED].tolist(), abs=1e-4)
    summary = json.loads(r.output.strip().splitlines()[-1])
    counts = {n: want.count(n) for n in want}
    assert summary["classes"] == counts and summary["detector"]["detector"] == "yolo"


def test_an_onnx_object_detector_then_the_mask_classifier_on_persons(yolo_onnx, wide_image, tmp_path, monkeypatch,
                                                                      trained_model):
    import yolo_models as Y

    calls = count_infer(monkeypatch)
    faces = []
    cfg = RunConfig(source=wide_image, detector=yolo_onnx["v8"], model=trained_model, classify_classes=("person",),
                    headless=True)
    run(cfg, on_frame=lambda frame, f: faces.append(f))
    f = faces[0]
    classes = [Y.NAMES[c] for c in Y.CLASS_IDS[Y.EXPECTED]]
    assert f.classes() == classes and f.boxes == pytest.approx(Y.FRAME_BOXES[Y.EXPECTED], abs=1e-3)
    persons = np.array(classes) == "person"
    assert calls[-1] == persons.sum() == 2  # only the persons' crops, in one batch
    assert set(f.labels[persons]) <= {"with_mask", "without_mask"} and f.labels[0] == "without_mask"
    assert f.labels[~persons].tolist() == [c for c in classes if c != "person"]  # the car and the bicycle
