"""A text file that rotates by size and keeps N old files: ``frames.jsonl`` → ``frames.jsonl.1`` … ``.N``.

    f = RotatingFile("/var/log/edge/frames.jsonl", max_bytes=50 * 2**20, keep=5)
    f.write(json.dumps(record) + "\\n")     # unbuffered: a line written is on disk, even after a crash
    f.close()

An existing file is appended to (a restart keeps the previous run's lines); a half line that a crash left
at its end is ended first, so the next line starts on a line of its own. A write that fails (a full disk,
/dev/full) raises OSError and leaves the file as it was before that write: only whole lines, never a half
one. The folder is made if missing. Rotation happens only between writes, so a line is never split across
two files. ``max_bytes=0`` never rotates. ``.1`` is the newest old file; the oldest beyond ``keep`` is
deleted.
"""
import os
import stat


class RotatingFile:
    def __init__(self, path: str, max_bytes: int = 0, keep: int = 5):
        if keep < 0 or max_bytes < 0:
            raise ValueError("expected max_bytes ≥ 0 and keep ≥ 0, found {} and {}".format(max_bytes, keep))
        self.path, self.max_bytes, self.keep = path, int(max_bytes), int(keep)
        self.rotations = 0
        self._open()

    def _open(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        info = os.fstat(self._fd)
        self._size = info.st_size if stat.S_ISREG(info.st_mode) else 0
        if self._size and _last_byte(self.path) != b"\n":
            self._write(b"\n")  # end the half line a crash left

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        if self.max_bytes and self._size and self._size + len(data) > self.max_bytes:
            self.rotate()
        self._write(data)

    def _write(self, data: bytes) -> None:
        """All of ``data`` or, when a write fails, nothing (what a short write left is cut off again)."""
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError:
            if done:
                try:
                    os.ftruncate(self._fd, self._size)
                except OSError:  # a device (/dev/full) cannot be truncated, nor holds anything
                    pass
            raise
        self._size += done

    def rotate(self) -> None:
        """Close the current file, shift ``.i`` → ``.i+1`` (dropping the oldest), start a new one."""
        self.close()
        for i in range(self.keep, 0, -1):
            older = "{}.{}".format(self.path, i)
            if os.path.exists(older):
                if i == self.keep:
                    os.remove(older)
                else:
                    os.replace(older, "{}.{}".format(self.path, i + 1))
        if self.keep:
            os.replace(self.path, self.path + ".1")
        else:
            os.remove(self.path)  # nothing old kept: start afresh (the new file would append to it)
        self.rotations += 1
        self._open()

    def flush(self) -> None:
        """Nothing to do: every write goes straight to the file."""

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd is None


def _last_byte(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1)
    except OSError:  # a log this process may append to but not read: leave it as it is
        return b"\n"
