"""Haar face detection on a downscaled frame, boxes back at full resolution; the detector registry."""
import numpy as np
import pytest

from edge.detectors import DETECTORS, create_detector
from edge.detectors.haar import HaarDetector, scale_boxes
from edge.errors import InputError, UsageError
from edge.detectors.boxes import iou_matrix


@pytest.mark.parametrize("xywh,scale,expected", [
    ([[10, 20, 30, 40]], 0.5, [[20, 40, 80, 120]]),
    ([[10, 20, 30, 40]], 1.0, [[10, 20, 40, 60]]),
    ([[90, 50, 20, 20]], 0.5, [[180, 100, 200, 120]]),  # clipped to the 200×120 frame
    (np.zeros((0, 4)), 0.25, np.zeros((0, 4))),
])
def test_scale_boxes(xywh, scale, expected):
    out = scale_boxes(np.array(xywh), scale, 200, 120)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.array(expected, np.float32).reshape(-1, 4))


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.35])
@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_downscaled_detection_finds_the_full_resolution_face(face_photos, photo, scale):
    img, (x, y, w, h) = face_photos[photo]
    det = HaarDetector(scale=scale, min_neighbors=5, min_size=60, cascade="haarcascade_frontalface_default.xml")
    found = det.detect(img).validate()
    assert len(found) == 1, found
    assert iou_matrix(found.boxes, [[x, y, x + w, y + h]])[0, 0] >= 0.7


def test_detections_on_the_video_match_ground_truth(face_video):
    import cv2

    path, truth = face_video
    det = create_detector("haar")
    cap = cv2.VideoCapture(path)
    bare, masked, false_pos = [], [], 0
    for t in truth["frames"]:
        ok, img = cap.read()
        assert ok
        boxes = det.detect(img).boxes
        gt = np.array([f["box"] for f in t["faces"]])
        iou = iou_matrix(gt, boxes) if len(boxes) else np.zeros((len(gt), 0))
        for f, row in zip(t["faces"], iou):
            (bare if f["label"] == "without_mask" else masked).append(row.size > 0 and row.max() >= 0.5)
        false_pos += int((iou.max(axis=0) < 0.5).sum()) if len(boxes) else 0
    assert all(bare), "an unmasked face was missed"
    assert np.mean(masked) >= 0.6, "the masked face was found in only {:.0%} of frames".format(np.mean(masked))
    assert false_pos <= len(truth["frames"]) // 20, "{} false detections".format(false_pos)


@pytest.mark.parametrize("kwargs,error,words", [
    (dict(scale=0), UsageError, "detection scale in (0, 1]"),
    (dict(scale_factor=1.0), UsageError, "scale_factor > 1"),
    (dict(cascade="no_such_cascade.xml"), InputError, "expected a Haar cascade XML file"),
    (dict(colour=True), UsageError, "does not take these options: colour"),
])
def test_bad_detector_options(kwargs, error, words):
    with pytest.raises(error) as e:
        create_detector("haar", **kwargs)
    assert words in str(e.value)


def test_registry():
    assert list(DETECTORS)[:2] == ["haar", "blazeface"]
    with pytest.raises(UsageError, match="unknown detector 'ssd' \\(known: haar, blazeface\\); an object detector"):
        create_detector("ssd")
    with pytest.raises(UsageError, match="unknown detector 'yolo' .*; an object detector is its model file, PATH.onnx"):
        create_detector("yolo")  # the object detector's registry key is no name to pass: its model file is
    assert isinstance(create_detector("haar"), HaarDetector)


@pytest.mark.parametrize("text,words", [
    ("<xml>nope</xml>", "found something else"),
    ("<?xml version='1.0'?><opencv_storage><cascade><stageType>BOOST</stageType></cascade></opencv_storage>",
     "one OpenCV cannot load"),
])
def test_cascade_file_that_is_not_a_cascade(tmp_path, text, words):
    bad = tmp_path / "c.xml"
    bad.write_text(text)
    with pytest.raises(InputError, match=words):
        HaarDetector(cascade=str(bad))
