"""Shared fixtures: real faces from photos that ship inside installed packages."""
import os

import numpy as np
import pytest

HAAR = "haarcascade_frontalface_default.xml"


def _photos():
    """(name, BGR image) of package-shipped photos with one known face each."""
    import cv2
    import matplotlib.cbook
    from skimage import data

    yield "astronaut", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    yield "grace_hopper", cv2.imread(str(path))


@pytest.fixture(scope="session")
def face_photos():
    """{name: (BGR photo, (x, y, w, h) of its face found by Haar)}."""
    import cv2

    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, HAAR))
    out = {}
    for name, img in _photos():
        boxes = cascade.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(60, 60))
        assert len(boxes) == 1, "expected one face in {}, found {}".format(name, len(boxes))
        out[name] = (img, tuple(int(v) for v in boxes[0]))
    return out


@pytest.fixture(scope="session")
def face_crops(face_photos):
    """Real face crops (BGR uint8): two colour faces plus 30 grey LFW faces upscaled to 64×64."""
    import cv2
    from skimage import data

    crops = [img[y:y + h, x:x + w].copy() for img, (x, y, w, h) in face_photos.values()]
    lfw = (data.lfw_subset()[:30] * 255).astype(np.uint8)  # the first 100 are faces
    crops += [cv2.cvtColor(cv2.resize(f, (64, 64)), cv2.COLOR_GRAY2BGR) for f in lfw]
    return crops


@pytest.fixture
def teacher_ckpt(tmp_path):
    """A seeded, untrained teacher checkpoint."""
    torch = pytest.importorskip("torch")
    from models import create_model
    from models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(create_model("teacher"), str(tmp_path / "teacher.pt"))


@pytest.fixture
def cli():
    """Invoke the edge CLI in-process: cli(["profile", ...]) → click Result (output has stderr too)."""
    from typer.testing import CliRunner

    from edge.cli import app

    runner = CliRunner()
    return lambda args: runner.invoke(app, args)


@pytest.fixture(scope="session")
def tiny_faces(tmp_path_factory):
    """A tiny real-face mask dataset (offline): 14 people × 2 images per class, 64×64 crops."""
    pytest.importorskip("skimage")
    from models.synth import synthesize

    root = str(tmp_path_factory.mktemp("faces") / "faces")
    synthesize(root, per_face=2, size=64, seed=0, cache=None, fetch=False, lfw=12, progress=False,
               colour_factor=1)
    return root
