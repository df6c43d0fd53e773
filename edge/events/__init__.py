"""Event sinks: where ``edge run``'s person events and people statistics go (MQTT, webhook, clips).

An event is a plain, JSON-ready dict built by ``edge.run.people``::

    {"type": "person" | "no_mask", "phase": "confirmed" | "ended", "track_id": 3, "label": "with_mask",
     "confidence": 0.93, "first_seen": 1700000000.1, "last_seen": 1700000003.4, "frames": 50,
     "device_id": "jetson-1", "camera": "csi://0", "snapshot": "…/3.jpg" (optional: set by the recorder)}

and the answer to a clip command (``edge.run.remote``)::

    {"type": "command", "command": "clip_start" | "clip_stop", "result": "started" | "already recording" |
     "stopped" | "not started: …", "clip": path, "snapshot": path, "time": unix time, "device_id", "camera"}

The stats: {"people", "with_mask", "without_mask", "compliance" (None before any), "per_minute": {same
counts}, "per_hour": {…}, "since": unix time}. A sink is a class with ``publish(event, snapshot)`` (snapshot:
the person's best face as JPEG bytes, or None), ``stats(stats)`` (periodic) and ``close()``; the run loop hands
every event to every sink, in order.
"""
import socket
from typing import Callable, List, Optional


def make_event_sinks(cfg, echo: Optional[Callable[[str], None]] = None, frame_sinks=()) -> List:
    """The event sinks a run config asks for (``cfg``: edge.run.config.RunConfig). The frame sinks that are
    event sinks too (the clip recorder, ``[record]``) come first: each sets ``event["snapshot"]`` to the file it
    writes before the other sinks see the event."""
    sinks = [s for s in frame_sinks if hasattr(s, "publish")]  # type: List
    if cfg.mqtt.url:
        from edge.events.mqtt import MqttSink

        device_id = cfg.people.device_id or socket.gethostname()  # the id edge.run.people stamps on events
        sinks.append(MqttSink(cfg.mqtt, cfg.event_queue, device_id=device_id, echo=echo))
    if cfg.webhook.url:
        from edge.events.webhook import WebhookSink

        sinks.append(WebhookSink(cfg.webhook, cfg.event_queue, echo=echo))
    return sinks
