"""Capture in its own thread, so a slow stage never stalls the camera.

The thread keeps one slot. A live source (camera) overwrites a frame nobody took yet and counts it as
dropped — the consumer always gets the newest frame. A file source waits instead: every frame is kept.
"""
import threading
import time

from edge.sources.base import Source, no_frame_error


class ThreadedSource(Source):
    def __init__(self, inner: Source, drop=None, read_timeout: float = 5.0):
        super().__init__(inner.uri)
        self.inner = inner
        self.name = inner.name
        self.live = inner.live
        self.drop = inner.live if drop is None else drop
        self._read_timeout = read_timeout
        self._cond = threading.Condition()
        self._slot = None   # a Frame, or an exception to re-raise in the consumer
        self._stop = False
        self._dropped = 0
        self._delivered = 0  # items handed to the consumer
        self._thread = threading.Thread(target=self._run, name="edge-capture", daemon=True)
        self._thread.start()

    @property
    def dropped(self):
        return self._dropped + self.inner.dropped

    @dropped.setter
    def dropped(self, value):
        pass  # Source.__init__ sets it; the counts live in _dropped and the inner source

    @property
    def corrupt(self):
        return self.inner.corrupt

    @corrupt.setter
    def corrupt(self, value):
        pass

    def _run(self):
        while True:
            try:
                item = self.inner.read(self._read_timeout)
            except BaseException as e:  # handed to the consumer, who raises it
                item = e
            with self._cond:
                while not self.drop and self._slot is not None and not self._stop:
                    self._cond.wait(0.1)
                if self._stop:
                    return
                if self._slot is not None and not isinstance(self._slot, BaseException):
                    self._dropped += 1
                self._slot = item
                self._cond.notify_all()
            if isinstance(item, BaseException):
                return

    def read(self, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._slot is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise no_frame_error(self.inner.describe(), getattr(self.inner, "kind", ""), timeout,
                                         self._delivered == 0)
                self._cond.wait(left)
            item, self._slot = self._slot, None
            self._delivered += 1
            self._cond.notify_all()
        if isinstance(item, BaseException):
            self._slot = item  # every later read ends the same way
            raise item
        return item

    def describe(self):
        return self.inner.describe()

    def close(self):
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        interrupt = getattr(self.inner, "interrupt", None)
        if interrupt is not None:  # a read waiting on a stalled camera returns now, not after its timeout
            interrupt()
        self._thread.join(timeout=self._read_timeout + 1.0)
        self._slot = None  # a stored exception's traceback points back here: break the cycle
        self.inner.close()
