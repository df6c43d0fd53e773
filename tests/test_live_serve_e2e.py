"""`edge run --serve-size / --serve-fps` end to end (needs /tmp/work/docs/live_daemon.patch): the run loop's
annotated frames reach a stream viewer scaled to fit and paced."""
import threading
import time

import pytest

pytest.importorskip("prometheus_client")
cv2 = pytest.importorskip("cv2")
import numpy as np  # noqa: E402
from edge.run.config import RunConfig  # noqa: E402
from edge.service.serve import ServeConfig  # noqa: E402
from localnet import free_port  # noqa: E402
from test_live_page import read_stream  # noqa: E402


def test_edge_run_streams_at_serve_size_and_serve_fps():
    from edge.run.loop import run

    address = "127.0.0.1:{}".format(free_port())
    frames, errors, reader, ticks = [], [], [], []

    def on_frame(frame, faces):  # one viewer reads for 2.5 s from the first frame on
        ticks.append(time.monotonic())
        if not reader:
            reader.append(threading.Thread(target=read_stream, args=(
                "http://{}/stream.mjpg".format(address), 2.5, frames, errors)))
            reader[0].start()

    run(RunConfig(headless=True, summary_every=0, max_frames=60,
                  serve=ServeConfig(address=address, size=(320, 180), fps=3.0)), on_frame=on_frame)
    reader[0].join(10)
    assert len(frames) >= 4, errors  # (a run that ends first closes the stream: an error then is fine)
    shapes = {cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR).shape[:2] for _, j in frames}
    assert shapes == {(180, 320)}  # the 1280x720 sample video, scaled to fit 320x180
    times = [t for t, _ in frames][1:]  # the first is the latest picture, sent at once
    rate, loop_fps = (len(times) - 1) / (times[-1] - times[0]), (len(ticks) - 1) / (ticks[-1] - ticks[0])
    assert 0.6 * min(3.0, loop_fps) <= rate <= 3.6, "a viewer got {:.1f} frames/s with --serve-fps 3 and the " \
                                                    "loop at {:.1f} fps".format(rate, loop_fps)
