"""Object detector pre/post-processing as pure functions (numpy only; runs on the Python 3.6 leg): the letterbox
and its exact inverse, layout recognition, decoding each layout, the filters and class-aware NMS, and the
record read from Ultralytics' metadata_props."""
import numpy as np
import pytest

import yolo_models as Y
from edge.detectors import yolo_decode as D
from edge.detectors.boxes import class_nms, nms, nms_indices
from edge.errors import InputError, UsageError
from edge.meta import ObjectDetectorMeta, object_detector_meta


def ultralytics_letterbox(frame_wh, input_wh):
    """Ultralytics' LetterBox arithmetic (auto=False, scaleup, centre): (resized w, h), (left, top)."""
    (w, h), (nw, nh) = frame_wh, input_wh
    r = min(nh / h, nw / w)
    rw, rh = int(round(w * r)), int(round(h * r))
    return (rw, rh), (int(round((nw - rw) / 2 - 0.1)), int(round((nh - rh) / 2 - 0.1)))


@pytest.mark.parametrize("frame_wh,input_wh,resized,pad", [
    ((1280, 720), (640, 640), (640, 360), (0, 140)),
    ((720, 1280), (640, 640), (360, 640), (140, 0)),
    ((1001, 563), (640, 640), (640, 360), (0, 140)),
    ((641, 480), (640, 640), (640, 479), (0, 80)),  # odd padding: 80 above, 81 below, as Ultralytics
    ((100, 50), (640, 640), (640, 320), (0, 160)),  # scaled up
    ((1280, 720), (640, 384), (640, 360), (0, 12)),  # a rectangular input (imgsz [384, 640])
    ((640, 640), (320, 320), (320, 320), (0, 0)),
])
def test_letterbox_matches_ultralytics_and_its_inverse_is_exact(frame_wh, input_wh, resized, pad):
    lb = D.letterbox_of(frame_wh, input_wh)
    assert (lb.resized, tuple(lb.pad)) == (resized, pad) == ultralytics_letterbox(frame_wh, input_wh)
    fw, fh = frame_wh
    boxes = np.array([[0, 0, fw, fh], [1, 2, 3, 4], [fw * 0.25, fh * 0.5, fw * 0.75, fh - 1]], np.float32)
    inside = D.to_input(lb, boxes)
    np.testing.assert_allclose(inside[0], [pad[0], pad[1], pad[0] + resized[0], pad[1] + resized[1]], atol=1e-3)
    np.testing.assert_allclose(D.to_frame(lb, inside, frame_wh), boxes, atol=1e-3)


def test_to_frame_clips_to_the_frame():
    lb = D.letterbox_of((1280, 720), (640, 640))
    np.testing.assert_allclose(D.to_frame(lb, [[-10, 100, 700, 600]], (1280, 720)), [[0, 0, 1280, 720]])


def test_letterbox_frame_pads_114_around_the_resized_frame():
    cv2 = pytest.importorskip("cv2")
    frame = np.random.RandomState(0).randint(0, 255, (720, 1280, 3)).astype(np.uint8)
    lb = D.letterbox_of((1280, 720), (640, 640))
    img = D.letterbox_frame(frame, lb)
    assert img.shape == (640, 640, 3) and (img[:140] == 114).all() and (img[500:] == 114).all()
    np.testing.assert_array_equal(img[140:500], cv2.resize(frame, (640, 360), interpolation=cv2.INTER_LINEAR))


@pytest.mark.parametrize("shapes,nc,told,metadata,expected", [
    ([(1, 84, 8400)], 80, "auto", "", "v8"),
    ([(1, 84, 8400)], 80, "auto", "v5", "v8"),  # only one fits: the shapes win
    ([(1, 25200, 85)], 80, "auto", "", "v5"),
    ([(1, 300, 6)], 80, "auto", "v8", "end2end"),  # a YOLOv10 export whose metadata says only task=detect
    ([(1, 300, 6)], 1, "auto", "end2end", "end2end"),  # fits v5 with one class too: the metadata decides
    ([(1, 25200, 6)], 1, "auto", "v5", "v5"),
    ([(1, 84, 85)], 80, "auto", "v8", "v8"),  # fits v8 (85 anchors) and v5 (84 anchors)
    ([(1, 84, 85)], 80, "v5", "v8", "v5"),  # the user's layout wins
    ([(1, 3000, 21), (1, 3000, 4)], 21, "auto", "", "ssd"),
    ([(1, 3000, 4), (1, 3000, 21)], 21, "auto", "", "ssd"),
])
def test_recognise_layout(shapes, nc, told, metadata, expected):
    assert D.recognise_layout(shapes, nc, told, metadata) == expected


@pytest.mark.parametrize("shapes,nc,told,match", [
    ([(1, 84, 85)], 80, "auto", r"output \[1, 84, 85\] is ambiguous for 80 classes \(it fits v8 and v5\) .*"
                                r"--detector-layout"),
    ([(1, 300, 6)], 1, "auto", "ambiguous for 1 classes .*v5 and end2end"),
    ([(1, 10, 10)], 80, "auto", r"expected the outputs of an object detector with 80 classes .*\[1, 84, N\] .*found "
                                r"\[1, 10, 10\]"),
    ([(1, 84, 8400)], 3, "auto", "with 3 classes"),  # the labels do not fit the model
    ([(1, 25200, 85)], 80, "v8", r"expected outputs of the v8 layout for 80 classes, found \[1, 25200, 85\]"),
    ([(1, 3000, 21), (1, 2000, 4)], 21, "auto", "expected the outputs"),
])
def test_recognise_layout_refuses_in_one_line(shapes, nc, told, match):
    with pytest.raises(InputError, match=match) as e:
        D.recognise_layout(shapes, nc, told, "", "'m.onnx'")
    assert "\n" not in str(e.value) and str(e.value).startswith("'m.onnx': ")


@pytest.mark.parametrize("layout", ["v8", "v5", "end2end", "ssd"])
def test_decode_gives_the_placed_boxes(layout):
    boxes = np.array([[10, 20, 110, 220], [300, 300, 340, 420]], np.float32)
    outs = Y.layout_outputs(layout, boxes, [0.9, 0.5], [2, 0], nc=3, n=5, input_wh=(640, 480))
    b, s, ids = D.decode(layout, outs, 3, (640, 480))
    np.testing.assert_allclose(b[:2], boxes, atol=1e-3)
    np.testing.assert_allclose(s, [0.9, 0.5, 0, 0, 0], atol=1e-6)
    assert list(ids[:2]) == [2, 0] and ids.dtype == np.int64 and b.dtype == np.float32


def test_decode_v5_multiplies_objectness_and_ssd_skips_background():
    row = np.array([[50, 50, 20, 20, 0.5, 0.2, 0.8]], np.float32)  # cx cy w h obj, 2 classes
    b, s, ids = D.decode("v5", [row[None]], 2, (640, 640))
    np.testing.assert_allclose(b, [[40, 40, 60, 60]])
    np.testing.assert_allclose(s, [0.4]) and list(ids) == [1]
    scores = np.array([[[0.9, 0.05, 0.3]]], np.float32)  # BACKGROUND scores best
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6]]], np.float32)
    b, s, ids = D.decode("ssd", [scores, boxes], 3, (300, 300), ("BACKGROUND", "cat", "dog"))
    np.testing.assert_allclose(b, [[30, 60, 150, 180]], atol=1e-4)
    assert list(ids) == [2] and np.allclose(s, [0.3])
    assert list(D.decode("ssd", [scores, boxes], 3, (300, 300), ("a", "b", "c"))[2]) == [0]


def candidates():
    return Y.FRAME_BOXES.copy(), Y.SCORES.copy(), Y.CLASS_IDS.copy()


@pytest.mark.parametrize("conf,iou,classes,max_det,nms_inside,expected", [
    (0.25, 0.45, None, 300, False, Y.EXPECTED),  # the duplicate person (row 1) goes, the car over it stays
    (0.05, 0.45, None, 300, False, [0, 3, 2, 4, 5]),  # a lower conf lets the weak box in
    (0.85, 0.45, None, 300, False, [0]),  # score > conf: 0.85 itself is out
    (0.25, 0.99, None, 300, False, [0, 3, 1, 2, 4]),  # NMS at IoU 0.99 keeps the duplicate
    (0.25, 0.45, [2], 300, False, [2]),
    (0.25, 0.45, [0, 1], 300, False, [0, 3, 4]),
    (0.25, 0.45, None, 2, False, [0, 3]),
    (0.25, 0.45, None, 300, True, [0, 3, 1, 2, 4]),  # end2end: the model's own NMS, none here
])
def test_select(conf, iou, classes, max_det, nms_inside, expected):
    boxes, scores, ids = candidates()
    keep = D.select(boxes, scores, ids, conf, iou, None if classes is None else np.asarray(classes), max_det,
                    nms=not nms_inside)
    assert list(keep) == expected


def test_class_aware_nms_keeps_overlapping_boxes_of_other_classes():
    boxes = np.array([[0, 0, 100, 100], [2, 2, 100, 100], [1, 1, 99, 101], [300, 300, 310, 310]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    assert list(nms_indices(boxes, scores, 0.5)) == [0, 3]
    assert list(class_nms(boxes, scores, np.array([0, 0, 1, 1]), 0.5)) == [0, 2, 3]
    assert list(class_nms(boxes, scores, np.array([5, 0, 5, 5]), 0.5)) == [0, 1, 3]
    assert list(class_nms(boxes, scores, np.array([5, 0, 5, 5]), 0.5, limit=2)) == [0, 1]
    assert class_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5).shape == (0,)


@pytest.mark.parametrize("n", [200, 3000])  # one IoU matrix, or box by box (more than MATRIX_NMS)
def test_nms_indices_agrees_with_nms(n):
    rng = np.random.RandomState(3)
    xy = rng.uniform(0, 20 * n ** 0.5, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], 1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    keep = nms_indices(boxes, scores, 0.45)
    assert 0.3 * n < len(keep) < n and list(nms_indices(boxes, scores, 0.45, limit=7)) == list(keep[:7])
    kept_boxes, kept_scores = nms(boxes, scores, 0.45)
    np.testing.assert_array_equal(boxes[keep], kept_boxes)
    np.testing.assert_array_equal(scores[keep], kept_scores)


def test_class_ids_of_names_and_ids():
    labels = ("person", "bicycle", "car")
    assert D.class_ids_of((), labels) is None
    assert list(D.class_ids_of(["car", "0", "person"], labels)) == [0, 2]
    with pytest.raises(UsageError, match="expected --classes among the model's classes .* found 'dog'"):
        D.class_ids_of(["dog"], labels)
    with pytest.raises(UsageError, match="found '3'"):
        D.class_ids_of(["3"], labels)


def test_object_detector_meta_reads_ultralytics_metadata():
    props = Y.ultralytics_props(Y.NAMES, (384, 640))
    meta = object_detector_meta(props, "'m.onnx'")
    assert meta.labels == Y.NAMES and meta.input_size == (384, 640) and meta.layout == "v8" and meta.stride == 32
    assert meta.provenance["version"] == "8.3.0"
    feeds = meta.model_meta()
    assert feeds.channel_order == "RGB" and feeds.mean == (0, 0, 0) and feeds.std == (1, 1, 1)
    assert ObjectDetectorMeta.from_dict(meta.to_dict(), "sidecar") == meta  # what an engine's sidecar carries
    assert object_detector_meta(dict(props, args="{'nms': True}"), "m").layout == "end2end"
    assert object_detector_meta(dict(props, end2end="True"), "m").layout == "end2end"
    assert object_detector_meta({"names": str(list(Y.NAMES)), "stride": "32"}, "m", input_hw=[640, 640]).layout == "v5"
    assert object_detector_meta(dict(props, imgsz="320"), "m").input_size == (320, 320)


def test_object_detector_meta_from_options_and_the_input():
    meta = object_detector_meta({}, "m", {"labels": ("a", "b")}, input_hw=[480, 640])
    assert meta.labels == ("a", "b") and meta.input_size == (480, 640) and meta.layout == ""
    props = Y.ultralytics_props(Y.NAMES)
    assert object_detector_meta(props, "m", {"labels": ("x", "y", "z"), "input_size": (320, 320)}).labels == (
        "x", "y", "z")
    with pytest.raises(InputError, match="give an object detector without them --detector-labels and "
                                         r"--detector-input-size \(its input size is dynamic\)"):
        object_detector_meta({}, "'m.onnx'", {"labels": ("a",)}, input_hw=["height", "width"])
    with pytest.raises(InputError, match="expected a 'edge.detector' record in metadata_props"):
        object_detector_meta({}, "'m.onnx'", None, input_hw=[640, 640])


@pytest.mark.parametrize("props,match", [
    ({"names": "__import__('os').system('touch /tmp/edge_pwned')", "imgsz": "[640, 640]"},
     "expected metadata 'names' as a Python literal"),
    ({"names": "{0: 'a', 2: 'b'}", "imgsz": "[640, 640]"}, r"ids 0…n-1"),
    ({"names": "{0: 'a'}", "imgsz": "[640, 640]", "task": "segment"}, "found an Ultralytics 'segment' model"),
    ({"names": "{0: 'a'}", "imgsz": "['x', 640]"}, "expected metadata 'imgsz' as \\[height, width\\]"),
    ({"names": "{0: 'a', 1: 'a'}", "imgsz": "[640, 640]"}, "unique names"),
    ({"edge.meta": "{}"}, "found a classifier"),
])
def test_object_detector_meta_refuses_bad_metadata(props, match, tmp_path):
    with pytest.raises(InputError, match=match):
        object_detector_meta(props, "'m.onnx'")
    import os
    assert not os.path.exists("/tmp/edge_pwned")
