"""Images out (``--output out.jpg``, ``out_%04d.png``, ``--save out.jpg``): the annotated view, each file written
atomically, its suffix picking the format.

One file for an image input; for anything else (a folder, a video, a camera) one per frame: the frame's
number in place of a ``%0Nd`` pattern, or after the stem (``out.jpg`` → ``out_000000.jpg``, ``out_000001.jpg``).
A write that fails (a full disk) is one error line naming the file.
"""
import os
from typing import Callable, Optional

from edge.errors import EdgeError
from edge.files import write_atomic, write_failed
from edge.outputs import FrameClock
from edge.outputs.base import OutputSpec, Pacer
from edge.outputs.uri import frame_pattern, numbered_path
from edge.run.sinks import Sink


class ImageOutput(Sink):
    """The view as ``spec.path`` (``numbered``, or a pattern in the path: one file per frame), at most
    ``opts.fps`` frames a second of the source, scaled to ``opts.size``."""

    def __init__(self, spec: OutputSpec, opts=None, warn: Optional[Callable[[str], None]] = None,
                 token: Optional[str] = None, numbered: bool = False, flag: str = "--output", live: bool = False,
                 source_fps: float = 0.0):
        self.path, self.flag, self.live = spec.path, flag, live
        self.numbered = numbered or bool(frame_pattern(spec.path))
        self.pacer = Pacer(getattr(opts, "fps", 0.0), getattr(opts, "size", ()))
        self.source_fps = source_fps or 30.0
        self.clock = FrameClock(live, self.source_fps)
        self.written = 0

    def frame_path(self, index: int) -> str:
        return numbered_path(self.path, index, self.numbered)

    def write(self, frame, faces, view) -> bool:
        import cv2

        t = self.clock.time(frame)
        bgr = self.pacer.take(view, t)
        if bgr is None:
            return True
        path = self.frame_path(frame.index)
        ok, data = cv2.imencode(os.path.splitext(path)[1], bgr)
        if not ok:
            raise EdgeError("cannot encode the view as '{}' for {}".format(path, self.flag))
        try:
            write_atomic(path, data.tobytes())
        except OSError as e:
            raise write_failed(self.flag, path, e) from None
        self.written += 1
        return True

