"""MQTT-style commands reach the run loop (edge.run.remote): pause/resume, snapshot, reset, clips."""
import json
import os
import time

import numpy as np
from localnet import wait_for
from test_clips import needs_h264
from test_encoders import mp4_facts
from test_mqtt import Subscriber, broker, new_client  # noqa: F401  (broker: the mosquitto fixture)

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


def test_clip_commands_on_the_real_recorder_send_their_result_as_an_event(tmp_path):
    from edge.events.clips import ClipRecorder, RecordOptions
    from edge.sources.base import Frame

    script = {2: [{"command": "clip_start"}], 4: [{"command": "clip_stop"}], 5: [{"command": "clip_stop"}]}
    commands, said = CommandSink(script), []
    rec = ClipRecorder(RecordOptions(dir=str(tmp_path), pre=1.0, min_free_gb=0), warn=said.append)
    remote = Remote([rec, commands], said.append)
    with rec:
        for i in range(6):
            view = np.full((48, 64, 3), 40 * i, np.uint8)
            rec.write(Frame(i, view, 1000.0 + i), None, view)
            remote.apply(view, None, 1000.0 + i)
    acks = [e for e in commands.events if e["type"] == "command"]
    assert [(e["command"], e["result"], e["time"]) for e in acks] == [("clip_start", "started", 1001.0),
                                                                      ("clip_stop", "stopped", 1003.0)]
    assert acks[0]["clip"] == acks[1]["clip"] == rec.written[0] and acks[0]["snapshot"].endswith(".jpg")
    assert said[0] == "command 'clip_start': started " + acks[0]["clip"]
    assert said[2] == "command 'clip_stop': no clip started by clip_start is running, ignored" and len(said) == 3


@needs_h264
def test_clip_start_then_clip_stop_over_a_real_mosquitto_make_a_whole_clip(seeded_onnx, broker, tmp_path,
                                                                            monkeypatch):
    from edge.events.clips import RecordOptions
    from edge.events.mqtt import MqttOptions
    from edge.events.queue import QueueOptions
    from edge.run.people import PeopleOptions

    monkeypatch.setattr("edge.run.loop.create_detector", lambda name, **options: FixedDetector([[10, 10, 50, 50]], [0.9]))
    sub, cmd = Subscriber(broker.port, "edge/door/events"), new_client()
    cmd.connect("127.0.0.1", broker.port)
    cmd.loop_start()
    t0, sent = time.time(), {30: "clip_start", 60: "clip_stop"}

    def pace(frame, faces):  # 20 frames a second; the commands as the camera's frames 30 and 60 go by (1 s of ring by then)
        if frame.index in sent:
            cmd.publish("edge/door/commands", json.dumps({"command": sent[frame.index]}), qos=1)
        time.sleep(max(0.0, t0 + frame.index / 20 - time.time()))

    cfg = RunConfig(source="test://ball?frames=80", width=320, height=240, model=seeded_onnx, headless=True,
                    mqtt=MqttOptions(url=broker.url), event_queue=QueueOptions(folder=str(tmp_path / "queue")),
                    record=RecordOptions(dir=str(tmp_path / "clips"), pre=1.0, post=1.0, min_free_gb=0),
                    people=PeopleOptions(device_id="door"))
    try:
        run(cfg, echo=lambda line: None, on_frame=pace)
        wait_for(lambda: len([e for e in sub.events("door") if e["type"] == "command"]) == 2, 10, "both acks")
    finally:
        cmd.loop_stop()
        sub.close()
    start, stop = [e for e in sub.events("door") if e["type"] == "command"]
    assert (start["command"], start["result"], stop["command"], stop["result"]) == (
        "clip_start", "started", "clip_stop", "stopped")
    assert start["clip"] == stop["clip"] and os.path.isfile(start["clip"]) and os.path.isfile(start["snapshot"])
    kinds, duration, samples = mp4_facts(start["clip"])
    assert kinds.index("moov") < kinds.index("mdat"), kinds  # faststart H.264 (the encoder tests check the codec)
    want = 1.0 + stop["time"] - start["time"]  # pre, then from the frame clip_start was applied to clip_stop's
    assert abs(duration - want) < 0.5 and abs(samples - 10 * duration) <= 2, (duration, want, samples)
    assert 1.5 + 1.0 - 0.6 < want < 1.5 + 1.0 + 0.6  # 30 frames at 20 fps apart, give or take the broker
