"""MQTT-style commands reach the run loop (edge.run.remote): pause/resume, snapshot, reset, clips."""
import json

import numpy as np

from edge.run.config import RunConfig
from edge.run.loop import run
from edge.run.remote import Remote
from fakes import FixedDetector


class CommandSink:
    """An event sink double: hands out ``script[call]`` commands, keeps what it is given."""

    def __init__(self, script):
        self.script, self.calls, self.snapshots, self.events = script, 0, [], []

    def commands(self):
        self.calls += 1
        return self.script.get(self.calls, [])

    def snapshot(self, jpeg):
        self.snapshots.append(jpeg)

    def publish(self, event, snapshot):
        self.events.append(event)

    def stats(self, stats):
        pass

    def close(self):
        pass


def test_commands_pause_resume_snapshot_and_reset_a_run(seeded_onnx, tmp_path, monkeypatch):
    sink = CommandSink({3: [{"command": "pause"}], 8: [{"command": "resume"}], 10: [{"command": "snapshot"}],
                        14: [{"command": "reset"}], 15: [{"command": "clip_start"}, {"command": "bogus"}]})
    monkeypatch.setattr("edge.run.loop.create_detector", lambda name, **options: FixedDetector([[10, 10, 50, 50]], [0.9]))
    monkeypatch.setattr("edge.run.loop.make_event_sinks", lambda cfg, echo, frame_sinks=(): [sink])
    said = []
    log = tmp_path / "f.jsonl"
    summary = run(RunConfig(source="test://ball?frames=20", width=160, height=120, model=seeded_onnx,
                            headless=True, log=str(log)), echo=said.append)
    faces = [json.loads(x)["faces"] for x in open(str(log)) if '"frame"' in x]
    assert faces == [1] * 3 + [0] * 5 + [1] * 12  # paused after frame 3, resumed after frame 8
    assert len(sink.snapshots) == 1 and sink.snapshots[0][:2] == b"\xff\xd8"  # a JPEG of the frame
    assert [e["phase"] for e in sink.events if e["type"] == "person"][:1] == ["confirmed"]
    assert summary["people"]["people"] == 0  # counted once, then the counters were reset
    assert "command 'clip_start': no sink takes it (the recorder clips on events)" in said
    assert any(line.startswith("command 'bogus': unknown, ignored") for line in said)


def test_remote_sends_clip_commands_to_the_recorder():
    class Recorder:
        started = stopped = 0

        def clip_start(self):
            self.started += 1

        def clip_stop(self):
            self.stopped += 1

    rec, said = Recorder(), []
    remote = Remote([CommandSink({1: [{"command": "clip_start"}, {"command": "clip_stop"}]}), rec], said.append)
    remote.apply(np.zeros((8, 8, 3), np.uint8), None, 0.0)
    assert (rec.started, rec.stopped) == (1, 1) and said[0] == "command 'clip_start': sent to the recorder"
