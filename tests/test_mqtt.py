"""The MQTT event sink against a real mosquitto (started here on a free localhost port, no system service),
with the installed paho-mqtt (2.x here, 1.6.1 in .ci/py36.sh): order, QoS 1, a broker killed mid-run, the
Last Will, retained state, commands, credentials, an unreachable broker, a fleet on one broker."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from edge.errors import UsageError
from edge.events.mqtt import (Broker, MqttOptions, MqttSink, RateLimit, discovery_messages, parse_broker_url,
                              parse_command, refused_why, topic_id)
from edge.events.queue import QueueOptions

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
from localnet import free_port, wait_for


class Mosquitto:
    """A mosquitto on 127.0.0.1:port with its config, persistence and log in ``folder``."""

    def __init__(self, folder, port=None, users=None, tls=None):
        if not os.path.exists(MOSQUITTO):
            pytest.fail("mosquitto is not installed (setup.sh installs the Debian package)")
        self.folder, self.port, self.proc = str(folder), port or free_port(), None
        lines = ["listener {} 127.0.0.1".format(self.port), "persistence true",
                 "persistence_location {}/".format(self.folder), "autosave_interval 1", "user root",
                 "log_dest file {}/mosquitto.log".format(self.folder)]
        if users:
            passwd = os.path.join(self.folder, "passwd")
            for i, (user, password) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", "-b"] + ([] if i else ["-c"]) + [passwd, user, password],
                               check=True)
            lines += ["allow_anonymous false", "password_file " + passwd]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += ["cafile " + tls["ca"], "certfile " + tls["server.crt"], "keyfile " + tls["server.key"],
                      "require_certificate true"]
        self.conf = os.path.join(self.folder, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def accepts():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                assert self.proc.poll() is None, open(os.path.join(self.folder, "mosquitto.log")).read()
                return False
        wait_for(accepts, 10, "mosquitto to listen")
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    @property
    def url(self):
        return "mqtt://127.0.0.1:{}".format(self.port)


@pytest.fixture
def broker(tmp_path):
    (tmp_path / "broker").mkdir()
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    if b.proc.poll() is None:
        b.kill()


def new_client(client_id="", clean_session=True):
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
    return mqtt.Client(client_id=client_id, clean_session=clean_session)


class Subscriber:
    """Every message on ``topic`` as (topic, payload, qos, retain), (re)subscribed on each connect."""

    def __init__(self, port, topic="#", client_id="", clean_session=True):
        self.messages, self.topic = [], topic
        self.client = new_client(client_id, clean_session)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, rc, *a: c.subscribe(self.topic, qos=1)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.qos, m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def payloads(self, topic):
        return [p for t, p, _, _ in self.messages if t == topic]

    def events(self, device="dev"):
        return [json.loads(p) for p in self.payloads("edge/{}/events".format(device))]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def make_sink(tmp_path, url, device="dev", echo=None, **options):
    return MqttSink(MqttOptions(url=url, **options), QueueOptions(folder=str(tmp_path / ("queue-" + device))),
                    device_id=device, echo=echo)


def event(n):
    return {"type": "person", "phase": "confirmed", "track_id": n, "label": "with_mask", "confidence": 0.9,
            "first_seen": 1.0, "last_seen": 2.0, "frames": 10, "device_id": "dev", "camera": "test"}


# --- pure parts -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("url,user,password,want", [
    ("mqtt://host", "", "", Broker("host", 1883, False, "", "")),
    ("mqtt://h:1884", "o", "op", Broker("h", 1884, False, "o", "op")),
    ("mqtts://h", "", "", Broker("h", 8883, True, "", "")),
    ("mqtt://u:p%40ss@h:1", "o", "op", Broker("h", 1, False, "u", "p@ss")),  # the URL's win
    ("mqtt://u@h", "", "op", Broker("h", 1883, False, "u", "op")),
])
def test_parse_broker_url(url, user, password, want):
    assert parse_broker_url(url, user, password) == want


@pytest.mark.parametrize("url", ["http://h", "mqtt://", "h:1883", "mqtt://h:99999", "mqtt://h/path"])
def test_bad_broker_url_is_a_usage_error(url):
    with pytest.raises(UsageError, match="--mqtt"):
        parse_broker_url(url)
    with pytest.raises(UsageError):
        MqttOptions(url=url)


@pytest.mark.parametrize("payload,want", [
    (b"pause", {"command": "pause"}),
    (b" Resume\n", {"command": "resume"}),
    (b"snapshot", {"command": "snapshot"}),
    (b"reset-counters", {"command": "reset"}),
    (b'{"command": "clip_start", "seconds": 5}', {"command": "clip_start", "seconds": 5}),
    (b'{"command": "stop_clip"}', {"command": "clip_stop"}),
])
def test_parse_command(payload, want):
    assert parse_command(payload) == want


@pytest.mark.parametrize("payload,why", [
    (b"fly", "unknown command"), (b"\xff", "UTF-8"), (b"{not json", "JSON"), (b'{"cmd": 1}', "command"),
    (b"", "unknown"),
])
def test_malformed_command(payload, why):
    with pytest.raises(ValueError, match=why):
        parse_command(payload)


def test_topic_id_and_discovery():
    assert topic_id("door 1/#+") == "door_1___" and topic_id("jetson-nano_2") == "jetson-nano_2"
    assert topic_id("") == "edge" and topic_id("café") == "caf_"
    messages = dict(discovery_messages("door"))
    assert sorted(messages) == ["homeassistant/sensor/door/{}/config".format(k)
                                for k in ("compliance", "people", "with_mask", "without_mask")]
    people = json.loads(messages["homeassistant/sensor/door/people/config"])
    assert people["state_topic"] == "edge/door/stats" and people["value_template"] == "{{ value_json.people }}"
    assert people["availability_topic"] == "edge/door/availability" and people["unique_id"] == "edge_door_people"
    assert json.loads(messages["homeassistant/sensor/door/compliance/config"])["unit_of_measurement"] == "%"


def test_rate_limit():
    now = [0.0]
    limit = RateLimit(2.0, burst=3, clock=lambda: now[0])
    assert [limit.allow() for _ in range(5)] == [True, True, True, False, False]
    now[0] = 1.0
    assert [limit.allow() for _ in range(3)] == [True, True, False]


def test_refused_why():
    assert "user name/password" in refused_why(4) and "not authorised" in refused_why(135)
    assert "code 3" in refused_why(3)


# --- on a real broker -----------------------------------------------------------------------------------

def test_events_in_order_with_qos1(broker, tmp_path):
    sub = Subscriber(broker.port, "edge/dev/events")
    sink = make_sink(tmp_path, broker.url)
    for n in range(30):
        sink.publish(event(n), None)
    wait_for(lambda: len(sub.events()) == 30, what="30 events")
    assert [e["track_id"] for e in sub.events()] == list(range(30))
    assert [e["seq"] for e in sub.events()] == list(range(1, 31))
    assert {q for t, _, q, _ in sub.messages} == {1}
    wait_for(lambda: len(sink.queue) == 0, what="the queue to empty")
    sink.close()
    sub.close()


def test_broker_killed_for_3s_mid_publish_loses_nothing(broker, tmp_path):
    sub = Subscriber(broker.port, "edge/dev/events", client_id="fleet-dashboard", clean_session=False)
    sink = make_sink(tmp_path, broker.url)
    time.sleep(1.5)  # the subscriber's session reaches the broker's persistence file (autosave_interval 1)
    n = 200

    def produce():
        for i in range(n):
            sink.publish(event(i), None)
            time.sleep(0.025)
    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(1.0)
    broker.kill()
    delivered_before = len(sub.events())
    time.sleep(3.0)
    broker.start()
    producer.join()
    wait_for(lambda: len({e["seq"] for e in sub.events()}) >= n, 30, "every event after the restart")
    seqs = [e["seq"] for e in sub.events()]
    first_seen = sorted(set(seqs), key=seqs.index)
    assert first_seen == list(range(1, n + 1))  # none lost, in order (a redelivered one may repeat)
    assert 0 < delivered_before < n - 100  # the kill did happen mid-publish
    sink.close()
    sub.close()


def test_events_the_broker_never_acknowledged_are_sent_by_the_next_run(broker, tmp_path):
    sink = make_sink(tmp_path, broker.url)
    sink.publish(event(0), None)
    wait_for(lambda: len(sink.queue) == 0, what="the first event")
    broker.proc.send_signal(signal.SIGSTOP)  # takes the events in its socket, acknowledges nothing
    for n in range(1, 6):
        sink.publish(event(n), None)
    time.sleep(0.5)
    sink.close(0)  # edge stops with 5 events sent but not acknowledged
    broker.kill()  # they never reach a subscriber
    broker.start()
    sub = Subscriber(broker.port, "edge/dev/events")
    time.sleep(0.3)
    again = make_sink(tmp_path, broker.url)
    wait_for(lambda: len(sub.events()) == 5, what="the unacknowledged events")
    assert [e["track_id"] for e in sub.events()] == [1, 2, 3, 4, 5]
    again.close()
    sub.close()


def test_last_will_offline_when_the_edge_process_is_killed(broker, tmp_path):
    sub = Subscriber(broker.port, "edge/dev/availability")
    code = ("import sys, time; from edge.events.mqtt import MqttOptions, MqttSink; from edge.events.queue import "
            "QueueOptions; MqttSink(MqttOptions(url=sys.argv[1]), QueueOptions(folder=sys.argv[2]), 'dev'); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, broker.url, str(tmp_path / "q")],
                            env=dict(os.environ, PYTHONPATH=os.getcwd()))
    try:
        wait_for(lambda: sub.payloads("edge/dev/availability")[-1:] == [b"online"], what="online")
        proc.kill()
        wait_for(lambda: sub.payloads("edge/dev/availability")[-1:] == [b"offline"], 5, "the Last Will")
    finally:
        proc.kill()
        proc.wait()
    late = Subscriber(broker.port, "edge/dev/availability")  # retained
    wait_for(lambda: late.messages, what="the retained availability")
    assert late.messages == [("edge/dev/availability", b"offline", 1, True)]
    sub.close()
    late.close()


def test_retained_stats_snapshot_availability_and_discovery(broker, tmp_path):
    sink = make_sink(tmp_path, broker.url)
    sink.stats({"people": 3, "with_mask": 2, "without_mask": 1, "compliance": 66.7})
    sink.publish(event(1), b"\xff\xd8jpeg")
    wait_for(lambda: len(sink.queue) == 0, what="the event")
    late = Subscriber(broker.port, "#")
    wait_for(lambda: len(late.messages) >= 7, what="the retained messages")
    retained = {t: p for t, p, _, r in late.messages if r}
    assert json.loads(retained["edge/dev/stats"])["people"] == 3
    assert json.loads(retained["edge/dev/stats"])["dropped_events"] == 0
    assert retained["edge/dev/availability"] == b"online" and retained["edge/dev/snapshot"] == b"\xff\xd8jpeg"
    assert "homeassistant/sensor/dev/people/config" in retained
    assert "edge/dev/events" not in retained
    sink.snapshot(b"\xff\xd8now")
    wait_for(lambda: late.payloads("edge/dev/snapshot")[-1:] == [b"\xff\xd8now"], what="a snapshot now")
    sink.close()
    wait_for(lambda: late.payloads("edge/dev/availability")[-1:] == [b"offline"], what="offline at close")
    late.close()


def test_commands_parsed_malformed_ignored_flood_limited(broker, tmp_path, caplog):
    sink = make_sink(tmp_path, broker.url, commands_per_s=1.0)
    wait_for(lambda: sink._connected, what="connected")
    pub = new_client()
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    time.sleep(0.3)  # the sink's subscription
    for payload in (b"pause", b"fly", b'{"command": "clip_start", "seconds": 5}'):
        pub.publish("edge/dev/commands", payload, qos=1).wait_for_publish()
    wait_for(lambda: "unknown command 'fly'" in caplog.text, what="the malformed command's log line")
    time.sleep(0.2)
    assert sink.commands() == [{"command": "pause"}, {"command": "clip_start", "seconds": 5}]
    assert sink.commands() == []
    for _ in range(200):
        pub.publish("edge/dev/commands", b"snapshot", qos=1)
    time.sleep(1.0)
    taken = sink.commands()
    assert 5 <= len(taken) <= 10  # the burst left of 10, plus ~1/s
    assert caplog.text.count("commands arrive faster") == 1
    assert caplog.text.count("ignored a command") == 1
    pub.loop_stop()
    sink.close()


def test_wrong_credentials_say_one_line_and_right_ones_deliver(tmp_path):
    (tmp_path / "b").mkdir()
    broker = Mosquitto(tmp_path / "b", users={"edge": "secret"}).start()
    said = []
    try:
        bad = make_sink(tmp_path, "mqtt://edge:wrong@127.0.0.1:{}".format(broker.port), "bad", said.append)
        bad.publish(event(1), None)
        wait_for(lambda: said, what="the refusal")
        time.sleep(3.0)  # paho retries meanwhile
        assert len(said) == 1 and "refused the user name/password" in said[0], said
        bad.close(0)
        good = make_sink(tmp_path, "mqtt://127.0.0.1:{}".format(broker.port), "good", said.append,
                         username="edge", password="secret")
        good.publish(event(2), None)
        wait_for(lambda: len(good.queue) == 0, what="delivery with the right password")
        good.close()
        assert len(said) == 1
    finally:
        broker.kill()


def test_unreachable_at_start_queues_then_delivers_after_a_restart_of_edge(tmp_path):
    (tmp_path / "b").mkdir()
    broker = Mosquitto(tmp_path / "b")
    said = []
    first = make_sink(tmp_path, broker.url, echo=said.append)
    for n in range(5):
        first.publish(event(n), None)
    wait_for(lambda: said, what="the unreachable line")
    time.sleep(2.0)
    assert len(said) == 1 and "cannot reach the broker" in said[0]
    first.close(0)  # edge stops with 5 events undelivered
    broker.start()
    try:
        sub = Subscriber(broker.port, "edge/dev/events")
        time.sleep(0.3)
        second = make_sink(tmp_path, broker.url, echo=said.append)
        second.publish(event(5), None)
        wait_for(lambda: len(sub.events()) == 6, what="the queued events")
        assert [e["track_id"] for e in sub.events()] == list(range(6))
        second.close()
        sub.close()
    finally:
        broker.kill()


def make_certificates(folder):
    """A CA, and a server (127.0.0.1) and a client certificate it signed, by the openssl command."""
    def sh(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=folder, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=edge test CA")
    with open(os.path.join(folder, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        sh("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        sh("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
           "-out", name + ".crt", "-days", "1", "-extfile", "san.ext")
    return {k: os.path.join(folder, k) for k in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


def test_mqtts_with_a_client_certificate(tmp_path):
    (tmp_path / "b").mkdir()
    certs = make_certificates(str(tmp_path / "b"))
    broker = Mosquitto(tmp_path / "b", tls=dict(certs, ca=certs["ca.crt"])).start()
    said = []
    try:
        url = "mqtts://127.0.0.1:{}".format(broker.port)
        sink = make_sink(tmp_path, url, "tls", said.append, ca=certs["ca.crt"], cert=certs["client.crt"],
                         key=certs["client.key"])
        sink.publish(event(1), None)
        wait_for(lambda: len(sink.queue) == 0, what="delivery over TLS")
        sink.close()
        assert said == []
        no_cert = make_sink(tmp_path, url, "nocert", said.append, ca=certs["ca.crt"])
        no_cert.publish(event(2), None)
        wait_for(lambda: said, what="the broker refusing a client without a certificate")
        time.sleep(1.5)
        assert len(no_cert.queue) == 1 and len(said) == 1 and "TLS handshake" in said[0], said
        no_cert.close(0)
    finally:
        broker.kill()


def test_three_devices_one_broker_one_subscriber(broker, tmp_path):
    sub = Subscriber(broker.port, "edge/+/#")
    sinks = [make_sink(tmp_path, broker.url, device) for device in ("door-1", "door-2", "hall")]
    for i, sink in enumerate(sinks):
        sink.publish(event(i), None)
        sink.stats({"people": i})
    devices = ("door-1", "door-2", "hall")
    for i, device in enumerate(devices):
        wait_for(lambda: sub.events(device) and sub.payloads("edge/{}/stats".format(device)), what=device)
        assert sub.payloads("edge/{}/availability".format(device))[0] == b"online"
        assert sub.events(device)[0]["track_id"] == i
        assert json.loads(sub.payloads("edge/{}/stats".format(device))[-1])["people"] == i
    for sink in sinks:
        sink.close()
    sub.close()


def test_config_sections():
    from edge.config import show_config
    from edge.errors import ConfigError
    from edge.run.config import RunConfig

    cfg = RunConfig.from_dict({"mqtt": {"url": "mqtts://broker:8883", "password": "pw", "discovery": False},
                               "webhook": {"url": "http://h/x"}, "event_queue": {"folder": "/q", "max_mb": 5}})
    assert cfg.mqtt.url == "mqtts://broker:8883" and not cfg.mqtt.discovery and cfg.event_queue.max_mb == 5.0
    assert 'password = "***"' in show_config(cfg) and "pw" not in show_config(cfg)
    with pytest.raises(ConfigError, match="--mqtt: expected"):
        RunConfig.from_dict({"mqtt": {"url": "broker:1883"}})
