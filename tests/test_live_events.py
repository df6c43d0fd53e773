"""The live view's recent events (edge.service.live.LiveState.add_event, the page's "recent events" table):
the run loop hands each person event to it, and /status.json, fetched over HTTP, shows the last ten."""
import json
import urllib.request

import pytest

pytest.importorskip("prometheus_client")
from edge.run.config import RunConfig  # noqa: E402
from edge.service.page import PAGE  # noqa: E402
from edge.service.live import LiveState  # noqa: E402
from edge.service.serve import ServeConfig  # noqa: E402
from localnet import free_port  # noqa: E402


def person(n, phase="confirmed", kind="person"):
    return {"type": kind, "phase": phase, "track_id": n, "label": "with_mask", "confidence": 0.75 + n / 100,
            "first_seen": 1000.0 + n, "last_seen": 1001.0 + n, "frames": 8, "device_id": "dev", "camera": "csi://0",
            "snapshot": "/var/lib/edge/clips/x.jpg"}


def test_the_last_ten_events_newest_first():
    state = LiveState()
    assert state.status()["events"] == []
    for n in range(12):
        state.add_event(person(n))
    state.add_event(person(12, kind="no_mask"))
    events = state.status()["events"]
    assert [e["track_id"] for e in events] == list(range(12, 2, -1))
    assert events[0]["type"] == "no_mask" and events[1] == {
        "type": "person", "phase": "confirmed", "track_id": 11, "label": "with_mask", "confidence": 0.86,
        "first_seen": 1011.0, "last_seen": 1012.0, "frames": 8, "id": 12}  # no device paths on the page


def test_edge_run_puts_its_person_events_in_status_json():
    from edge.run.loop import run

    address = "127.0.0.1:{}".format(free_port())
    seen, snapshots = [], {}

    def on_frame(frame, faces):  # a real HTTP request to the running live view, after each frame
        with urllib.request.urlopen("http://{}/status.json".format(address), timeout=5) as r:
            seen.append(json.loads(r.read().decode("utf-8")))
        for e in seen[-1]["events"]:  # and each event's snapshot, once, while it is recent
            if e.get("image") and e["image"] not in snapshots:
                with urllib.request.urlopen("http://{}/{}".format(address, e["image"]), timeout=5) as r:
                    assert r.headers["Content-Type"] == "image/jpeg"
                    snapshots[e["image"]] = r.read()

    summary = run(RunConfig(headless=True, summary_every=0, max_frames=40, serve=ServeConfig(address=address)),
                  on_frame=on_frame)
    events = seen[-1]["events"]
    confirmed = [e for e in events if e["type"] == "person" and e["phase"] == "confirmed"]
    assert confirmed and len(confirmed) == min(summary["people"]["people"], 10), events
    assert all(e["label"] in ("with_mask", "without_mask") and 0 < e["confidence"] <= 1 and e["frames"] > 0
               for e in confirmed)
    assert seen[0]["events"] == []  # the first frames: no person confirmed yet
    with_image = [e for e in confirmed if e.get("image")]
    assert with_image, confirmed  # the best face travels with the event to the page
    jpeg = snapshots[with_image[0]["image"]]
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) > 500
    assert 'id="events"' in PAGE and "eventsList(s.events)" in PAGE
