"""The long-running side of ``edge run``: start-up checks, signals, systemd, live view, telemetry, and a
source that is reopened with back-off when it fails.

    with Daemon(cfg, echo) as daemon:  # checks --log and --save, binds --serve, traps SIGTERM/SIGINT/SIGHUP: before
        ...                            # the model and the camera open, so a bad setting never half-starts
        source = daemon.open_source()  # ReopeningSource
        for each frame: daemon.frame(line, view, faces, source)  # watchdog, READY=1, STATUS=, publish, telemetry
        daemon.stopping()              # STOPPING=1 (sent on exit if not yet)
    # on exit: server closed, telemetry stopped, signals restored

Which faults are ridden out (the rest end the run with one clear line):

* a camera or stream (csi, usb, rtsp, and the test:// stand-in) that errors, times out or ends is
  reopened with ``cfg.reconnect`` back-off; the CSI hint (restart nvargus-daemon) is logged;
* a video file or folder ends the run at its end (exit 0) unless ``--loop``; with ``--loop`` an error
  or a vanished file is ridden out like a camera;
* at start-up a source that cannot be opened fails at once unless ``--wait-for-source``; one that opens
  but gives no first frame (an RTSP camera with nothing behind it) is a failed attempt like a reopening's;
* failed attempts in a row end the run after ``--reconnect-attempts`` (``attempt_limit``: by hand 6, under
  systemd or with ``--wait-for-source`` never — but start-up is extended for the first frame at most
  SOURCE_START_MAX_S, then systemd's start timeout fails the unit and ``Restart=`` starts it again).

SIGTERM, SIGINT and SIGHUP all stop the run after the current frame, the summary written (SIGHUP is a
closed terminal or ``kill -HUP``: edge does not reload its config).
"""
import os
import signal
import threading
import time
from typing import Any, Callable, Dict, Optional

from edge.files import check_writable
from edge.run.sinks import check_save_path
from edge.sources.backoff import attempt_limit
from edge.sources.base import Source
from edge.sources.reopening import ReopeningSource, source_kind

STATUS_EVERY = 30  # frames between systemd STATUS= lines
JTOP_SOCKET = "/run/jtop.sock"
SLOW_START_S = 600  # EXTEND_TIMEOUT_USEC while the model loads (a TensorRT engine on a Nano is slow)
SOURCE_START_MAX_S = 900  # under systemd, start-up waits at most this long for the source's first frame
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")  # each stops after the current frame, the summary written


def check_log_path(path: str, rotating: bool = False) -> None:
    """InputError unless the log at ``path`` can be appended to (an existing file is opened for appending, a
    missing one or folder must be creatable; tried with probes, as root too) and, when ``rotating``, its
    folder takes new files (``edge.files.check_writable``)."""
    if path:
        hint = " (under systemd use /var/log/edge)"
        check_writable(path, "--log", append=True, hint=hint)
        if rotating:
            check_writable(path, "--log (rotated)", hint=hint)


def energy_per_frame_mj(power_mw: Optional[float], fps: float) -> Optional[float]:
    """Mean board power (mW) / frames per second = millijoules per frame; None where power is unknown."""
    if power_mw is None or fps <= 0:
        return None
    return round(power_mw / fps, 2)


def live_telemetry(sample: Dict[str, Any]) -> Dict[str, Any]:
    """A jtop sample (``edge.service.telemetry.parse_jetson``) in the shape ``LiveState.set_telemetry`` takes."""
    rails = {k: v / 1000.0 for k, v in (sample.get("power") or {}).get("rails_mw", {}).items() if v is not None}
    total = (sample.get("power") or {}).get("total_mw")
    if total is not None:
        rails["total"] = total / 1000.0
    gpu = sample.get("gpu_load")
    return {"power_w": rails, "temperature_c": sample.get("temperature_c") or {},
            "gpu_load": gpu / 100.0 if gpu is not None else None, "nvpmodel": sample.get("nvpmodel"),
            "jetson_clocks": sample.get("jetson_clocks"), "clocks": sample.get("clocks")}


class Daemon:
    """Everything around the frame loop that a service needs; each part is off unless configured."""

    def __init__(self, cfg, echo: Optional[Callable[[str], None]] = None, info: Optional[Dict[str, str]] = None):
        from edge.service.sdnotify import Notifier

        self.cfg = cfg
        self.echo = echo or (lambda line: None)
        check_log_path(cfg.log, rotating=cfg.log_max_mb > 0)
        check_save_path(cfg.save)
        self.stop = threading.Event()
        self.stop_reason = ""
        self.frames = 0
        self.state = self.server = self.telemetry = None
        self._seen = {"dropped_frames": 0, "decode_errors": 0}
        self._last_extend = self._source_since = 0.0
        self._stopping_sent = False
        self.notify = Notifier()
        if cfg.serve.address:
            from edge.service.live import LiveState
            from edge.service.serve import check_serve, start_server

            check_serve(cfg.serve.address, cfg.serve.token)  # before prometheus_client is even needed
            self.state = LiveState(info=info or {}, size=cfg.serve.size, fps=cfg.serve.fps)
            self.server = start_server(self.state, cfg.serve.address, cfg.serve.token, hosts=cfg.serve.hosts)
            self.echo("live view: {}".format(self.server.url))
        self._old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (getattr(signal, name) for name in STOP_SIGNALS):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)

    @property
    def serving(self) -> bool:
        return self.state is not None

    def _on_signal(self, signum, frame) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user means it
        self.stop_reason = signal.Signals(signum).name
        self.stop.set()

    def slow_start(self, what: str) -> None:
        """Before slow start-up work: ask systemd for more time and say why."""
        self._last_extend = time.monotonic()
        self.notify.extend_timeout(SLOW_START_S)
        self.notify.status(what)

    def _waiting(self) -> None:
        """While a source is retried: feed the watchdog; before the first frame keep start-up from timing out,
        but only up to SOURCE_START_MAX_S after the source began opening: then systemd fails the start."""
        self.notify.watchdog()
        now = time.monotonic()
        left = self._source_since + SOURCE_START_MAX_S - now
        if self.frames == 0 and now - self._last_extend > SLOW_START_S / 4 and left > 0:
            self._last_extend = now
            self.notify.extend_timeout(min(SLOW_START_S, left))
            self.notify.status("waiting for the source (systemd fails the start within {:.0f} s without a "
                               "frame)".format(left))

    def start_telemetry(self) -> None:
        """jtop polling when its service is there (a Jetson with jetson-stats); silent elsewhere."""
        if self.cfg.telemetry_every and os.path.exists(JTOP_SOCKET):
            from edge.service.telemetry import Telemetry

            self.telemetry = Telemetry(interval=1.0).start()

    def open_source(self, open_fn: Callable[[], Source], uri: str) -> ReopeningSource:
        def reopened(reason):
            if self.state is not None:
                self.state.count("reconnects")
        service = self.notify.enabled or self.cfg.wait_for_source
        src = ReopeningSource(open_fn, uri, source_kind(uri), self.cfg.loop, self.cfg.reconnect, self.stop, self.echo,
                              tick=self._waiting, on_reopen=reopened,
                              limit=attempt_limit(self.cfg.reconnect.attempts, service))
        self._source_since = time.monotonic()
        return src.start(self.cfg.wait_for_source)

    def frame(self, record: Dict[str, Any], view, faces, source) -> None:
        """After each processed frame: its log line ``record`` (before it is logged: telemetry goes into it),
        the annotated view (or None), its ``edge.run.results.Faces`` and the source (for its counters)."""
        self.notify.watchdog()
        self.frames += 1
        if self.frames == 1:
            self.notify.ready("running: first frame processed")
        elif self.frames % STATUS_EVERY == 0:
            self.notify.status("frame {}: {:.1f} FPS, {:.1f} ms/frame, {} dropped, {} corrupt".format(
                record["frame"], record["fps"], record["ms"]["total"], record["dropped"], record["corrupt"]))
        every = self.cfg.telemetry_every
        sample = self.telemetry.last if self.telemetry is not None and every and self.frames % every == 0 else None
        if sample is not None:
            record["telemetry"] = sample
        if self.state is not None:  # scaled (--serve-size) and encoded there, once, when a viewer is due
            labels = [str(x) for x in faces.labels] if faces.labels is not None else []
            self.state.publish(view, record, stages_ms=record["ms"], labels=labels)
            for name, now in (("dropped_frames", source.dropped), ("decode_errors", source.corrupt)):
                if now > self._seen[name]:
                    self.state.count(name, now - self._seen[name])
                    self._seen[name] = now
            if sample is not None:
                self.state.set_telemetry(live_telemetry(sample))

    def summary_extra(self, mean_fps: float) -> Dict[str, Any]:
        if self.telemetry is None:
            return {}
        tm = self.telemetry.summary()
        power = (tm.get("power_mw") or {}).get("mean")
        return {"telemetry": tm, "energy_mj_per_frame": energy_per_frame_mj(power, mean_fps)}

    def stopping(self) -> None:
        """STOPPING=1 to systemd, once."""
        if not self._stopping_sent:
            self._stopping_sent = True
            self.notify.stopping("stopping: " + (self.stop_reason or "end of run"))

    def close(self) -> None:
        if self.telemetry is not None:
            self.telemetry.stop()
        if self.server is not None:
            self.server.close()
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers = {}
        self.notify.close()

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stopping()
        self.close()
