"""The pixel stamp of the latency bench (edge.bench.stamp): a counter and a time that survive lossy coding,
and a damaged read that is rejected rather than mistaken for another frame."""
import cv2
import numpy as np
import pytest

from edge.bench.stamp import CELL, age_ms, read_stamp, rtsp_reader_pipeline, stamp, stamp_size


def scene(h=240, w=320, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("counter, t_ms", [(0, 0), (1, 123456), (2 ** 32 - 1, 2 ** 32 - 1), (77, 1712345678901)])
def test_round_trip_bgr_and_grey(counter, t_ms):
    img = stamp(scene(), counter, t_ms)
    assert read_stamp(img) == (counter, t_ms & 0xFFFFFFFF)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert read_stamp(grey) == (counter, t_ms & 0xFFFFFFFF)


def test_survives_jpeg_and_blur():
    img = stamp(scene(seed=3), 4242, 987654321)
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 30])
    lossy = cv2.GaussianBlur(cv2.imdecode(data, cv2.IMREAD_COLOR), (3, 3), 0)
    assert read_stamp(lossy) == (4242, 987654321)


def test_scaled_image_reads_with_scaled_cell():
    img = stamp(scene(480, 640), 9, 99, cell=16)
    half = cv2.resize(img, (320, 240), interpolation=cv2.INTER_AREA)
    assert read_stamp(half, cell=8) == (9, 99)


def test_a_flipped_cell_is_rejected():
    img = stamp(scene(), 5, 6)
    w, h = stamp_size()
    y, x = CELL // 2, 3 * CELL + CELL // 2  # the 4th bit of the counter
    img[y - CELL // 2:y + CELL // 2, x - CELL // 2:x + CELL // 2] ^= 255
    assert read_stamp(img) is None
    assert read_stamp(scene()) is None  # no stamp at all (noise): the check fails


def test_too_small():
    w, h = stamp_size()
    with pytest.raises(ValueError, match="at least"):
        stamp(np.zeros((h - 1, w, 3), np.uint8), 1, 1)
    assert read_stamp(np.zeros((h, w - 1), np.uint8)) is None


@pytest.mark.parametrize("t_ms, now, age", [(1000, 1150, 150), (2 ** 32 - 10, 2 ** 32 + 5, 15),
                                           ((2 ** 40 + 7) & 0xFFFFFFFF, 2 ** 40 + 107, 100), (500, 400, -100)])
def test_age_undoes_the_32_bit_wrap(t_ms, now, age):
    assert age_ms(t_ms, now) == age


def test_reader_pipeline():
    text = rtsp_reader_pipeline("rtsp://127.0.0.1:8554/live")
    assert text.startswith("rtspsrc location=rtsp://127.0.0.1:8554/live protocols=tcp latency=0 ! rtph264depay")
    assert "user-id" not in text and text.endswith("emit-signals=false") and "appsink name=sink" in text
    login = rtsp_reader_pipeline("rtsp://h:1/x", "edge", "a b\"c", drop=False, max_buffers=8)
    assert 'user-id=edge user-pw="a b\\"c"' in login and "drop=0 max-buffers=8" in login
