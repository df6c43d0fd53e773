"""Reopening things that fail (cameras, streams, files) with exponential back-off.

    cap = retry_open(lambda: open_source(uri), BackoffConfig(), stop=stop_event,
                     on_retry=lambda n, delay, err: log.warning(...))
"""
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Tuple, Type

from edge.config import setting


BY_HAND_ATTEMPTS = 6  # failed attempts in a row before a source is given up when not run as a service
BY_HAND_BACKOFF_S = 0.5 + 1 + 2 + 4 + 8  # the default back-off between those attempts
BY_HAND_GIVE_UP_S = BY_HAND_BACKOFF_S + BY_HAND_ATTEMPTS * 10.0  # plus the default --timeout per attempt


def attempt_limit(attempts: int, service: bool) -> int:
    """Failed attempts in a row before a source is given up (0: never): ``attempts`` where set, else
    forever under a service manager (systemd restarts what gives up; it should not) and BY_HAND_ATTEMPTS
    when run by hand (a camera that is not there ends the run after a bounded time)."""
    if attempts > 0:
        return attempts
    return 0 if service else BY_HAND_ATTEMPTS


@dataclass
class BackoffConfig:
    """Back-off between attempts: initial·factor^n seconds, capped at max_delay, ±jitter (fraction)."""

    initial: float = setting(0.5, "--reconnect-initial", "Seconds before the first attempt to reopen a failed "
                                                         "camera.")
    factor: float = setting(2.0, "--reconnect-factor", "Back-off growth per failed attempt.")
    max_delay: float = setting(30.0, "--reconnect-max-delay", "Longest wait between attempts (seconds).")
    jitter: float = setting(0.0, "--reconnect-jitter", "Randomise each wait by ± this fraction (0–1).")
    attempts: int = setting(0, "--reconnect-attempts", "Give up (exit 5) after N failed attempts in a row to "
                                                       "open a camera or stream; one that opens but gives no "
                                                       "frame within --timeout counts too. 0: {} by hand (with "
                                                       "the defaults at most ~{:.0f} s: {:.1f} s of back-off and "
                                                       "--timeout per attempt), forever under systemd "
                                                       "($NOTIFY_SOCKET) or with --wait-for-source.".format(
                                                           BY_HAND_ATTEMPTS, BY_HAND_GIVE_UP_S, BY_HAND_BACKOFF_S))


def backoff_delay(attempt: int, initial: float = 0.5, factor: float = 2.0, max_delay: float = 30.0,
                  jitter: float = 0.0, rng: Optional[random.Random] = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based); pure when jitter is 0.

    With jitter j the delay is drawn uniformly from [d·(1−j), d·(1+j)] and still capped at max_delay.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based, found {}".format(attempt))
    # Exponent capped so huge attempt counts neither overflow nor take time.
    d = min(max_delay, initial * factor ** min(attempt - 1, 64))
    if jitter:
        d *= 1.0 + (rng or random).uniform(-jitter, jitter)
    return max(0.0, min(max_delay, d))


def backoff_schedule(cfg: BackoffConfig, rng: Optional[random.Random] = None) -> Iterator[float]:
    """The delays after attempt 1, 2, ...; ends after ``cfg.attempts - 1`` delays when attempts > 0."""
    n = 1
    while cfg.attempts <= 0 or n < cfg.attempts:
        yield backoff_delay(n, cfg.initial, cfg.factor, cfg.max_delay, cfg.jitter, rng)
        n += 1


def reopen_hint(source: str) -> str:
    """What to tell the user while a source keeps failing (logged with the retry)."""
    s = source.lower()
    if s.startswith("csi") or "nvarguscamerasrc" in s:
        return ("CSI camera: check the ribbon cable; if it does not come back, restart the Argus daemon: "
                "sudo systemctl restart nvargus-daemon")
    if s.startswith(("rtsp://", "http://", "https://")):
        return "network stream: check the camera is reachable and the URL/credentials are right"
    if s.isdigit() or s.startswith(("/dev/video", "usb", "v4l2")):
        return "USB camera: check the cable; `v4l2-ctl --list-devices` lists the cameras"
    return "check that the source exists and is readable"


class RetryStopped(Exception):
    """retry_open was asked to stop (e.g. SIGTERM) before ``open_fn`` succeeded."""


def retry_open(open_fn: Callable[[], object], cfg: Optional[BackoffConfig] = None,
               stop: Optional[threading.Event] = None,
               on_retry: Optional[Callable[[int, float, BaseException], None]] = None,
               retry_on: Tuple[Type[BaseException], ...] = (Exception,),
               rng: Optional[random.Random] = None, sleep: Optional[Callable[[float], object]] = None):
    """``open_fn()``'s result, calling it again after each failure with back-off.

    ``on_retry(attempt, delay, error)`` is called before each wait (log there). ``stop`` (an Event)
    interrupts a wait at once and raises RetryStopped; after ``cfg.attempts`` failures the last error
    is raised. Errors not in ``retry_on`` propagate immediately.
    """
    cfg = cfg or BackoffConfig()
    if sleep is None:
        sleep = stop.wait if stop is not None else time.sleep
    delays = backoff_schedule(cfg, rng)
    attempt = 0
    while True:
        if stop is not None and stop.is_set():
            raise RetryStopped("stopped before opening")
        attempt += 1
        try:
            return open_fn()
        except retry_on as e:
            delay = next(delays, None)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(attempt, delay, e)
            sleep(delay)
            if stop is not None and stop.is_set():
                raise RetryStopped("stopped after {} failed attempts (last: {})".format(attempt, e)) from e
