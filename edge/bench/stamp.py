"""A frame counter and a time written into the pixels, read back after H.264 and the network.

    stamp(bgr, counter=12, t_ms=now_ms())     # a block code in the top-left corner, in place
    read_stamp(decoded)                       # → (12, t_ms), or None where the code did not survive

The code is ``BITS`` black or white cells of ``cell`` pixels (default 16: big enough that a 4 Mbit/s
H.264 stream keeps them), in ``COLS`` columns: a 32-bit counter, the low 32 bits of the time in ms, and a
16-bit CRC of both so a damaged read is rejected, not mistaken for another frame. Each cell is read from its
inner half (H.264 smears the edges) and thresholded at mid-grey. ``rtsp_reader`` is the real client the
latency bench and the RTSP tests read with: GStreamer's ``rtspsrc`` over TCP, no jitter buffer.
"""
import struct
import time
import zlib
from typing import Optional, Tuple

import numpy as np

COLS = 20
BITS = 80  # 32 counter + 32 time + 16 check
CELL = 16


def now_ms() -> int:
    """Wall-clock time in ms, as stamped (the low 32 bits are kept: ``age_ms`` undoes the wrap)."""
    return int(time.time() * 1000)


def _bits(counter: int, t_ms: int) -> np.ndarray:
    payload = struct.pack(">II", counter & 0xFFFFFFFF, t_ms & 0xFFFFFFFF)
    check = zlib.crc32(payload) & 0xFFFF
    return np.unpackbits(np.frombuffer(payload + struct.pack(">H", check), np.uint8))


def stamp_size(cell: int = CELL) -> Tuple[int, int]:
    """(width, height) in pixels of the code."""
    return COLS * cell, (BITS // COLS) * cell


def stamp(image: np.ndarray, counter: int, t_ms: int, cell: int = CELL) -> np.ndarray:
    """Write the code of (``counter``, ``t_ms``) into the top-left corner of ``image`` (BGR or grey), in
    place; returns ``image``."""
    rows = BITS // COLS
    cells = (_bits(counter, t_ms).reshape(rows, COLS) * 255).astype(np.uint8)
    block = np.kron(cells, np.ones((cell, cell), np.uint8))
    w, h = stamp_size(cell)
    if image.shape[0] < h or image.shape[1] < w:
        raise ValueError("expected an image of at least {}x{} for the stamp, found {}x{}".format(
            w, h, image.shape[1], image.shape[0]))
    if image.ndim == 3:
        image[:h, :w] = block[:, :, None]
    else:
        image[:h, :w] = block
    return image


def read_stamp(image: np.ndarray, cell: int = CELL) -> Optional[Tuple[int, int]]:
    """(counter, t_ms) from a stamped image (BGR or grey, same scale), or None when the check fails."""
    rows = BITS // COLS
    w, h = stamp_size(cell)
    if image.shape[0] < h or image.shape[1] < w:
        return None
    grey = image[:h, :w].astype(np.float32)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    q = cell // 4
    inner = grey.reshape(rows, cell, COLS, cell)[:, q:cell - q, :, q:cell - q]
    bits = (inner.mean(axis=(1, 3)) > 127.5).astype(np.uint8).reshape(-1)
    data = np.packbits(bits).tobytes()
    counter, t_ms = struct.unpack(">II", data[:8])
    if struct.unpack(">H", data[8:10])[0] != zlib.crc32(data[:8]) & 0xFFFF:
        return None
    return counter, t_ms


def age_ms(t_ms: int, now: Optional[int] = None) -> int:
    """Milliseconds from the stamped ``t_ms`` (low 32 bits) to ``now`` (default: the clock now)."""
    d = ((now_ms() if now is None else now) - t_ms) & 0xFFFFFFFF
    return d if d < 0x80000000 else d - 0x100000000


def rtsp_reader_pipeline(url: str, user: str = "", password: str = "", drop: bool = True,
                         max_buffers: int = 1) -> str:
    """A real RTSP client as ``gst_parse_launch`` text ending in ``appsink name=sink`` (BGR): ``rtspsrc``
    over TCP (interleaved: UDP delivered nothing in the sandbox this was built in), ``latency=0``."""
    from edge.sources.pipelines import appsink, quote

    login = " user-id={} user-pw={}".format(quote(user), quote(password)) if user else ""
    return ("rtspsrc location={} protocols=tcp latency=0{} ! rtph264depay ! h264parse ! avdec_h264 ! {}".format(
        quote(url), login, appsink(drop=drop, max_buffers=max_buffers)))


def rtsp_reader(url: str, user: str = "", password: str = "", drop: bool = True, max_buffers: int = 1,
                start_timeout: float = 10.0):
    """An ``edge.sources.gst.GstSource`` reading ``url`` through ``rtsp_reader_pipeline``."""
    from edge.sources.gst import GstSource

    return GstSource(url, rtsp_reader_pipeline(url, user, password, drop, max_buffers), kind="rtsp",
                     start_timeout=start_timeout)
