"""`edge export`: every registered variant and a pruned model through the parity gate, metadata round
trip, dynamic batch, a user's own TorchScript model, and each bad input of issue 4."""
import json
import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from edge.backends import load_backend  # noqa: E402
from edge.files import sha256_file  # noqa: E402
from edge.meta import ModelMeta  # noqa: E402
from edge.preprocess import preprocess  # noqa: E402
from models import create_model, list_models  # noqa: E402
from models.checkpoint import save_checkpoint  # noqa: E402


def run_export(cli, args):
    result = cli(["export"] + [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])


def onnx_props(path):
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def assert_one_line_error(result, code, expected, folder):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge: error: "), result.output
    assert expected in lines[0], lines[0]
    assert not [n for n in os.listdir(str(folder)) if n.endswith(".onnx") or n.startswith(".tmp-")], \
        os.listdir(str(folder))


@pytest.mark.parametrize("name,widths", [(n, None) for n in list_models()] + [("maskcnn", (22, 44, 89))],
                         ids=list_models() + ["pruned-22-44-89"])
def test_every_variant_and_a_pruned_model_pass_the_parity_gate(tmp_path, cli, face_crops, name, widths):
    torch.manual_seed(1)
    model = create_model(name, widths=widths) if widths else create_model(name)
    ckpt = save_checkpoint(model, str(tmp_path / "m.pt"))
    report = run_export(cli, [ckpt])["onnx"]
    out = tmp_path / "m.onnx"
    assert report["path"] == str(out) and out.is_file()
    assert report["opset"] == 13 and report["parity_worst"]["ok"]
    assert set(report["parity"]) == {"real, batch 1", "random, batch 1", "real, batch 7", "random, batch 7"}
    assert report["real_images"] >= 8  # face crops and regions of the sample photos
    assert report["inputs"] == [{"name": "input", "shape": ["batch", 3, 128, 128]}]
    # metadata round-trips, with the source checksum and exporter versions added
    meta = ModelMeta.from_onnx_props(onnx_props(out))
    assert meta.replace(provenance={}) == model.meta
    export = meta.provenance["export"]
    assert export["source_sha256"] == sha256_file(ckpt)
    assert export["exporter"]["torch"] == torch.__version__.split("+")[0]
    # the dynamic batch works at 1 and 7 on real faces, through the runtime backend
    backend = load_backend(str(out))
    for n in (1, 7):
        x = preprocess(face_crops[:n], meta)
        with torch.no_grad():
            expected = model.eval()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(backend.infer(x), expected, atol=1e-4, rtol=1e-3)


def test_static_batch_and_output_path(tmp_path, cli, teacher_ckpt):
    out = tmp_path / "sub" / "static.onnx"
    report = run_export(cli, [teacher_ckpt, "--batch", 3, "-o", out, "--no-simplify"])["onnx"]
    assert report["inputs"][0]["shape"] == [3, 3, 128, 128]
    assert set(report["parity"]) == {"real, batch 3", "random, batch 3"}
    assert load_backend(str(out)).static_batch == 3


def test_summary_table_names_io_opset_size_parity_and_time(tmp_path, cli, teacher_ckpt):
    result = cli(["export", teacher_ckpt])
    assert result.exit_code == 0, result.output
    for words in ("input batch×3×128×128", "logits batch×2", "opset", "13", "bytes", "parity, real, batch 7",
                  "ok", "time"):
        assert words in result.output


def test_tables_at_80_columns_keep_every_number_whole():
    import io

    from rich.console import Console

    from edge.commands.export import print_engine, print_int8, print_onnx

    path = "runs/a/rather/long/folder/name/for/the/model/teacher-pruned-0.5.onnx"
    parity = {"max_abs": 1.234e-05, "max_rel": 4.567e-04, "top1_agreement": 0.9875, "ok": True}
    reports = [
        (print_onnx, {"path": path, "inputs": [{"name": "input", "shape": ["batch", 3, 128, 128]}],
                      "outputs": [{"name": "logits", "shape": ["batch", 2]}], "opset": 13, "size": 1234567,
                      "meta": {"labels": ["with_mask", "without_mask"]}, "real_images": 32, "seconds": 12.34,
                      "parity": {"real, batch 7": parity}, "tolerance": {"atol": 0.0001, "rtol": 0.001}},
         ["1,234,567", "1.177", "1.23e-05", "4.57e-04", "0.0001", "0.001", "12.3", "128"]),
        (print_int8, {"path": path, "size": 345678, "fp32_size": 1234567, "calibration_images": 256,
                      "method": "minmax", "qdq_nodes": 42, "vs_fp32": {"random, batch 7": parity}, "seconds": 3.21,
                      "accuracy": {"images": 120, "fp32": 0.9583, "int8": 0.95, "delta_pp": -0.83,
                                   "agreement": 0.9917}},
         ["345,678", "1,234,567", "256", "42", "1.23e-05", "0.000457", "98.8%", "95.83%", "95.00%", "-0.83",
          "99.2%", "3.2"]),
        (print_engine, {"engine": path[:-5] + ".trt8.2.1-sm53-fp16.engine", "action": "built", "kind": "classifier",
                        "fingerprint": {"tensorrt": "8.2.1.8", "gpu": "NVIDIA Tegra X1 (sm53)"}, "size": 2345678,
                        "input_shapes": {"min": [1, 3, 128, 128], "opt": [4, 3, 128, 128], "max": [16, 3, 128, 128]},
                        "seconds": 187.25, "notes": []},
         ["8.2.1.8", "2345678", "16x3x128x128", "187.2"]),
    ]
    for printer, report, numbers in reports:
        out = io.StringIO()
        printer(report, Console(file=out, width=80))
        text = out.getvalue()
        assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
        for n in numbers:
            assert n in text, (printer.__name__, n)


class UserNet(nn.Module):
    """Someone else's classifier: 3 classes, 96×64 input, own layers."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 5, stride=2), nn.GELU(), nn.Conv2d(6, 12, 3), nn.SiLU(),
                                  nn.AdaptiveMaxPool2d((2, 2)))
        self.head = nn.Linear(48, 3)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


def test_users_own_torchscript_model_with_input_size_and_labels(tmp_path, cli, face_crops):
    torch.manual_seed(2)
    scripted = torch.jit.script(UserNet().eval())
    path = tmp_path / "user.ts"
    scripted.save(str(path))
    report = run_export(cli, [path, "--input-size", "96x64", "--labels", "cat,dog,bird", "-o", tmp_path / "u.onnx"])
    assert report["onnx"]["inputs"][0]["shape"] == ["batch", 3, 96, 64]
    assert report["onnx"]["outputs"][0]["shape"] == ["batch", 3]
    backend = load_backend(str(tmp_path / "u.onnx"))
    assert backend.meta.labels == ("cat", "dog", "bird") and backend.meta.input_size == (96, 64)
    x = preprocess(face_crops[:5], backend.meta)
    with torch.no_grad():
        np.testing.assert_allclose(backend.infer(x), scripted(torch.from_numpy(x)).numpy(), atol=1e-4, rtol=1e-3)


def test_bare_state_dict_with_arch(tmp_path, cli):
    torch.manual_seed(3)
    model = create_model("small")
    torch.save(model.state_dict(), str(tmp_path / "w.pth"))
    report = run_export(cli, [tmp_path / "w.pth", "--arch", "small", "--labels", "mask,nomask"])
    assert report["onnx"]["meta"]["labels"] == ["mask", "nomask"]
    assert report["onnx"]["parity_worst"]["ok"]


# ---------------------------------------------------------------- bad input

class TwoInputNet(nn.Module):
    def forward(self, x, boxes):
        return x.mean((2, 3))[:, :2] + boxes


class SpectralNet(nn.Module):
    """FFT features: aten::fft_rfft has no ONNX opset-13 export."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(torch.fft.rfft(x).abs().mean((2, 3)))


class BranchyNet(nn.Module):
    """Data-dependent Python control flow: tracing freezes the branch taken on the (all-zero) trace input."""

    def __init__(self):
        super().__init__()
        self.net = create_model("small")

    def forward(self, x):
        y = self.net(x)
        if float(x.abs().sum()) == 0.0:
            return y * 0
        return y


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file if ever unpickled


def _pickled_module(tmp_path, module):
    path = tmp_path / "module.pt"
    torch.save(module, str(path))
    return path


@pytest.mark.parametrize("case,code,expected", [
    ("text", 3, "found a text file"),
    ("truncated", 3, "corrupt or truncated"),
    ("state-dict-no-arch", 3, "bare state dict with no model metadata; expected --arch NAME"),
    ("torchscript-no-labels", 3, "carries no edge metadata; give at least --labels and --input-size"),
    ("two-inputs", 3, "forward takes one image batch"),
    ("unsupported-op", 3, "cannot be exported to ONNX opset 13 (UnsupportedOperatorError: Exporting the operator "
                          "'aten::fft_rfft'"),
    ("parity", 1, "parity gate failed"),
    ("wrong-label-count", 3, "expected the model to return logits of shape (1, 3)"),
    ("bad-input-size", 2, "expected --input-size as N or HxW"),
])
def test_bad_input_is_one_line_nonzero_exit_and_no_file(tmp_path, cli, teacher_ckpt, case, code, expected):
    trust = []
    extra = []
    if case == "text":
        path = tmp_path / "notes.pt"
        path.write_text("these are not weights\n")
    elif case == "truncated":
        path = tmp_path / "cut.pt"
        data = open(teacher_ckpt, "rb").read()
        path.write_bytes(data[:len(data) // 2])
    elif case == "state-dict-no-arch":
        path = tmp_path / "w.pth"
        torch.save(create_model("small").state_dict(), str(path))
    elif case == "torchscript-no-labels":
        path = tmp_path / "user.ts"
        torch.jit.script(UserNet()).save(str(path))
    else:
        module = {"two-inputs": TwoInputNet(), "unsupported-op": SpectralNet(), "parity": BranchyNet(),
                  "wrong-label-count": create_model("small"), "bad-input-size": create_model("small")}[case]
        path = _pickled_module(tmp_path, module)
        trust = ["--trust"]
        extra = {"wrong-label-count": ["--labels", "a,b,c"], "bad-input-size": ["--input-size", "12x"]}.get(
            case, ["--labels", "a,b", "--input-size", "64"])
    os.remove(teacher_ckpt)  # the folder holds only the bad input
    result = cli(["export", str(path)] + trust + extra)
    assert "Traceback" not in result.output
    assert_one_line_error(result, code, expected, tmp_path)


def test_malicious_pickle_is_refused_and_its_payload_never_runs(tmp_path, cli):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": Payload(str(marker))}, str(path))
    result = cli(["export", str(path)])
    assert_one_line_error(result, 3, "refusing to unpickle it", tmp_path)
    assert not marker.exists()
    raw = tmp_path / "evil2.pt"  # and a raw (non-zip) pickle too
    raw.write_bytes(pickle.dumps(Payload(str(marker)), protocol=2))
    result = cli(["export", str(raw)])
    assert result.exit_code == 3 and not marker.exists(), result.output


def test_pickled_module_needs_trust(tmp_path, cli):
    path = _pickled_module(tmp_path, create_model("small"))
    result = cli(["export", str(path)])
    assert_one_line_error(result, 3, "Pass --trust only for a file you trust", tmp_path)
    report = run_export(cli, [path, "--trust"])  # it carries .meta, so no --labels needed
    assert report["onnx"]["meta"]["variant"] == "small"


@pytest.mark.parametrize("atol,rtol,code,expected", [
    ("0.1", "0", 0, None),  # the 0.01 shift is inside atol: written, and the report shows the 0.01
    ("0.1", "0.5", 0, None),
    ("0.001", "0", 1, "differs from PyTorch by up to 0.01 (abs)"),  # outside atol: refused, nothing written
    ("0", "0", 1, "(tolerance 0.0 + 0.0·|y|)"),  # zero tolerance: any difference fails
    ("-1", "0", 2, "expected tolerances ≥ 0, found atol -1.0"),
])
def test_tolerances_gate_and_report(tmp_path, cli, teacher_ckpt, monkeypatch, atol, rtol, code, expected):
    """ONNX Runtime's logits shifted by a known 0.01: the gate passes inside the tolerance, fails outside."""
    from export import onnx_export

    real = onnx_export.ort_fn

    def shifted(session):
        run = real(session)
        return lambda x: run(x) + np.float32(0.01)

    monkeypatch.setattr(onnx_export, "ort_fn", shifted)
    result = cli(["export", teacher_ckpt, "--atol", atol, "--rtol", rtol, "--json"])
    if code:
        assert_one_line_error(result, code, expected, tmp_path)
        return
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])["onnx"]
    assert report["tolerance"] == {"atol": float(atol), "rtol": float(rtol)}
    assert report["parity_worst"]["ok"] and report["parity_worst"]["max_abs"] == pytest.approx(0.01, abs=1e-4)
    assert (tmp_path / "teacher.onnx").is_file()


def test_onnx_input_without_action_is_a_usage_error(tmp_path, cli, teacher_ckpt):
    run_export(cli, [teacher_ckpt])
    result = cli(["export", str(tmp_path / "teacher.onnx")])
    assert result.exit_code == 2 and "add --int8 --calib DIR" in result.output


def test_engine_without_tensorrt_names_the_package(tmp_path, cli, teacher_ckpt):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("tensorrt is installed here")
    except ImportError:
        pass
    result = cli(["export", teacher_ckpt, "--engine"])  # checked before the ONNX export
    assert result.exit_code == 4 and "'tensorrt' is needed for TensorRT engines" in result.output
    assert not (tmp_path / "teacher.onnx").exists()
    run_export(cli, [teacher_ckpt])
    result = cli(["export", str(tmp_path / "teacher.onnx"), "--engine"])
    assert result.exit_code == 4 and "'tensorrt' is needed for TensorRT engines" in result.output


def test_torchscript_carrying_edge_meta_needs_no_flags(tmp_path, cli):
    meta = ModelMeta(arch="", labels=("a", "b", "c"), input_size=(96, 64), channel_order="BGR", variant="user")
    path = tmp_path / "user.ts"
    torch.jit.save(torch.jit.script(UserNet()), str(path), _extra_files={"edge.meta": meta.to_json()})
    report = run_export(cli, [path])["onnx"]
    stored = ModelMeta.from_onnx_props(onnx_props(tmp_path / "user.onnx"))
    assert stored.replace(provenance={}) == meta and report["inputs"][0]["shape"] == ["batch", 3, 96, 64]


class FixedBatchNet(nn.Module):
    """Hard-codes batch 1 in a reshape: fine when traced, broken at any other batch size."""

    def __init__(self):
        super().__init__()
        self.net = create_model("small")

    def forward(self, x):
        return self.net(x).reshape(1, 2)


def test_model_that_works_at_one_batch_only_asks_for_static_batch(tmp_path, cli):
    path = _pickled_module(tmp_path, FixedBatchNet())
    result = cli(["export", str(path), "--trust", "--labels", "a,b", "--input-size", "64"])
    assert_one_line_error(result, 3, "fails on the parity input 'real, batch 7'", tmp_path)
    assert "needs --batch N" in result.output
    report = run_export(cli, [path, "--trust", "--labels", "a,b", "--input-size", "64", "--batch", "1"])
    assert report["onnx"]["inputs"][0]["shape"] == [1, 3, 64, 64]
