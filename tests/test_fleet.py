"""A fleet on one broker (docs/FLEET.md): three real ``edge run`` processes (the bundled sample video and mask
model) publish to one mosquitto, and one subscriber of ``edge/+/#`` sees every device come online, send its
people events and go offline, and a late subscriber still gets each device's retained stats."""
import json
import os
import subprocess
import sys
import time

from localnet import wait_for
from test_mqtt import Subscriber, broker  # noqa: F401  (broker: the real mosquitto fixture)

DEVICES = ("dev-1", "dev-2", "dev-3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, "edge", "data", "sample.mp4")


def edge_run(url, device, queue):
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--camera", SAMPLE, "--headless",
                             "--max-frames", "40", "--mqtt", url, "--device-id", device, "--event-queue", queue,
                             "--people-stats-every", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def test_three_edge_runs_one_broker_one_subscriber(broker, tmp_path):  # noqa: F811
    started = time.monotonic()
    sub = Subscriber(broker.port, "edge/+/#")
    runs = [edge_run(broker.url, d, str(tmp_path / ("queue-" + d))) for d in DEVICES]
    try:
        outputs = [run.communicate(timeout=45)[0].decode("utf-8", "replace") for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    for run, out in zip(runs, outputs):
        assert run.returncode == 0, out
    for device in DEVICES:
        wait_for(lambda: sub.payloads("edge/{}/availability".format(device))[-1:] == [b"offline"], 5,
                 device + " offline")
        assert sub.payloads("edge/{}/availability".format(device)) == [b"online", b"offline"]
        events = sub.events(device)
        people = [e for e in events if e["type"] == "person" and e["phase"] == "confirmed"]
        assert people, "{}: no person event in {}".format(device, events)
        assert {e["device_id"] for e in events} == {device}
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        assert json.loads(sub.payloads("edge/{}/stats".format(device))[-1])["people"] == len(people)
    sub.close()

    late = Subscriber(broker.port, "edge/+/#")  # retained: what a dashboard that starts now gets
    wait_for(lambda: all(late.payloads("edge/{}/stats".format(d)) for d in DEVICES), 5, "retained stats")
    for device in DEVICES:
        retained = {t: (p, r) for t, p, _, r in late.messages if t.startswith("edge/{}/".format(device))}
        assert retained["edge/{}/availability".format(device)] == (b"offline", True)
        stats, flag = retained["edge/{}/stats".format(device)]
        assert flag and json.loads(stats)["people"] >= 1
        assert "edge/{}/events".format(device) not in retained  # events are not retained
    late.close()
    assert time.monotonic() - started < 60
