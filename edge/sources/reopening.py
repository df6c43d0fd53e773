"""A source opened again, with back-off, when it fails or ends: how ``edge run`` rides out a camera that
drops (see edge.service.daemon for which faults are ridden out and which end the run).

    src = ReopeningSource(lambda: open_source(uri), uri, source_kind(uri), loop, backoff, stop, echo,
                          limit=attempt_limit(backoff.attempts, service)).start(wait)
"""
import gc
import time
from typing import Any, Callable, Optional

from edge.errors import EdgeError, HardwareError, InputError
from edge.sources.backoff import RetryStopped, backoff_delay, reopen_hint
from edge.sources.base import EndOfStream, Frame, Source

CAMERAS = ("csi", "usb", "rtsp", "http")


def reopen_policy(kind: str, loop: bool):
    """(reopen on a read error, reopen at the end of the stream) for a source kind — a pure rule."""
    return kind in CAMERAS + ("test",) or loop, kind in CAMERAS or loop


def source_kind(uri: str) -> str:
    """The URI's kind (edge.sources.uri.KINDS); a path that does not exist yet counts as a file."""
    from edge.files import IMAGE_SUFFIXES
    from edge.sources.uri import parse_uri

    try:
        return parse_uri(uri).kind
    except InputError:
        return "image" if uri.lower().endswith(IMAGE_SUFFIXES) else "video"


class ReopeningSource(Source):
    """A source opened by ``open_fn`` and opened again (with back-off) when it fails or ends.

    An attempt fails when ``open_fn`` raises or when the source it opened ends or fails before its first
    frame; after ``limit`` failed attempts in a row (0: never) the last error is raised. The source is
    "back" (counted in ``reconnects``, ``on_reopen(reason)`` called) only when a frame arrives again.
    Frames are renumbered so indices keep counting across reopenings; ``corrupt``/``dropped`` add up.
    ``tick`` is called while waiting (feed the watchdog).
    """

    def __init__(self, open_fn: Callable[[], Source], uri: str, kind: str, loop: bool, backoff, stop,
                 echo: Callable[[str], None], tick: Callable[[], Any] = lambda: None,
                 on_reopen: Callable[[str], Any] = lambda reason: None, limit: Optional[int] = None):
        super().__init__(uri)
        self._open, self.kind, self.backoff, self.stop = open_fn, kind, backoff, stop
        self.reopen_on_error, self.reopen_at_end = reopen_policy(kind, loop)
        self.loop = loop
        self.limit = backoff.attempts if limit is None else limit
        self._echo, self._tick, self._on_reopen = echo, tick, on_reopen
        self.inner = None  # type: Optional[Source]
        self.reconnects = 0
        self.failures = 0  # failed attempts in a row (reset by a frame)
        self._past = [0, 0]  # corrupt, dropped of closed sources
        self._since_open = 0
        self._lost = ""  # why the source was lost, until a frame says it is back
        self._described = "source '{}'".format(uri)

    @property
    def corrupt(self):
        return self._past[0] + (self.inner.corrupt if self.inner is not None else 0)

    @corrupt.setter
    def corrupt(self, value):
        pass

    @property
    def dropped(self):
        return self._past[1] + (self.inner.dropped if self.inner is not None else 0)

    @dropped.setter
    def dropped(self, value):
        pass

    def start(self, wait: bool) -> "ReopeningSource":
        """Open the source: an error ends the start at once, or with ``wait`` counts as a failed attempt."""
        if not wait:
            self.inner = self._open()
        while self.inner is None:
            self._open_inner()
        self.name = getattr(self.inner, "name", self.name)
        return self

    def read(self, timeout: float = 5.0) -> Frame:
        while True:
            if self.inner is None:
                self._open_inner()
                continue
            try:
                frame = self.inner.read(timeout)
            except EndOfStream:
                if not self.reopen_at_end:
                    raise
                self._ended_or_failed(None)
                continue
            except EdgeError as e:
                if not self.reopen_on_error:
                    raise
                self._ended_or_failed(e)
                continue
            self._since_open += 1
            self.failures = 0
            if self._lost:
                self.reconnects += 1
                self._on_reopen(self._lost)
                self._echo("source back: {}".format(self.inner.describe()))
                self._lost = ""
            out = frame._replace(index=self._index)
            self._index += 1
            return out

    def _ended_or_failed(self, err: Optional[EdgeError]) -> None:
        """The open source ended (``err`` None) or failed: close it; reopen at once after frames (a loop
        restarting is no loss), else it is a failed attempt."""
        gave_frames = self._since_open > 0
        self._close_inner()
        if not gave_frames:
            self._failed(err or self._ended_empty())
        elif err is not None or not self.loop:
            self._lost = str(err) if err is not None else "end of stream"
            self._echo("source lost ({}); reopening {}".format(self._lost, self.uri))

    def _open_inner(self) -> None:
        try:
            self.inner = self._open()
            self._since_open = 0
        except EdgeError as e:
            self._failed(e)

    def _failed(self, err: EdgeError) -> None:
        """One more failed attempt: give up with ``err`` at the limit, else say so and back off."""
        self.failures += 1
        if self.limit and self.failures >= self.limit:
            err.args = ("{} (gave up after {} failed attempt{}; --reconnect-attempts)".format(
                err, self.failures, "" if self.failures == 1 else "s"),)
            raise err
        delay = backoff_delay(self.failures, self.backoff.initial, self.backoff.factor, self.backoff.max_delay,
                              self.backoff.jitter)
        self._echo("cannot open {} (attempt {}{}): {}; retrying in {:.1f} s. Hint: {}".format(
            self.uri, self.failures, " of {}".format(self.limit) if self.limit else "", err, delay,
            reopen_hint(self.uri)))
        self._sleep(delay)

    def _ended_empty(self) -> EdgeError:
        what = "{} ended without a frame".format(self._described)
        return HardwareError(what) if self.kind in CAMERAS else InputError(what)

    def _sleep(self, seconds: float) -> None:
        """Wait in slices, feeding ``tick`` (the watchdog: the process is alive, retrying on schedule)."""
        end = time.monotonic() + seconds
        while not self.stop.is_set():
            self._tick()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, 1.0))
        raise RetryStopped("stopped while waiting for the source")

    def _close_inner(self) -> None:
        if self.inner is not None:
            self._past = [self._past[0] + self.inner.corrupt, self._past[1] + self.inner.dropped]
            inner, self.inner = self.inner, None
            self._described = inner.describe()
            try:
                inner.close()
            except Exception as e:  # a dying camera may fail to close; reopening matters more
                self._echo("closing the failed source: {}".format(e))
            del inner
            gc.collect()  # finalize the old pipeline now (its bus sockets, buffers), not at some later GC

    def describe(self) -> str:
        return self.inner.describe() if self.inner is not None else self._described

    def close(self) -> None:
        self._close_inner()
