"""Commands from the event sinks (MQTT ``edge/<device>/commands``) applied to the running loop.

    remote = Remote(event_sinks, echo)
    remote.apply(view, people, now)      # once per frame: every command received since the last frame
    if remote.paused: ...                # the loop skips detection and classification while paused

``snapshot`` publishes the current annotated frame as JPEG to every sink that takes one (``snapshot(jpeg)``);
``pause`` / ``resume`` stop and restart detection (frames keep being read, the watchdog fed); ``reset`` zeroes
the people counters; ``clip_start`` / ``clip_stop`` go to a sink that records clips (``clip_start()`` /
``clip_stop()``), and are one log line where none does. Parsing, validation and rate limits are the sink's
(edge.events.mqtt); each command applied is one log line.
"""
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
            takers = [s for s in self.all_sinks if callable(getattr(s, name, None))]
            for sink in takers:
                getattr(sink, name)()
            done = "sent to the recorder" if takers else "no sink takes it (the recorder clips on events)"
        else:
            done = "unknown, ignored (expected one of {})".format(", ".join(COMMANDS))
        self.echo("command '{}': {}".format(name, done))


def _jpeg(image: Optional[np.ndarray]) -> Optional[bytes]:
    if image is None:
        return None
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else None
