"""`edge bench-detectors`: spec parsing, matching against ground truth, interleaving, and the command on the
bundled sample (Haar and BlazeFace side by side in one run)."""
import json

import numpy as np
import pytest

from edge.detectors import Detections
from edge.bench.detectors import bench_detectors, match, parse_spec, rotation
from edge.errors import UsageError


@pytest.mark.parametrize("spec,name,options", [
    ("haar", "haar", {}),
    ("haar:scale=1", "haar", {"scale": 1}),
    ("haar:scale=0.25,equalize=true", "haar", {"scale": 0.25, "equalize": True}),
    ("blazeface:grid=1x1,model=short", "blazeface", {"grid": "1x1", "model": "short"}),
    ("blazeface:model=/x/bf.engine", "blazeface", {"model": "/x/bf.engine"}),
])
def test_parse_spec(spec, name, options):
    s = parse_spec(spec)
    assert (s.label, s.name, s.options) == (spec, name, options)


@pytest.mark.parametrize("spec", ["haar:scale", "haar:=1", "blazeface:grid=1x1,oops"])
def test_parse_spec_refuses(spec):
    with pytest.raises(UsageError, match="expected --detector NAME"):
        parse_spec(spec)


FACES = [{"box": [0, 0, 10, 10], "label": "a"}, {"box": [20, 0, 30, 10], "label": "b"}]


@pytest.mark.parametrize("boxes,found,false", [
    ([], [False, False], 0),
    ([[0, 0, 10, 10]], [True, False], 0),
    ([[1, 1, 11, 11], [20, 0, 30, 10]], [True, True], 0),   # IoU 81/119 = 0.68
    ([[0, 0, 10, 5]], [True, False], 0),                     # IoU 0.5
    ([[0, 0, 10, 3]], [False, False], 1),                    # IoU 0.3: a miss and a false positive
    ([[50, 50, 60, 60], [0, 0, 10, 10]], [True, False], 1),
])
def test_match(boxes, found, false):
    assert match(np.array(boxes, np.float32), FACES, 0.4) == (found, false)


def test_match_without_faces_counts_every_box():
    assert match(np.array([[0, 0, 5, 5]], np.float32), [], 0.4) == ([], 1)


def test_rotation():
    assert [rotation(3, i) for i in range(4)] == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]


class FakeDetector:
    """Takes ``cost`` fake milliseconds; finds face a on even frames only."""

    def __init__(self, cost, clock):
        self.cost, self.clock, self.calls, self.closed = cost, clock, 0, False

    def detect(self, frame):
        self.calls += 1
        self.clock.t += self.cost / 1000.0
        return Detections(np.array([[0, 0, 10, 10]] if frame % 2 == 0 else [], np.float32).reshape(-1, 4),
                          np.ones(1 - frame % 2, np.float32))

    def info(self):
        return {"detector": "fake", "cost": self.cost}

    def close(self):
        self.closed = True


def test_bench_detectors_times_and_scores_each_detector():
    class Clock:
        t = 0.0

        def __call__(self):
            return self.t

    clock = Clock()
    made = []

    def create(spec):
        made.append(FakeDetector(spec.options["cost"], clock))
        return made[-1]

    specs = [parse_spec("a:cost=10"), parse_spec("b:cost=2.5")]
    truth = {i: FACES for i in range(4)}
    r = bench_detectors(specs, [(i, i) for i in range(4)], create, truth, warmup=3, clock=clock)
    a, b = r["detectors"]
    assert r["frames"] == r["scored_frames"] == 4
    assert a["ms"]["mean"] == pytest.approx(10) and b["ms"]["mean"] == pytest.approx(2.5)
    assert (a["ratio"], b["ratio"]) == (1.0, 0.25)
    assert a["recall"] == {"a": 0.5, "b": 0.0} and a["faces"] == {"a": 4, "b": 4} and a["false_positives"] == 0
    assert [d.calls for d in made] == [3 + 4, 3 + 4] and all(d.closed for d in made)
    assert a["info"] == {"detector": "fake", "cost": 10}


def test_command_on_the_sample_haar_and_blazeface_side_by_side(cli, tmp_path):
    out = tmp_path / "det.json"
    r = cli(["bench-detectors", "-d", "haar", "-d", "blazeface", "--max-frames", "10", "--warmup", "1",
             "--json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["frames"] == report["scored_frames"] == 10 and report["environment"]["cpu_count"] >= 1
    haar, bf = report["detectors"]
    assert (haar["label"], bf["label"]) == ("haar", "blazeface") and haar["ratio"] == 1.0
    assert bf["info"]["model"] == "face_detection_full_range_masked" and bf["ms"]["n"] == 10
    assert bf["recall"]["with_mask"] > haar["recall"]["with_mask"]  # Haar misses a masked face in frames 2, 6, 8, 9
    assert bf["recall"]["without_mask"] == 1.0 and bf["false_positives"] == 0


@pytest.mark.parametrize("args,code,words", [
    (["-d", "yolo"], 2, "unknown detector 'yolo'"),
    (["-d", "haar:scale"], 2, "expected --detector NAME[:option=value,...]"),
    (["-d", "haar:colour=red"], 2, "detector 'haar' does not take these options"),
    (["--frames", "/no/such.mp4"], 3, "expected a video file OpenCV can decode"),
    (["--truth", "/no/such.json"], 3, "expected ground truth JSON"),
    (["-o", "/proc/report.json"], 3, "cannot write --out in '/proc'"),  # before the benchmark runs
])
def test_command_errors_are_one_line(cli, args, code, words):
    r = cli(["bench-detectors", "--max-frames", "1"] + args)
    lines = r.output.strip().splitlines()
    assert r.exit_code == code and len(lines) == 1 and words in lines[0], r.output


def test_table_at_80_columns_keeps_every_number_whole():
    import io

    from rich.console import Console

    from edge.commands.bench_detectors import print_report

    def row(label, ms, ratio, recall, false):
        return {"label": label, "info": {"model": "face_detection_full_range.engine", "device": "cuda:0"},
                "ms": dict(zip(("mean", "p50", "p95"), ms)), "ratio": ratio,
                "recall": dict(zip(("with_mask", "without_mask"), recall)), "false_per_100_frames": false}

    report = {"frames": 60, "scored_frames": 60, "iou": 0.4, "truth": "sample.json", "detectors": [
        row("haar", (19.53, 19.39, 120.64), 1.0, (0.886, 1.0), 3.7),
        row("blazeface:grid=3x2,scale=0.35", (1023.06, 1000.14, 1227.1), 52.384, (0.992, 0.875), 12.5)]}
    out = io.StringIO()
    print_report(report, Console(file=out, width=80))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for n in ("19.53", "19.39", "120.64", "1.000", "88.6%", "100.0%", "3.7", "1023.06", "1000.14", "1227.10",
              "52.384", "99.2%", "87.5%", "12.5"):
        assert n in text, n
