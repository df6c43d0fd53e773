"""sd_notify over a real NOTIFY_SOCKET datagram socket, as systemd would receive it."""
import os
import socket
import threading
import time

import pytest

from edge.service.sdnotify import Notifier, socket_address, watchdog_interval


@pytest.mark.parametrize("value,expected", [
    ("/run/systemd/notify", "/run/systemd/notify"), ("@edge-notify", "\0edge-notify"),
    ("", None), ("relative/path", None),
])
def test_socket_address(value, expected):
    assert socket_address(value) == expected


@pytest.mark.parametrize("env,expected", [
    ({"WATCHDOG_USEC": "30000000"}, 30.0), ({"WATCHDOG_USEC": "0"}, None), ({}, None),
    ({"WATCHDOG_USEC": "x"}, None), ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}, 2.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "43"}, None),
])
def test_watchdog_interval(env, expected):
    assert watchdog_interval(env, pid=42) == expected


def test_does_nothing_without_systemd():
    n = Notifier(env={"WATCHDOG_USEC": "1000000"})
    assert not n.enabled and n.interval is None
    assert n.ready() is False and n.watchdog() is False and n.status("x") is False and n.sent == 0


def test_messages_arrive(notify_socket):
    path, receive = notify_socket
    n = Notifier(env={"NOTIFY_SOCKET": path})
    assert n.ready("first frame\nin") and n.status("12.5 fps") and n.extend_timeout(90) and n.stopping()
    msgs = [m for _, m in receive()]
    assert msgs == ["READY=1\nMAINPID={}\nSTATUS=first frame in".format(os.getpid()), "STATUS=12.5 fps",
                    "EXTEND_TIMEOUT_USEC=90000000", "STOPPING=1"]
    assert n.watchdog() is False  # no WATCHDOG_USEC: the watchdog is off


def test_abstract_namespace_socket():
    name = "edge-test-{}".format(os.getpid())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(2)
    try:
        assert Notifier(env={"NOTIFY_SOCKET": "@" + name}).ready()
        assert s.recv(4096).startswith(b"READY=1")
    finally:
        s.close()


def test_vanished_socket_is_reported_not_raised(tmp_path):
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone"), "WATCHDOG_USEC": "1000"})
    assert n.watchdog() is False and "sd_notify to" in n.last_error


def test_watchdog_is_paced_at_half_the_interval(notify_socket):
    path, receive = notify_socket
    n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    sent = [n.watchdog(now=100 + i / 10) for i in range(31)]  # 3 s of a 10 fps loop, given times
    assert [i for i, s in enumerate(sent) if s] == [0, 5, 10, 15, 20, 25, 30]
    assert [m for _, m in receive()] == ["WATCHDOG=1"] * 7


def test_watchdog_stops_being_fed_when_the_loop_stalls(notify_socket):
    """A frame loop runs 0.6 s, stalls 0.8 s (watchdog 0.3 s), runs again: no ping during the stall.

    The loop marks its phases with STATUS= messages on the same socket, so the datagrams' order
    (not a busy machine's timing) shows what was sent when.
    """
    path, receive = notify_socket
    n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "300000"})
    sent_at = []

    def loop():
        for phase, seconds in (("run1", 0.6), ("stall", 0.8), ("run2", 0.6)):
            n.status(phase)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if phase != "stall" and n.watchdog():
                    sent_at.append((phase, time.monotonic()))
                time.sleep(0.01)  # a 100 fps frame loop (or a stuck one)

    th = threading.Thread(target=loop)
    th.start()
    th.join()
    msgs = [m for _, m in receive()]
    assert set(msgs) == {"STATUS=run1", "STATUS=stall", "STATUS=run2", "WATCHDOG=1"}
    i1, i2 = msgs.index("STATUS=stall"), msgs.index("STATUS=run2")
    assert msgs[i1 + 1:i2] == [], "watchdog fed while the loop was stalled"
    assert msgs[1:i1].count("WATCHDOG=1") >= 3 and msgs[i2 + 1:].count("WATCHDOG=1") >= 3
    assert msgs[i2 + 1] == "WATCHDOG=1"  # fed again at once when the loop resumes
    run1 = [t for p, t in sent_at if p == "run1"]
    assert len(sent_at) == msgs.count("WATCHDOG=1")
    assert max(b - a for a, b in zip(run1, run1[1:])) < 0.3  # paced within the interval while running
