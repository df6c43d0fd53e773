"""bench/checkpoint.py's pure parts: the entering/crossing schedule and the track → person matching."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
checkpoint = pytest.importorskip("checkpoint")


def test_schedule_alone_then_crossing_pairs_half_masked():
    plan = checkpoint.schedule(["a", "b", "c", "d", "e", "f"])
    starts = [start for _, _, _, start, _, _ in plan]
    groups = [starts.count(s) for s in sorted(set(starts))]
    assert groups == [1, 2, 1, 2]
    for start in set(starts):  # a pair walks towards each other at nearby heights
        pair = [p for p in plan if p[3] == start]
        if len(pair) == 2:
            assert {p[4] for p in pair} == {1, -1}
            assert 0 < abs(pair[0][5] - pair[1][5]) < 140  # faces 140 px tall: they overlap as they pass
    assert [p[2] for p in plan] == [False, True] * 3  # every other person masked
    assert [p[1] for p in plan] == ["a", "b", "c", "d", "e", "f"]


def box(x, y, w=100):
    return np.array([x, y, x + w, y + w], np.float32)


@pytest.mark.parametrize("seen,want", [
    ({0: ([box(0, 0)], [7]), 1: ([box(5, 0)], [7])}, {7: 0}),  # one track on person 0
    ({0: ([box(0, 0), box(300, 0)], [7, 8])}, {7: 0, 8: 1}),  # two people, two tracks
    ({0: ([box(150, 0)], [9])}, {}),  # a box on nobody (IoU < 0.3) is matched to nobody
    ({0: ([box(0, 0)], [7]), 1: ([box(300, 0)], [7]), 2: ([box(300, 0)], [7])}, {7: 1}),  # majority wins
    ({}, {}),  # frames the run never reached
])
def test_match_tracks(seen, want):
    truth = {"frames": [[(0, box(0, 0)), (1, box(300, 0))]] * 3}
    seen = {f: (np.stack(b), np.array(ids)) for f, (b, ids) in seen.items()}
    assert checkpoint.match_tracks(truth, seen) == want
