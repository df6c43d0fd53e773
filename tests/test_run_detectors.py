"""`edge run --detector haar|blazeface` end to end on the bundled 1280x720 sample video against its ground
truth (sample.json): BlazeFace finds the masked faces Haar misses, in the same test; the detector is named
in the log; --detect-every with the tracker; start-up errors."""
import json
import os
from dataclasses import replace

import numpy as np
import pytest

from edge.detectors import config_options
from edge.detectors.blazeface import BlazeFaceOptions
from edge.detectors.haar import HaarOptions
from edge.errors import UsageError
from edge.run.config import RunConfig
from edge.zoo import SAMPLE_VIDEO
from edge.detectors.boxes import iou_matrix

pytest.importorskip("onnxruntime")

TRUTH = os.path.join(os.path.dirname(SAMPLE_VIDEO), "sample.json")


def recall(rows, iou=0.4):
    """{label: recall} and false positives of the per-frame log rows against sample.json."""
    truth = {t["frame"]: t["faces"] for t in json.load(open(TRUTH))["frames"]}
    hits, false = {"with_mask": [], "without_mask": []}, 0
    for r in rows:
        boxes = np.asarray(r["boxes"], np.float32).reshape(-1, 4)
        faces = truth[r["frame"]]
        for f in faces:
            hits[f["label"]].append(bool(len(boxes)) and iou_matrix([f["box"]], boxes).max() >= iou)
        if len(boxes):
            false += int((iou_matrix(boxes, [f["box"] for f in faces]).max(1) < iou).sum())
    return {k: float(np.mean(v)) for k, v in hits.items()}, false


def run_cli(cli, tmp_path, detector, frames, *extra):
    log = str(tmp_path / "{}.jsonl".format(detector))
    r = cli(["run", "--detector", detector, "--headless", "--max-frames", str(frames), "--log", log,
             "--camera", SAMPLE_VIDEO] + list(extra))
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in open(log)]
    return r.output, rows[:-1], rows[-1]["summary"]


def test_blazeface_finds_the_masked_faces_haar_misses(cli, seeded_onnx, tmp_path):
    n = 20  # Haar misses Grace Hopper's masked face in frames 2, 6, 8, 9, 15 of the sample (and Obama in 8)
    result = {}
    for detector in ("haar", "blazeface"):
        output, rows, summary = run_cli(cli, tmp_path, detector, n, "--model", seeded_onnx)
        assert [r["frame"] for r in rows] == list(range(n))
        assert summary["detector"]["detector"] == detector and "detector {}:".format(detector) in output
        assert summary["stages"]["detect"]["n"] == n and all(r["ms"]["detect"] > 0 for r in rows)
        result[detector] = recall(rows)
    print(result)
    (bf, bf_false), (haar, _) = result["blazeface"], result["haar"]
    assert bf["with_mask"] > haar["with_mask"], result
    assert bf["with_mask"] >= 0.95 and bf["without_mask"] >= 0.95 and bf_false <= 1, result
    assert summary["detector"]["model"] == "face_detection_full_range_masked"  # the default (issue 13)
    assert summary["detector"]["mode"] == "frame" and summary["detector"]["scale"] == 0.4  # the default: auto


def test_blazeface_with_detect_every_and_the_tracker(cli, seeded_onnx, tmp_path):
    _, rows, summary = run_cli(cli, tmp_path, "blazeface", 12, "--model", seeded_onnx, "--detect-every", "3",
                               "--blazeface-model", "short", "--blazeface-grid", "2x2")
    assert summary["detector"]["model"] == "face_detection_short_range" and summary["detector"]["grid"] == [2, 2]
    assert summary["detector"]["mode"] == "tiles"
    found, _ = recall(rows)
    assert found["with_mask"] >= 0.9 and found["without_mask"] >= 0.9, found
    assert all(sorted(r["ids"]) == [0, 1, 2, 3] for r in rows[3:]), [r["ids"] for r in rows]  # ids kept


@pytest.mark.parametrize("args,code,words", [
    (["--detector", "yolo"], 2, "unknown detector 'yolo' (known: haar, blazeface)"),
    (["--detector", "blazeface", "--blazeface-model", "medium"], 2, "unknown BlazeFace model 'medium'"),
    (["--detector", "blazeface", "--blazeface-grid", "3by2"], 2, "expected auto, frame, or a tile grid COLSxROWS"),
    (["--detector", "blazeface", "--blazeface-scale", "1.5"], 2,
     "run config 'blazeface.scale' (--blazeface-scale): expected a number in (0, 1], found 1.5"),
    (["--detector", "blazeface", "--blazeface-model", "{swapped}"], 3,
     "expected outputs (N, 2016, 16) and (N, 2016, 1) for the anchor layout"),
    (["--detector", "blazeface", "--blazeface-model", "{classifier}"], 3, "expected a 'edge.detector' record"),
])
def test_startup_errors_are_one_line(cli, seeded_onnx, tmp_path, args, code, words):
    import onnx

    from edge.detectors.blazeface import model_path
    from edge.meta import DETECTOR_KEY

    model = onnx.load(model_path("full"))
    rec = json.loads({p.key: p.value for p in model.metadata_props}[DETECTOR_KEY])
    rec["layout"] = {"input_size": 192, "strides": [8, 16], "per_cell": [2, 6]}  # 2016 anchors, not 2304
    del model.metadata_props[:]
    model.metadata_props.add(key=DETECTOR_KEY, value=json.dumps(rec))
    onnx.save(model, str(tmp_path / "swapped.onnx"))
    args = [a.format(swapped=tmp_path / "swapped.onnx", classifier=seeded_onnx) for a in args]
    r = cli(["run", "--headless", "--max-frames", "1", "--model", seeded_onnx] + args)
    lines = r.output.strip().splitlines()
    assert r.exit_code == code and len(lines) == 1 and words in lines[0], r.output


def test_config_sections_become_detector_options():
    cfg = RunConfig(haar=HaarOptions(scale=0.25, min_neighbors=5, min_size=30, scale_factor=1.2, cascade="x.xml"),
                    blazeface=BlazeFaceOptions(model="short", grid="2x1", scale=0.3), threads=2)
    haar = {"scale": 0.25, "min_neighbors": 5, "min_size": 30, "scale_factor": 1.2, "cascade": "x.xml"}
    blazeface = {"model": "short", "grid": "2x1", "scale": 0.3, "threads": 2}
    assert config_options("haar", cfg) == haar and config_options("blazeface", cfg) == blazeface
    assert cfg.detector == "blazeface"  # the default (issue 13); Haar stays as --detector haar
    assert cfg.detector_options() == blazeface and replace(cfg, detector="haar").detector_options() == haar
    assert cfg.track_scale == 0.25  # the tracker shares Haar's scale, whichever detector runs
    assert replace(cfg, detector="blazeface").track_scale == 0.25
    assert config_options("haar", RunConfig()) == {"scale": 0.4, "min_neighbors": 3, "min_size": 60,
                                                   "scale_factor": 1.1, "cascade": "haarcascade_frontalface_alt2.xml"}
    assert config_options("blazeface", RunConfig()) == {"model": "masked", "grid": "auto", "scale": 0.4, "threads": 1}
    with pytest.raises(UsageError, match="unknown detector 'blaze'"):
        RunConfig(detector="blaze")
