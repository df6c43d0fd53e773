"""``edge data synth``: real faces in, a two-class folder out, each person kept together."""
import hashlib
import json
import os

import numpy as np
import pytest

pytest.importorskip("skimage")
cv2 = pytest.importorskip("cv2")

from edge.errors import InputError, UsageError  # noqa: E402
from edge.imagefolder import group_of, scan  # noqa: E402
from models.synth import crop_face, detect_faces, procedural_texture, random_mask, synthesize  # noqa: E402


def _digest(root):
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            h.update(f.encode())
            with open(os.path.join(d, f), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def test_layout_names_and_manifest(tiny_faces):
    folder = scan(tiny_faces)
    assert folder.classes == ("with_mask", "without_mask")
    assert folder.counts() == {"with_mask": 42, "without_mask": 28}  # 14 people × (3 masked, 2 bare)
    people = {group_of(s.path) for s in folder.samples}
    assert "astronaut" in people and "grace_hopper" in people and len(people) == 14
    for s in folder.samples:
        assert "__" in os.path.basename(s.path)
    manifest = json.load(open(os.path.join(tiny_faces, "SOURCES.json")))
    assert manifest["counts"] == folder.counts() and manifest["people"] == 14
    img = cv2.imread(folder.samples[0].path)
    assert img.shape == (64, 64, 3)


def test_same_seed_same_files_other_seed_differs(tmp_path):
    kw = dict(per_face=1, size=32, cache=None, fetch=False, lfw=3, progress=False)
    a, b, c = (str(tmp_path / n) for n in "abc")
    synthesize(a, seed=1, **kw)
    synthesize(b, seed=1, **kw)
    synthesize(c, seed=2, **kw)
    assert _digest(a) == _digest(b) != _digest(c)


def test_grey_sources_stay_grey_and_masks_change_the_lower_face(tiny_faces):
    for name in ("lfw000__m00.jpg", "lfw000__p00.jpg"):
        img = cv2.imread(os.path.join(tiny_faces, "with_mask" if "__m" in name else "without_mask", name))
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])


def test_random_mask_covers_lower_face_only(face_photos):
    img, box = face_photos["astronaut"]
    x, y, w, h = box
    rng = np.random.default_rng(0)
    for _ in range(8):  # colours, random colours, textures: every kind changes the mouth, not the eyes
        out = random_mask(img, box, rng, [procedural_texture("dots", rng)])
        diff = np.abs(out.astype(int) - img.astype(int)).sum(axis=2) > 30
        assert diff[y + int(0.75 * h), x + w // 2]  # mouth/chin
        assert not diff[y:y + int(0.35 * h), x:x + w].any()  # eyes and forehead untouched


def test_crop_pads_at_the_border():
    img = np.full((50, 50, 3), 200, np.uint8)
    crop = crop_face(img, (0, 0, 40, 40), np.random.default_rng(0), 32)
    assert crop.shape == (32, 32, 3) and (crop == 200).all()


def test_detects_the_face_in_a_package_photo(face_photos):
    img, box = face_photos["grace_hopper"]
    found = detect_faces(img)
    assert len(found) == 1 and abs(found[0][0] - box[0]) < 5


def test_refuses_to_overwrite_a_non_empty_folder(tmp_path):
    out = tmp_path / "faces"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="already exists and is not empty"):
        synthesize(str(out), per_face=1, cache=None, fetch=False, lfw=1, progress=False)
    assert os.listdir(str(out)) == ["keep.txt"]


@pytest.mark.parametrize("kw", [dict(per_face=0), dict(size=8), dict(lfw=101)])
def test_bad_options(tmp_path, kw):
    with pytest.raises(UsageError):
        synthesize(str(tmp_path / "x"), cache=None, fetch=False, progress=False, **kw)
    assert not (tmp_path / "x").exists()


def test_cli_synth_and_info(tmp_path, cli):
    out = str(tmp_path / "faces")
    r = cli(["data", "synth", out, "--per-face", "1", "--lfw", "2", "--no-fetch", "--size", "32"])
    assert r.exit_code == 0, r.output
    assert "4 faces of 4 people, with_mask 10, without_mask 8" in r.output  # bare: 2 grey × 1 + 2 colour × 3
    r = cli(["data", "synth", out, "--no-fetch"])
    assert r.exit_code == 3 and "already exists" in r.output
    r = cli(["data", "info", out, "--json"])
    assert r.exit_code == 0
    info = json.loads(r.output)
    assert set(info["splits"]) == {"train", "val", "test", "test_in"}  # leave-style-out (models.protocol)
    r = cli(["data", "synth", str(tmp_path / "x"), "--no-fetch", "--holdout", "balaclava"])
    assert r.exit_code == 2 and "--holdout" in r.output


def test_manifest_records_every_image_and_labels_follow_the_style(tiny_faces):
    import csv

    from models.masks import FAMILIES, NEGATIVES

    rows = list(csv.DictReader(open(os.path.join(tiny_faces, "MANIFEST.csv"))))
    folder = scan(tiny_faces)
    assert sorted(r["file"] for r in rows) == sorted(
        os.path.basename(os.path.dirname(s.path)) + "/" + os.path.basename(s.path) for s in folder.samples)
    for r in rows:
        assert r["person"] == group_of(r["file"])
        if r["kind"] == "mask":
            assert r["label"] == "with_mask" and r["family"] in FAMILIES and r["colour_group"]
        else:
            assert r["label"] == "without_mask" and r["family"] in NEGATIVES + ("bare",)
        assert r["face_px"] and r["brightness"] and r["blur"] and r["jpeg"] and r["kp_source"] in ("blazeface", "template")
    kinds = {r["kind"] for r in rows}
    assert {"mask", "bare", "negative"} <= kinds
    assert sum(r["kp_source"] == "blazeface" for r in rows) > 0.9 * len(rows)  # keypoints found, not guessed
    manifest = json.load(open(os.path.join(tiny_faces, "SOURCES.json")))
    held = set(manifest["holdout"])
    for person in {r["person"] for r in rows}:  # every person wears a held-out and a training family
        fams = {r["family"] for r in rows if r["person"] == person and r["kind"] == "mask"}
        assert fams & held and fams - held
