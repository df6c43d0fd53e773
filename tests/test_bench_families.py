"""The mask-family detector bench (bench/detectors.py --families), its robustness conditions
(bench/robustness.py) and the MediaPipe peer (bench/mediapipe_peer.py): split, frames, scoring."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
pytest.importorskip("onnxruntime")

import detectors as B  # noqa: E402  (bench/detectors.py)


@pytest.fixture(scope="module")
def people():
    return B.cast()


def test_split_keeps_people_and_families_apart(people):
    assert not set(B.TUNE_PEOPLE) & set(B.HELD_PEOPLE)
    assert {"astronaut", "grace_hopper"} <= set(people)  # the package photos are always there
    names, held, negatives = B.families()
    assert held and set(held) < set(names)  # some families held out, some left for tuning
    for name, (img, box, crop, kps) in people.items():
        x, y, w, h = box
        assert kps.shape == (6, 2) and (kps[:4] >= (x, y)).all() and (kps[:4] <= (x + w, y + h)).all(), name


def test_family_frames_draw_every_family_and_the_bare_twin(people):
    names, held, negatives = B.families()
    items = B.family_faces(people, names, per_family=2, bare=2, seed=0, negatives=negatives)
    assert {f for _, f, _ in items if f and not f.startswith("neg:")} == set(names)
    masked = list(B.family_frames(people, items, seed=0))
    bare = list(B.family_frames(people, items, seed=0, bare=True))
    assert sum(len(t) for _, t in masked) == len(items)
    for (fm, tm), (fb, tb) in zip(masked, bare):
        assert [t[0].tolist() for t in tm] == [t[0].tolist() for t in tb]  # the same faces at the same places
        outside = np.ones(fm.shape[:2], bool)
        for gt, family, person, width, group in tm:
            assert 40 <= width <= 300 and gt[0] >= 0 and gt[3] <= 720
            x0, y0 = (max(int(v - 0.6 * width), 0) for v in gt[:2])
            outside[y0:int(gt[3] + 0.6 * width), x0:int(gt[2] + 0.6 * width)] = False
        assert (fm[outside] == fb[outside]).all()  # masks change the faces only
        if any(t[1] for t in tm):
            assert (fm != fb).any()


def test_score_families_counts_per_family_and_held_out():
    truth = [(np.array([0, 0, 50, 50], np.float32), "kn95", "astronaut", 50.0, "skin"),
             (np.array([100, 0, 150, 50], np.float32), "surgical", "obama", 50.0, "dark"),
             (np.array([200, 0, 250, 50], np.float32), None, "astronaut", 50.0, None)]
    frames = [(None, truth)]
    held = (["astronaut"], ["kn95"])
    r = B.score_families([np.array([[0, 0, 50, 50], [200, 0, 250, 50], [400, 400, 450, 450]])], frames, held)
    assert r["held_out_masked"] == (1.0, 1) and r["tuning_masked"] == (0.0, 1) and r["bare"] == (1.0, 1)
    assert r["families"] == {"kn95": 1.0, "surgical": 0.0} and r["fp_per_100_frames"] == 100.0
    assert r["colour_groups"] == {"dark": 0.0, "skin": 1.0} and r["worst_family"] == ("surgical", 0.0)


def test_robustness_conditions_change_the_face_or_the_frame(people):
    import robustness as R

    rng = np.random.default_rng(0)
    photo, box, crop, _ = people["astronaut"]
    patch, alpha, fb = B.cut(photo, box, crop, 100)
    p, a, f = R.face_transform("roll_deg", 30)(patch, alpha, fb, rng)
    assert f == fb and not np.array_equal(p, patch)  # rolled: same face size, pixels turned
    p, a, f = R.face_transform("yaw_deg", 45)(patch, alpha, fb, rng)
    assert f[2] == pytest.approx(fb[2] * np.cos(np.radians(45))) and f[3] == fb[3]
    assert R.face_transform("roll_deg", 0) is None and R.face_transform("brightness", 0.5) is None
    frame = np.full((72, 128, 3), 100, np.uint8)
    assert R.frame_op("brightness", 0.3, rng)(frame).max() == 30
    assert R.frame_op("noise_sigma", 0, rng)(frame) is frame
    assert R.frame_op("noise_sigma", 16, rng)(frame).std() > 5
    assert R.frame_op("jpeg_quality", 30, rng)(frame).shape == frame.shape


def test_mediapipe_peer_on_a_real_face(people):
    """The peer in its side venv (.venv-mediapipe: mediapipe 0.10.14) finds the astronaut's face."""
    from mediapipe_peer import peer_python, run_peer

    if peer_python() is None:
        pytest.skip("needs the MediaPipe side venv (python3 -m venv .venv-mediapipe && "
                    ".venv-mediapipe/bin/pip install mediapipe==0.10.14)")
    photo, (x, y, w, h), _, _ = people["astronaut"]
    (rows, version) = run_peer([photo])
    (boxes, scores, ms, cpu), = rows
    assert version == "0.10.14" and len(boxes) >= 1 and ms > 0
    from edge.detectors.boxes import iou
    assert iou(np.array([x, y, x + w, y + h], np.float32), boxes).max() >= 0.4
