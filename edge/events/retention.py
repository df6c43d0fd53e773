"""What the clip recorder keeps on disk: retention by size and age, oldest first, and a free-space floor.

    stale = to_delete(list_recordings(folder), now=time.time(), max_bytes=5e9, max_age_s=7 * 86400)
    stopped = below_floor(free_bytes(folder), floor_bytes=1e9, stopped=stopped)   # hysteresis: RESUME_FACTOR

Only files the recorder names (``recording_name``: ``20261201-233200-123-person-7.mp4`` and its ``.jpg``) are
listed, so nothing else in the folder is ever deleted.
"""
import os
import re
import time
from typing import Iterable, List, NamedTuple, Optional

RECORDING = re.compile(r"^\d{8}-\d{6}-\d{3}-[a-z_]+-\d+\.(mp4|jpg)$")
RESUME_FACTOR = 1.1  # stopped at the floor, recording resumes at 1.1 × the floor (no flapping at the edge)


class Stored(NamedTuple):
    path: str
    size: int     # bytes
    mtime: float  # unix time


def recording_name(t: float, kind: str, track_id: int, suffix: str) -> str:
    """``YYYYmmdd-HHMMSS-mmm-KIND-TRACK.SUFFIX`` in local time: sorts by time, and ``RECORDING`` matches it."""
    kind = re.sub(r"[^a-z_]", "_", str(kind).lower()) or "event"
    return "{}-{:03d}-{}-{:d}{}".format(time.strftime("%Y%m%d-%H%M%S", time.localtime(t)), int(t % 1 * 1000),
                                        kind, max(0, int(track_id)), suffix)


def to_delete(files: Iterable[Stored], now: float, max_bytes: float, max_age_s: float) -> List[str]:
    """Paths to delete, oldest first: every file older than ``max_age_s``, then the oldest of the rest until
    they total ≤ ``max_bytes`` (0 = no limit for either)."""
    delete, kept = [], []
    for f in sorted(files, key=lambda f: (f.mtime, f.path)):
        (delete if max_age_s and now - f.mtime > max_age_s else kept).append(f)
    total = sum(f.size for f in kept)
    for f in kept:
        if not max_bytes or total <= max_bytes:
            break
        delete.append(f)
        total -= f.size
    return [f.path for f in delete]


def below_floor(free: float, floor_bytes: float, stopped: bool) -> bool:
    """Whether recording is stopped: at less than ``floor_bytes`` free it stops; stopped, it resumes at
    ``RESUME_FACTOR`` × the floor (a floor of 0: never stopped)."""
    if floor_bytes <= 0:
        return False
    return free < floor_bytes * (RESUME_FACTOR if stopped else 1.0)


def list_recordings(folder: str) -> List[Stored]:
    """The recorder's files in ``folder`` (``RECORDING``), each with its size and mtime."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for e in entries:
        if RECORDING.match(e.name) and e.is_file(follow_symlinks=False):
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:  # deleted meanwhile
                continue
            out.append(Stored(e.path, st.st_size, st.st_mtime))
    return out


def stale_temporaries(folder: str) -> List[str]:
    """The recorder's unfinished files in ``folder`` (``.tmp-`` + a recording's name): a run that was killed
    while writing a clip leaves one."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.startswith(".tmp-") and RECORDING.match(n[5:])]


def free_bytes(folder: str) -> int:
    """Bytes an unprivileged writer may still use on the file system under ``folder``."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def apply_retention(folder: str, max_bytes: float, max_age_s: float, now: Optional[float] = None) -> List[str]:
    """Delete what ``to_delete`` names in ``folder``; the paths deleted."""
    gone = []
    for path in to_delete(list_recordings(folder), time.time() if now is None else now, max_bytes, max_age_s):
        try:
            os.remove(path)
            gone.append(path)
        except FileNotFoundError:
            pass
    return gone
