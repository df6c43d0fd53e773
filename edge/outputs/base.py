"""What every ``--output`` shares: the parsed URI (``OutputSpec``) and the pacing of a video output.

    spec = parse_output("rtsp://@:8554/live")          # edge.outputs.uri → OutputSpec(kind="rtsp", …)
    pacer = Pacer(opts.fps, opts.size)                  # --output-fps / --output-size
    bgr = pacer.take(view, t_capture)                   # None: drop this frame (over the rate)
"""
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np


class OutputSpec(NamedTuple):
    kind: str              # rtsp | rtp | video | images | display
    uri: str               # as the user wrote it (for messages)
    host: str = ""         # rtsp/rtp: the address ("127.0.0.1" for rtsp://@)
    port: int = 0          # rtsp/rtp
    path: str = ""         # rtsp: the mount ("/live"); video/images: the file path or pattern; display: ":0"
    params: Dict[str, str] = {}  # the query (?key=value), for options a URI carries


def sample_due(t: float, next_t: Optional[float], fps: float) -> Tuple[bool, Optional[float]]:
    """(keep the frame captured at ``t``?, the next due time): frames at ``fps`` a second from a faster source
    (1 ms early still counts: float error of ``t = i / fps``); after a gap the schedule restarts at the frame.
    Pure, so the outputs' Pacer and the clip recorder's ring share one rule."""
    step = 1.0 / fps
    if next_t is not None and t < next_t - 1e-3:
        return False, next_t
    if next_t is None or t - next_t > step:
        return True, t + step
    return True, next_t + step


class Pacer:
    """Frames at most ``fps`` per second of capture time (0: all), scaled to ``size`` (W, H; (): as they are)."""

    def __init__(self, fps: float = 0.0, size: Tuple[int, ...] = ()):
        self.fps, self.size = float(fps or 0.0), tuple(size or ())
        self._next = None  # type: Optional[float]

    def due(self, t: float) -> bool:
        """Whether the frame captured at ``t`` (seconds) is one to send."""
        if not self.fps:
            return True
        keep, self._next = sample_due(t, self._next, self.fps)
        return keep

    def take(self, view: np.ndarray, t: float) -> Optional[np.ndarray]:
        """``view`` scaled to ``frame_size`` when due at ``t``, else None."""
        if not self.due(t):
            return None
        size = self.frame_size(view.shape[1], view.shape[0])
        if size != (view.shape[1], view.shape[0]):
            import cv2

            return cv2.resize(view, size, interpolation=cv2.INTER_AREA)
        return view

    def frame_size(self, width: int, height: int) -> Tuple[int, int]:
        """The (W, H) a frame of ``width``×``height`` leaves with (H.264 wants even sides)."""
        w, h = self.size or (width, height)
        return w - w % 2, h - h % 2
