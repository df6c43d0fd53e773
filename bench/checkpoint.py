#!/usr/bin/env python3
"""The checkpoint, measured end to end: people counted once, labels by vote, MQTT event latency, and the FPS
cost of MQTT + clip recording.

    nice python bench/checkpoint.py                       # BlazeFace (finds masked faces); ~2–3 min
    nice python bench/checkpoint.py --detector haar --runs 1

1. A video (1280×720, 15 fps) where people enter, cross and leave, one or two at a time (a pair crosses
   paths, the faces overlapping as they pass), from package-shipped portraits (bench/detectors.py's
   sources: scikit-image, matplotlib, the face_recognition sdist), every other person with a drawn mask
   (bench/detectors.py's ``sprite``: models.facemask.draw_mask) — its truth: each person's frames, box, label.
2. ``edge run`` on it (edge.run.loop.run, headless) with ``--mqtt`` to a mosquitto on a free localhost port and
   ``[record] dir`` in a temporary folder; a paho subscriber notes each event's arrival time. Each track is
   matched to the person its boxes overlap most (IoU ≥ 0.3); reports people counted vs shown, each person's
   voted label vs truth, and the latency of each ``confirmed`` event: arrival − the capture time of its
   confirming frame (the event's ``last_seen``); ``in_loop_ms``: capture → the loop's ``on_frame`` callback
   for that frame, which runs after its events went to the sinks (< 1 ms after: the frame's log line);
   ``after_loop_ms``: arrival − that callback (the MQTT path: disk queue, delivery thread, broker, subscriber;
   negative when the event arrives before the loop reaches the callback).
3. FPS (the summary's mean_fps) with MQTT + recording off and on (and each alone), in turn, ``--runs`` each;
   the ratios to off.
Prints one JSON line.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import detectors as faces_video  # noqa: E402  (bench/detectors.py: the portraits, sprites, backgrounds)

FPS = 15
CROSS_S = 3.0  # seconds a person takes to cross the frame
GAP_S = 1.6  # seconds between groups (longer than the tracks' --people-max-missing at 15 fps)
MATCH_IOU = 0.3
LANE_GAP = 60  # px between the heights of a crossing pair: 140 px faces overlap by more than half as they pass


def schedule(names):
    """[(person, name, masked, start frame, direction ±1, lane y)]: alone, then a crossing pair, alone, …"""
    out, start, i, group = [], 0, 0, 1
    while i < len(names):
        for k in range(min(group, len(names) - i)):
            out.append((i, names[i], i % 2 == 1, start, 1 if k == 0 else -1, 300 + LANE_GAP * k))
            i += 1
        start += int((CROSS_S + GAP_S) * FPS)
        group = 3 - group  # 1, 2, 1, 2 …
    return out


def make_video(path, face_w=140):
    """Write the video; return its truth {"people": [{"id", "name", "label"}], "frames": [[(id, box)]]}."""
    import cv2

    from edge.detectors.boxes import iou_matrix

    sources, textures = faces_video.load_sources()
    names = sorted(sources)
    plan = schedule(names)
    sprites = [faces_video.sprite(*sources[name], face_w, masked, 100 + i,
                                  textures[i % len(textures)] if textures and masked else None)
               for i, name, masked, _, _, _ in plan]
    bg = faces_video.backgrounds()[0]
    width, height = faces_video.FRAME_WH
    n_frames = plan[-1][3] + int((CROSS_S + GAP_S) * FPS)
    frames = []
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
    for f in range(n_frames):
        frame, shown = bg.copy(), []
        for (i, name, masked, start, direction, lane), (patch, alpha, fb) in zip(plan, sprites):
            u = (f - start) / (CROSS_S * FPS)
            if not 0 <= u <= 1:
                continue
            n = patch.shape[0]
            x = -n + u * (width + n) if direction > 0 else width - u * (width + n)
            box = faces_video.paste(frame, patch, alpha, fb, (int(round(x)), int(round(lane - n / 2))))
            if box is not None and box[0] >= 0 and box[2] <= width:  # the whole face in the frame
                shown.append((i, box))
        writer.write(frame)
        frames.append(shown)
    writer.release()
    people = [{"id": i, "name": name, "label": "with_mask" if masked else "without_mask"}
              for i, name, masked, _, _, _ in plan]
    pairs = [iou_matrix(a[1][None], b[1][None])[0, 0] for a, b in (s for s in frames if len(s) == 2)]
    return {"people": people, "frames": frames, "crossing_max_iou": round(float(max(pairs, default=0)), 2)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(port):
    proc = subprocess.Popen(["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not listen on port {}".format(port))


class Subscriber:
    """A paho client on edge/+/events noting (arrival time.time(), event) of each message."""

    def __init__(self, port):
        import paho.mqtt.client as mqtt

        self.arrivals, self._ready = [], threading.Event()
        v2 = hasattr(mqtt, "CallbackAPIVersion")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2) if v2 else mqtt.Client()
        self.client.on_connect = lambda c, *a: c.subscribe("edge/+/events", qos=1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = lambda c, u, m: self.arrivals.append((time.time(), json.loads(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("the subscriber did not subscribe")

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def config(source, detector, tmp, port=None, record=False):
    from edge.events.clips import RecordOptions
    from edge.events.mqtt import MqttOptions
    from edge.events.queue import QueueOptions
    from edge.run.config import RunConfig
    from edge.run.people import PeopleOptions

    return RunConfig(source=source, detector=detector, headless=True, summary_every=0,
                     people=PeopleOptions(device_id="bench", stats_every=5),
                     mqtt=MqttOptions(url="mqtt://127.0.0.1:{}".format(port) if port else "", discovery=False),
                     event_queue=QueueOptions(folder=os.path.join(tmp, "queue")),
                     record=RecordOptions(dir=os.path.join(tmp, "clips") if record else ""))


def match_tracks(truth, seen):
    """{track id: person id}: the person whose truth boxes the track's boxes overlap (IoU ≥ MATCH_IOU) most."""
    from edge.detectors.boxes import iou_matrix

    votes = {}
    for f, shown in enumerate(truth["frames"]):
        boxes, ids = seen.get(f, (np.zeros((0, 4)), ()))
        if not shown or not len(boxes):
            continue
        m = iou_matrix(boxes, np.stack([b for _, b in shown]))
        for r, tid in enumerate(ids):
            c = int(np.argmax(m[r]))
            if m[r, c] >= MATCH_IOU:
                per = votes.setdefault(int(tid), {})
                per[shown[c][0]] = per.get(shown[c][0], 0) + 1
    return {tid: max(per, key=per.get) for tid, per in votes.items()}


def percentiles(ms):
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50": round(float(np.percentile(ms, 50)), 1),
            "p95": round(float(np.percentile(ms, 95)), 1), "max": round(max(ms), 1)}


def checkpoint(video, truth, detector, tmp):
    """Step 2: one run with MQTT + recording and a subscriber; people, labels, latency."""
    from edge.run.loop import run

    port = free_port()
    broker = start_broker(port)
    try:
        sub = Subscriber(port)
        seen, capture = {}, {}  # frame index → (boxes, track ids); capture time → frame index

        def on_frame(frame, faces):
            seen[frame.index] = (faces.boxes.copy(), faces.track_ids.copy())
            capture[frame.t_capture] = time.time()  # its events went to the sinks before this call
        summary = run(config(video, detector, tmp, port, record=True), echo=lambda line: None, on_frame=on_frame)
        time.sleep(1.0)  # the last events on their way
        sub.close()
    finally:
        broker.kill()
        broker.wait()
    owner = match_tracks(truth, seen)
    confirmed = [(t, e) for t, e in sub.arrivals if e["type"] == "person" and e["phase"] == "confirmed"]
    latency = [1000 * (t - e["last_seen"]) for t, e in confirmed]
    known = [(t, e["last_seen"], capture[e["last_seen"]]) for t, e in confirmed if e["last_seen"] in capture]
    in_loop = [1000 * (done - t_capture) for _, t_capture, done in known]
    delivery = [1000 * (t - done) for t, _, done in known]
    people = []
    for p in truth["people"]:
        votes = [e["label"] for _, e in confirmed if owner.get(e["track_id"]) == p["id"]]
        people.append(dict(p, counted=len(votes), voted=votes, right=votes == [p["label"]]))
    clips = os.path.join(tmp, "clips")
    return {"people_shown": len(truth["people"]), "people_counted": len(confirmed),
            "unmatched_events": sum(owner.get(e["track_id"]) is None for _, e in confirmed),
            "labels_right": sum(p["right"] for p in people), "people": people,
            "events": {k: sum(e["type"] == k for _, e in sub.arrivals) for k in ("person", "no_mask")},
            "latency_ms": percentiles(latency), "in_loop_ms": percentiles(in_loop),
            "after_loop_ms": percentiles(delivery),
            "clip_files": sorted(os.listdir(clips)) if os.path.isdir(clips) else [],
            "mean_fps": summary["mean_fps"]}


MODES = (("off", False, False), ("on", True, True), ("mqtt", True, False), ("record", False, True))


def fps_runs(video, detector, runs, tmp):
    """Step 3: mean FPS off, on (MQTT + recording), MQTT only, recording only: in turn, ``runs`` rounds."""
    from edge.run.loop import run

    port = free_port()
    broker = start_broker(port)
    out = {name: [] for name, _, _ in MODES}
    try:
        for _ in range(runs):
            for name, mqtt, record in MODES:
                cfg = config(video, detector, tempfile.mkdtemp(dir=tmp), port if mqtt else None, record=record)
                out[name].append(run(cfg, echo=lambda line: None)["mean_fps"])
    finally:
        broker.kill()
        broker.wait()
    mean = {k: float(np.mean(v)) for k, v in out.items()}
    return dict(out, **{"ratio_{}_off".format(k): round(mean[k] / mean["off"], 3) for k in mean if k != "off"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="blazeface")
    ap.add_argument("--runs", type=int, default=3, help="FPS runs each, off and on")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = os.path.join(tmp, "checkpoint.mp4")
        truth = make_video(video)
        result = {"detector": args.detector, "frames": len(truth["frames"]), "fps_video": FPS,
                  "crossing_max_iou": truth["crossing_max_iou"],
                  "checkpoint": checkpoint(video, truth, args.detector, tempfile.mkdtemp(dir=tmp)),
                  "fps": fps_runs(video, args.detector, args.runs, tmp) if args.runs else None,
                  "nproc": os.cpu_count(), "loadavg": [round(v, 2) for v in os.getloadavg()]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
