"""Box geometry (edge.detectors.boxes) and the one ground-truth matcher: hand-worked tables."""
import numpy as np
import pytest

from edge.bench.detectors import match
from edge.detectors.boxes import greedy_match, iou, iou_matrix, nms

A = np.testing.assert_allclose


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),       # touching edges
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),   # half overlap
    ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),      # inside
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),            # empty boxes
])
def test_iou(a, b, expected):
    A(iou(np.array(a, np.float32), np.array([b], np.float32)), [expected], rtol=1e-6)


@pytest.mark.parametrize("boxes, scores, kw, want_boxes, want_scores", [
    # two overlapping (IoU 0.68 > 0.3): the better one stays
    ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.6, 0.9], {}, [[1, 1, 11, 11]], [0.9]),
    # disjoint: both, best first
    ([[0, 0, 10, 10], [20, 0, 30, 10]], [0.6, 0.9], {}, [[20, 0, 30, 10], [0, 0, 10, 10]], [0.9, 0.6]),
    # weighted: the score-weighted mean of the group, the best score
    ([[0, 0, 10, 10], [2, 0, 12, 10]], [0.5, 0.5], {"weighted": True}, [[1, 0, 11, 10]], [0.5]),
    ([[0, 0, 10, 10], [4, 0, 14, 10]], [0.75, 0.25], {"weighted": True}, [[1, 0, 11, 10]], [0.75]),
    # a part of a face inside a whole one: IoU 0.25 keeps it, containment 0.7 drops it
    ([[0, 0, 20, 20], [0, 0, 10, 10]], [0.9, 0.6], {}, [[0, 0, 20, 20], [0, 0, 10, 10]], [0.9, 0.6]),
    ([[0, 0, 20, 20], [0, 0, 10, 10]], [0.9, 0.6], {"contain_threshold": 0.7}, [[0, 0, 20, 20]], [0.9]),
    # nothing in, nothing out
    (np.zeros((0, 4)), [], {}, np.zeros((0, 4)), []),
])
def test_nms(boxes, scores, kw, want_boxes, want_scores):
    b, s = nms(np.array(boxes, np.float32), np.array(scores, np.float32), 0.3, **kw)
    A(b, np.array(want_boxes, np.float32).reshape(-1, 4), atol=1e-5)
    A(s, want_scores)


@pytest.mark.parametrize("a,b,expected", [
    ([[0, 0, 10, 10]], [[0, 0, 10, 10]], [[1.0]]),
    ([[0, 0, 10, 10]], [[5, 0, 15, 10]], [[1 / 3]]),
    ([[0, 0, 10, 10]], [[20, 20, 30, 30], [0, 0, 10, 5]], [[0.0, 0.5]]),
    (np.zeros((0, 4)), [[0, 0, 1, 1]], np.zeros((0, 1))),
])
def test_iou_matrix(a, b, expected):
    np.testing.assert_allclose(iou_matrix(a, b), np.array(expected, np.float32), atol=1e-6)


@pytest.mark.parametrize("iou,thr,pairs", [
    ([[0.9, 0.8], [0.85, 0.1]], 0.3, [(0, 0)]),
    ([[0.9, 0.8], [0.85, 0.4]], 0.3, [(0, 0), (1, 1)]),
    ([[0.2]], 0.3, []),
    (np.zeros((0, 2)), 0.3, []),
])
def test_greedy_match(iou, thr, pairs):
    assert greedy_match(np.array(iou, np.float32), thr) == pairs


FACES = [{"box": [0, 0, 10, 10], "label": "a"}, {"box": [5, 0, 15, 10], "label": "b"}]  # side by side, IoU 1/3


@pytest.mark.parametrize("boxes,found,false", [
    ([[2, 0, 12, 10]], [True, False], 0),                     # one box on two faces (IoU 0.67, 0.54): one hit
    ([[0, 0, 10, 10], [0, 0, 10, 9]], [True, False], 1),      # two boxes on face a: one hit, one spare
    ([[1, 0, 11, 10], [5, 0, 15, 10]], [True, True], 0),      # each box its own face, though both overlap a
    ([[4, 0, 14, 10], [0, 0, 10, 10]], [True, True], 0),      # best pair first: (a, box 1) 1.0, then (b, box 0) 0.82
    ([], [False, False], 0),
])
def test_match_is_one_to_one(boxes, found, false):
    assert match(np.array(boxes, np.float32), FACES, 0.4) == (found, false)
