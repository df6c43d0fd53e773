"""Bad models (issue 14, items 1, 8, 9): NaN weights, NaN at run time, a wrong output batch, an int64 input, a
wrong input rank, 5 outputs for 2 labels. Refused at load with one line (exit 3) by every command that loads
a model, before any calibration; a frame the model answers with NaN is counted, never labelled, and every
JSON line written stays strict JSON."""
import json
import os

import numpy as np
import pytest

from edge.errors import InputError
from edge.run.config import RunConfig
from edge.run.framelog import FrameLog, frame_record
from edge.run.loop import run
from edge.run.results import Faces
from fakes import FixedDetector

pytest.importorskip("onnxruntime")

REFUSED = [
    ("nan", "expected finite outputs, found NaN or inf for a probe batch of 1"),
    ("nan_ts", "expected finite outputs, found NaN or inf for a probe batch of 1"),
    ("rows4", "expected one output row per image (1 for a batch of 1), found shape (4, 2)"),
    ("one_row", "expected one output row per image (2 for a batch of 2), found shape (1, 2)"),
    ("one_row_ts", "expected one output row per image (2 for a batch of 2), found shape (1, 2)"),
    ("int64", "expected a float32 input, found int64"),
    ("five", "model returned shape (1, 5), expected (N, 2) for labels ['with_mask', 'without_mask']"),
    ("flat", "takes input of shape ['batch', 3072], but its metadata"),
]


def strict_json(line):
    """json.loads that refuses NaN/Infinity, as a browser's JSON.parse does."""
    def refuse(name):
        raise ValueError("not JSON: " + name)
    return json.loads(line, parse_constant=refuse)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """An ImageFolder (with_mask/, without_mask/: 4 small photos-like images each) for eval and calibration."""
    import cv2

    root = tmp_path_factory.mktemp("images")
    rng = np.random.RandomState(0)
    for label in ("with_mask", "without_mask"):
        os.makedirs(str(root / label))
        for i in range(4):
            cv2.imwrite(str(root / label / "{}.png".format(i)), rng.randint(0, 255, (40, 40, 3)).astype(np.uint8))
    return str(root)


@pytest.mark.parametrize("name,words", REFUSED, ids=[name for name, _ in REFUSED])
def test_a_bad_model_is_refused_at_load(bad_models, name, words):
    from edge.backends import load_backend

    with pytest.raises(InputError) as e:
        load_backend(bad_models[name])
    assert words in str(e.value) and e.value.exit_code == 3


def test_the_same_net_well_behaved_loads(bad_models):
    from edge.backends import load_backend

    with load_backend(bad_models["good"]) as b:
        assert b.infer(np.zeros((3, 3, 32, 32), np.float32)).shape == (3, 2)


def one_line(result, code, words):
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("edge: error: ") and words in lines[0], result.output


@pytest.mark.parametrize("command", ["run", "eval", "bench", "quantize", "export"])
@pytest.mark.parametrize("name", ["nan", "rows4", "int64", "five", "flat"])
def test_every_command_refuses_it_in_one_line(bad_models, images, tmp_path, cli, command, name):
    model = bad_models[name]
    args = {"run": ["run", "--model", model, "--camera", "test://ball?frames=2", "--headless"],
            "eval": ["eval", model, "--data", images, "--split", "all"],
            "bench": ["bench", model, "--runs", "1", "--warmup", "0", "--no-telemetry", "--out", str(tmp_path / "o")],
            "quantize": ["quantize", model, "--calib", images, "-o", str(tmp_path / "q.onnx")],
            "export": ["export", model, "--int8", "--calib", images, "-o", str(tmp_path / "q.onnx")]}[command]
    one_line(cli(args), 3, dict(REFUSED)[name])
    assert not os.path.exists(str(tmp_path / "q.onnx"))


def test_quantize_checks_before_calibrating(bad_models, images, tmp_path, monkeypatch):
    from edge.backends.tensorrt import calibration
    from export.quantize import quantize_onnx

    calls = []
    monkeypatch.setattr(calibration, "ort_reader", lambda *a, **k: calls.append(a))
    with pytest.raises(InputError, match="expected finite outputs"):
        quantize_onnx(bad_models["nan"], str(tmp_path / "q.onnx"), images)
    assert calls == [] and os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("name,words", [("nan_ts", "expected finite logits, found NaN or inf"),
                                        ("one_row_ts", "'real, batch 7' (InputError: expected one output row "
                                                       "per image (7 for a batch of 7), found shape (1, 2))")])
def test_export_refuses_it_before_writing(bad_models, tmp_path, cli, name, words):
    out = str(tmp_path / "x.onnx")
    one_line(cli(["export", bad_models[name], "-o", out]), 3, words)
    assert not os.path.exists(out)


def test_nan_at_run_time_counts_the_frame_and_labels_nothing(bad_models, tmp_path, monkeypatch):
    """A model finite on the probe and NaN on real crops: frames counted, faces unlabelled, lines strict JSON."""
    monkeypatch.setattr("edge.run.loop.create_detector", lambda name, **options: FixedDetector([[10, 10, 50, 50]], [0.9]))
    echoed, seen = [], []
    log = str(tmp_path / "frames.jsonl")
    summary = run(RunConfig(source="test://ball?frames=3", width=320, height=240, model=bad_models["late_nan"],
                            headless=True, log=log), echo=echoed.append,
                  on_frame=lambda frame, faces: seen.append((faces.labels, faces.probs)))
    rows = [strict_json(line) for line in open(log)]
    assert [(r["faces"], r["labels"], r["scores"]) for r in rows[:-1]] == [(1, [], [])] * 3
    assert seen == [(None, None)] * 3
    s = rows[-1]["summary"]
    assert (s["frames"], s["faces"], s["unlabelled_frames"], s["unlabelled_faces"]) == (3, 3, 3, 3)
    assert summary["unlabelled_frames"] == 3
    assert sum("NaN or inf" in line for line in echoed) == 1  # said once, not per frame


def test_the_frame_log_writes_strict_json(tmp_path):
    path = str(tmp_path / "f.jsonl")
    log = FrameLog(path)
    faces = Faces(np.array([[np.nan, 1, 2, np.inf]], np.float32), labels=["with_mask"], probs=[float("nan")])
    log.add(frame_record(0, 1.0, {"infer": 1.0}, faces, float("nan")))
    log.close({"extra": float("inf")})
    rows = [strict_json(line) for line in open(path)]
    assert rows[0]["boxes"] == [[None, 1.0, 2.0, None]] and rows[0]["scores"] == [None] and rows[0]["fps"] is None
    assert rows[1]["summary"]["extra"] is None and rows[1]["summary"]["unlabelled_frames"] == 0


def test_status_json_is_strict_json():
    from urllib.request import urlopen

    from edge.service.live import LiveState
    from edge.service.serve import start_server

    state = LiveState(info={"model": "m"})
    state.publish(None, {"ms": {"infer": float("nan")}, "labels": [], "fps": float("inf")})
    state.set_telemetry({"temperature_c": {"gpu": float("nan")}})
    server = start_server(state, "127.0.0.1:0")
    try:
        body = urlopen(server.url + "status.json", timeout=5).read().decode()
    finally:
        server.close()
    status = strict_json(body)
    assert status["last"]["fps"] is None and status["telemetry"]["temperature_c"]["gpu"] is None


def test_a_static_batch_model_with_extra_rows_is_refused_through_the_padding():
    from edge.backends.base import run_planned_many

    def four_rows_each(chunk):
        return [np.zeros((4 * len(chunk), 2), np.float32)]

    with pytest.raises(InputError, match=r"expected one output row per image \(4 for a batch of 4\), found shape "
                                         r"\(16, 2\)"):
        run_planned_many(four_rows_each, np.zeros((1, 3, 8, 8), np.float32), 4, static=True)
    # and a well-behaved one still pads and drops the padding
    out = run_planned_many(lambda c: [np.arange(len(c), dtype=np.float32)[:, None]], np.zeros((5, 3, 8, 8),
                                                                                               np.float32), 4, True)
    assert out[0].ravel().tolist() == [0, 1, 2, 3, 0]


@pytest.mark.parametrize("api", ["bindings", "tensors"])
def test_engine_build_refuses_an_int64_input_before_tensorrt(bad_models, tmp_path, cli, device, api):
    """`edge export X.onnx --engine` reads the input's element type from the file (no onnx package on a
    Nano): the same one line as run/eval/bench, and no engine written."""
    import fakes

    device(*fakes.DEVICES[api])
    model = str(tmp_path / "int64.onnx")
    with open(bad_models["int64"], "rb") as src, open(model, "wb") as dst:
        dst.write(src.read())
    one_line(cli(["export", model, "--engine", "--fp32"]), 3, "expected a float32 input, found int64")
    assert [f for f in os.listdir(str(tmp_path)) if f.endswith(".engine")] == []
