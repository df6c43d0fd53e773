"""What every frame source gives the run loop: frames with a capture time, and clear ends."""
import time
from typing import NamedTuple, Optional

import numpy as np

from edge.errors import EdgeError, InputError

MAX_CONSECUTIVE_BAD = 25  # undecodable camera frames in a row before the camera counts as broken


class Frame(NamedTuple):
    index: int           # 0, 1, 2, … in capture order (frames the source skipped are not numbered)
    image: np.ndarray    # BGR uint8 H×W×3
    t_capture: float     # time.time() when the frame left the capture element
    pts_ms: Optional[float] = None  # stream timestamp where the source has one


class EndOfStream(Exception):
    """The source has no more frames (end of file, last image, num-buffers reached)."""


class SourceTimeout(EdgeError):
    """No frame arrived within the timeout although the stream has not ended."""

    exit_code = 5


def no_frame_error(described: str, kind: str, timeout: float, first: bool) -> EdgeError:
    """No frame within ``timeout``: a video file that never gave its first frame is one that cannot be
    decoded (InputError, exit 3, whichever capture read it); anything else timed out (SourceTimeout, exit 5)."""
    if first and kind == "video":
        return InputError("expected a video file that can be decoded, found no frame in {} within {:.1f} s".format(
            described, timeout))
    return SourceTimeout("no frame from {} within {:.1f} s (the stream has not ended; is the camera still "
                         "connected?)".format(described, timeout))


class Source:
    """A frame source. ``read(timeout)`` returns the next Frame or raises EndOfStream / SourceTimeout /
    an EdgeError; ``corrupt`` counts frames skipped because they could not be decoded, ``dropped``
    frames discarded because the consumer was slower than the camera."""

    name = "base"
    live = False  # a camera keeps producing whether or not we read (so stale frames are dropped)

    def __init__(self, uri: str):
        self.uri = uri
        self.corrupt = 0
        self.dropped = 0
        self._index = 0

    def read(self, timeout: float = 5.0) -> Frame:
        raise NotImplementedError

    def describe(self) -> str:
        return "{} {}".format(self.name, self.uri)

    def close(self) -> None:
        pass

    def _frame(self, image: np.ndarray, pts_ms: Optional[float] = None) -> Frame:
        f = Frame(self._index, image, time.time(), pts_ms)
        self._index += 1
        return f

    def __iter__(self):
        while True:
            try:
                yield self.read()
            except EndOfStream:
                return

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def valid_image(img) -> bool:
    """A decodable BGR frame: a non-empty uint8 H×W×3 array."""
    return isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 \
        and img.size > 0
