"""An on-disk event queue: what an event sink could not deliver yet survives a broker outage and a restart.

    q = DiskQueue("/var/lib/edge/queue/mqtt", max_events=10000, max_bytes=50 * 2**20)
    q.put({"type": "person", ...})          # appended as one JSON line, fsync'd, before put returns
    for seq, event in q.peek(20):            # the oldest undelivered, in order
        deliver(event)
        q.ack(seq)                           # delivered up to seq: never handed out again
    q.dropped                                # events dropped (oldest first) to stay within the bounds

Layout: segment files ``<first seq>.jsonl`` of ``{"seq": n, "event": {...}}`` lines, and ``state.json``
({"acked": last delivered seq, "dropped": count}) written atomically. A segment whose events are all delivered
is deleted. A line torn by a crash mid-write is skipped (once, with a warning). Thread-safe.
"""
import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from edge.config import setting
from edge.files import write_atomic

log = logging.getLogger("edge.events.queue")
STATE = "state.json"
SEGMENT_EVENTS = 1000  # events per segment file before a new one starts


@dataclass
class QueueOptions:
    """Where the event sinks keep what they have not delivered yet (one sub-folder per sink)."""

    folder: str = setting("", "--event-queue", "Folder for events not delivered yet (MQTT broker or webhook "
                                               "unreachable); they are sent in order when it is back, after a "
                                               "restart too. Default: $XDG_STATE_HOME/edge/queue "
                                               "(~/.local/state/edge/queue).")
    max_events: int = setting(10000, "--event-queue-max", "Most undelivered events kept per sink; past it the "
                                                          "oldest are dropped (and counted).")
    max_mb: float = setting(50.0, "--event-queue-max-mb", "Most MB of undelivered events kept per sink; past it "
                                                          "the oldest are dropped (and counted).")

    def __post_init__(self):
        from edge.config import check_fields

        check_fields(self, [(self.max_events >= 1, "max_events", "≥ 1"),
                            (0 < self.max_mb <= 2 ** 20, "max_mb", "0 < MB ≤ 1048576")], "event_queue.")

    def path(self, sink: str) -> str:
        """The folder of one sink's queue."""
        root = self.folder or os.path.join(os.environ.get("XDG_STATE_HOME") or
                                           os.path.expanduser("~/.local/state"), "edge", "queue")
        return os.path.join(root, sink)

    def open(self, sink: str) -> "DiskQueue":
        return DiskQueue(self.path(sink), self.max_events, int(self.max_mb * 2 ** 20))


def encode(seq: int, event: Dict[str, Any]) -> bytes:
    """One queue line (pure)."""
    return (json.dumps({"seq": seq, "event": event}, separators=(",", ":"), sort_keys=True) + "\n").encode()


def decode(line: bytes) -> Optional[Tuple[int, Dict[str, Any]]]:
    """(seq, event) of a queue line, or None for a torn or foreign one (pure)."""
    try:
        record = json.loads(line.decode("utf-8"))
        seq, event = record["seq"], record["event"]
    except (ValueError, KeyError, TypeError):
        return None
    if type(seq) is not int or not isinstance(event, dict):
        return None
    return seq, event


def over_bounds(count: int, size: int, max_events: int, max_bytes: int) -> bool:
    """The queue holds too much (pure): more events or bytes than allowed (one event is always kept)."""
    return count > 1 and (count > max_events or size > max_bytes)


class DiskQueue:
    """Events in order, on disk until acknowledged; the oldest dropped past ``max_events``/``max_bytes``."""

    def __init__(self, folder: str, max_events: int = 10000, max_bytes: int = 50 * 2 ** 20):
        self.folder, self.max_events, self.max_bytes = folder, max_events, max_bytes
        self._lock = threading.Lock()
        self._pending = deque()  # (seq, its line), oldest first
        self._bytes = 0
        os.makedirs(folder, exist_ok=True)
        state = self._read_state()
        self._acked, self.dropped = state.get("acked", 0), state.get("dropped", 0)
        self._next = self._acked + 1
        self._segment = None  # (first seq, open file) being appended to
        self._segment_count = 0
        self._load()

    # --- public ---------------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def put(self, event: Dict[str, Any]) -> int:
        """Append ``event`` (JSON-ready) durably; its sequence number. Drops the oldest past the bounds; an
        event that cannot be written (a full disk) is dropped, counted and said (0 returned)."""
        with self._lock:
            seq = self._next
            line = encode(seq, event)
            self._next += 1  # never reused, even by a failed write
            f, size = None, None
            try:
                f = self._writer(seq)
                size = f.tell()
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                if size is not None:
                    try:
                        f.truncate(size)  # no half-written line left for the next load
                    except OSError:
                        pass
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    log.warning("event queue %s: cannot write (%s): event dropped (%d so far)", self.folder, e,
                                self.dropped)
                self._close_segment()  # a torn line ends that segment: the next event starts a new one
                return 0
            self._segment_count += 1
            self._pending.append((seq, line))
            self._bytes += len(line)
            dropped = 0
            while over_bounds(len(self._pending), self._bytes, self.max_events, self.max_bytes):
                old_seq, old = self._pending.popleft()
                self._bytes -= len(old)
                self._acked = old_seq
                dropped += 1
            if dropped:
                if self.dropped == 0 or (self.dropped + dropped) // 1000 > self.dropped // 1000:
                    log.warning("event queue %s full: oldest events dropped (%d so far)", self.folder,
                                self.dropped + dropped)
                self.dropped += dropped
                self._save_state()
            return seq

    def peek(self, n: int = 1) -> List[Tuple[int, Dict[str, Any]]]:
        """The ``n`` oldest undelivered (seq, event), oldest first; they stay until ``ack``."""
        with self._lock:
            out = []
            for seq, line in list(self._pending)[:n]:
                out.append(decode(line))
            return out

    def ack(self, seq: int) -> None:
        """Everything up to ``seq`` is delivered: forget it (state saved, emptied segments deleted)."""
        with self._lock:
            if seq <= self._acked:
                return
            while self._pending and self._pending[0][0] <= seq:
                self._bytes -= len(self._pending.popleft()[1])
            self._acked = seq
            self._save_state()
            self._delete_delivered()

    def close(self) -> None:
        with self._lock:
            self._close_segment()

    def _close_segment(self) -> None:
        if self._segment is not None:
            try:
                self._segment[1].close()
            except OSError:
                pass
            self._segment = None

    # --- disk -----------------------------------------------------------------------------------------

    def _segments(self) -> List[Tuple[int, str]]:
        found = []
        for name in os.listdir(self.folder):
            stem, ext = os.path.splitext(name)
            if ext == ".jsonl" and stem.isdigit():
                found.append((int(stem), os.path.join(self.folder, name)))
        return sorted(found)

    def _read_state(self) -> Dict[str, int]:
        try:
            with open(os.path.join(self.folder, STATE)) as f:
                state = json.load(f)
            return {k: int(state[k]) for k in ("acked", "dropped")}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as e:
            log.warning("event queue %s: unreadable %s (%s): starting from its segments", self.folder, STATE, e)
            return {}

    def _save_state(self) -> None:
        write_atomic(os.path.join(self.folder, STATE), json.dumps({"acked": self._acked, "dropped": self.dropped}))

    def _load(self) -> None:
        torn = 0
        for _, path in self._segments():
            with open(path, "rb") as f:
                for line in f:
                    record = decode(line)
                    if record is None:
                        torn += 1
                        continue
                    seq = record[0]
                    self._next = max(self._next, seq + 1)
                    if seq > self._acked:
                        line = line if line.endswith(b"\n") else line + b"\n"
                        self._pending.append((seq, line))
                        self._bytes += len(line)
        if torn:
            log.warning("event queue %s: %d torn line(s) skipped (a crash mid-write)", self.folder, torn)
        self._delete_delivered()

    def _writer(self, seq: int):
        if self._segment is None or self._segment_count >= SEGMENT_EVENTS:
            self._close_segment()
            path = os.path.join(self.folder, "{:012d}.jsonl".format(seq))
            self._segment = (seq, open(path, "ab"))
            self._segment_count = 0
        return self._segment[1]

    def _delete_delivered(self) -> None:
        """Delete the segments all of whose events are delivered (the one being written stays)."""
        segments = self._segments()
        current = self._segment[0] if self._segment is not None else None
        for (first, path), following in zip(segments, segments[1:] + [(self._next, None)]):
            if following[0] - 1 <= self._acked and first != current:
                os.remove(path)
