"""Timing used everywhere: a per-iteration stage timer, an FPS meter, percentile summaries."""
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, Optional

import numpy as np

SUMMARY_KEYS = ("n", "min", "mean", "p50", "p90", "p95", "p99", "max")


def summarize(samples: Iterable[float]) -> Dict[str, float]:
    """min/mean/percentiles/max of a sequence of numbers (e.g. milliseconds); n=0 when empty."""
    a = np.asarray(list(samples), dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    p50, p90, p95, p99 = np.percentile(a, [50, 90, 95, 99])
    return {"n": int(a.size), "min": float(a.min()), "mean": float(a.mean()), "p50": float(p50),
            "p90": float(p90), "p95": float(p95), "p99": float(p99), "max": float(a.max())}


class StageTimer:
    """Milliseconds spent in named stages of one iteration.

    >>> t = StageTimer()
    >>> with t.stage("detect"):
    ...     pass
    >>> sorted(t.times)
    ['detect']
    """

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self.times = OrderedDict()  # type: Dict[str, float]

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = self._clock()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + (self._clock() - t0) * 1000.0

    def total(self) -> float:
        return sum(self.times.values())

    def reset(self) -> None:
        self.times = OrderedDict()


class FpsMeter:
    """Events per second over a sliding window of the last ``window`` seconds."""

    def __init__(self, window: float = 2.0, clock=time.monotonic, maxlen: int = 10000):
        self.window = window
        self._clock = clock
        self._stamps = deque(maxlen=maxlen)

    def tick(self, now: Optional[float] = None) -> None:
        self._stamps.append(self._clock() if now is None else now)

    @property
    def fps(self) -> float:
        if len(self._stamps) < 2:
            return 0.0
        newest = self._stamps[-1]
        while len(self._stamps) > 2 and newest - self._stamps[0] > self.window:
            self._stamps.popleft()
        span = newest - self._stamps[0]
        return (len(self._stamps) - 1) / span if span > 0 else 0.0


class StageStats:
    """Keeps the last ``maxlen`` samples of each stage for percentile summaries (bounded memory)."""

    def __init__(self, maxlen: int = 100000):
        self._maxlen = maxlen
        self._samples = OrderedDict()  # type: Dict[str, deque]

    def add(self, times: Dict[str, float]) -> None:
        for name, ms in times.items():
            self._samples.setdefault(name, deque(maxlen=self._maxlen)).append(ms)

    def summary(self) -> Dict[str, Dict[str, float]]:
        return OrderedDict((name, summarize(s)) for name, s in self._samples.items())


def time_calls(fn, warmup: int = 10, runs: int = 50, clock=time.perf_counter):
    """Call ``fn()`` ``warmup`` times untimed, then ``runs`` times; return the milliseconds of each run."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = clock()
        fn()
        out.append((clock() - t0) * 1000.0)
    return out
