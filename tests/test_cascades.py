"""OpenCV's Haar cascades found without ``cv2.data`` (JetPack's OpenCV 4.1.1, Debian's opencv-data) as with it
(pip wheels): the folders searched, the error naming them, ``edge doctor``'s check and ``edge run`` end to end."""
import os
import shutil
import sys

import pytest

from edge.detectors import haar
from edge.detectors.haar import DEFAULT_CASCADE, cascade_folders, cascade_path, find_cascade
from edge.doctor import checks as d
from edge.errors import InputError

SYSTEM = haar.SYSTEM_CASCADE_DIRS


@pytest.mark.parametrize("wheel,prefix,system,expected", [
    # pip wheel: cv2.data first, then the environment's share/ and the system's folders
    ("/venv/lib/python3.6/site-packages/cv2/data/", "/venv", SYSTEM,
     ["/venv/lib/python3.6/site-packages/cv2/data", "/venv/share/opencv4/haarcascades"] + list(SYSTEM)),
    # JetPack / Debian: no cv2.data; a system Python's prefix /usr is searched once
    (None, "/usr", SYSTEM, ["/usr/share/opencv4/haarcascades", "/usr/local/share/opencv4/haarcascades",
                            "/usr/share/opencv/haarcascades", "/usr/share/OpenCV/haarcascades"]),
    ("", "/opt/conda", ("/a", "/a/"), ["/opt/conda/share/opencv4/haarcascades", "/a"]),
])
def test_cascade_folders_in_order(wheel, prefix, system, expected):
    assert cascade_folders(wheel, prefix, system) == expected


def test_jetpack_and_debian_folders_are_searched():
    assert "/usr/share/opencv4/haarcascades" in SYSTEM and "/usr/share/OpenCV/haarcascades" in SYSTEM


def _fake(tmp_path, *names):
    out = []
    for name in names:
        folder = tmp_path / name
        folder.mkdir(parents=True)
        out.append(str(folder))
    return out


def test_find_cascade_takes_the_first_folder_that_has_it(tmp_path):
    empty, jetpack, old = _fake(tmp_path, "empty", "usr/share/opencv4/haarcascades", "usr/share/OpenCV/haarcascades")
    for folder in (jetpack, old):
        open(os.path.join(folder, DEFAULT_CASCADE), "w").close()
    missing = str(tmp_path / "missing")
    assert find_cascade(DEFAULT_CASCADE, [missing, empty, jetpack, old]) == os.path.join(jetpack, DEFAULT_CASCADE)
    assert find_cascade(DEFAULT_CASCADE, [old, jetpack]) == os.path.join(old, DEFAULT_CASCADE)
    assert find_cascade("other.xml", [missing, empty, jetpack, old]) is None
    assert find_cascade(DEFAULT_CASCADE, []) is None


@pytest.fixture
def jetpack_opencv(tmp_path, monkeypatch):
    """cv2 as JetPack ships it: no cv2.data; the system folders are fake ones in tmp_path → [folders]."""
    real = cascade_path(DEFAULT_CASCADE)  # the real file, from wherever this OpenCV keeps it
    import cv2

    monkeypatch.delattr(cv2, "data", raising=False)
    monkeypatch.setitem(sys.modules, "cv2.data", None)  # `from cv2 import data` → ImportError
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "env"))
    folders = _fake(tmp_path, "usr/local/share/opencv4/haarcascades", "usr/share/opencv4/haarcascades")
    monkeypatch.setattr(haar, "SYSTEM_CASCADE_DIRS", tuple(folders))
    return real, folders


def test_without_cv2_data_a_name_is_found_in_jetpacks_folder(jetpack_opencv):
    real, (local, jetpack) = jetpack_opencv
    shutil.copy(real, jetpack)
    assert cascade_path(DEFAULT_CASCADE) == os.path.join(jetpack, DEFAULT_CASCADE)
    assert haar.HaarDetector().cascade_file == os.path.join(jetpack, DEFAULT_CASCADE)


def test_the_error_names_every_folder_searched_and_the_fix(jetpack_opencv, tmp_path):
    _, folders = jetpack_opencv
    with pytest.raises(InputError) as e:
        cascade_path(DEFAULT_CASCADE)
    msg = str(e.value)
    assert "\n" not in msg and DEFAULT_CASCADE in msg
    for folder in [str(tmp_path / "env" / "share" / "opencv4" / "haarcascades")] + folders:
        assert folder in msg
    assert "opencv-data" in msg and "nvidia-opencv" in msg and "--cascade FILE" in msg


def test_a_missing_path_is_not_searched_for(tmp_path):
    with pytest.raises(InputError, match="found nothing at '.*nope.xml'"):
        cascade_path(str(tmp_path / "nope.xml"))


def test_edge_run_with_haar_starts_without_cv2_data(jetpack_opencv, cli):
    pytest.importorskip("onnxruntime")
    real, (_, jetpack) = jetpack_opencv
    r = cli(["run", "--detector", "haar", "--headless", "--max-frames", "3"])
    assert r.exit_code == 3 and "found no '{}'".format(DEFAULT_CASCADE) in r.output  # no cascades anywhere yet
    shutil.copy(real, jetpack)
    r = cli(["run", "--detector", "haar", "--headless", "--max-frames", "3"])
    assert r.exit_code == 0, r.output
    assert "3 frames" in r.output and "cascade " + DEFAULT_CASCADE in r.output


# --- edge doctor -----------------------------------------------------------------------------------

@pytest.mark.parametrize("facts,level,found,fix", [
    ({"opencv": "4.1.1", "cascade_folders": ["/usr/share/opencv4/haarcascades"],
      "haar_cascade": "/usr/share/opencv4/haarcascades/" + DEFAULT_CASCADE}, d.OK, "/usr/share/opencv4/haarcascades", ""),
    ({"opencv": "4.1.1", "cascade_folders": ["/x/share/opencv4/haarcascades", "/usr/share/OpenCV/haarcascades"],
      "haar_cascade": None}, d.FAIL, "/x/share/opencv4/haarcascades, /usr/share/OpenCV/haarcascades", "opencv-data"),
    ({"opencv": None}, d.SKIP, "not probed", ""),
])
def test_doctor_says_which_cascade_folder_is_used(facts, level, found, fix):
    c = d.check_cascades(facts)
    assert (c.name, c.level) == ("haar cascades", level)
    assert found in c.found and fix in c.fix
    assert d.exit_code([c]) == (1 if level == d.FAIL else 0)


def test_doctor_probes_cascades_without_cv2_data(jetpack_opencv, cli):
    import json

    real, (_, jetpack) = jetpack_opencv
    out = json.loads(cli(["doctor", "--json"]).output)
    check = {c["name"]: c for c in out["checks"]}["haar cascades"]
    assert check["level"] == d.FAIL and jetpack in check["found"] and "opencv-data" in check["fix"]
    shutil.copy(real, jetpack)
    r = cli(["doctor", "--json"])
    out = json.loads(r.output)
    check = {c["name"]: c for c in out["checks"]}["haar cascades"]
    assert check["level"] == d.OK and check["found"] == "{} in {}".format(DEFAULT_CASCADE, jetpack)
    assert out["facts"]["haar_cascade"] == os.path.join(jetpack, DEFAULT_CASCADE)


def test_the_l4t_image_relies_on_jetpacks_cascades_not_cv2_data():
    """Dockerfile.l4t: JetPack's OpenCV package with its cascades, found by edge's search when the image builds."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Dockerfile.l4t")
    text = open(path).read()
    assert " libopencv libopencv-python " in text and "cv2.data.haarcascades" not in text
    assert 'python3 -c "from edge.detectors.haar import DEFAULT_CASCADE, cascade_path; ' \
           'print(cascade_path(DEFAULT_CASCADE))"' in text
