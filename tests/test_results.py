"""The one result record of a frame's faces: aligned columns, validated, filtered by one mask."""
import numpy as np
import pytest

from edge.detectors.base import Detections
from edge.run.results import Faces

BOXES = [[0, 0, 1, 1], [10, 10, 50, 50], [20, 20, 60, 80]]


def three():
    return Faces(BOXES, [7, 9, 11], scores=[0.5, 0.8, 0.9], labels=["a", "b", "a"], probs=[0.6, 0.7, 0.99],
                 keypoints=np.arange(3 * 6 * 2).reshape(3, 6, 2))


def test_columns_take_their_types():
    f = three()
    assert len(f) == 3
    assert [(n, c.dtype, c.shape) for n, c in f.columns()] == [
        ("boxes", np.float32, (3, 4)), ("track_ids", np.int64, (3,)), ("scores", np.float32, (3,)),
        ("labels", object, (3,)), ("probs", np.float64, (3,)), ("keypoints", np.float32, (3, 6, 2))]


def test_defaults_ids_are_row_numbers_and_the_rest_absent():
    f = Faces(BOXES)
    assert f.track_ids.tolist() == [0, 1, 2]
    assert (f.scores, f.labels, f.probs, f.keypoints) == (None, None, None, None)
    assert [n for n, _ in f.columns()] == ["boxes", "track_ids"]


@pytest.mark.parametrize("make", [Faces.empty, lambda: Faces([]), lambda: Faces(np.zeros((0, 4)), [], scores=[])])
def test_empty(make):
    f = make()
    assert len(f) == 0 and f.boxes.shape == (0, 4) and f.track_ids.shape == (0,)
    assert len(f[np.zeros(0, bool)]) == 0


@pytest.mark.parametrize("kwargs,message", [
    (dict(boxes=[[1, 2, 3]]), "column 'boxes': expected shape (N, 4), found (1, 3)"),
    (dict(boxes=[1, 2, 3, 4]), "column 'boxes': expected shape (N, 4), found (4,)"),
    (dict(boxes=BOXES, track_ids=[1, 2]), "column 'track_ids': expected shape (3,), found (2,)"),
    (dict(boxes=BOXES, scores=[[0.5], [0.6], [0.7]]), "column 'scores': expected shape (3,), found (3, 1)"),
    (dict(boxes=BOXES, labels=["a"]), "column 'labels': expected shape (3,), found (1,)"),
    (dict(boxes=BOXES, probs=np.ones(4)), "column 'probs': expected shape (3,), found (4,)"),
    (dict(boxes=BOXES, keypoints=np.zeros((3, 6))), "column 'keypoints': expected shape (3, K, 2), found (3, 6)"),
    (dict(boxes=BOXES, keypoints=np.zeros((3, 6, 3))), "column 'keypoints': expected shape (3, K, 2), found (3, 6, 3)"),
])
def test_wrong_shapes_name_expected_and_found(kwargs, message):
    with pytest.raises(ValueError) as e:
        Faces(**kwargs)
    assert message in str(e.value)


@pytest.mark.parametrize("index,rows", [
    (np.array([False, True, True]), [1, 2]),
    (np.array([True, False, True]), [0, 2]),
    (np.array([False, False, False]), []),
    (np.array([2, 0]), [2, 0]),
    ([1], [1]),
    ([], []),
    (slice(1, None), [1, 2]),
])
def test_one_mask_filters_every_column(index, rows):
    f = three()
    g = f[index]
    assert len(g) == len(rows)
    for (name, col), (_, sub) in zip(f.columns(), g.columns()):
        assert sub.tolist() == col[rows].tolist(), name
        assert sub.dtype == col.dtype and sub.shape[1:] == col.shape[1:], name


def test_dropping_a_box_drops_its_id():
    f = Faces([[0, 0, 1, 1], [10, 10, 50, 50]], [7, 9])
    kept = f[np.array([False, True])]
    assert kept.track_ids.tolist() == [9] and kept.boxes.tolist() == [[10, 10, 50, 50]]


@pytest.mark.parametrize("index,message", [
    (np.array([True, False]), "faces mask: expected shape (3,), found (2,)"),
    (np.array([[0, 1]]), "expected a boolean mask or a 1-D integer array, found int64 (1, 2)"),
    (np.array([0.5]), "expected a boolean mask or a 1-D integer array, found float64 (1,)"),
])
def test_bad_masks_are_refused(index, message):
    with pytest.raises(ValueError) as e:
        three()[index]
    assert message in str(e.value)


def test_from_detections_and_replace():
    det = Detections(np.array(BOXES[:2], np.float32), np.array([0.4, 0.9], np.float32))
    f = Faces.from_detections(det)
    assert f.boxes.tolist() == BOXES[:2] and f.scores.tolist() == pytest.approx([0.4, 0.9])
    assert f.track_ids.tolist() == [0, 1] and f.labels is None
    g = f.replace(labels=["a", "b"], probs=[0.6, 0.7])
    assert g.labels.tolist() == ["a", "b"] and g.probs.tolist() == [0.6, 0.7] and f.labels is None
    assert g.boxes.tolist() == f.boxes.tolist() and g.scores.tolist() == f.scores.tolist()
    with pytest.raises(ValueError, match=r"'labels': expected shape \(2,\), found \(1,\)"):
        f.replace(labels=["a"])
    with pytest.raises(TypeError, match="unknown faces column"):
        f.replace(label=["a", "b"])


def test_equality_compares_every_column():
    assert three() == three() and three()[[0, 1]] == three()[np.array([True, True, False])]
    assert three() != three().replace(probs=[0.6, 0.7, 0.98])
    assert Faces(BOXES) != Faces(BOXES, scores=[1, 1, 1])


NAMES = ("person", "bicycle", "car")


def objects():
    det = Detections(np.array(BOXES, np.float32), np.array([0.5, 0.8, 0.9], np.float32), np.array([2, 0, 2]))
    return Faces.from_detections(det, track_ids=[7, 9, 11], class_names=NAMES)


def test_class_ids_and_the_class_names_travel_with_the_rows():
    f = objects()
    assert f.class_ids.dtype == np.int64 and [n for n, _ in f.columns()][-1] == "class_ids"
    assert f.classes() == ["car", "person", "car"] and f.class_names == NAMES
    kept = f[np.array([False, True, True])]
    assert kept.classes() == ["person", "car"] and kept.track_ids.tolist() == [9, 11] and kept.class_names == NAMES
    labelled = kept.replace(labels=["with_mask", "car"], probs=[0.9, 0.9])
    assert labelled.class_names == NAMES and labelled.class_ids.tolist() == [0, 2]
    assert f[[2, 0]].classes() == ["car", "car"] and len(f[np.zeros(3, bool)].class_names) == 3
    assert Faces(BOXES).classes() == ["face"] * 3 and Faces(BOXES).class_names == ("face",)  # a face detector's
    assert f != Faces(f.boxes, f.track_ids, f.scores, class_ids=f.class_ids, class_names=("a", "b", "c"))
    assert f == Faces(f.boxes, f.track_ids, f.scores, class_ids=f.class_ids, class_names=list(NAMES))
    assert "class_names=['person', 'bicycle', 'car']" in repr(f) and "class_names" not in repr(three())


@pytest.mark.parametrize("kwargs,message", [
    (dict(class_ids=[0, 1]), "column 'class_ids': expected shape (3,), found (2,)"),
    (dict(class_ids=[0, 3, 1], class_names=NAMES), "expected ids in 0…2 (class_names ['person', 'bicycle', "
                                                   "'car']), found [0, 1, 3]"),
    (dict(class_ids=[0, 1, 0]), "expected ids in 0…0 (class_names ['face']), found [0, 1]"),
    (dict(class_ids=[0, -1, 0], class_names=NAMES), "found [-1, 0]"),
])
def test_class_ids_must_index_the_class_names(kwargs, message):
    with pytest.raises(ValueError) as e:
        Faces(BOXES, **kwargs)
    assert message in str(e.value)


@pytest.mark.parametrize("boxes, want", [
    ([[-5, -5, 10, 20], [70, 90, 200, 200], [50, 50, 50.5, 60]], [True, True, False]),  # clipped; too thin
    ([[79.5, 10, 81, 20], [10, 99.2, 20, 100.4], [78.9, 98.6, 81, 101]], [False, False, True]),  # 1 px at the edge; 2
    ([[200, 200, 300, 300], [10, 10, 12.5, 12.5]], [False, True]),  # outside; round(12.5) = 12: 2 px
    (np.zeros((0, 4)), []),
])
def test_visible_is_crop_faces_keep_rule_without_cropping(boxes, want):
    from edge.run.loop import crop_faces
    from edge.run.results import visible

    img = np.zeros((100, 80, 3), np.uint8)
    boxes = np.asarray(boxes, np.float32)
    assert visible(boxes, img.shape).tolist() == want == crop_faces(img, boxes)[1].tolist()
    rng = np.random.RandomState(0)
    many = rng.uniform(-20, 120, (500, 4)).astype(np.float32)
    many[:, 2:] = many[:, :2] + rng.uniform(-1, 6, (500, 2))  # many boxes near the 2-pixel edge
    assert (visible(many, img.shape) == crop_faces(img, many)[1]).all()
