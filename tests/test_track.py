"""The light tracker between detections: flow-driven boxes on moving real faces (its IoU matching: test_boxes)."""
import numpy as np
import pytest

from edge.detectors import create_detector
from edge.detectors.boxes import iou_matrix
from edge.run.track import BoxTracker, shift_box


@pytest.mark.parametrize("box,dx,dy,expected", [
    ([10, 10, 20, 20], 5, -3, [15, 7, 25, 17]),
    ([10, 10, 20, 20], -50, 0, [0, 10, 10, 20]),     # kept inside, size unchanged
    ([10, 10, 20, 20], 500, 500, [90, 90, 100, 100]),
])
def test_shift_box(box, dx, dy, expected):
    np.testing.assert_allclose(shift_box(np.array(box, np.float32), dx, dy, 100, 100), expected)


def test_ids_survive_detections_and_missed_tracks_expire():
    img = np.zeros((100, 100, 3), np.uint8)
    t = BoxTracker(max_missed=1)
    _, ids = t.update(img, [[10, 10, 30, 30], [60, 60, 90, 90]])
    assert ids == [0, 1]
    _, ids = t.update(img, [[62, 61, 91, 92]])               # face 0 not detected this time
    assert ids == [1, 0]
    boxes, ids = t.update(img, [[63, 62, 92, 93], [5, 5, 15, 15]])  # face 0 missed twice: gone; a new face
    assert ids == [1, 2] and len(boxes) == 2


@pytest.mark.parametrize("every", [3, 5])
def test_detect_every_keeps_boxes_on_moving_faces(face_video, every):
    import cv2

    path, truth = face_video
    det = create_detector("haar")
    tracker = BoxTracker(scale=0.5)
    cap = cv2.VideoCapture(path)
    ious, moved = [], []
    for t in truth["frames"]:
        ok, img = cap.read()
        if t["frame"] % every == 0:
            boxes, ids = tracker.update(img, det.detect(img).boxes)
            continue
        boxes, ids = tracker.predict(img)
        bare = [f for f in t["faces"] if f["label"] == "without_mask"]
        first = truth["frames"][t["frame"] - t["frame"] % every]["faces"]
        for f in bare:
            ious.append(iou_matrix([f["box"]], boxes).max() if len(boxes) else 0.0)
            start = [g for g in first if g["id"] == f["id"]][0]["box"]
            moved.append(abs(f["box"][1] - start[1]) + abs(f["box"][0] - start[0]))
    assert max(moved) > 15, "the faces should move between detections for this test to mean something"
    assert min(ious) >= 0.5, "tracked boxes drifted off the face: IoU {:.2f}".format(min(ious))


def crossing(frames=30, hidden=()):
    """Two 60-px boxes crossing paths head-on at 8 px/frame; frames in ``hidden``: only the front one found."""
    for i in range(frames):
        a = [10 + 8 * i, 100, 70 + 8 * i, 160]            # left → right
        b = [250 - 8 * i, 104, 310 - 8 * i, 164]          # right → left, a little lower
        yield i, ([a] if i in hidden else [a, b]), (a, b)


@pytest.mark.parametrize("hidden", [(), (14, 15, 16)])
def test_two_people_crossing_keep_their_ids(hidden):
    """Without the constant-velocity prediction the boxes swap ids as they pass (nearest box wins), and a
    hidden box is lost to a new id."""
    img = np.zeros((300, 400, 3), np.uint8)
    t = BoxTracker(max_missed=5, flow=False)
    first = None
    for i, det, (a, b) in crossing(hidden=hidden):
        boxes, ids = t.update(img, det)
        found = [ids[k] for k, m in enumerate(t.missed) if m == 0]
        first = first or found
        assert found[0] == first[0], "frame {}: box A changed id {} → {}".format(i, first[0], found[0])
        if len(found) > 1:
            assert found[1] == first[1], "frame {}: box B changed id {} → {}".format(i, first[1], found[1])
    assert sorted(set(ids)) == [0, 1]
