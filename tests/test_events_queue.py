"""The on-disk event queue: order, durability across a restart (a crash too), bounds with a dropped count."""
import os
import subprocess
import sys

import pytest

from edge.errors import ConfigError
from edge.events.queue import DiskQueue, QueueOptions, decode, encode, over_bounds


@pytest.mark.parametrize("count,size,max_events,max_bytes,over", [
    (1, 10 ** 9, 10, 100, False),  # one event is always kept
    (10, 50, 10, 100, False),
    (11, 50, 10, 100, True),
    (2, 101, 10, 100, True),
    (2, 100, 10, 100, False),
])
def test_over_bounds(count, size, max_events, max_bytes, over):
    assert over_bounds(count, size, max_events, max_bytes) is over


@pytest.mark.parametrize("line,want", [
    (encode(7, {"a": 1}), (7, {"a": 1})),
    (encode(7, {"a": 1})[:-5], None),  # torn by a crash mid-write
    (b'{"seq": "7", "event": {}}\n', None),
    (b'{"seq": 7, "event": [1]}\n', None),
    (b'\xff\xfe\n', None),
    (b"[]\n", None),
])
def test_decode(line, want):
    assert decode(line) == want


def test_in_order_and_acked_once(tmp_path):
    q = DiskQueue(str(tmp_path))
    seqs = [q.put({"n": i}) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5] and len(q) == 5
    assert [e["n"] for _, e in q.peek(3)] == [0, 1, 2]
    q.ack(2)
    assert [(s, e["n"]) for s, e in q.peek(10)] == [(3, 2), (4, 3), (5, 4)]
    q.ack(1)  # older acks change nothing
    assert len(q) == 3
    q.ack(5)
    assert q.peek(10) == [] and len(q) == 0


def test_survives_a_restart_and_keeps_numbering(tmp_path):
    q = DiskQueue(str(tmp_path))
    for i in range(4):
        q.put({"n": i})
    q.ack(1)
    q.close()
    q2 = DiskQueue(str(tmp_path))
    assert [(s, e["n"]) for s, e in q2.peek(10)] == [(2, 1), (3, 2), (4, 3)]
    assert q2.put({"n": 4}) == 5
    q2.ack(5)
    q2.close()
    q3 = DiskQueue(str(tmp_path))
    assert len(q3) == 0 and q3.put({"n": 5}) == 6  # numbering never goes back (subscribers dedupe by seq)


def test_events_put_before_a_crash_are_there_after(tmp_path):
    code = ("import os, sys; from edge.events.queue import DiskQueue; q = DiskQueue(sys.argv[1]);"
            "[q.put({'n': i}) for i in range(3)]; q.ack(1); os._exit(9)")  # no close, no flush at exit
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env).returncode == 9
    with open(os.path.join(str(tmp_path), "000000000001.jsonl"), "ab") as f:
        f.write(b'{"seq": 4, "ev')  # and a line torn by the crash
    q = DiskQueue(str(tmp_path))
    assert [(s, e["n"]) for s, e in q.peek(10)] == [(2, 1), (3, 2)]
    assert q.put({"n": 3}) == 4


def test_oldest_dropped_past_the_bounds_with_a_count(tmp_path):
    q = DiskQueue(str(tmp_path), max_events=3)
    for i in range(5):
        q.put({"n": i})
    assert [e["n"] for _, e in q.peek(10)] == [2, 3, 4] and q.dropped == 2
    q.close()
    q = DiskQueue(str(tmp_path), max_events=3)
    assert [e["n"] for _, e in q.peek(10)] == [2, 3, 4] and q.dropped == 2  # the count is kept too
    big = DiskQueue(str(tmp_path / "bytes"), max_events=100, max_bytes=3 * len(encode(1, {"n": 0})))
    for i in range(6):
        big.put({"n": i})
    assert [e["n"] for _, e in big.peek(10)] == [3, 4, 5] and big.dropped == 3


def test_delivered_segments_are_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr("edge.events.queue.SEGMENT_EVENTS", 2)
    q = DiskQueue(str(tmp_path))
    for i in range(5):
        q.put({"n": i})
    assert sorted(n for n in os.listdir(str(tmp_path)) if n.endswith(".jsonl")) == [
        "000000000001.jsonl", "000000000003.jsonl", "000000000005.jsonl"]
    q.ack(3)
    assert sorted(n for n in os.listdir(str(tmp_path)) if n.endswith(".jsonl")) == [
        "000000000003.jsonl", "000000000005.jsonl"]
    q.ack(5)
    assert sorted(n for n in os.listdir(str(tmp_path)) if n.endswith(".jsonl")) == ["000000000005.jsonl"]


def test_options(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert QueueOptions().path("mqtt") == os.path.join(str(tmp_path), "edge", "queue", "mqtt")
    assert QueueOptions(folder="/q").path("webhook") == "/q/webhook"
    with pytest.raises(ConfigError, match="event_queue.max_events"):
        QueueOptions(max_events=0)


def test_a_full_disk_drops_the_event_with_a_count_and_the_queue_goes_on(tmp_path, monkeypatch, caplog):
    import errno

    q = DiskQueue(str(tmp_path))
    q.put({"n": 0})
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    assert q.put({"n": 1}) == 0 and q.put({"n": 2}) == 0
    assert q.dropped == 2 and caplog.text.count("No space left on device") == 1
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert q.put({"n": 3}) == 4  # the numbers of dropped events are not reused
    q.close()
    assert [(s, e["n"]) for s, e in DiskQueue(str(tmp_path)).peek(10)] == [(1, 0), (4, 3)]
