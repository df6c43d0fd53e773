"""Commands from the event sinks (MQTT ``edge/<device>/commands``) applied to the running loop.

    remote = Remote(event_sinks, echo)
    remote.apply(view, people, now)      # once per frame: every command received since the last frame
    if remote.paused: ...                # the loop skips detection and classification while paused

``snapshot`` publishes the current annotated frame as JPEG to every sink that takes one (``snapshot(jpeg)``);
``pause`` / ``resume`` stop and restart detection (frames keep being read, the watchdog fed); ``reset`` zeroes
the people counters; ``clip_start`` / ``clip_stop`` go to a sink that records clips (``clip_start()`` /
``clip_stop()``, edge.events.clips), and are one log line where none does. Parsing, validation and rate limits
are the sink's (edge.events.mqtt); each command applied is one log line. A clip command's result also goes to
every event sink as an event (MQTT ``edge/<device>/events``)::

    {"type": "command", "command": "clip_start", "result": "started", "clip": "…/…-manual-0.mp4",
     "snapshot": "…/…-manual-0.jpg", "time": 1700000000.1, "device_id": "jetson-1", "camera": "csi://0"}

The clip file is there once it is whole (after ``clip_stop``: within a second or so). A ``clip_stop`` without a
running ``clip_start`` clip is one log line, and no event.
"""
import socket
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

COMMANDS = ("snapshot", "pause", "resume", "reset", "clip_start", "clip_stop")


class Remote:
    def __init__(self, sinks: Sequence[Any], echo: Optional[Callable[[str], None]] = None):
        self.sinks = [s for s in sinks if callable(getattr(s, "commands", None))]
        self.all_sinks = list(sinks)
        self.echo = echo or (lambda line: None)
        self.paused = False

    def apply(self, image: Optional[np.ndarray], people, now: float) -> None:
        for sink in self.sinks:
            for command in sink.commands():
                self._apply(command, image, people, now)

    def _apply(self, command: Dict[str, Any], image: Optional[np.ndarray], people, now: float) -> None:
        name = command.get("command")
        if name == "snapshot":
            jpeg = _jpeg(image)
            takers = [s for s in self.all_sinks if callable(getattr(s, "snapshot", None))]
            for sink in takers if jpeg is not None else ():
                sink.snapshot(jpeg)
            done = "sent to {} sink(s)".format(len(takers)) if jpeg is not None else "no frame yet"
        elif name in ("pause", "resume"):
            self.paused = name == "pause"
            done = "detection {}".format("paused" if self.paused else "resumed")
        elif name == "reset":
            if people is not None:
                people.stats.reset(now)
            done = "people counters reset" if people is not None else "people counting is off"
        elif name in ("clip_start", "clip_stop"):
            done = self._clip(name, people, now)
        else:
            done = "unknown, ignored (expected one of {})".format(", ".join(COMMANDS))
        self.echo("command '{}': {}".format(name, done))

    def _clip(self, name: str, people, now: float) -> str:
        """``clip_start`` / ``clip_stop`` to the recorder(s); their result (a dict with "result", "clip",
        "snapshot", or None: nothing to do) as an event to every event sink; the log line's text."""
        takers = [s for s in self.all_sinks if callable(getattr(s, name, None))]
        if not takers:
            return "no sink takes it (the recorder clips on events)"
        results = [r for r in (getattr(sink, name)() for sink in takers) if r]
        if not results:
            return ("no clip started by clip_start is running, ignored" if name == "clip_stop"
                    else "sent to the recorder")
        for result in results:
            event = {"type": "command", "command": name, "time": now,
                     "device_id": getattr(people, "device_id", None) or socket.gethostname(),
                     "camera": getattr(people, "camera", "")}
            event.update(result)
            for sink in self.all_sinks:
                if callable(getattr(sink, "publish", None)):
                    sink.publish(event, None)
        return "; ".join(" ".join(str(r[k]) for k in ("result", "clip") if r.get(k)) for r in results)


def _jpeg(image: Optional[np.ndarray]) -> Optional[bytes]:
    if image is None:
        return None
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else None
