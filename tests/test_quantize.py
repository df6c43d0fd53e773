"""`edge quantize` / `edge export --int8`: static INT8 QDQ ONNX via ONNX Runtime, calibrated on real
faces, accuracy next to FP32 on a labelled ImageFolder."""
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from edge.backends import load_backend  # noqa: E402
from edge.imagefolder import read_image, scan  # noqa: E402
from edge.meta import ModelMeta  # noqa: E402
from edge.preprocess import preprocess  # noqa: E402

LABELS = ("with_mask", "without_mask")


@pytest.fixture(scope="module")
def faces_folder(tmp_path_factory, face_crops):
    """ImageFolder of real faces: each face once with a drawn mask, once without (64 images)."""
    import cv2

    from models.facemask import draw_mask

    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for cls in LABELS:
        os.makedirs(str(root / cls))
    for i, crop in enumerate(face_crops):
        face = cv2.resize(crop, (96, 96))
        cv2.imwrite(str(root / "with_mask" / "{:03d}__m.png".format(i)), draw_mask(face, (8, 4, 80, 88), rng))
        cv2.imwrite(str(root / "without_mask" / "{:03d}__n.png".format(i)), face)
    return str(root)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


@pytest.fixture(scope="module")
def trained_fp32(tmp_path_factory, faces_folder):
    """A small CNN trained for a second on the faces (32×32), exported to FP32 ONNX through the CLI."""
    from typer.testing import CliRunner

    from edge.cli import app

    meta = ModelMeta(arch="", labels=LABELS, input_size=(32, 32))
    folder = scan(faces_folder)
    x = torch.from_numpy(preprocess([read_image(s.path) for s in folder.samples], meta))
    y = torch.tensor([s.label for s in folder.samples])
    torch.manual_seed(0)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is ~10x faster than two on a busy machine
    try:
        for _ in range(150):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    work = tmp_path_factory.mktemp("model")
    ts = str(work / "tiny.ts")
    torch.jit.script(net.eval()).save(ts)
    result = CliRunner().invoke(app, ["export", ts, "--input-size", "32", "--labels", ",".join(LABELS)])
    assert result.exit_code == 0, result.output
    return str(work / "tiny.onnx")


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])


def test_quantize_writes_qdq_int8_that_runs_and_reports_accuracy_delta(tmp_path, cli, trained_fp32, faces_folder):
    out = str(tmp_path / "tiny.int8.onnx")
    r = _json(cli(["quantize", trained_fp32, "--calib", faces_folder, "--data", faces_folder, "-o", out, "--json"]))
    model = onnx.load(out)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") >= 4 and "DequantizeLinear" in ops and r["qdq_nodes"] == sum(
        o in ("QuantizeLinear", "DequantizeLinear") for o in ops)
    assert r["opset"] == 13 and [o.domain for o in model.opset_import] == [""]  # what TensorRT 8.2 parses
    # TensorRT takes symmetric INT8 only: every zero point is 0 and int8
    zero_points = {i.name for n in model.graph.node if n.op_type == "QuantizeLinear" for i in model.graph.initializer
                   if i.name == n.input[2]}
    for init in model.graph.initializer:
        if init.name in zero_points:
            arr = onnx.numpy_helper.to_array(init)
            assert arr.dtype == np.int8 and not arr.any()
    # the metadata survives, with the quantization recorded
    backend = load_backend(out)
    assert backend.meta.labels == LABELS and backend.meta.provenance["quantization"]["format"] == "QDQ"
    # the accuracy numbers are what the runtime backends measure, independently
    folder = scan(faces_folder)
    truth = np.array([s.label for s in folder.samples])
    x = preprocess([read_image(s.path) for s in folder.samples], backend.meta)
    fp32_acc = float(np.mean(load_backend(trained_fp32).infer(x).argmax(1) == truth))
    int8_acc = float(np.mean(backend.infer(x).argmax(1) == truth))
    acc = r["accuracy"]
    assert acc["images"] == len(truth) == 64
    assert acc["fp32"] == pytest.approx(fp32_acc) and acc["int8"] == pytest.approx(int8_acc)
    assert acc["delta_pp"] == pytest.approx(100 * (int8_acc - fp32_acc))
    assert fp32_acc >= 0.9  # the model learned the faces it was trained on
    assert abs(acc["delta_pp"]) <= 10 and acc["agreement"] >= 0.9
    assert all(v["top1_agreement"] >= 0.7 for v in r["vs_fp32"].values())


def test_export_int8_uses_the_same_quantization(tmp_path, cli, faces_folder):
    from models import create_model
    from models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(create_model("small"), str(tmp_path / "small.pt"))
    r = _json(cli(["export", ckpt, "--int8", "--calib", faces_folder, "--data", faces_folder, "--json"]))
    assert r["onnx"]["path"] == str(tmp_path / "small.onnx") and r["int8"]["path"] == str(tmp_path / "small.int8.onnx")
    assert r["int8"]["calibration_images"] == 64 and "delta_pp" in r["int8"]["accuracy"]
    assert os.path.getsize(r["int8"]["path"]) < os.path.getsize(r["onnx"]["path"])  # int8 weights
    result = cli(["export", ckpt, "--int8"])
    assert result.exit_code == 2 and "--int8 needs calibration images" in result.output
    os.remove(r["onnx"]["path"])
    result = cli(["export", ckpt, "--int8", "--calib", str(tmp_path / "missing")])
    assert result.exit_code == 3 and "found nothing at" in result.output
    assert not os.path.exists(r["onnx"]["path"])  # checked before the FP32 export, not after


def test_quantize_text_output_shows_the_delta(tmp_path, cli, trained_fp32, faces_folder):
    result = cli(["quantize", trained_fp32, "--calib", faces_folder, "--data", faces_folder,
                  "-o", str(tmp_path / "q.onnx"), "--calib-size", "16", "--method", "entropy"])
    assert result.exit_code == 0, result.output
    assert "16 images, entropy" in result.output and "FP32" in result.output and "pp" in result.output


@pytest.mark.parametrize("case,code,expected", [
    ("empty-calib", 3, "expected calibration images in"),
    ("missing-calib", 3, "found nothing at"),
    ("wrong-classes", 3, "expected class folders named after the model's labels"),
    ("already-int8", 3, "is already INT8-quantized"),
    ("bad-method", 2, "expected --method minmax/entropy/percentile"),
])
def test_quantize_bad_input(tmp_path, cli, trained_fp32, faces_folder, case, code, expected):
    model, calib, data, extra = trained_fp32, faces_folder, None, []
    out = tmp_path / "out" / "q.onnx"
    if case == "empty-calib":
        calib = str(tmp_path / "empty")
        os.makedirs(calib)
    elif case == "missing-calib":
        calib = str(tmp_path / "nope")
    elif case == "wrong-classes":
        data = str(tmp_path / "animals")
        os.makedirs(os.path.join(data, "cat"))
        read = read_image(scan(faces_folder).samples[0].path)
        import cv2
        cv2.imwrite(os.path.join(data, "cat", "1.png"), read)
    elif case == "already-int8":
        model = str(tmp_path / "already.int8.onnx")
        assert cli(["quantize", trained_fp32, "--calib", faces_folder, "-o", model]).exit_code == 0
    else:
        extra = ["--method", "magic"]
    args = ["quantize", model, "--calib", calib, "-o", str(out)] + (["--data", data] if data else []) + extra
    result = cli(args)
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.output
    assert not out.exists() and not (out.parent.exists() and os.listdir(str(out.parent)))
