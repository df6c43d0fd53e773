"""``edge eval``: metrics by hand, the device path for .pt and .onnx, label mismatches."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.errors import InputError  # noqa: E402
from models import create_model  # noqa: E402
from models.checkpoint import save_checkpoint  # noqa: E402
from models.evaluate import classification_metrics, evaluate, format_report, label_map  # noqa: E402


def test_metrics_by_hand():
    # truth:  a a a b b   predicted: a b a b a
    m = classification_metrics([0, 0, 0, 1, 1], [0, 1, 0, 1, 0], ["a", "b"])
    assert m["confusion"] == [[2, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    a, b = m["per_class"]["a"], m["per_class"]["b"]
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"], b["f1"]) == (pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)


def test_class_never_predicted_has_zero_precision():
    m = classification_metrics([0, 1], [0, 0], ["a", "b"])
    assert m["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_label_map_by_name_and_mismatch():
    assert label_map(["b", "a"], ["a", "b"], "m", "d") == [1, 0]
    with pytest.raises(InputError, match="predicts"):
        label_map(["mask", "no_mask"], ["with_mask", "without_mask"], "m", "d")


def _export_onnx(model, path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from export.onnx_export import finish, torch_export

    torch_export(model.eval(), model.meta, path)
    finish(path, model.meta, simplify=False)
    return path


def test_pt_and_onnx_score_the_same(tmp_path, tiny_faces):
    torch.manual_seed(0)
    model = create_model("small")
    with torch.no_grad():  # a deterministic, non-trivial model: the bias favours with_mask a little
        model.classifier.bias.copy_(torch.tensor([0.01, 0.0]))
    pt = save_checkpoint(model, str(tmp_path / "m.pt"))
    onnx_path = _export_onnx(model, str(tmp_path / "m.onnx"))
    a = evaluate(pt, tiny_faces, "all", progress=False)
    b = evaluate(onnx_path, tiny_faces, "all", progress=False)
    assert a["n"] == b["n"] == 70  # 14 people × (3 masked + 2 bare)
    assert a["confusion"] == b["confusion"] and (a["backend"], b["backend"]) == ("pytorch", "onnxruntime")
    assert sum(map(sum, a["confusion"])) == 70
    text = format_report(a)
    assert "confusion" in text and "with_mask" in text and "{:.2%}".format(a["accuracy"]) in text


def test_test_split_is_the_training_split(tiny_faces, teacher_ckpt):
    r = evaluate(teacher_ckpt, tiny_faces, "test", progress=False)
    assert r["n"] == 6  # 2 of 14 people × (1 held-out-family mask + 2 bare)


def test_cli_eval_json_and_errors(tmp_path, tiny_faces, teacher_ckpt, cli):
    r = cli(["eval", teacher_ckpt, "--data", tiny_faces, "--split", "val", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["split"] == "val" and rep["n"] == 8 and np.array(rep["confusion"]).sum() == 8
    r = cli(["eval", str(tmp_path / "missing.pt"), "--data", tiny_faces])
    assert r.exit_code == 3 and r.output.startswith("edge: error: expected a model file")
    other = save_checkpoint(create_model("small", labels=("cat", "dog")), str(tmp_path / "cats.pt"))
    r = cli(["eval", other, "--data", tiny_faces])
    assert r.exit_code == 3 and "predicts ['cat', 'dog']" in r.output
    r = cli(["eval", teacher_ckpt, "--data", tiny_faces, "--split", "holdout"])
    assert r.exit_code == 2 and "--split" in r.output


def test_cli_eval_labels_override_the_models_own(tmp_path, tiny_faces, cli):
    """--labels (the one syntax of run/export/bench/quantize) renames a model's outputs for eval too."""
    other = save_checkpoint(create_model("small", labels=("cat", "dog")), str(tmp_path / "cats.pt"))
    r = cli(["eval", other, "--data", tiny_faces, "--split", "all", "--json", "--labels", "with_mask,without_mask"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["n"] == 70 and np.array(rep["confusion"]).sum() == 70
    r = cli(["eval", other, "--data", tiny_faces, "--labels", "with_mask"])
    assert r.exit_code == 3 and "expected (N, 1) for labels ['with_mask']" in r.output


def test_bundled_default_model_matches_its_record():
    import os

    from edge.backends import load_backend
    from models.checkpoint import load_checkpoint
    from models.train import sha256_file
    from edge.zoo import MASK_CHECKPOINT as DEFAULT_MODEL
    from edge.zoo import MASK_INFO as DEFAULT_INFO

    info = json.load(open(DEFAULT_INFO))
    assert info["sha256"] == sha256_file(DEFAULT_MODEL)
    assert os.path.getsize(DEFAULT_MODEL) < 300 * 1024 and info["command"].startswith("edge compress")
    model, meta = load_checkpoint(DEFAULT_MODEL)
    assert meta.labels == ("with_mask", "without_mask") and meta.variant == info["variant"]
    assert sum(p.numel() for p in model.parameters()) == info["metrics"]["params"]
    assert meta.provenance["metrics"]["test_accuracy"] == pytest.approx(info["metrics"]["accuracy"])
    with load_backend(DEFAULT_MODEL) as b:
        assert b.infer(np.zeros((2, 3, 128, 128), np.float32)).shape == (2, 2)


def test_breakdown_per_family_skin_and_size(tiny_faces, teacher_ckpt, cli):
    from models.evaluate import evaluate, format_report

    r = evaluate(teacher_ckpt, tiny_faces, "test", progress=False, by=("family", "skin", "face_size", "blur",
                                                                         "brightness"))
    held = set(r["holdout"])
    fams = r["by"]["family"]
    masked = {k for k in fams if k in ("surgical", "kn95", "n95", "n95_valve", "cloth", "patterned", "bandana",
                                        "gaiter")}
    assert masked and masked <= held  # the test split wears only held-out families
    for by in ("family", "face_size", "blur", "brightness"):
        assert sum(t["n"] for t in r["by"][by].values()) == r["n"]
        assert sum(t["correct"] for t in r["by"][by].values()) == round(r["accuracy"] * r["n"])
    assert sum(t["n"] for t in r["by"]["skin"].values()) == r["subsets"]["mask"]["n"]
    assert r["subsets"]["mask"]["n"] == r["per_class"]["with_mask"]["support"]
    assert "by family:" in format_report(r)
    inside = evaluate(teacher_ckpt, tiny_faces, "test_in", progress=False, by=("family",))
    assert not set(inside["by"]["family"]) & held
    res = cli(["eval", teacher_ckpt, "--data", tiny_faces, "--by", "family,skin", "--json"])
    assert res.exit_code == 0 and set(json.loads(res.output)["by"]) == {"family", "skin"}
    res = cli(["eval", teacher_ckpt, "--data", tiny_faces, "--by", "hat"])
    assert res.exit_code == 2 and "--by" in res.output
