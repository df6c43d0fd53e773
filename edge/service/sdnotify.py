"""systemd's sd_notify protocol, spoken directly: one datagram to ``$NOTIFY_SOCKET`` per message.

    notify = Notifier()          # reads NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID; no-op without systemd
    notify.ready("running")     # after the first frame (Type=notify: systemd waits for this)
    while running:
        ...
        notify.watchdog()       # every frame; sends WATCHDOG=1 at most every WATCHDOG_USEC / 2
    notify.stopping()

systemd arms the watchdog when READY=1 arrives (or at the first WATCHDOG=1), so slow start-up work
(loading or building a TensorRT engine) is bounded by TimeoutStartSec= only: call
``extend_timeout(seconds)`` before it, and start calling ``watchdog()`` from the frame loop.
Never raises into the caller: a vanished socket is remembered and reported by ``last_error``.
"""
import os
import socket
import time
from typing import Mapping, Optional


def socket_address(value: str) -> Optional[str]:
    """The address to send to: a path, or ``"\\0name"`` for the abstract namespace (``@name``)."""
    if not value:
        return None
    if value[0] == "@":
        return "\0" + value[1:]
    if value[0] == "/":
        return value
    return None  # systemd only hands out absolute paths or abstract names


def watchdog_interval(env: Mapping[str, str], pid: Optional[int] = None) -> Optional[float]:
    """Seconds between required WATCHDOG=1 pings (``$WATCHDOG_USEC``), or None when not enabled for us."""
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    wpid = env.get("WATCHDOG_PID")
    if wpid and wpid.strip() != str(os.getpid() if pid is None else pid):
        return None  # the watchdog belongs to another process (e.g. our parent shell)
    return usec / 1e6


class Notifier:
    """Sends READY=1 / STATUS= / WATCHDOG=1 / STOPPING=1 to systemd when run under it; otherwise nothing."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, clock=time.monotonic):
        env = os.environ if env is None else env
        self.address = socket_address(env.get("NOTIFY_SOCKET", ""))
        self.interval = watchdog_interval(env) if self.address else None
        self._clock = clock
        self._last_ping = None  # type: Optional[float]
        self._sock = None
        self.last_error = None  # type: Optional[str]
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, message: str) -> bool:
        """Send one raw ``KEY=value\\n...`` message; False when not under systemd or the send failed."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)  # never stall the frame loop on a full socket buffer
            self._sock.sendto(message.encode("utf-8"), self.address)
        except OSError as e:
            self.last_error = "sd_notify to {!r} failed: {}".format(self.address.replace("\0", "@"), e)
            return False
        self.sent += 1
        return True

    def ready(self, status: Optional[str] = None) -> bool:
        msg = "READY=1\nMAINPID={}".format(os.getpid())
        if status:
            msg += "\nSTATUS=" + _one_line(status)
        return self.send(msg)

    def status(self, text: str) -> bool:
        return self.send("STATUS=" + _one_line(text))

    def stopping(self, status: Optional[str] = None) -> bool:
        return self.send("STOPPING=1" + ("\nSTATUS=" + _one_line(status) if status else ""))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start-up/stop time (e.g. while a TensorRT engine builds), systemd ≥ 236."""
        return self.send("EXTEND_TIMEOUT_USEC={}".format(int(seconds * 1e6)))

    def watchdog(self, now: Optional[float] = None) -> bool:
        """Call from every loop iteration: sends WATCHDOG=1 when half the interval has passed since the last.

        A loop that stops calling this stops feeding the watchdog, and systemd restarts the service.
        """
        if self.interval is None:
            return False
        now = self._clock() if now is None else now
        if self._last_ping is not None and now - self._last_ping < self.interval / 2:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
