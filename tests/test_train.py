"""train → distill → prune → eval on a few real faces, the KD loss by hand, reproducibility, bad input."""
import json
import math
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tqdm")

from models.checkpoint import load_checkpoint  # noqa: E402
from models.train import TrainConfig, kd_loss, sha256_file, train  # noqa: E402

FAST = ["--epochs", "1", "--batch-size", "16", "--no-progress"]


def test_kd_loss_by_hand():
    s = torch.tensor([[1.0, 2.0], [0.5, -0.5]])
    t = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([1, 0])
    T, alpha = 2.0, 0.6

    def softmax(v):
        e = [math.exp(x) for x in v]
        return [x / sum(e) for x in e]

    kl = 0.0
    for si, ti in zip(s.tolist(), t.tolist()):
        p, q = softmax([x / T for x in ti]), softmax([x / T for x in si])
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    kl /= 2
    ce = -(math.log(softmax(s[0].tolist())[1]) + math.log(softmax(s[1].tolist())[0])) / 2
    expected = alpha * T * T * kl + (1 - alpha) * ce
    assert float(kd_loss(s, t, y, T, alpha)) == pytest.approx(expected, rel=1e-5)
    assert float(kd_loss(s, t, y, T, 0.0)) == pytest.approx(ce, rel=1e-5)  # alpha 0: plain CE


def test_end_to_end_train_distill_prune_eval(tmp_path, tiny_faces, cli):
    teacher, small, pruned = (str(tmp_path / n) for n in ("teacher.pt", "small.pt", "pruned.pt"))
    r = cli(["train", "--arch", "teacher", "--data", tiny_faces, "--out", teacher] + FAST)
    assert r.exit_code == 0, r.output
    assert "test accuracy" in r.output
    _, meta = load_checkpoint(teacher)
    prov = meta.provenance
    assert prov["command"] == "train" and prov["data"]["counts"] == {"with_mask": 42, "without_mask": 28}
    assert prov["seed"] == 0 and prov["options"]["epochs"] == 1 and "test_accuracy" in prov["metrics"]
    log = [json.loads(line) for line in open(str(tmp_path / "teacher.jsonl"))]
    assert [e["epoch"] for e in log] == [1]

    r = cli(["distill", "--teacher", teacher, "--arch", "small", "--data", tiny_faces, "--out", small,
             "-T", "3", "--alpha", "0.5"] + FAST)
    assert r.exit_code == 0, r.output
    model, meta = load_checkpoint(small)
    assert model.widths() == [8, 16, 32] and meta.variant == "small-kd"
    assert meta.provenance["parent"]["sha256"] == sha256_file(teacher)
    assert meta.provenance["kd"] == {"temperature": 3.0, "alpha": 0.5}

    r = cli(["prune", teacher, "--ratio", "0.5", "--data", tiny_faces, "--out", pruned] + FAST)
    assert r.exit_code == 0, r.output
    assert "widths 16-32-64, 23,938 parameters" in r.output
    model, meta = load_checkpoint(pruned)
    assert model.widths() == [16, 32, 64] and meta.provenance["parent"]["sha256"] == sha256_file(teacher)
    assert meta.provenance["ratio"] == 0.5

    r = cli(["eval", pruned, "--data", tiny_faces, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n"] == 6


def test_same_seed_same_weights(tmp_path, tiny_faces):
    cfg = TrainConfig(epochs=1, batch_size=16, progress=False)
    paths = [str(tmp_path / "{}.pt".format(i)) for i in range(2)]
    results = [train("small", tiny_faces, p, cfg) for p in paths]
    a, b = (load_checkpoint(p)[0].state_dict() for p in paths)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert results[0]["val_loss"] == results[1]["val_loss"]


def test_early_stopping_stops(tmp_path, tiny_faces, monkeypatch):
    import models.train

    scores = iter([0.5, 0.75, 0.5, 0.75, 0.75, 0.75, 0.75])  # val accuracy per epoch (test set last)
    monkeypatch.setattr(models.train, "evaluate_tensors",
                        lambda model, ds: {"loss": 1.0, "accuracy": next(scores), "n": len(ds)})
    cfg = TrainConfig(epochs=8, batch_size=16, patience=2, progress=False)
    r = train("small", tiny_faces, str(tmp_path / "s.pt"), cfg)
    assert (r["best_epoch"], r["epochs_run"], r["val_accuracy"]) == (2, 4, 0.75)


@pytest.mark.parametrize("args,code,message", [
    (["distill", "--teacher", "{teacher}", "--arch", "resnet9", "--data", "{data}"], 2,
     "unknown model architecture 'resnet9'"),
    (["distill", "--teacher", "{cats}", "--arch", "small", "--data", "{data}"], 3,
     "model labels ['cat', 'dog'] do not match the class folders"),
    (["train", "--arch", "small", "--data", "{empty}"], 3, "expected at least 2 class sub-folders"),
    (["train", "--arch", "small", "--data", "{one}"], 3, "found 1 (with_mask)"),
    (["prune", "{teacher}", "--ratio", "1.2", "--data", "{data}"], 2, "strictly between 0 and 1"),
    (["prune", "{teacher}", "--ratio", "0", "--data", "{data}"], 2, "strictly between 0 and 1"),
    (["train", "--arch", "small", "--data", "{data}", "--val", "0.6", "--test", "0.5"], 2, "--val + --test < 1"),
    (["train", "--arch", "small", "--data", "{data}", "--schedule", "linear"], 2, "--schedule one of"),
    (["compress", "--data", "{data}", "--student", "tiny"], 2, "unknown student architecture 'tiny'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, tiny_faces, teacher_ckpt, cli, args, code, message):
    from models import create_model
    from models.checkpoint import save_checkpoint

    (tmp_path / "empty").mkdir()
    (tmp_path / "one" / "with_mask").mkdir(parents=True)
    (tmp_path / "one" / "with_mask" / "a.jpg").write_bytes(open(
        os.path.join(tiny_faces, "with_mask", "astronaut__m00.jpg"), "rb").read())
    cats = save_checkpoint(create_model("small", labels=("cat", "dog")), str(tmp_path / "cats.pt"))
    out = tmp_path / "out"
    subs = dict(teacher=teacher_ckpt, data=tiny_faces, cats=cats, empty=str(tmp_path / "empty"),
                one=str(tmp_path / "one"))
    before = os.path.getmtime(teacher_ckpt)
    r = cli([a.format(**subs) for a in args] + ["--out", str(out / "x.pt" if args[0] != "compress" else out)])
    assert r.exit_code == code, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge: error: ") and message in lines[0], r.output
    assert not out.exists() and os.path.getmtime(teacher_ckpt) == before


def test_compress_tiny_recipe_table_and_default(tmp_path, tiny_faces, cli):
    out = tmp_path / "compress"
    default = tmp_path / "zoo" / "mask_default.pt"
    r = cli(["compress", "--data", tiny_faces, "--out", str(out), "--teacher-epochs", "1", "--student-epochs", "1",
             "--finetune-epochs", "1", "--student", "small", "--ratio", "0.7", "--runs", "5", "--batch-size", "16",
             "--no-progress", "--default-model", str(default)])
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "compress.json").read_text())
    names = [row["name"] for row in doc["rows"]]
    assert names == ["teacher", "small (KD)", "pruned 70 %"]
    params = {row["name"]: row["params"] for row in doc["rows"]}
    assert params == {"teacher": 93954, "small (KD)": 6210, "pruned 70 %": 8556}
    assert all(row["test_images"] == 6 and row["mflops"] > 0 for row in doc["rows"])
    md = (out / "compress.md").read_text()
    assert md.count("\n") == 5 and "| pruned 70 % | 9-19-38 | 8,556 |" in md
    for png in ("inference_time_comparison.png", "accuracy_comparison.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    info = json.loads(default.with_suffix(".json").read_text())
    assert info["variant"] in ("small-kd", "teacher-pruned-0.7") and info["command"].startswith("edge compress")
    assert load_checkpoint(str(default))[1].variant == info["variant"]
    # --reuse keeps the checkpoints and adds another row
    r = cli(["compress", "--data", tiny_faces, "--out", str(out), "--reuse", "--student", "small", "--ratio", "0.7",
             "--runs", "5", "--no-progress", "--row", "again={}".format(out / "teacher.pt")])
    assert r.exit_code == 0, r.output
    assert "reusing" in r.output and len(json.loads((out / "compress.json").read_text())["rows"]) == 4
