"""MQTT event sink (paho-mqtt 1.6 on Python 3.6, or 2.x): events, stats, availability, snapshots, commands.

    sink = MqttSink(MqttOptions(url="mqtt://127.0.0.1:1883"), QueueOptions(), device_id="door-1")
    sink.publish(event, jpeg)   # event → disk queue → edge/door-1/events (QoS 1, in order); jpeg → snapshot
    sink.stats(stats)           # edge/door-1/stats, retained
    sink.commands()             # [{"command": "pause"}, ...] received on edge/door-1/commands since last call
    sink.snapshot(jpeg)         # edge/door-1/snapshot, retained (the answer to a "snapshot" command)
    sink.close()                # availability "offline", waits briefly for the queue to drain

Topics under ``edge/<device_id>/``: ``events`` (JSON, QoS 1, each with the queue's ``seq`` to dedupe a
redelivery), ``stats`` (retained), ``availability`` (retained online/offline, offline also the Last Will),
``snapshot`` (the latest JPEG, retained), ``commands`` (in). Home Assistant discovery configs go to
``homeassistant/sensor/<device_id>/<name>/config`` (retained). Nothing is lost while the broker is away:
every event is on disk (``edge.events.queue``) until the broker acknowledged it.
"""
import json
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import unquote, urlsplit

from edge.config import setting
from edge.errors import MissingDependency, UsageError
from edge.events.queue import QueueOptions
from edge.sources.backoff import backoff_delay

log = logging.getLogger("edge.events.mqtt")
BATCH = 20  # events in flight at once (paho's default max_inflight_messages)
COMMANDS = ("snapshot", "pause", "resume", "reset", "clip_start", "clip_stop")
ALIASES = {"reset_counters": "reset", "start_clip": "clip_start", "stop_clip": "clip_stop", "snapshot_now": "snapshot"}
SENSORS = (  # (stats key, name, unit, state_class)
    ("people", "People", None, "total_increasing"),
    ("with_mask", "With mask", None, "total_increasing"),
    ("without_mask", "Without mask", None, "total_increasing"),
    ("compliance", "Mask compliance", "%", "measurement"),
)


@dataclass
class MqttOptions:
    """``edge run --mqtt URL``: where and how to publish events."""

    url: str = setting("", "--mqtt", "Publish events, stats and snapshots to this MQTT broker: "
                                     "mqtt://[USER[:PASSWORD]@]HOST[:1883] or mqtts://…[:8883] (TLS). Topics "
                                     "under edge/<--device-id>/ (docs/FLEET.md).")
    username: str = setting("", "--mqtt-user", "Broker user name (or in the URL).")
    password: str = setting("", "--mqtt-password", "Broker password (or in the URL, or $EDGE_MQTT_PASSWORD).",
                            secret=True, envvar="EDGE_MQTT_PASSWORD")
    ca: str = setting("", "--mqtt-ca", "CA certificate file to check an mqtts:// broker with (default: the "
                                       "system's).")
    cert: str = setting("", "--mqtt-cert", "Client certificate file (mqtts://, brokers that require one).")
    key: str = setting("", "--mqtt-key", "Client certificate's private key file.")
    discovery: bool = setting(True, "--mqtt-discovery/--no-mqtt-discovery", "Publish Home Assistant MQTT "
                                                                             "discovery configs so the counters "
                                                                             "appear as sensors.")
    commands_per_s: float = setting(5.0, "--mqtt-commands-per-s", "Most commands taken per second on "
                                                                  "edge/<id>/commands (bursts of 10); the "
                                                                  "rest are dropped.")

    def __post_init__(self):
        from edge.config import check_fields

        check_fields(self, [(0 < self.commands_per_s <= 1000, "commands_per_s", "0 < commands/s ≤ 1000")],
                     "mqtt.")
        if self.url:
            parse_broker_url(self.url)


class Broker(NamedTuple):
    host: str
    port: int
    tls: bool
    username: str
    password: str


def parse_broker_url(url: str, username: str = "", password: str = "") -> Broker:
    """mqtt://[user[:password]@]host[:port] or mqtts://… (pure); the URL's credentials win over the options'."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UsageError("--mqtt: {} in {!r}".format(e, url)) from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        raise UsageError("--mqtt: expected mqtt://[USER[:PASSWORD]@]HOST[:PORT] or mqtts://…, found {!r}".format(url))
    tls = parts.scheme == "mqtts"
    return Broker(parts.hostname, port or (8883 if tls else 1883), tls,
                  unquote(parts.username) if parts.username else username,
                  unquote(parts.password) if parts.password else password)


def topic_id(name: str) -> str:
    """A device name as one topic level and a Home Assistant id (pure): [A-Za-z0-9_-], others → _."""
    out = "".join(c if (c < "\x80" and c.isalnum() or c in "_-") else "_" for c in name.strip())
    return out or "edge"


def topics(device_id: str) -> Dict[str, str]:
    base = "edge/{}/".format(device_id)
    return {k: base + k for k in ("events", "stats", "availability", "snapshot", "commands")}


def discovery_messages(device_id: str, prefix: str = "homeassistant") -> List[Tuple[str, str]]:
    """(topic, JSON payload) of the Home Assistant discovery config of each counter (pure)."""
    t = topics(device_id)
    device = {"identifiers": ["edge_" + device_id], "name": "edge " + device_id, "manufacturer": "edge",
              "model": "edge run"}
    out = []
    for key, name, unit, state_class in SENSORS:
        config = {"name": name, "unique_id": "edge_{}_{}".format(device_id, key), "state_topic": t["stats"],
                  "value_template": "{{{{ value_json.{} }}}}".format(key), "availability_topic": t["availability"],
                  "payload_available": "online", "payload_not_available": "offline", "state_class": state_class,
                  "device": device}
        if unit:
            config["unit_of_measurement"] = unit
        out.append(("{}/sensor/{}/{}/config".format(prefix, device_id, key), json.dumps(config, sort_keys=True)))
    return out


def parse_command(payload: bytes) -> Dict[str, Any]:
    """A command message (pure): a bare name (``pause``) or JSON ``{"command": "clip_start", ...}``; the
    command as a dict {"command": name, ...its arguments}. ValueError saying why for anything else."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    if text.startswith("{"):
        try:
            command = json.loads(text)
        except ValueError as e:
            raise ValueError("not valid JSON ({})".format(e)) from None
        if not isinstance(command.get("command"), str):
            raise ValueError('JSON without a "command" string')
    else:
        command = {"command": text}
    name = command["command"].strip().lower().replace("-", "_")
    name = ALIASES.get(name, name)
    if name not in COMMANDS:
        raise ValueError("unknown command {!r} (known: {})".format(command["command"][:40], ", ".join(COMMANDS)))
    command["command"] = name
    return command


class RateLimit:
    """A token bucket (pure given ``clock``): ``allow()`` is True at most ``rate``/s, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float = 10.0, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.last = burst, clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise MissingDependency("paho.mqtt", "paho-mqtt", "--mqtt", '`pip install "paho-mqtt<2"` on Python 3.6, '
                                '`pip install paho-mqtt` elsewhere') from None
    return mqtt


def _code(rc) -> int:
    """A paho result as an int: 1.x passes ints, 2.x ReasonCode objects (MQTT 5 numbering)."""
    return int(getattr(rc, "value", rc))


def refused_why(rc) -> str:
    """What a refused connection means (pure): paho 1.x CONNACK codes 1–5, 2.x reason codes 128+."""
    code = _code(rc)
    if code in (4, 5, 134, 135):
        return "the broker refused the user name/password ({}): check --mqtt-user/--mqtt-password".format(
            "not authorised" if code in (5, 135) else "bad user name or password")
    return "the broker refused the connection (code {})".format(code)


class MqttSink:
    """An event sink on an MQTT broker; a background thread delivers the disk queue in order. ``device_id``
    (``[people] device_id``, default the host name) names the topics; ``echo(line)`` says connection trouble
    (once per outage)."""

    def __init__(self, options: MqttOptions, queue: Optional[QueueOptions] = None, device_id: str = "",
                 echo=None):
        mqtt = _paho()
        self.options = options
        self.broker = parse_broker_url(options.url, options.username, options.password)
        self.device_id = topic_id(device_id or socket.gethostname())
        self.topics = topics(self.device_id)
        self.queue = (queue or QueueOptions()).open("mqtt")
        self._echo = echo or log.warning
        self._commands = deque(maxlen=100)
        self._limit = RateLimit(options.commands_per_s)
        self._flooded = 0
        self._cond = threading.Condition()
        self._connected = False
        self._closing = False
        self._said = set()  # one-line messages already said (per outage)
        self._latest = {}  # topic → payload: retained state to (re)send on connect
        self._acks, self._ack_count = {}, 0  # mid → the ack count when its PUBACK came (mids wrap at 65535)
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho 2.x
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-" + self.device_id)
        else:
            self.client = mqtt.Client(client_id="edge-" + self.device_id)
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password or None)
        if self.broker.tls:
            self.client.tls_set(ca_certs=options.ca or None, certfile=options.cert or None,
                                keyfile=options.key or None)
        self.client.will_set(self.topics["availability"], "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(0.5, 10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self._network = threading.Thread(target=self._network_loop, name="edge-mqtt-net", daemon=True)
        self._network.start()
        self._thread = threading.Thread(target=self._deliver, name="edge-mqtt", daemon=True)
        self._thread.start()

    # --- the event-sink interface ---------------------------------------------------------------------

    def publish(self, event: Dict[str, Any], snapshot: Optional[bytes] = None) -> None:
        """Queue ``event`` on disk (delivered in order, QoS 1); ``snapshot`` becomes the retained latest."""
        self.queue.put(event)
        if snapshot is not None:
            self.snapshot(snapshot)
        with self._cond:
            self._cond.notify_all()

    def snapshot(self, jpeg: bytes) -> None:
        """Publish ``jpeg`` as the retained latest snapshot (the ``snapshot`` command's answer)."""
        self._retain(self.topics["snapshot"], bytes(jpeg))

    def stats(self, stats: Dict[str, Any]) -> None:
        stats = dict(stats, dropped_events=self.queue.dropped)
        self._retain(self.topics["stats"], json.dumps(stats, sort_keys=True))

    def commands(self) -> List[Dict[str, Any]]:
        """The commands received since the last call, oldest first (thread-safe)."""
        out = []
        while self._commands:
            out.append(self._commands.popleft())
        return out

    def close(self, drain_s: float = 2.0) -> None:
        """Deliver what is queued for up to ``drain_s``, say "offline", disconnect (the rest stays on disk)."""
        deadline = time.monotonic() + drain_s
        with self._cond:
            while self._connected and len(self.queue) and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._closing = True
            self._cond.notify_all()
        self._thread.join(drain_s + 1)
        if self._connected:
            info = self.client.publish(self.topics["availability"], "offline", qos=1, retain=True)
            if info.rc == 0:
                info.wait_for_publish(1.0)
        try:
            self.client.disconnect()
        except OSError:  # a broken TLS socket (paho 1.6)
            pass
        self._network.join(2.0)
        self.queue.close()

    # --- paho callbacks (1.x and 2.x signatures: the code is argument 3 of on_connect) ------------------

    def _on_connect(self, client, userdata, flags, rc, *properties):
        if _code(rc) != 0:
            self._say_once("refused", "mqtt: {} ({}:{}); events are queued on disk until it accepts".format(
                refused_why(rc), self.broker.host, self.broker.port))
            return
        if self._said:
            log.info("mqtt: connected to %s:%d (%d queued events to deliver)", self.broker.host, self.broker.port,
                     len(self.queue))
        self._said.clear()
        client.subscribe(self.topics["commands"], qos=1)
        client.publish(self.topics["availability"], "online", qos=1, retain=True)
        if self.options.discovery:
            for topic, payload in discovery_messages(self.device_id):
                client.publish(topic, payload, qos=1, retain=True)
        with self._cond:
            latest = list(self._latest.items())
        for topic, payload in latest:
            client.publish(topic, payload, qos=1, retain=True)
        with self._cond:
            self._connected = True
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, *args):
        with self._cond:
            was_connected, self._connected = self._connected, False
            self._cond.notify_all()
        if self._closing:
            return
        if not was_connected:  # a TLS handshake that failed, a connection closed before CONNACK
            self._on_connect_fail(client, userdata)
            return
        self._say_once("away", "mqtt: lost the broker at {}:{}; events are queued on disk ({}) until it is "
                               "back".format(self.broker.host, self.broker.port, self.queue.folder))

    def _on_connect_fail(self, client, userdata, *args):
        tls = " (or the TLS handshake failed: check --mqtt-ca/--mqtt-cert/--mqtt-key)" if self.broker.tls else ""
        self._say_once("away", "mqtt: cannot reach the broker at {}:{}{}; running on, events are queued on disk "
                               "({}) until it is back".format(self.broker.host, self.broker.port, tls,
                                                              self.queue.folder))

    def _on_publish(self, client, userdata, mid, *args):
        with self._cond:
            self._ack_count += 1
            self._acks[mid] = self._ack_count
            self._cond.notify_all()

    def _on_message(self, client, userdata, message):
        if not self._limit.allow():
            self._flooded += 1
            if self._flooded == 1 or self._flooded % 1000 == 0:
                log.warning("mqtt: commands arrive faster than %g/s on %s: dropping them (%d so far)",
                            self.options.commands_per_s, message.topic, self._flooded)
            return
        try:
            self._commands.append(parse_command(message.payload))
        except ValueError as e:
            log.warning("mqtt: ignored a command on %s: %s", message.topic, e)

    # --- delivery -------------------------------------------------------------------------------------

    def _network_loop(self) -> None:
        """paho's loop (it reconnects by itself); paho 1.6 lets an SSL error out of it (a TLS 1.3 alert after
        the handshake, a client certificate refused): reconnect with back-off then, as paho would."""
        failures = 0
        while not self._closing:
            try:
                self.client.loop_forever(retry_first_connection=True)
                return  # disconnect() was called
            except Exception as e:  # noqa: BLE001 (any error of the loop: the sink must not stop delivering)
                log.debug("mqtt: network loop: %s", e)
                self._on_disconnect(self.client, None)
            while not self._closing:
                failures += 1
                time.sleep(backoff_delay(min(failures, 6), 0.5, 2.0, 10.0))
                try:
                    self.client.reconnect()
                    break
                except Exception:  # noqa: BLE001
                    self._on_connect_fail(self.client, None)

    def _say_once(self, key: str, message: str) -> None:
        """One line per outage: "away" (lost or unreachable) once, a refusal once, nothing more."""
        if key not in self._said and not (key == "away" and "refused" in self._said):
            self._said.add(key)
            self._echo(message)

    def _retain(self, topic: str, payload) -> None:
        with self._cond:
            self._latest[topic] = payload
        if self._connected:
            self.client.publish(topic, payload, qos=1, retain=True)

    def _deliver(self) -> None:
        """Publish the oldest queued events (a batch at a time, so a resent batch keeps its order), ack
        them in the queue once the broker has acknowledged every one."""
        while True:
            with self._cond:
                while not self._closing and not (self._connected and len(self.queue)):
                    self._cond.wait(1.0)
                if self._closing:
                    return
            batch = self.queue.peek(BATCH)
            with self._cond:
                start = self._ack_count
            # Not connected any more: paho keeps the message and sends it after the reconnect, with the
            # rest of an unacknowledged batch, in order (the next batch waits for this one).
            mids = [self.client.publish(self.topics["events"], json.dumps(dict(e, seq=seq), sort_keys=True),
                                        qos=1).mid for seq, e in batch]
            with self._cond:
                while not self._closing and not self._acked(mids, start):
                    self._cond.wait(0.5)
                done = self._acked(mids, start)
            if done:
                self.queue.ack(batch[-1][0])

    def _acked(self, mids: List[int], since: int) -> bool:
        return all(self._acks.get(m, -1) > since for m in mids)
