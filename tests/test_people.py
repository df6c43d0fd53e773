"""People, not frames (edge.run.people): votes, confirmation, ends, re-classification, stats, the loop's events."""
import json

import numpy as np
import pytest

from edge.config import ConfigError
from edge.run.config import RunConfig
from edge.run.people import People, PeopleOptions, PeopleStats
from edge.run.results import Faces

NEEDS_CLASSIFY = People.needs_classify
IMG = np.full((200, 300, 3), 128, np.uint8)


def frame_faces(rows):
    """Faces of (track id, box, label, prob) rows, scored 1."""
    if not rows:
        return Faces(np.zeros((0, 4), np.float32), [], scores=[], labels=[], probs=[])
    ids, boxes, labels, probs = zip(*rows)
    return Faces(np.array(boxes, np.float32), ids, scores=np.ones(len(rows)), labels=labels, probs=probs)


def feed(people, frames, t0=1000.0):
    """Run ``frames`` (lists of rows) through ``people`` (every row classified); all the events."""
    events = []
    for i, rows in enumerate(frames):
        faces = frame_faces(rows)
        everything = np.ones(len(faces), bool)
        people.update(faces, everything, everything, IMG, t0 + i)
        events += [e for e, _ in people.drain()]
    return events


BOX = [10, 10, 60, 60]


def test_a_flicker_never_counts_and_a_person_is_confirmed_once_then_ended():
    p = People(PeopleOptions(min_frames=3, max_missing=2, device_id="dev", camera="door"))
    frames = [[(7, BOX, "with_mask", 0.9)]] + [[]] * 4                      # track 7: one frame, a flicker
    frames += [[(1, BOX, "with_mask", 0.9)]] * 2 + [[(1, BOX, "without_mask", 0.6)]] * 3 + [[]] * 3
    events = feed(p, frames)
    assert [(e["type"], e["phase"], e["track_id"]) for e in events] == [("person", "confirmed", 1),
                                                                         ("person", "ended", 1)]
    confirmed, ended = events
    assert confirmed["label"] == "with_mask" and confirmed["confidence"] == pytest.approx(1.8 / 2.4, abs=1e-4)
    assert confirmed["frames"] == 3 and confirmed["first_seen"] == 1005.0 and confirmed["last_seen"] == 1007.0
    assert ended["label"] == "without_mask" and ended["confidence"] == pytest.approx(1.8 / 3.6, abs=1e-4) or \
        ended["label"] == "with_mask"  # a tie broken either way
    assert ended["frames"] == 5 and ended["last_seen"] == 1009.0
    assert (confirmed["device_id"], confirmed["camera"]) == ("dev", "door")
    assert set(confirmed) == {"type", "phase", "track_id", "label", "confidence", "first_seen", "last_seen",
                              "frames", "device_id", "camera"}
    json.dumps(events)  # JSON-ready
    assert p.stats.snapshot(1010.0)["people"] == 1 and not p.tracks


def test_an_unseen_track_survives_max_missing_frames():
    p = People(PeopleOptions(min_frames=1, max_missing=3))
    events = feed(p, [[(1, BOX, "with_mask", 1.0)]] + [[]] * 3 + [[(1, BOX, "with_mask", 1.0)]] + [[]] * 4)
    assert [e["phase"] for e in events] == ["confirmed", "ended"] and events[1]["frames"] == 2


def test_no_mask_alert_at_confirmation_with_the_best_face_snapshot():
    import cv2

    p = People(PeopleOptions(min_frames=2))
    img = IMG.copy()
    img[20:120, 20:120] = 255  # the bigger box is the best face
    for i, box in enumerate([[10, 10, 40, 40], [20, 20, 120, 120]]):
        faces = frame_faces([(3, box, "without_mask", 0.8)])
        p.update(faces, np.ones(1, bool), np.ones(1, bool), img, 50.0 + i)
    out = p.drain()
    assert [(e["type"], e["phase"]) for e, _ in out] == [("person", "confirmed"), ("no_mask", "confirmed")]
    jpeg = out[1][1]
    crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape[:2] == (100, 100) and crop.mean() > 250
    p.finish()
    (ended, jpeg2), = p.drain()
    assert ended["phase"] == "ended" and jpeg2 == jpeg


def test_confirmed_tracks_are_classified_only_when_due_moved_or_rescored():
    p = People(PeopleOptions(min_frames=2, reclassify_every=4))
    feed(p, [[(1, BOX, "with_mask", 0.9), (2, [100, 100, 150, 150], "with_mask", 0.9)]] * 2)
    wanted = np.ones(3, bool)
    faces = Faces(np.array([BOX, [130, 100, 180, 150], [0, 0, 9, 9]], np.float32), [1, 2, 9], scores=[1, 1, 1])
    # track 1: confirmed, same box → not needed; track 2 moved (IoU 0.25) → needed; 9 is new → needed
    assert p.needs_classify(faces, wanted).tolist() == [False, True, True]
    assert p.needs_classify(faces, np.array([False, False, True])).tolist() == [False, False, True]
    rescored = faces.replace(scores=[0.1, 1, 1])  # the average score: 1 → 0.775
    assert p.needs_classify(rescored, wanted).tolist() == [True, True, True]
    grown = faces.replace(boxes=[[0, 0, 70, 70], [100, 100, 150, 150], [0, 0, 9, 9]])  # 50² → 70²: centred IoU 0.51
    assert p.needs_classify(grown, wanted).tolist() == [True, False, True]
    for _ in range(3):  # last classified at frame 1: frames 2, 3, 4 go without, frame 5 is due
        one = frame_faces([(1, BOX, "without_mask", 0.1)])
        assert p.needs_classify(one, np.ones(1, bool)).tolist() == [False]
        out = p.update(one, np.ones(1, bool), np.zeros(1, bool), IMG, 2000.0)
        assert out.labels.tolist() == ["with_mask"] and out.probs.tolist() == [0.9]  # the track's label
    assert p.needs_classify(frame_faces([(1, BOX, "x", 1.0)]), np.ones(1, bool)).tolist() == [True]
    assert p.tracks[1].vote() == ("with_mask", 1.0)


def classified_frames(every, labels):
    """The frames a lone, still face is classified on (``labels``: its label and probability per frame)."""
    p, out = People(PeopleOptions(min_frames=1, reclassify_every=every)), []
    for i, (label, prob) in enumerate(labels):
        faces = frame_faces([(1, BOX, label, prob)])
        need = p.needs_classify(faces, np.ones(1, bool))
        out += [i] if need[0] else []
        p.update(faces, np.ones(1, bool), need, IMG, 100.0 + i)
    return out


def test_a_steady_sure_label_stretches_the_interval_to_4k_and_another_label_resets_it():
    sure = [("with_mask", 0.9)] * 33 + [("without_mask", 0.9)] * 12
    # 3, then 6, 12, 12 (4 × 3) frames while the label holds; the new label at 33: 3 again, then 6
    assert classified_frames(3, sure) == [0, 3, 9, 21, 33, 36, 42]
    assert classified_frames(3, [("with_mask", 0.6)] * 13) == [0, 3, 6, 9, 12]  # unsure: never stretched
    assert classified_frames(1, sure[:6]) == [0, 1, 2, 3, 4, 5]  # 1: every frame, always


def test_a_flickering_score_is_no_change_a_lasting_one_is():
    p = People(PeopleOptions(min_frames=1, reclassify_every=100))
    flicker, done = [0.88, 0.55] * 10, []
    for i, score in enumerate(flicker + [0.5] * 6):  # BlazeFace on a masked face; then a lasting drop
        faces = frame_faces([(1, BOX, "with_mask", 0.9)]).replace(scores=[score])
        need = p.needs_classify(faces, np.ones(1, bool))
        done += [i] if need[0] else []
        p.update(faces, np.ones(1, bool), need, IMG, 10.0 + i)
    assert done[0] == 0 and all(i >= len(flicker) for i in done[1:]) and len(done) == 2, done  # 1 re-classification


def test_a_face_walking_across_keeps_its_label_until_due():
    p = People(PeopleOptions(min_frames=1, reclassify_every=20))
    feed(p, [[(2, [100, 100, 150, 150], "with_mask", 0.9)]])
    for step in range(1, 20):  # 8 px a frame: 152 px from where it was classified, the same face
        walked = frame_faces([(2, [100 + 8 * step, 100, 150 + 8 * step, 150], "x", 1.0)])
        assert p.needs_classify(walked, np.ones(1, bool)).tolist() == [False], step
        p.update(walked, np.ones(1, bool), np.zeros(1, bool), IMG, 3000.0)
    jump = frame_faces([(2, [300, 100, 350, 150], "x", 1.0)])  # 40 px in one frame: maybe another face
    assert p.needs_classify(jump, np.ones(1, bool)).tolist() == [True]


def test_stats_since_start_per_minute_and_per_hour():
    s = PeopleStats(since=0.0)
    for t, label in [(10, "with_mask"), (3000, "without_mask"), (3590, "with_mask"), (3595, "face")]:
        s.add(label, float(t))
    snap = s.snapshot(3620.0)
    assert snap["since"] == 0.0
    assert {k: snap[k] for k in ("people", "with_mask", "without_mask", "compliance")} == {
        "people": 4, "with_mask": 2, "without_mask": 1, "compliance": round(2 / 3, 4)}
    assert snap["per_hour"] == {"people": 3, "with_mask": 1, "without_mask": 1, "compliance": 0.5}
    assert snap["per_minute"] == {"people": 2, "with_mask": 1, "without_mask": 0, "compliance": 1.0}
    assert PeopleStats(0.0).snapshot(1.0)["compliance"] is None


def test_stats_are_due_every_stats_every_seconds():
    p = People(PeopleOptions(stats_every=10.0))
    assert [p.due_stats(t) is not None for t in (100.0, 105.0, 110.0, 115.0, 120.5)] == [
        False, False, True, False, True]
    never = People(PeopleOptions(stats_every=0))
    assert all(never.due_stats(t) is None for t in (0.0, 1e5))


@pytest.mark.parametrize("key,value", [("min_frames", 0), ("reclassify_every", 0), ("max_missing", -1),
                                       ("stats_every", -1.0)])
def test_bad_people_options_name_the_key(key, value):
    with pytest.raises(ConfigError, match="people." + key):
        RunConfig.from_dict({"people": {key: value}})


# --- in the loop, on the bundled sample video (four faces, two masked) ---------------------------------------

class Collect:
    """An event sink that keeps what it is given."""

    def __init__(self):
        self.events, self.snapshots, self.stats_seen, self.closed = [], [], [], False

    def publish(self, event, snapshot):
        self.events.append(event)
        self.snapshots.append(snapshot)

    def stats(self, stats):
        self.stats_seen.append(stats)

    def close(self):
        self.closed = True


def run_counting(monkeypatch, **people):
    from edge.run import loop as loop_module

    sink, classified, boxes = Collect(), [], {}
    monkeypatch.setattr(loop_module, "make_event_sinks", lambda cfg, echo, frame_sinks=(): [sink])
    real = NEEDS_CLASSIFY

    def counting(self, faces, wanted):
        need = real(self, faces, wanted)
        classified.append((int(need.sum()), len(faces)))
        return need

    monkeypatch.setattr(People, "needs_classify", counting)

    def on_frame(frame, faces):
        for tid, box in zip(faces.track_ids.tolist(), faces.boxes):
            boxes.setdefault(tid, (frame.index, box))

    summary = loop_module.run(RunConfig(headless=True, summary_every=0, people=PeopleOptions(**people)),
                              on_frame=on_frame)
    return summary, sink, classified, boxes


def test_sample_video_people_labels_by_vote_with_sparse_classification(monkeypatch):
    from edge.detectors.boxes import iou_matrix
    from edge.zoo import SAMPLE_TRUTH

    truth = json.load(open(SAMPLE_TRUTH))["frames"]
    every, sink1, calls1, _ = run_counting(monkeypatch, reclassify_every=1)
    sparse, sink, calls, boxes = run_counting(monkeypatch)
    ended = {e["track_id"]: e for e in sink.events if e["phase"] == "ended"}
    ended1 = {e["track_id"]: e for e in sink1.events if e["phase"] == "ended"}
    assert {t: e["label"] for t, e in ended.items()} == {t: e["label"] for t, e in ended1.items()}
    for tid, e in ended.items():  # each person's vote is its truth label
        index, box = boxes[tid]
        faces = truth[index]["faces"]
        best = int(np.argmax(iou_matrix([box], [f["box"] for f in faces])[0]))
        assert e["label"] == faces[best]["label"], (tid, e, faces[best])
    assert len(ended) == 4 and sparse["people"]["people"] == 4 == every["people"]["people"]
    assert sparse["people"]["with_mask"] == 2 and sparse["people"]["compliance"] == 0.5
    assert [e["type"] for e in sink.events].count("no_mask") == 2
    assert all(s is not None for s in sink.snapshots) and sink.closed and sink.stats_seen[-1] == sparse["people"]
    n1, n = sum(c for c, _ in calls1), sum(c for c, _ in calls)
    assert n1 == sum(f for _, f in calls1) and n < n1 / 4, (n, n1)  # classifier cost: new faces, not frames


def test_no_people_classifies_every_face_and_counts_nobody(monkeypatch):
    summary, sink, classified, _ = run_counting(monkeypatch, enabled=False)
    assert "people" not in summary and sink.events == [] and classified == []
    assert summary["faces"] > 600


def test_live_state_people_in_status_and_prometheus():
    pytest.importorskip("prometheus_client")
    from edge.service.live import LiveState

    state = LiveState()
    for label in ("with_mask", "without_mask", "with_mask"):
        state.count_person(label)
    stats = PeopleStats(0.0)
    stats.add("with_mask", 1.0)
    state.set_people(stats.snapshot(2.0))
    assert state.status()["people"]["people"] == 1 and state.status()["people"]["per_minute"]["with_mask"] == 1
    text = state.metrics().decode()
    assert 'edge_people_total{label="with_mask"} 2.0' in text and 'edge_people_total{label="without_mask"} 1.0' in text


def test_summary_and_stats_lines_in_the_log(tmp_path):
    from edge.run.framelog import FrameLog, format_summary

    log = FrameLog(str(tmp_path / "f.jsonl"), every=0)
    stats = PeopleStats(0.0)
    stats.add("with_mask", 1.0)
    stats.add("without_mask", 1.0)
    log.note({"people": stats.snapshot(2.0)})
    s = log.close({"people": stats.snapshot(2.0)})
    lines = [json.loads(x) for x in open(str(tmp_path / "f.jsonl"))]
    assert lines[0]["people"]["compliance"] == 0.5 and lines[1]["summary"]["people"]["people"] == 2
    assert "people: 2 (1 with a mask, 1 without; compliance 50%)" in format_summary(s)


def test_stats_lines_in_the_run_log(tmp_path):
    from edge.run.loop import run

    log = tmp_path / "frames.jsonl"
    summary = run(RunConfig(headless=True, summary_every=0, max_frames=60, log=str(log),
                            people=PeopleOptions(stats_every=0.3)))
    lines = [json.loads(x) for x in open(str(log))]
    stats = [x["people"] for x in lines if "people" in x]
    assert stats and all(set(s) == {"people", "with_mask", "without_mask", "compliance", "per_minute", "per_hour",
                                    "since"} for s in stats)
    assert lines[-1]["summary"]["people"]["people"] == summary["people"]["people"] >= stats[-1]["people"]
    assert sum(1 for x in lines if "frame" in x) == 60


def test_the_loop_crops_only_the_faces_it_classifies(monkeypatch):
    from edge.run import loop as loop_module
    from fakes import FixedDetector

    cropped, classified = [], []
    real_crop, real_needs = loop_module.crop_faces, NEEDS_CLASSIFY
    monkeypatch.setattr(loop_module, "crop_faces", lambda image, boxes: cropped.append(len(boxes)) or
                        real_crop(image, boxes))
    monkeypatch.setattr(People, "needs_classify", lambda self, faces, wanted: classified.append(
        real_needs(self, faces, wanted)) or classified[-1])
    boxes = [[10, 10, 50, 50], [60, 10, 100, 50], [110, 10, 150, 50], [200, 200, 201, 230]]  # the last: 1 px wide
    monkeypatch.setattr(loop_module, "create_detector", lambda name, **o: FixedDetector(boxes, [0.9] * 4))
    loop_module.run(RunConfig(source="test://ball?frames=30", width=320, height=240, headless=True,
                              summary_every=0))
    assert all(len(need) == 3 for need in classified)  # the 1-px box dropped before
    assert sum(cropped) == sum(int(n.sum()) for n in classified) < 3 * 30 / 4, (cropped, classified)
