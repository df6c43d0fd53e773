"""edge bench: report schema, files and plots, accuracy column, the timing bookkeeping, CLI errors."""
import copy
import csv
import json
import os

import numpy as np
import pytest

from edge.bench.latency import (RESULT_FIELDS, SCHEMA, build_results, run_bench, sample_key, time_interleaved,
                        validate_report, write_report)

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(exported_models):
    return run_bench([exported_models["pt"], exported_models["onnx"]], batches=[1, 3], warmup=1, runs=4, rounds=2)


def test_report_follows_its_schema(report, exported_models):
    validate_report(report)
    assert report["schema"] == SCHEMA
    assert [(r["backend"], r["batch"]) for r in report["results"]] == [
        ("pytorch", 1), ("pytorch", 3), ("onnxruntime", 1), ("onnxruntime", 3)]
    assert all(r["n"] == 4 for r in report["results"])
    ort = report["models"][1]
    assert ort["backend"] == "onnxruntime" and set(ort["overhead"]) == {"1", "3"}
    assert all(o["bare_ms"] > 0 and o["wrapped_ms"] > 0 for o in ort["overhead"].values())
    assert report["models"][0]["overhead"] is None  # no bare runtime call to compare with
    env = report["environment"]
    assert env["cpu_count"] >= 1 and "torch" in env["libraries"] and "onnxruntime" in env["libraries"]
    assert env["telemetry"]["available"] is False


def _broken(report, how):
    r = copy.deepcopy(report)
    if how == "schema":
        r["schema"] = "edge.bench/0"
    elif how == "order":
        r["results"][1]["p90_ms"] = r["results"][1]["max_ms"] + 1
    elif how == "samples":
        r["samples"][sample_key(r["results"][0]["label"], 1)].pop()
    elif how == "fields":
        del r["results"][0]["throughput"]
    elif how == "env":
        del r["environment"]["cpu"]
    return r


@pytest.mark.parametrize("how,message", [("schema", "schema must be"), ("order", "latency order"),
                                         ("samples", "sample count"), ("fields", "result fields"),
                                         ("env", "environment lacks 'cpu'")])
def test_validate_report_catches_breakage(report, how, message):
    with pytest.raises(ValueError, match=message):
        validate_report(_broken(report, how))


def test_files_and_plots_are_written(report, tmp_path):
    paths = write_report(report, str(tmp_path / "out"))
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["bench.csv", "bench.json", "latency.png", "latency_box.png", "speedup.png"]
    assert sorted(os.listdir(str(tmp_path / "out"))) == names  # no temp files left behind
    for p in paths:
        if p.endswith(".png"):
            with open(p, "rb") as f:
                assert f.read(8) == PNG and os.path.getsize(p) > 5000
    assert json.load(open(os.path.join(str(tmp_path / "out"), "bench.json")))["results"] == json.loads(
        json.dumps(report["results"]))
    rows = list(csv.DictReader(open(os.path.join(str(tmp_path / "out"), "bench.csv"))))
    assert tuple(rows[0]) == RESULT_FIELDS and len(rows) == len(report["results"])


def test_build_results_ratios():
    entries = [{"label": "a", "path": "a", "backend": "x", "device": "cpu", "precision": "fp32", "batch": b}
               for b in (1, 4)] + \
              [{"label": "b", "path": "b", "backend": "y", "device": "cpu", "precision": "fp32", "batch": b}
               for b in (1, 4)]
    samples = [[10.0, 10.0, 12.0], [20.0] * 3, [5.0] * 3, [4.0] * 3]
    rows = build_results(entries, samples)
    assert [r["per_item_ms"] for r in rows] == [10.0, 5.0, 5.0, 1.0]
    assert [r["speedup"] for r in rows] == [1.0, 1.0, 2.0, 5.0]  # vs model a at the same batch
    assert [r["vs_baseline"] for r in rows] == [1.0, 0.5, 0.5, 0.1]  # vs a at batch 1
    assert rows[3]["throughput"] == 1000.0


def test_time_interleaved_spreads_runs_over_rounds():
    order = []
    ticks = iter(range(10 ** 6))
    calls = [lambda: order.append("a"), lambda: order.append("b")]
    out = time_interleaved(calls, warmup=2, runs=5, rounds=2, clock=lambda: next(ticks) / 1000.0)
    assert [len(o) for o in out] == [5, 5] and all(v == pytest.approx(1.0) for o in out for v in o)
    # warm-up 2 each, then per round: 1 untimed + share (3, then 2)
    assert "".join(order) == "aa" + "bb" + "aaaa" + "bbbb" + "aaa" + "bbb"


@pytest.fixture(scope="module")
def eval_folder(tmp_path_factory, face_crops):
    import cv2

    root = tmp_path_factory.mktemp("eval")
    for i, crop in enumerate(face_crops[:12]):
        cls = ("with_mask", "without_mask")[i % 2]
        os.makedirs(str(root / cls), exist_ok=True)
        cv2.imwrite(str(root / cls / "{:02d}.png".format(i)), crop)
    return str(root)


def test_cli_bench_with_accuracy_column(cli, exported_models, eval_folder, tmp_path):
    """Accuracy equals what PyTorch itself says on the same images; ONNX Runtime agrees."""
    import torch

    from edge.imagefolder import read_image, scan
    from edge.preprocess import preprocess
    from models.checkpoint import load_checkpoint

    out = str(tmp_path / "bench")
    result = cli(["bench", exported_models["pt"], exported_models["onnx"], "--batch", "2", "--runs", "3",
                  "--warmup", "1", "--data", eval_folder, "--out", out, "--no-plots", "--no-telemetry"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "wrapper overhead" in result.output
    report = json.load(open(os.path.join(out, "bench.json")))
    model, meta = load_checkpoint(exported_models["pt"])
    folder = scan(eval_folder)
    x = preprocess([read_image(s.path) for s in folder.samples], meta)
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    expected = float((pred == np.array([s.label for s in folder.samples])).mean())
    assert [m["accuracy"] for m in report["models"]] == [pytest.approx(expected)] * 2
    assert [m["accuracy_n"] for m in report["models"]] == [12, 12]
    assert sorted(os.listdir(out)) == ["bench.csv", "bench.json"]


def test_cli_bench_metadata_less_onnx_with_overrides(cli, exported_models, tmp_path):
    out = str(tmp_path / "b")
    args = ["bench", exported_models["onnx_nometa"], "--batch", "1", "--runs", "2", "--warmup", "0", "--out", out,
            "--no-plots", "--no-telemetry"]
    bad = cli(args)
    assert bad.exit_code == 3 and "give at least --labels and --input-size" in bad.output
    good = cli(args + ["--labels", "mask,nomask", "--input-size", "128", "--mean", "0.5", "--std", "0.5,0.5,0.5"])
    assert good.exit_code == 0, good.output
    assert json.load(open(os.path.join(out, "bench.json")))["results"][0]["label"].startswith("plain.onnx")


@pytest.mark.parametrize("args,code,message", [
    (["missing.onnx"], 3, "expected a model file, found nothing at 'missing.onnx'"),
    (["{onnx}", "--batch", "0"], 2, "every --batch ≥ 1"),
    (["{onnx}", "--backend", "pytorch"], 2, "none of the backends ['pytorch'] runs 'teacher.onnx'"),
    (["{onnx}", "--input-size", "12y"], 2, "expected --input-size as N or HxW"),
    (["{onnx}", "--channel-order", "CMYK"], 2, "expected --channel-order among RGB, BGR, GRAY"),
    (["{onnx}", "--data", "/nonexistent"], 3, "expected a data folder"),
])
def test_cli_bench_bad_input_is_one_line(cli, exported_models, tmp_path, args, code, message):
    args = [a.format(onnx=exported_models["onnx"]) for a in args]
    result = cli(["bench"] + args + ["--runs", "1", "--warmup", "0", "--out", str(tmp_path / "o"), "--no-telemetry"])
    assert result.exit_code == code, result.output
    lines = [l for l in result.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("edge: error: ") and message in lines[0]
    assert not os.path.exists(str(tmp_path / "o"))


def test_eval_set_limit_per_class(eval_folder):
    from edge.bench.latency import load_eval_set

    classes, images, labels = load_eval_set(eval_folder, limit=2)
    assert classes == ("with_mask", "without_mask") and len(images) == 4 and sorted(labels.tolist()) == [0, 0, 1, 1]
    assert len(load_eval_set(eval_folder)[1]) == 12


def test_eval_classes_must_match_model_labels(cli, exported_models, face_crops, tmp_path):
    import cv2

    for cls in ("cat", "dog"):
        os.makedirs(str(tmp_path / "data" / cls))
        cv2.imwrite(str(tmp_path / "data" / cls / "0.png"), face_crops[0])
    result = cli(["bench", exported_models["onnx"], "--data", str(tmp_path / "data"), "--runs", "1",
                  "--out", str(tmp_path / "o"), "--no-telemetry"])
    assert result.exit_code == 3
    assert "eval folder class 'cat' is not among the model's labels ['with_mask', 'without_mask']" in result.output


@pytest.mark.parametrize("kwargs,expected", [
    ({}, {}),
    ({"labels": "a, b,c", "input_size": "96"}, {"labels": ("a", "b", "c"), "input_size": (96, 96)}),
    ({"input_size": "96x128", "mean": "0.4", "std": "0.2,0.3,0.4"},
     {"input_size": (96, 128), "mean": (0.4, 0.4, 0.4), "std": (0.2, 0.3, 0.4)}),
    ({"channel_order": "gray"}, {"channel_order": "GRAY", "mean": (0.5,), "std": (0.5,)}),
])
def test_model_options_to_overrides(kwargs, expected):
    from edge.commands.model_options import overrides

    assert dict(overrides(**kwargs)) == expected


@pytest.mark.parametrize("kwargs,message", [
    ({"labels": " , "}, "expected --labels as comma-separated names"),
    ({"input_size": "0x5"}, "expected --input-size as N or HxW"),
    ({"mean": "a,b"}, "expected --mean as comma-separated numbers, found 'a,b'"),
])
def test_model_options_bad_values(kwargs, message):
    from edge.commands.model_options import overrides
    from edge.errors import UsageError

    with pytest.raises(UsageError, match=message):
        overrides(**kwargs)


def test_static_batch_model_mixed_backends(exported_models, tmp_path):
    """Static batch 4 at batches 1/3/9 (padded, split); overhead only where the bare session takes the batch."""
    r = run_bench([exported_models["pt"], exported_models["onnx_b4"]], backends=["pytorch", "onnxruntime:cpu"],
                  batches=[1, 4, 9], warmup=0, runs=2, rounds=1)
    validate_report(r)
    assert [(x["backend"], x["batch"]) for x in r["results"]] == [
        ("pytorch", 1), ("pytorch", 4), ("pytorch", 9), ("onnxruntime", 1), ("onnxruntime", 4), ("onnxruntime", 9)]
    assert r["models"][1]["static_batch"] == 4 and list(r["models"][1]["overhead"]) == ["4"]
    rows = r["results"]  # speed-up: over the first configuration (pytorch) at the same batch
    assert [x["speedup"] for x in rows[:3]] == [1.0] * 3
    assert [x["speedup"] for x in rows[3:]] == [pytest.approx(p["per_item_ms"] / o["per_item_ms"])
                                                for p, o in zip(rows[:3], rows[3:])]


def test_cli_bench_without_matplotlib_says_so_before_running(cli, exported_models, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    result = cli(["bench", exported_models["onnx"], "--out", str(tmp_path / "o")])
    assert result.exit_code == 4 and "'matplotlib' is needed for bench plots (or --no-plots)" in result.output
    assert not os.path.exists(str(tmp_path / "o"))


def test_table_at_80_columns_keeps_every_number_whole():
    import io

    from rich.console import Console

    from edge.commands.bench import print_report

    entries = [{"label": label, "path": label.split()[0], "backend": "x", "device": "cpu", "precision": "fp32",
                "batch": b, "accuracy": acc} for label, acc in (("a_rather_long_model_name.onnx [onnxruntime:cpu]",
                                                                 0.9876), ("b.engine [tensorrt:cuda]", None))
               for b in (1, 16)]
    samples = [[1234.5678, 1300.25, 2400.125], [20.5, 21.0, 22.0], [0.123, 0.2, 0.3], [5.0, 5.5, 6.0]]
    report = {"settings": {"runs": 3, "warmup": 1}, "results": build_results(entries, samples),
              "models": [{"label": "b.engine [tensorrt:cuda]", "overhead": {"1": {"overhead_pct": 1.25}}}],
              "environment": {"host": "h", "cpu": "c", "cpu_count": 2, "load_avg": [0.5, 0.25, 0.125],
                              "telemetry": {"available": False, "reason": "no jtop"}}}
    out = io.StringIO()
    print_report(report, Console(file=out, width=80))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for r in report["results"]:
        numbers = ["{:.3f}".format(r[k]) for k in ("min_ms", "median_ms", "mean_ms", "p90_ms", "p95_ms", "p99_ms",
                                                   "per_item_ms", "vs_baseline")]
        numbers += ["{:.1f}".format(r["throughput"]), "{:.2f}×".format(r["speedup"])]
        for n in numbers:
            assert n in text, n
    assert "98.76%" in text and "1234.568" in text and "[tensorrt:cuda]" in text  # rich markup left alone
    assert "b.engine [tensorrt:cuda]: wrapper overhead over bare session.run: batch 1 +1.25%" in text.replace(
        "\n", " ")


@pytest.mark.parametrize("widths,room,runs", [
    ([5, 5, 5], 20, [[0, 1, 2]]),
    ([5, 5, 5, 5], 12, [[0, 1], [2, 3]]),  # all four (20) do not fit: two runs of two
    ([5, 5, 5, 5, 5], 12, [[0, 1], [2, 3], [4]]),
    ([10, 10, 10], 25, [[0, 1], [2]]),
    ([30, 5], 20, [[0], [1]]),  # a column wider than the room still gets its own table
    ([], 10, [[]]),
])
def test_table_columns_split_into_the_fewest_even_runs(widths, room, runs):
    from edge.commands.tables import _chunks

    assert _chunks(widths, room) == runs


def test_cli_bench_says_why_a_pair_is_skipped(cli, tmp_path):
    from edge.zoo import MASK_MODEL

    result = cli(["bench", MASK_MODEL, "--backend", "onnxruntime:cpu", "--backend", "pytorch", "--batch", "1",
                  "--runs", "1", "--warmup", "0", "--rounds", "1", "--no-plots", "--no-telemetry",
                  "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert ("skipped mask_default.onnx × pytorch: that backend does not run .onnx files (this one runs with: "
            "onnxruntime)") in result.output
    assert "onnxruntime:cpu ×" not in result.output  # the pair that ran is not "skipped"


def test_cli_bench_error_is_the_only_line(tmp_path):
    """No "telemetry not available" line before the error (a fresh process: the warning is once per process)."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "edge", "bench", str(tmp_path / "nope.onnx"), "--no-plots",
                        "--out", str(tmp_path / "o")], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 3 and err.count("\n") == 1 and err.startswith("edge: error: expected a model file"), err
