"""A text file that rotates by size and keeps N old files: ``frames.jsonl`` → ``frames.jsonl.1`` … ``.N``.

    f = RotatingFile("/var/log/edge/frames.jsonl", max_bytes=50 * 2**20, keep=5)
    f.write(json.dumps(record) + "\\n")     # line-buffered: a line written is on disk, even after a crash
    f.close()

Rotation happens only between writes, so a line is never split across two files. ``max_bytes=0``
never rotates. ``.1`` is the newest old file; the oldest beyond ``keep`` is deleted.
"""
import io
import os


class RotatingFile:
    def __init__(self, path: str, max_bytes: int = 0, keep: int = 5):
        if keep < 0 or max_bytes < 0:
            raise ValueError("expected max_bytes ≥ 0 and keep ≥ 0, found {} and {}".format(max_bytes, keep))
        self.path, self.max_bytes, self.keep = path, int(max_bytes), int(keep)
        self.rotations = 0
        self._open()

    def _open(self) -> None:
        self._fh = io.open(self.path, "w", encoding="utf-8", buffering=1)
        self._size = 0

    def write(self, text: str) -> None:
        n = len(text.encode("utf-8"))
        if self.max_bytes and self._size and self._size + n > self.max_bytes:
            self.rotate()
        self._fh.write(text)
        self._size += n

    def rotate(self) -> None:
        """Close the current file, shift ``.i`` → ``.i+1`` (dropping the oldest), start a new one."""
        self._fh.close()
        for i in range(self.keep, 0, -1):
            older = "{}.{}".format(self.path, i)
            if os.path.exists(older):
                if i == self.keep:
                    os.remove(older)
                else:
                    os.replace(older, "{}.{}".format(self.path, i + 1))
        if self.keep:
            os.replace(self.path, self.path + ".1")
        self.rotations += 1
        self._open()

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    @property
    def closed(self) -> bool:
        return self._fh.closed
