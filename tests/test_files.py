"""edge.files: atomic writes, sha256, the Jetson probe, image suffixes."""
import hashlib
import os
import stat

import pytest

from edge import files


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "out" / "report.json"  # the folder is made
    assert files.write_atomic(str(path), "one\n") == str(path)
    files.write_atomic(str(path), b"two\n")
    assert path.read_bytes() == b"two\n" and os.listdir(str(path.parent)) == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="disk full"):
        with files.atomic_path(str(path)) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".onnx") and os.path.isfile(tmp)
            open(tmp, "wb").write(b"half")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"previous" and os.listdir(str(tmp_path)) == ["model.onnx"]


def test_mode_follows_the_umask_unless_given(tmp_path):
    old = os.umask(0o027)
    try:
        files.write_atomic(str(tmp_path / "a"), "x")
        files.write_atomic(str(tmp_path / "b"), "x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o640  # mkstemp would have made 0600
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o644


def test_sha256_file_reads_in_chunks(tmp_path):
    data = os.urandom(3000)
    (tmp_path / "f").write_bytes(data)
    assert files.sha256_file(str(tmp_path / "f"), chunk=1024) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("release,model,gpu,jetson,name", [
    (None, None, False, False, None),
    ("# R32 (release), REVISION: 7.1\n", None, False, True, None),
    (None, "NVIDIA Jetson Nano Developer Kit\x00", False, True, "NVIDIA Jetson Nano Developer Kit"),
    (None, "Raspberry Pi 4 Model B\x00", False, False, None),
    (None, None, True, True, None),
])
def test_is_jetson(tmp_path, monkeypatch, release, model, gpu, jetson, name):
    for attr, text in (("L4T_RELEASE", release), ("DEVICE_TREE_MODEL", model), ("TEGRA_GPU", "" if gpu else None)):
        path = tmp_path / attr
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(files, attr, str(path))
    assert files.is_jetson() is jetson and files.jetson_model() == name


def test_one_image_suffix_tuple():
    from edge import imagefolder
    from edge.sources import opencv, uri

    assert uri.IMAGE_SUFFIXES is opencv.IMAGE_SUFFIXES is files.IMAGE_SUFFIXES
    assert imagefolder.is_image("A.JPG") and imagefolder.is_image("x.webp") and not imagefolder.is_image("x.mp4")
