"""Back-off schedule (pure) and retry_open against real files and a real video source."""
import random
import threading
import time

import pytest

from edge.sources.backoff import BackoffConfig, RetryStopped, backoff_delay, backoff_schedule, reopen_hint, retry_open


@pytest.mark.parametrize("attempt,kw,expected", [
    (1, {}, 0.5), (2, {}, 1.0), (3, {}, 2.0), (7, {}, 30.0), (10 ** 6, {}, 30.0),
    (1, {"initial": 1, "factor": 3, "max_delay": 20}, 1), (3, {"initial": 1, "factor": 3, "max_delay": 20}, 9),
    (4, {"initial": 1, "factor": 3, "max_delay": 20}, 20), (5, {"factor": 1.0}, 0.5),
])
def test_backoff_delay(attempt, kw, expected):
    assert backoff_delay(attempt, **kw) == pytest.approx(expected)


def test_jitter_stays_in_band_and_under_cap():
    rng = random.Random(0)
    d = [backoff_delay(3, jitter=0.25, rng=rng) for _ in range(500)]
    assert 1.5 <= min(d) < 1.6 and 2.4 < max(d) <= 2.5 and len(set(d)) > 100
    assert max(backoff_delay(20, jitter=0.5, rng=rng) for _ in range(100)) <= 30.0


def test_attempt_is_one_based():
    with pytest.raises(ValueError):
        backoff_delay(0)


def test_schedule_length():
    assert list(backoff_schedule(BackoffConfig(initial=1, attempts=4))) == [1, 2, 4]
    forever = backoff_schedule(BackoffConfig())
    assert [next(forever) for _ in range(8)][-1] == 30.0


def test_reopens_when_the_file_appears(tmp_path):
    """A file that appears only after a few attempts (created by another thread, as a camera node would)."""
    path = tmp_path / "video0"
    calls, retries = [], []

    def open_fn():
        calls.append(time.monotonic())
        return open(str(path), "rb")

    threading.Timer(0.25, path.write_bytes, args=(b"frame",)).start()
    f = retry_open(open_fn, BackoffConfig(initial=0.02, factor=2, max_delay=0.08),
                   on_retry=lambda n, d, e: retries.append((n, d, type(e).__name__)))
    assert f.read() == b"frame"
    f.close()
    assert len(calls) >= 3 and len(retries) == len(calls) - 1
    assert retries[:3] == [(1, 0.02, "FileNotFoundError"), (2, 0.04, "FileNotFoundError"),
                           (3, 0.08, "FileNotFoundError")]


def test_real_video_source_that_appears_late(tmp_path):
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    path = str(tmp_path / "late.avi")

    def open_capture():
        cap = cv2.VideoCapture(path)
        ok, frame = cap.read()
        if not ok:
            cap.release()
            raise OSError("cannot open {}".format(path))
        return cap, frame

    def write_video():
        w = cv2.VideoWriter(path + ".tmp.avi", cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
        for i in range(3):
            w.write(np.full((48, 64, 3), 80 * i, np.uint8))
        w.release()
        import os
        os.replace(path + ".tmp.avi", path)

    threading.Timer(0.2, write_video).start()
    cap, frame = retry_open(open_capture, BackoffConfig(initial=0.05, max_delay=0.1, attempts=40))
    assert frame.shape == (48, 64, 3)
    cap.release()


def test_gives_up_after_attempts_with_the_last_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        retry_open(lambda: open(str(tmp_path / "never")), BackoffConfig(initial=0.001, attempts=3))


def test_other_errors_are_not_retried():
    calls = []

    def boom():
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        retry_open(boom, BackoffConfig(initial=0.001), retry_on=(OSError,))
    assert calls == [1]


def test_stop_interrupts_the_wait(tmp_path):
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(RetryStopped):
        retry_open(lambda: open(str(tmp_path / "never")), BackoffConfig(initial=10), stop=stop)
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("source,part", [
    ("csi://0", "restart nvargus-daemon"), ("nvarguscamerasrc sensor-id=0 ! appsink", "nvargus-daemon"),
    ("rtsp://cam/stream", "reachable"), ("0", "v4l2-ctl"), ("/dev/video1", "v4l2-ctl"),
    ("clip.mp4", "exists and is readable"),
])
def test_reopen_hint(source, part):
    assert part in reopen_hint(source)
