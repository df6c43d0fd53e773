"""A video file out (``--output out.mp4`` / ``.mov`` / ``.mkv``, ``--save out.mp4``): H.264 a browser plays.

MP4/MOV through ``mp4mux``/``qtmux faststart=true`` (the index before the media data, so a browser plays it
while it loads), MKV through ``matroskamux``; the encoder is ``--encoder`` (auto: the best here,
``edge.outputs.encoders``), at ``--bitrate``. Without an H.264 encoder: OpenCV's MPEG-4 writer after one
warning naming the package.

The file is written under a temporary name beside it and moved into place on close only when whole
(``mp4_complete`` / ``mkv_complete``); a write that fails (a full disk) is one error line, and no temporary
file is left behind. Frames of a file source are timed by their number at the source's rate (a run faster or
slower than real time still gives a file of the source's duration); a camera's by their capture time.
"""
import os
import sys
import tempfile
from typing import Callable, Optional

from edge.errors import EdgeError
from edge.files import write_failed
from edge.outputs import FrameClock
from edge.outputs.base import OutputSpec, Pacer
from edge.outputs.options import OutputOptions
from edge.run.sinks import Sink

MUX_PACKAGE = "gstreamer1.0-plugins-good"  # mp4mux, qtmux, matroskamux
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
MKV_CUES = b"\x1c\x53\xbb\x6b"  # the seek index matroskamux writes at the end of a whole file
MKV_TAIL = 4 << 20  # bytes at the end of an MKV searched for it


class VideoOutput(Sink):
    """The annotated view as an H.264 video at ``spec.path``; ``encoder``: an element name or ``OPENCV``
    (default: ``resolve_encoder(opts.encoder)``); ``source_fps``/``live``: how frames are timed."""

    def __init__(self, spec: OutputSpec, opts: Optional[OutputOptions] = None,
                 warn: Optional[Callable[[str], None]] = None, token: Optional[str] = None,
                 encoder: Optional[str] = None, source_fps: float = 0.0, live: bool = False, flag: str = "--output"):
        from edge.outputs.encoders import resolve_encoder

        self.path, self.flag, self.live = spec.path, flag, live
        self.opts = opts or OutputOptions()
        self.suffix = os.path.splitext(self.path)[1].lower()
        self.pacer = Pacer(self.opts.fps, self.opts.size)
        self.source_fps = float(source_fps or 30.0)
        self.clock = FrameClock(live, self.source_fps)
        self.fps = float(self.opts.fps or self.source_fps)  # the file's nominal rate
        self._warn = warn or (lambda line: print("edge: warning: " + line, file=sys.stderr))
        self.encoder = encoder or resolve_encoder(self.opts.encoder, self._warn)
        self._check_muxer()
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=self.suffix)
        except OSError as e:
            raise write_failed(flag, self.path, e) from None
        os.close(fd)
        self._faststart = self._tmp + ".mdat"  # mp4mux's media data until the index is written first
        self._writer = None
        self._t0, self._last = 0.0, -1.0
        self.frames = 0

    def _check_muxer(self) -> None:
        from edge.outputs.encoders import MUXERS, OPENCV

        if self.encoder == OPENCV:
            return
        from edge.sources.gst import MissingElement, gst

        element = MUXERS[self.suffix].split()[0]
        if gst().ElementFactory.find(element) is None:
            raise MissingElement("the GStreamer element '{}' is missing for {} '{}'; install the apt package {} "
                                 "(`sudo apt-get install {}`)".format(element, self.flag, self.path, MUX_PACKAGE,
                                                                      MUX_PACKAGE))

    def write(self, frame, faces, view) -> bool:
        t = self.clock.time(frame)
        bgr = self.pacer.take(view, t)
        if bgr is None:
            return True
        try:
            if self._writer is None:
                self._writer = self._open(bgr.shape[1], bgr.shape[0])
                self._t0 = t
            if (bgr.shape[1], bgr.shape[0]) != self._writer.size:  # a camera reopened at another size
                import cv2

                bgr = cv2.resize(bgr, self._writer.size, interpolation=cv2.INTER_AREA)
            pts = max(t - self._t0, self._last + 1e-3)  # strictly increasing, whatever the clock did
            self._writer.write(bgr, pts)
            self._last = pts
            self.frames += 1
        except (EdgeError, OSError) as e:
            raise self._failed(e) from None
        return True

    def _open(self, width: int, height: int):
        from edge.outputs.encoders import MUXERS, open_writer

        return open_writer(self._tmp, width, height, self.fps, self.encoder, bitrate_kbps=self.opts.bitrate,
                           mux=MUXERS[self.suffix], faststart_file=self._faststart)

    def _failed(self, e: Exception) -> EdgeError:
        if isinstance(e, OSError):
            return write_failed(self.flag, self.path, e)
        return EdgeError("cannot write {} '{}': {}".format(self.flag, self.path, e))

    def close(self, keep: bool = True) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None and not keep:
                writer.abort()
            elif writer is not None:
                try:
                    writer.close()
                except EdgeError as e:
                    raise self._failed(e) from None
                if not self.complete(self._tmp):
                    raise EdgeError("cannot write {} '{}': the video came out incomplete ({} bytes; is the disk "
                                    "full?)".format(self.flag, self.path, os.path.getsize(self._tmp)))
                os.chmod(self._tmp, 0o644)
                os.replace(self._tmp, self.path)
        except OSError as e:
            raise write_failed(self.flag, self.path, e) from None
        finally:
            for path in (self._tmp, self._faststart):
                if os.path.exists(path):
                    os.remove(path)

    def complete(self, path: str) -> bool:
        return mkv_complete(path) if self.suffix == ".mkv" else mp4_complete(path)


def mp4_complete(path: str) -> bool:
    """The file is a whole ISO/QuickTime container: its top-level boxes (ASCII four-character types) tile it
    exactly and one is ``moov`` (the index, which a full disk cuts off)."""
    seen, size, at = set(), os.path.getsize(path), 0
    with open(path, "rb") as f:
        while at < size:
            f.seek(at)
            head = f.read(16)
            if len(head) < 8:
                return False
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:
                length = size - at
            if length < 8 or at + length > size or not all(32 <= c < 127 for c in kind):  # 4CCs are ASCII
                return False
            seen.add(kind)
            at += length
    return b"moov" in seen


def mkv_complete(path: str) -> bool:
    """The file is a Matroska file (EBML header) that was finished: its seek index (Cues), which the muxer
    writes last, is in its tail."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(4) != EBML_MAGIC:
            return False
        f.seek(max(0, size - MKV_TAIL))
        return MKV_CUES in f.read()
