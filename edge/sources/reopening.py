"""A source opened again, with back-off, when it fails or ends: how ``edge run`` rides out a camera that
drops (see edge.service.daemon for which faults are ridden out and which end the run).

    src = ReopeningSource(lambda: open_source(uri), uri, source_kind(uri), loop, backoff, stop, echo).start(wait)
"""
import gc
import time
from typing import Any, Callable, Optional

from edge.errors import EdgeError, InputError
from edge.sources.backoff import RetryStopped, backoff_delay, reopen_hint, retry_open
from edge.sources.base import EndOfStream, Frame, Source

CAMERAS = ("csi", "usb", "rtsp")


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

    Frames are renumbered so indices keep counting across reopenings; ``corrupt``/``dropped`` add up.
    ``tick`` is called while waiting (feed the watchdog); ``on_reopen(reason)`` after each reconnect.
    """

    def __init__(self, open_fn: Callable[[], Source], uri: str, kind: str, loop: bool, backoff, stop,
                 echo: Callable[[str], None], tick: Callable[[], Any] = lambda: None,
                 on_reopen: Callable[[str], Any] = lambda reason: None):
        super().__init__(uri)
        self._open, self.kind, self.backoff, self.stop = open_fn, kind, backoff, stop
        self.reopen_on_error, self.reopen_at_end = reopen_policy(kind, loop)
        self.loop = loop
        self._echo, self._tick, self._on_reopen = echo, tick, on_reopen
        self.inner = None  # type: Optional[Source]
        self.reconnects = 0
        self._past = [0, 0]  # corrupt, dropped of closed sources
        self._since_open = 0
        self._empty_restarts = 0
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
        """Open the source; with ``wait`` keep retrying (back-off) instead of failing."""
        self.inner = self._retry() if wait else self._open()
        self.name = getattr(self.inner, "name", self.name)
        return self

    def read(self, timeout: float = 5.0) -> Frame:
        while True:
            try:
                frame = self.inner.read(timeout)
                self._since_open += 1
                out = frame._replace(index=self._index)
                self._index += 1
                return out
            except EndOfStream:
                if not self.reopen_at_end:
                    raise
                reason, count = "end of stream", not self.loop
            except EdgeError as e:
                if not self.reopen_on_error:
                    raise
                reason, count = str(e), True
            self._reopen(reason, count)

    def _reopen(self, reason: str, count: bool) -> None:
        if count:
            self._echo("source lost ({}); reopening {}".format(reason, self.uri))
        self._close_inner()  # may block while a hung element lets go: the watchdog is not fed meanwhile
        if self._since_open == 0:  # opened but gave nothing: do not spin, back off
            self._empty_restarts += 1
            self._sleep(backoff_delay(self._empty_restarts, self.backoff.initial, self.backoff.factor,
                                      self.backoff.max_delay))
        else:
            self._empty_restarts = 0
        self.inner = self._retry()
        self._since_open = 0
        if count:
            self.reconnects += 1
            self._on_reopen(reason)
            self._echo("source back: {}".format(self.inner.describe()))

    def _retry(self) -> Source:
        def on_retry(attempt, delay, err):
            self._echo("cannot open {} (attempt {}): {}; retrying in {:.1f} s. Hint: {}".format(
                self.uri, attempt, err, delay, reopen_hint(self.uri)))
        return retry_open(self._open, self.backoff, stop=self.stop, on_retry=on_retry, retry_on=(EdgeError,),
                          sleep=self._sleep)

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
