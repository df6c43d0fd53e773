"""Mask synthesis placed by BlazeFace keypoints: every family and negative draws where it should,
follows roll and yaw, and carries the right label; the leave-style-out split keeps families and
people apart."""
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from models.masks import FAMILIES, NEGATIVES, SKIN_TONED, colour_group, draw_mask, draw_negative, label_of  # noqa: E402
from models.masks.geometry import face_frame, rotate_keypoints, yaw_keypoints  # noqa: E402

# a frontal face in a 240×240 grey image: BlazeFace order (eyes, nose, mouth, ears)
KP = np.array([[95.0, 100.0], [145.0, 100.0], [120.0, 125.0], [120.0, 148.0], [68.0, 110.0], [172.0, 110.0]])
GREY = np.full((240, 240, 3), 128, np.uint8)


def _changed(a, b):
    return np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 24


def _axis(mask):
    ys, xs = np.nonzero(mask)
    pts = np.stack([xs, ys], 1).astype(float)
    pts -= pts.mean(0)
    w, v = np.linalg.eigh(np.cov(pts.T))
    a = np.degrees(np.arctan2(v[1, -1], v[0, -1]))
    return (a + 90) % 180 - 90  # the principal axis, in (-90, 90]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_covers_the_mouth_not_the_eyes(family):
    out, info = draw_mask(GREY, KP, family, np.random.default_rng(1), colour="navy", nose="over")
    diff = _changed(out, GREY)
    assert diff[148, 120] and diff[140, 105]  # the mouth and the cheek beside it
    assert not diff[:int(KP[0, 1]) - 4].any()  # nothing above the eyes
    assert info["family"] == family and info["label"] == "with_mask" == label_of(family)
    assert info["colour"] == "navy" and info["colour_group"] == "dark"


@pytest.mark.parametrize("kind", NEGATIVES)
def test_every_negative_is_drawn_near_the_mouth_and_is_without_mask(kind):
    out, info = draw_negative(GREY, KP, kind, np.random.default_rng(2))
    diff = _changed(out, GREY)
    assert diff[110:260].any() and not diff[:int(KP[0, 1]) - 4].any()
    assert info["label"] == "without_mask" == label_of(kind) and info["kind"] == "negative"


def test_chin_mask_leaves_the_mouth_bare():
    out, _ = draw_negative(GREY, KP, "chin_mask", np.random.default_rng(0))
    assert not _changed(out, GREY)[140:152, 110:130].any()


@pytest.mark.parametrize("family", ["surgical", "cloth", "kn95"])
def test_the_mask_turns_with_head_roll(family):
    a, _ = draw_mask(GREY, KP, family, np.random.default_rng(5), colour="white")
    rolled = rotate_keypoints(KP, 30, centre=(120, 125))
    b, info = draw_mask(GREY, rolled, family, np.random.default_rng(5), colour="white")
    axis_a, axis_b = _axis(_changed(a, GREY)), _axis(_changed(b, GREY))
    assert abs(axis_a) < 8  # level face: a level mask
    assert abs(axis_b - axis_a - 30) < 6 and abs(info["roll"] - 30) < 1


def test_the_mask_follows_yaw():
    a, _ = draw_mask(GREY, KP, "surgical", np.random.default_rng(3), colour="white", nose="over")
    turned = yaw_keypoints(KP, 0.5)  # nose towards the image-right ear
    b, info = draw_mask(GREY, turned, "surgical", np.random.default_rng(3), colour="white", nose="over")
    ma, mb = _changed(a, GREY), _changed(b, GREY)
    assert info["yaw"] > 0.3 and abs(face_frame(KP).yaw) < 0.05
    # the ridge follows the nose: the mask is wider on the near (image-left) side of the nose
    nose_x = int(turned[2, 0])
    row = mb[int(turned[3, 1])]
    left, right = row[:nose_x].sum(), row[nose_x:].sum()
    assert left > 1.3 * right
    assert abs(ma[int(KP[3, 1]), :120].sum() - ma[int(KP[3, 1]), 120:].sum()) < 0.15 * ma[int(KP[3, 1])].sum()


def test_styles_patterns_and_colour_groups():
    rng = np.random.default_rng(0)
    for pat in ("dots", "stripes", "plaid", "floral", "logo", "camo"):
        out, info = draw_mask(GREY, KP, "patterned", rng, pattern=pat, colour="light_pink", other_colour=(40, 40, 40))
        assert info["pattern"] == pat and info["colour_group"] == "skin"
        region = out[135:160, 100:140].reshape(-1, 3).astype(float)
        assert region.std(0).max() > 8  # a visible pattern, not a flat fill
    assert {"beige", "pink", "brown", "skin_match"} <= SKIN_TONED
    assert colour_group("black") == "dark" and colour_group("white") == "light" and colour_group("hue_red") == "chromatic"
    groups = {draw_mask(GREY, KP, "cloth", np.random.default_rng(s), colour_group=g)[1]["colour_group"]
              for s, g in enumerate(("skin", "dark", "light", "chromatic"))}
    assert groups == {"skin", "dark", "light", "chromatic"}


def test_nose_coverage_and_bad_input():
    tops = {}
    for nose in ("over", "tip", "under"):
        out, info = draw_mask(GREY, KP, "surgical", np.random.default_rng(0), nose=nose, colour="black")
        rows = np.nonzero(_changed(out, GREY)[:, 120])[0]
        tops[nose] = rows.min()
        assert info["nose"] == nose
    assert tops["over"] < tops["tip"] < tops["under"] and tops["under"] > KP[2, 1]
    with pytest.raises(ValueError):
        draw_mask(GREY, KP, "balaclava", np.random.default_rng(0))
    with pytest.raises(ValueError):
        draw_mask(GREY, KP[:4], "surgical", np.random.default_rng(0))
