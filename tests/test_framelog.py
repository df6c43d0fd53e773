"""The per-frame JSONL schema and the summary statistics."""
import json

import numpy as np
import pytest

from edge.run.framelog import STAGES, FrameLog, format_summary, frame_record
from edge.run.results import Faces


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_frame_record_schema():
    faces = Faces(np.array([[1, 2, 3, 4]], np.float32), [4], labels=["with_mask"], probs=[0.98765])
    r = frame_record(7, 1700000000.5, {"detect": 9.0, "infer": 1.25}, faces, 30.0, dropped=2, corrupt=1)
    assert list(r) == ["frame", "t_capture", "ms", "faces", "ids", "boxes", "labels", "scores", "fps",
                       "dropped", "corrupt"]
    assert list(r["ms"]) == list(STAGES) + ["total"]
    assert r["ms"]["total"] == 10.25 and r["ms"]["capture_wait"] == 0.0
    assert (r["faces"], r["ids"], r["boxes"], r["labels"], r["scores"]) == (1, [4], [[1, 2, 3, 4]], ["with_mask"],
                                                                            [0.9877])
    json.dumps(r)  # plain JSON types only
    bare = frame_record(0, 0.0, {}, Faces([[1, 2, 3, 4], [5, 6, 7, 8]], [3, 5]), 0.0)  # not classified
    assert (bare["faces"], bare["ids"], bare["labels"], bare["scores"]) == (2, [3, 5], [], [])


def test_log_lines_and_summary_statistics(tmp_path):
    rng = np.random.default_rng(0)
    clock = Clock()
    lines = []
    path = tmp_path / "frames.jsonl"
    log = FrameLog(str(path), every=1.0, echo=lines.append, clock=clock)
    detect = rng.uniform(5, 50, 200)
    two = Faces(np.zeros((2, 4)), labels=["a", "b"], probs=[0.5, 0.6])
    for i, d in enumerate(detect):
        clock.t += 0.05  # 20 frames per second of wall time
        log.add(frame_record(i, 0.0, {"detect": d, "infer": 1.0}, two, 20.0, dropped=i // 50))
    s = log.close({"stopped": "end of stream"})
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["frame"] for r in rows[:-1]] == list(range(200))
    assert rows[-1]["summary"]["frames"] == 200 and rows[-1]["summary"]["stopped"] == "end of stream"
    assert s["faces"] == 400 and s["dropped"] == 3
    assert s["mean_fps"] == pytest.approx(20.0, rel=0.02)
    for q in ("p50", "p95", "p99"):
        assert s["stages"]["detect"][q] == pytest.approx(np.percentile(np.round(detect, 3), int(q[1:])), abs=1e-6)
    assert s["stages"]["total"]["mean"] == pytest.approx(np.mean(np.round(detect, 3)) + 1.0, abs=1e-3)
    assert len(lines) == 9  # one progress line per second of the 10 s run (the first after 1 s)
    text = format_summary(s)
    assert text.startswith("200 frames in 10.0 s: 20.0 FPS mean; 400 faces; 3 dropped, 0 corrupt")
    assert "detect" in text and "p99" in text


def test_empty_log_summary(tmp_path):
    s = FrameLog(str(tmp_path / "x.jsonl")).close()
    assert (s["frames"], s["mean_fps"]) == (0, 0.0)
    assert format_summary(s).startswith("0 frames")


def test_object_classes_in_the_line_and_counted_per_class_in_the_summary(tmp_path):
    objects = Faces(np.zeros((3, 4)), scores=[0.9, 0.8, 0.7], class_ids=[0, 2, 0], class_names=("person", "bus", "car"),
                    labels=["with_mask", "car", "person"], probs=[0.99, 0.8, 0.7])
    r = frame_record(3, 0.0, {}, objects, 10.0)
    assert list(r) == ["frame", "t_capture", "ms", "faces", "ids", "boxes", "classes", "labels", "scores", "fps",
                       "dropped", "corrupt"]
    assert r["classes"] == ["person", "car", "person"] and r["labels"] == ["with_mask", "car", "person"]
    faces = frame_record(4, 0.0, {}, Faces(np.zeros((2, 4)), labels=["a", "b"], probs=[0.5, 0.6]), 10.0)
    assert "classes" not in faces  # a face detector: the documented line
    log = FrameLog(str(tmp_path / "f.jsonl"))
    log.add(r)
    log.add(r)
    s = log.close()
    assert s["classes"] == {"person": 4, "car": 2} and "classes: person 4, car 2" in format_summary(s)
    log = FrameLog()
    log.add(faces)
    s = log.close()
    assert s["classes"] == {"face": 2} and "classes:" not in format_summary(s)
