"""`edge run` end to end on real faces: detections against the video's ground truth, one batched inference
per frame, the log, the outputs, and the faults a user meets."""
import inspect
import json
import os

import numpy as np
import pytest

from edge.errors import HardwareError, UsageError
from edge.run.config import RunConfig
from edge.run.people import PeopleOptions
from edge.run.loop import crop_faces, run
from edge.run.results import Faces
from edge.run.sinks import Sink
from edge.detectors.boxes import iou_matrix
from fakes import FixedDetector

pytest.importorskip("onnxruntime")


def count_infer(monkeypatch):
    from edge.backends.base import Backend

    calls = []
    real = Backend.infer

    def infer(self, batch):
        calls.append(len(batch))
        return real(self, batch)

    monkeypatch.setattr(Backend, "infer", infer)
    return calls


def run_on(video, model, tmp_path, calls=None, **kw):
    """Run headless; frames = [(index, boxes, [(label, probability)], inferences so far)]."""
    frames = []
    calls = [] if calls is None else calls
    cfg = RunConfig(source=video, model=model, headless=True, log=str(tmp_path / "frames.jsonl"), **kw)
    summary = run(cfg, on_frame=lambda f, faces: frames.append((f.index, faces.boxes.copy(),
                                                                list(zip(faces.labels, faces.probs)), len(calls))))
    rows = [json.loads(x) for x in open(cfg.log)]
    return summary, frames, rows


def test_whole_pipeline_on_real_faces(face_video, seeded_onnx, tmp_path, monkeypatch):
    path, truth = face_video
    calls = count_infer(monkeypatch)
    summary, frames, rows = run_on(path, seeded_onnx, tmp_path, calls, people=PeopleOptions(enabled=False))
    n = len(truth["frames"])
    assert summary["frames"] == n and summary["stopped"] == "end of stream"
    per_frame = np.diff([0] + [f[3] for f in frames])
    assert per_frame[1:].tolist() == [1] * (n - 1), "expected one batched inference per frame"
    assert calls[-n:] == [len(r["labels"]) for r in rows[:-1]]  # all faces of a frame in that one call
    assert rows[-1]["summary"]["frames"] == n and len(rows) == n + 1
    bare_hits = []
    for (index, boxes, results, _), t in zip(frames, truth["frames"]):
        assert index == t["frame"]
        assert {r[0] for r in results} <= {"with_mask", "without_mask"}
        for f in t["faces"]:
            if f["label"] == "without_mask":
                bare_hits.append(len(boxes) > 0 and iou_matrix([f["box"]], boxes).max() >= 0.5)
    assert all(bare_hits)
    for stage in ("capture_wait", "detect", "preprocess", "infer", "postprocess", "output", "total"):
        assert summary["stages"][stage]["n"] == n and summary["stages"][stage]["p99"] >= summary["stages"][stage]["p50"]


def test_labels_of_the_trained_model_match_the_video(face_video, trained_model, tmp_path):
    path, truth = face_video
    _, frames, _ = run_on(path, trained_model, tmp_path)
    right = []
    for (_, boxes, results, _), t in zip(frames, truth["frames"]):
        for f in t["faces"]:
            if len(boxes):
                iou = iou_matrix([f["box"]], boxes)[0]
                if iou.max() >= 0.5:
                    right.append(results[int(iou.argmax())][0] == f["label"])
    assert len(right) >= len(truth["frames"]) and np.mean(right) >= 0.9


def test_pytorch_checkpoint_runs_the_same_way(face_video, tmp_path):
    torch = pytest.importorskip("torch")
    from models import create_model
    from models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(create_model("small"), str(tmp_path / "small.pt"))
    summary, frames, _ = run_on(face_video[0], ckpt, tmp_path, max_frames=4, detect_every=2)
    assert summary["frames"] == 4 and summary["backend"]["backend"] == "pytorch"
    assert all(len(f[2]) >= 1 for f in frames)


def test_detect_every_in_the_pipeline(face_video, seeded_onnx, tmp_path):
    path, truth = face_video
    summary, frames, rows = run_on(path, seeded_onnx, tmp_path, detect_every=4)
    hits = [iou_matrix([f["box"]], boxes).max() >= 0.5 for (_, boxes, _, _), t in zip(frames, truth["frames"])
            for f in t["faces"] if f["label"] == "without_mask" and len(boxes)]
    assert len(hits) == len(truth["frames"]) and all(hits)
    assert rows[1]["ids"][:1] == rows[0]["ids"][:1]  # tracked ids carry over


def test_save_writes_the_annotated_video(face_video, seeded_onnx, tmp_path):
    import cv2

    out = tmp_path / "out.mp4"
    cfg = RunConfig(source=face_video[0], model=seeded_onnx, save=str(out), max_frames=6)
    s = run(cfg)
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert s["frames"] == n == 6
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]  # no temporary file left


def test_log_is_flushed_when_the_camera_fails(face_video, seeded_onnx, tmp_path, monkeypatch):
    import edge.sources

    real = edge.sources.open_source

    class Failing:
        def __init__(self, inner):
            self.inner, self.n, self.dropped, self.corrupt = inner, 0, 0, 0

        def read(self, timeout):
            self.n += 1
            if self.n > 3:
                raise HardwareError("camera unplugged")
            return self.inner.read(timeout)

        def describe(self):
            return "failing"

        def close(self):
            self.inner.close()

    monkeypatch.setattr(edge.sources, "open_source", lambda *a, **k: Failing(real(*a, **k)))
    log = tmp_path / "f.jsonl"
    with pytest.raises(HardwareError):
        run(RunConfig(source=face_video[0], model=seeded_onnx, headless=True, log=str(log)))
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r.get("frame") for r in rows[:-1]] == [0, 1, 2] and rows[-1]["summary"]["frames"] == 3


def test_corrupt_images_are_skipped_and_counted(face_photos, seeded_onnx, tmp_path, cli):
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.jpg"), face_photos["astronaut"][0])
    (folder / "2.jpg").write_bytes(b"\xff\xd8 truncated")
    cv2.imwrite(str(folder / "3.jpg"), face_photos["grace_hopper"][0])
    r = cli(["run", "--camera", str(folder), "--model", seeded_onnx, "--headless", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output.strip().splitlines()[-1])
    assert (s["frames"], s["corrupt"], s["faces"]) == (2, 1, 2)


def test_damaged_video_ends_cleanly_and_counts_lost_frames(face_video, seeded_onnx, tmp_path, cli):
    path, truth = face_video
    data = bytearray(open(path, "rb").read())
    n = len(data)
    data[n // 2:n // 2 + n // 10] = bytes(n // 10)  # zero a tenth of the file in the middle
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    from edge.sources import gst

    for capture in ("opencv", "gstreamer") if gst.available() else ("opencv",):
        r = cli(["run", "--camera", str(bad), "--model", seeded_onnx, "--headless", "--json", "--capture", capture])
        assert r.exit_code == 0, r.output
        s = json.loads(r.output.strip().splitlines()[-1])
        assert s["corrupt"] >= 1 and s["frames"] + s["corrupt"] == len(truth["frames"]), (capture, s)


def test_cli_end_of_stream_is_a_clean_exit(seeded_onnx, cli):
    r = cli(["run", "--camera", "test://ball?frames=8", "--width", "320", "--height", "240",
             "--model", seeded_onnx, "--headless"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("8 frames in") and "p95" in r.output


@pytest.mark.parametrize("args,code,words", [
    (["--camera", "{bad}"], 3, "edge: error: expected a video file OpenCV can decode"),
    (["--labels", "a,b,c"], 3, "expected (N, 3) for labels ['a', 'b', 'c']"),
    (["--camera", "/dev/video57", "--capture", "opencv"], 5, "cannot open the usb camera '/dev/video57'"),
    (["--detector", "yolo"], 2, "unknown detector 'yolo'"),
    (["--camera", "/no/such.mp4"], 3, "found nothing at '/no/such.mp4'"),
    (["--detect-scale", "2"], 2, "expected a number in (0, 1]"),
    (["--model", "{bad}"], 3, "expected a model file ending in"),
])
def test_faults_are_one_line(face_video, seeded_onnx, tmp_path, cli, args, code, words):
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n" * 100)
    args = [a.replace("{bad}", str(bad)) for a in args]
    base = ["run", "--headless", "--max-frames", "2"]
    if "--camera" not in args:
        base += ["--camera", face_video[0]]
    if "--model" not in args:
        base += ["--model", seeded_onnx]
    r = cli(base + args)
    assert r.exit_code == code, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.output


def test_missing_default_model(cli, monkeypatch, face_video):
    monkeypatch.setattr("edge.run.config.DEFAULT_MODEL", "/nowhere/edge/zoo/mask_default.onnx")
    r = cli(["run", "--camera", face_video[0], "--headless"])
    assert r.exit_code == 3
    assert r.output.strip() == ("edge: error: the bundled default model is missing "
                                "(/nowhere/edge/zoo/mask_default.onnx); pass --model PATH")


@pytest.mark.parametrize("camera,first", [
    ("csi://1", "nvarguscamerasrc sensor-id=1 "),
    ("test://ball?frames=5", "videotestsrc pattern=ball num-buffers=5 "),
    ("usb", "v4l2src device=/dev/video0 ! image/jpeg"),
])
def test_print_pipeline(cli, camera, first):
    r = cli(["run", "--camera", camera, "--print-pipeline"])
    assert r.exit_code == 0 and r.output.startswith(first) and r.output.rstrip().endswith("emit-signals=false")


def test_flags_map_one_to_one_onto_the_config():
    from dataclasses import fields, is_dataclass

    from edge.commands.run import CONFIG_KEYS, NOT_CONFIG
    from edge.commands.run import run as command

    def keys(cls, prefix=""):
        for f in fields(cls):
            sub = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
            if is_dataclass(sub):
                yield from keys(type(sub), prefix + f.name + ".")
            else:
                yield prefix + f.name

    params = set(inspect.signature(command).parameters) - set(NOT_CONFIG) - {"ctx"}
    flags = [CONFIG_KEYS.get(p, p) for p in params]
    assert len(set(flags)) == len(flags) and set(flags) == set(keys(RunConfig))


def test_config_from_dict_refuses_unknown_keys():
    cfg = RunConfig.from_dict({"source": "csi", "detect_every": 3, "labels": ["a", "b"]})
    assert cfg.labels == ("a", "b") and cfg.detect_every == 3
    with pytest.raises(UsageError, match="unknown key 'detect_evry'"):
        RunConfig.from_dict({"detect_evry": 3})


def test_crop_faces_clips_and_drops_empty_boxes():
    img = np.arange(100 * 80 * 3, dtype=np.uint8).reshape(100, 80, 3)
    crops, keep = crop_faces(img, np.array([[-5, -5, 10, 20], [70, 90, 200, 200], [50, 50, 50.5, 60]], np.float32))
    assert [c.shape for c in crops] == [(20, 10, 3), (10, 10, 3)] and keep.tolist() == [True, True, False]
    assert (crops[0] == img[:20, :10]).all() and (crops[1] == img[90:, 70:]).all()


class FixedIds:
    """A tracker double: passes the detections through with the ids 7, 9."""

    def __init__(self, scale):
        pass

    def update(self, image, boxes):
        return boxes, [7, 9]

    predict = None  # detect_every=2 with one frame: never called


@pytest.mark.parametrize("tracker,kept_id", [(True, 9), (False, 1)])
def test_a_dropped_box_takes_its_id_with_it(seeded_onnx, tmp_path, monkeypatch, tracker, kept_id):
    """The box cropping drops is not the last one: the id logged for the kept box is still its own."""
    monkeypatch.setattr("edge.run.loop.create_detector", lambda name, **options: FixedDetector([[0, 0, 1, 1], [10, 10, 50, 50]], [0.6, 0.8]))  # cropping drops the 1 px box
    monkeypatch.setattr("edge.run.loop.BoxTracker", FixedIds)
    faces = []
    s = run(RunConfig(source="test://ball?frames=1", width=320, height=240, model=seeded_onnx, headless=True,
                      log=str(tmp_path / "f.jsonl"), detect_every=2 if tracker else 1),
            on_frame=lambda frame, f: faces.append(f))
    row = json.loads(open(str(tmp_path / "f.jsonl")).readline())
    assert s["frames"] == 1 and (row["faces"], row["ids"], row["boxes"]) == (1, [kept_id], [[10, 10, 50, 50]])
    assert faces[0].track_ids.tolist() == [kept_id] and len(row["labels"]) == len(row["scores"]) == 1
    if tracker:
        assert faces[0].scores is None  # a tracker's boxes carry no detector score
    else:
        assert faces[0].scores.tolist() == pytest.approx([0.8])


class Recorder(Sink):
    """A sink double: records what it is given; asks to quit after ``quit_after`` frames or raises there."""

    def __init__(self, quit_after=0, fail=False):
        self.quit_after, self.fail, self.got, self.kept = quit_after, fail, [], None

    def write(self, frame, faces, view):
        self.got.append((frame.index, len(faces), None if view is None else view.shape))
        if self.fail and len(self.got) == self.quit_after:
            raise HardwareError("the output went away")
        return len(self.got) != self.quit_after

    def close(self, keep=True):
        self.kept = keep


@pytest.mark.parametrize("fail", [False, True])
def test_every_sink_gets_each_frame_and_one_can_end_the_run(seeded_onnx, tmp_path, monkeypatch, fail):
    sinks = [Recorder(), Recorder(quit_after=3, fail=fail)]
    monkeypatch.setattr("edge.run.loop.make_sinks", lambda cfg, source, echo: sinks)
    cfg = RunConfig(source="test://ball?frames=10", width=320, height=240, model=seeded_onnx,
                    log=str(tmp_path / "f.jsonl"))
    if fail:
        with pytest.raises(HardwareError):
            run(cfg)
    else:
        assert run(cfg)["stopped"] == "quit by the user"
    rows = [json.loads(x) for x in open(cfg.log)]
    assert [r.get("frame") for r in rows] == [0, 1, None] and rows[-1]["summary"]["frames"] == 2
    for sink in sinks:  # both saw the 3rd frame, drawn; a failed run keeps no output
        assert [(i, shape) for i, _, shape in sink.got] == [(i, (240, 320, 3)) for i in range(3)]
        assert sink.kept is (not fail)


def test_overlay_colours_by_class_and_draws_the_banner():
    from edge.run.overlay import PALETTE, banner_text, class_colour, draw

    labels = ("with_mask", "without_mask", "other")
    assert class_colour("with_mask", labels) != class_colour("without_mask", labels)
    assert class_colour("other", labels) == class_colour("other", labels)
    assert banner_text(29.96, 33.4, 1, dropped=3) == "30.0 FPS  33.4 ms/frame  1 face  3 dropped"
    img = np.zeros((360, 640, 3), np.uint8)
    draw(img, Faces([[100, 100, 200, 220]], labels=["without_mask"], probs=[0.91]), labels, "banner")
    assert tuple(img[160, 100]) == class_colour("without_mask", labels)   # the box edge, in its class colour
    assert img[:20, :40].any() and not img[300:, 400:].any()            # banner top-left, nothing elsewhere
    bare = np.zeros((360, 640, 3), np.uint8)
    draw(bare, Faces([[100, 100, 200, 220]]), labels)  # not classified: a grey box, no caption, no banner
    assert tuple(bare[160, 100]) == PALETTE[-1] and not bare[:95].any()
