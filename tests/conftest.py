"""Shared fixtures: real faces from photos that ship inside installed packages, models, a notify socket."""
import os
import socket
import time

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

    from edge.detectors.haar import cascade_path

    cascade = cv2.CascadeClassifier(cascade_path(HAAR))
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
def exported_models(tmp_path_factory, face_crops):
    """A seeded teacher as checkpoint and ONNX: {"pt", "onnx" (dynamic batch), "onnx_b4" (static batch 4),
    "onnx_nometa" (no edge metadata)} → paths. Exported with bench/make_models.py's ``export_onnx``.

    The last layer's bias is shifted so that the real ``face_crops`` split between both classes
    (untrained, the net says one class for every face, and top-1 comparisons would prove little)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import importlib.util

    from models import create_model
    from models.checkpoint import save_checkpoint

    spec = importlib.util.spec_from_file_location(
        "make_models", os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench", "make_models.py"))
    make_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_models)
    out = tmp_path_factory.mktemp("exported")
    from edge.preprocess import preprocess

    torch.manual_seed(0)
    model = create_model("teacher").eval()
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        logits = model(torch.from_numpy(preprocess(face_crops, model.meta)))
        margin = logits[:, 1] - logits[:, 0]
        last.bias[1] -= float(margin.median()) + 1e-4  # just above the median: an uneven split, no exact tie
    return {"pt": save_checkpoint(model, str(out / "teacher.pt")),
            "onnx": make_models.export_onnx(model, model.meta, str(out / "teacher.onnx")),
            "onnx_b4": make_models.export_onnx(model, model.meta, str(out / "teacher-b4.onnx"), static_batch=4),
            "onnx_nometa": make_models.export_onnx(model, model.meta, str(out / "plain.onnx"), with_meta=False)}


# --- edge run (issue 6): a real-face video built in the test, a seeded classifier, the bundled model ---

def _video_maker():
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts",
                        "make_sample_video.py")
    spec = importlib.util.spec_from_file_location("make_sample_video", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def face_video(tmp_path_factory):
    """(path, ground truth) of a 640×360, 10 fps, 3 s MPEG-4 video: two real faces moving (astronaut
    bare, Grace Hopper masked); truth = {"frames": [{"frame", "faces": [{"box" xyxy, "label", ...}]}]}."""
    maker = _video_maker()
    path = str(tmp_path_factory.mktemp("video") / "faces.mp4")
    truth = maker.make_video(path, maker.package_photos(), width=640, height=360, fps=10, seconds=3.0,
                             face_w=100, seed=1)
    return path, truth


@pytest.fixture(scope="session")
def seeded_onnx(tmp_path_factory):
    """A seeded, untrained 'small' mask CNN exported to ONNX (dynamic batch) with edge metadata."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from export.onnx_export import finish, torch_export
    from models import create_model

    torch.manual_seed(0)
    model = create_model("small").eval()
    path = str(tmp_path_factory.mktemp("model") / "small.onnx")
    torch_export(model, model.meta, path)
    finish(path, model.meta, simplify=False)
    return path


@pytest.fixture
def trained_model():
    """The bundled trained mask model (edge/zoo/mask_default.onnx): it ships in the repository."""
    from edge.zoo import MASK_MODEL

    assert os.path.isfile(MASK_MODEL), "the bundled model is missing: " + MASK_MODEL
    return MASK_MODEL


@pytest.fixture(scope="session")
def tiny_faces(tmp_path_factory):
    """A tiny real-face mask dataset (offline): 14 people × 2 images per class, 64×64 crops."""
    pytest.importorskip("skimage")
    from models.synth import synthesize

    root = str(tmp_path_factory.mktemp("faces") / "faces")
    synthesize(root, per_face=2, size=64, seed=0, cache=None, fetch=False, lfw=12, progress=False,
               colour_factor=1)
    return root


@pytest.fixture
def notify_socket(tmp_path):
    """A bound datagram socket at a path; yields (address for NOTIFY_SOCKET, receive() → [(t, msg)])."""
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.05)

    def receive(duration=0.0):
        out, end = [], time.monotonic() + duration
        while True:
            try:
                out.append((time.monotonic(), s.recv(4096).decode()))
            except socket.timeout:
                if time.monotonic() >= end:
                    return out
    yield path, receive
    s.close()


# --- TensorRT and pycuda doubles (tests/fakes.py) ---

@pytest.fixture
def device(monkeypatch):
    """install(version, gpu, cc, total=4 GiB, fast_fp16=True, fast_int8=True) → fakes.Device: fake tensorrt
    and pycuda modules of that device in sys.modules for this test."""
    import fakes

    return lambda *args, **kwargs: fakes.install(monkeypatch, *args, **kwargs)


@pytest.fixture(scope="session")
def square_blazeface(tmp_path_factory):
    """The bundled full-range BlazeFace ONNX with its input fixed at its record's 192x192 (["N", 3, 192, 192]):
    a detector that takes only its square, as an older export or another converter gives it."""
    onnx = pytest.importorskip("onnx")
    from edge.detectors.blazeface import model_path

    proto = onnx.load(model_path("full"))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    for d in dims[2:]:
        d.Clear()
        d.dim_value = 192
    del proto.graph.value_info[:]  # stale symbolic shapes inside; ONNX Runtime infers its own
    path = str(tmp_path_factory.mktemp("square") / "face_detection_square.onnx")
    onnx.save(proto, path)
    return path


# --- bad models (issue 14): built in PyTorch, exported to ONNX with edge metadata, no export checks ---

def _bad_model_classes(torch):
    nn = torch.nn

    class Head(nn.Module):
        """(N, 3, 32, 32) → (N, outputs) through a conv and a linear layer; ``mode`` makes it misbehave."""

        def __init__(self, outputs=2, mode=""):
            super().__init__()
            self.conv, self.fc, self.mode = nn.Conv2d(3, 4, 3, stride=4), nn.Linear(4 * 8 * 8, outputs), mode

        def forward(self, x):
            if self.mode == "int64":
                x = x.float()
            elif self.mode == "flat":
                x = x.reshape(-1, 3, 32, 32)
            y = self.fc(torch.relu(self.conv(x)).flatten(1))
            if self.mode == "rows4":
                y = y.repeat(4, 1)  # four rows of logits per image
            elif self.mode == "one_row":
                y = y[:1]  # one row of logits whatever the batch
            elif self.mode == "late_nan":  # finite on an all-zero probe batch, NaN for any other image
                y = y + torch.sqrt(-x.abs().flatten(1).max(dim=1, keepdim=True)[0])
            return y

    return Head


@pytest.fixture(scope="session")
def bad_models(tmp_path_factory):
    """{name: path} of small with_mask/without_mask classifiers (32×32 RGB, dynamic batch) that misbehave:
    "nan" (NaN weights), "late_nan" (finite on zeros, NaN on real images),
    "rows4" (4 rows of logits per image), "one_row" (1 row whatever the batch), "int64" (an int64 input), "five" (5 outputs for 2 labels),
    "flat" (a (N, 3072) input where the metadata says 32×32), "good" (the same net, well behaved); "nan_ts" and
    "one_row_ts": those two as TorchScript with their edge.meta."""
    import warnings

    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from export.onnx_export import finish

    from edge.meta import ModelMeta

    Head = _bad_model_classes(torch)
    meta = ModelMeta(arch="", labels=("with_mask", "without_mask"), input_size=(32, 32))
    out = tmp_path_factory.mktemp("bad_models")
    image = torch.zeros((1, 3, 32, 32))
    cases = {"good": (Head(), image), "nan": (Head(), image), "late_nan": (Head(mode="late_nan"), image),
             "rows4": (Head(mode="rows4"), image), "one_row": (Head(mode="one_row"), image), "int64": (Head(mode="int64"), image.long()),
             "five": (Head(outputs=5), image), "flat": (Head(mode="flat"), image.reshape(1, -1))}
    paths = {}
    for name, (model, x) in cases.items():
        torch.manual_seed(0)
        model.eval()
        if name == "nan":
            with torch.no_grad():
                model.fc.weight.fill_(float("nan"))
        path = paths[name] = str(out / (name + ".onnx"))
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["logits"], opset_version=13,
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "rows"}}, dynamo=False)
        finish(path, meta, simplify=False)
        if name in ("nan", "one_row"):  # as TorchScript too
            paths[name + "_ts"] = str(out / (name + ".ts"))
            torch.jit.save(torch.jit.trace(model, x), paths[name + "_ts"], _extra_files={"edge.meta": meta.to_json()})
    return paths


@pytest.fixture(scope="session")
def yolo_onnx(tmp_path_factory):
    """{layout: path} for v8, v5, end2end and ssd: constant-output ONNX object detectors (tests/yolo_models.py)
    with Ultralytics metadata (names: person, bicycle, car; imgsz 640) that, on any 1280x720 frame, find exactly
    ``yolo_models.FRAME_BOXES[yolo_models.EXPECTED]`` with classes ``CLASS_IDS[EXPECTED]`` at conf 0.25, iou 0.45
    (the end2end model holds no duplicate: its NMS is inside). Also "v8_nometa": v8 without metadata_props."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import warnings

    import yolo_models as Y
    from edge.detectors.yolo_decode import letterbox_of, to_input

    out = tmp_path_factory.mktemp("yolo")
    boxes = to_input(letterbox_of(Y.FRAME_WH, Y.INPUT_HW[::-1]), Y.FRAME_BOXES)
    paths = {}
    for layout in ("v8", "v5", "end2end", "ssd"):
        rows = [i for i in range(len(boxes)) if layout != "end2end" or i != 1]
        outs = Y.layout_outputs(layout, boxes[rows], Y.SCORES[rows], Y.CLASS_IDS[rows], len(Y.NAMES), 64)
        props = Y.ultralytics_props(Y.NAMES, Y.INPUT_HW, args={"batch": 1, "nms": layout == "end2end"})
        if layout == "ssd":
            props = {"names": props["names"], "imgsz": props["imgsz"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            paths[layout] = Y.constant_onnx(out / (layout + ".onnx"), outs, props, Y.INPUT_HW)
            if layout == "v8":
                paths["v8_nometa"] = Y.constant_onnx(out / "v8_nometa.onnx", outs, {}, Y.INPUT_HW)
    return paths
