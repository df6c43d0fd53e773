"""Training data: face-aware split, in-memory loading, augmentation, clear errors on bad folders."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from edge.errors import InputError  # noqa: E402
from edge.imagefolder import group_of, scan, split  # noqa: E402
from edge.preprocess import preprocess  # noqa: E402
from models import create_model  # noqa: E402
from models.data import Augment, ImageDataset, build_splits, load_images, load_splits  # noqa: E402


def test_each_person_lands_in_one_split_for_every_class(tiny_faces):
    folder = scan(tiny_faces)
    parts = split(folder, (0.7, 0.15, 0.15), seed=0)
    where = {}
    for k, part in enumerate(parts):
        for s in part:
            where.setdefault(group_of(s.path), set()).add(k)
    assert all(len(v) == 1 for v in where.values())
    assert all(len(p) > 0 for p in parts)
    assert sum(map(len, parts)) == len(folder.samples)
    assert parts == split(folder, (0.7, 0.15, 0.15), seed=0)  # deterministic
    assert parts != split(folder, (0.7, 0.15, 0.15), seed=1)


def test_images_are_resized_like_the_device(tiny_faces):
    meta = create_model("small").meta
    folder = scan(tiny_faces)
    imgs = load_images(folder.samples[:3], meta.input_size)
    ds = ImageDataset(imgs, [s.label for s in folder.samples[:3]], meta)
    x, y = ds[1]
    device = preprocess([cv2.imread(folder.samples[1].path)], meta)[0]
    np.testing.assert_allclose(x.numpy(), device, atol=1e-6)
    assert int(y) == folder.samples[1].label


def test_augment_is_seeded_and_flip_mirrors():
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    aug = Augment()
    a = aug(img, np.random.default_rng(5))
    b = aug(img, np.random.default_rng(5))
    assert a.shape == img.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, img)
    only_flip = Augment(flip=1.0, scale=(1.0, 1.0), ratio=(1.0, 1.0), brightness=0, contrast=0, saturation=0,
                        low_res=0)
    assert np.abs(only_flip(img, np.random.default_rng(0)).astype(int) - img[:, ::-1].astype(int)).max() <= 1


def test_build_splits_and_label_check(tiny_faces):
    meta = create_model("small").meta
    s = build_splits(tiny_faces, meta, (0.7, 0.15, 0.15), 0, progress=False)
    assert [len(s.train), len(s.val), len(s.test)] == [len(s.samples[k]) for k in ("train", "val", "test")]
    assert 0 < len(s.test) and len(s.train) + len(s.val) + len(s.test) < 70  # leave-style-out drops some masks
    assert s.summary()["counts"] == {"with_mask": 42, "without_mask": 28}
    with pytest.raises(InputError, match="do not match the class folders"):
        build_splits(tiny_faces, meta.replace(labels=("mask", "no_mask")), (0.7, 0.15, 0.15), 0, progress=False)


@pytest.mark.parametrize("layout,message", [
    ({}, "expected at least 2 class sub-folders"),
    ({"with_mask": 3}, "found 1 (with_mask)"),
    ({"with_mask": 3, "without_mask": 0}, "found none in 'without_mask'"),
])
def test_bad_folders(tmp_path, layout, message):
    for cls, n in layout.items():
        (tmp_path / cls).mkdir()
        for i in range(n):
            cv2.imwrite(str(tmp_path / cls / "{}.jpg".format(i)), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_splits(str(tmp_path))


def test_too_few_faces_for_a_split(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        cv2.imwrite(str(tmp_path / cls / "x.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="expected every class in the"):
        load_splits(str(tmp_path))


def test_unreadable_image_is_named(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "b" / "ok.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    samples = scan(str(tmp_path)).samples
    with pytest.raises(InputError, match="broken.jpg"):
        load_images(samples, (16, 16))


def test_augment_can_turn_images_grey():
    img = np.random.default_rng(1).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    grey = Augment(flip=0, scale=(1.0, 1.0), ratio=(1.0, 1.0), brightness=0, contrast=0, grey=1.0, low_res=0)
    out = grey(img, np.random.default_rng(0)).astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1
    expected = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(int)
    assert np.abs(out[..., 0] - expected).max() <= 1


def test_augment_low_resolution_loses_detail():
    img = np.random.default_rng(2).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    low = Augment(flip=0, scale=(1.0, 1.0), ratio=(1.0, 1.0), brightness=0, contrast=0, saturation=0, low_res=1.0)
    out = low(img, np.random.default_rng(0))
    assert out.shape == img.shape
    detail = lambda a: cv2.Laplacian(a.astype(np.float32), cv2.CV_32F).var()  # noqa: E731
    assert detail(out) < 0.5 * detail(img)


def test_leave_style_out_split_keeps_families_and_people_apart(tiny_faces):
    from models.protocol import check_disjoint, read_holdout, read_manifest, style_of

    folder, parts = load_splits(tiny_faces, (0.7, 0.15, 0.15), seed=0)
    manifest, held = read_manifest(tiny_faces), set(read_holdout(tiny_faces))
    assert held == {"kn95", "patterned", "gaiter"}
    check_disjoint(parts, manifest, held)
    fams = {k: {style_of(s, manifest)[1] for s in v if style_of(s, manifest)[0] == "mask"} for k, v in parts.items()}
    people = {k: {s.group for s in v} for k, v in parts.items()}
    assert fams["test"] and fams["test"] <= held and not (fams["train"] | fams["val"]) & held
    assert fams["test_in"] and not fams["test_in"] & held  # the same test people in training families
    assert people["test_in"] == people["test"] and not people["test"] & (people["train"] | people["val"])
    assert not people["train"] & people["val"]
    # held-out masks of training people are in no split; everything else is in exactly one of train/val/test(_in)
    used = {s.path for v in parts.values() for s in v}
    for s in folder.samples:
        kind, fam = style_of(s, manifest)
        if s.group in people["train"] | people["val"] and kind == "mask" and fam in held:
            assert s.path not in used
        else:
            assert s.path in used
    # a mixed-up split is caught
    bad = dict(parts, train=parts["train"] + parts["test"][:1])
    with pytest.raises(AssertionError):
        check_disjoint(bad, manifest, held)


def test_a_folder_without_manifest_splits_by_person_only(tmp_path, tiny_faces):
    import shutil

    root = str(tmp_path / "plain")
    shutil.copytree(tiny_faces, root)
    os.remove(os.path.join(root, "MANIFEST.csv"))
    folder, parts = load_splits(root, (0.7, 0.15, 0.15), seed=0)
    assert set(parts) == {"train", "val", "test"} and sum(map(len, parts.values())) == len(folder.samples)
