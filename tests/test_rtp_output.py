"""--output rtp://HOST:PORT: a real GStreamer receiver decodes the frames; a destination nobody listens on, or one
that cannot be resolved, leaves the run finishing normally; the frame loop never waits for the encoder."""
import socket
import time

import numpy as np
import pytest
from test_encoders import have_encoders

from edge.outputs.base import OutputSpec
from edge.outputs.options import OutputOptions
from edge.outputs.rtp import RtpOutput, rtp_pipeline
from edge.sources.base import Frame

needs_h264 = pytest.mark.skipif(not have_encoders(), reason="no H.264 encoder in GStreamer here "
                                                            "(apt install gstreamer1.0-plugins-ugly)")
RECEIVER = ('udpsrc address=127.0.0.1 port={} caps="application/x-rtp, media=video, encoding-name=H264, payload=96, '
            'clock-rate=90000" ! rtph264depay ! avdec_h264 ! videoconvert ! video/x-raw, format=BGR ! '
            'appsink name=out sync=false max-buffers=1000 drop=false')


def udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cli, uri, frames=60, *args):
    return cli(["run", "--headless", "--model", "none", "--camera", "test://ball?frames={}".format(frames),
                "--width", "320", "--height", "240", "--output", uri] + list(args))


def test_rtp_pipeline_string():
    text = rtp_pipeline("10.0.0.5", 5004, "x264enc", 640, 480, 15, 800)
    assert text.startswith("appsrc name=src format=time is-live=true block=false max-bytes=")
    assert "format=BGR,width=640,height=480,framerate=15/1" in text and "x264enc" in text and "bitrate=800" in text
    assert text.endswith("! h264parse ! rtph264pay config-interval=1 pt=96 ! udpsink host=10.0.0.5 port=5004 "
                         "sync=false async=false")


@needs_h264
def test_a_receiver_decodes_the_stream(cli):
    from edge.sources.gst import gst

    Gst = gst()
    port = udp_port()
    receiver = Gst.parse_launch(RECEIVER.format(port))
    sink = receiver.get_by_name("out")
    receiver.set_state(Gst.State.PLAYING)
    try:
        r = run(cli, "rtp://127.0.0.1:{}".format(port), 60, "--output-fps", "15")
        assert r.exit_code == 0, r.output
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sample = sink.emit("try-pull-sample", int(0.5 * Gst.SECOND))
            if sample is None:
                break
            s = sample.get_caps().get_structure(0)
            buf = sample.get_buffer()
            got.append((s.get_value("width"), s.get_value("height"), buf.get_size()))
    finally:
        receiver.set_state(Gst.State.NULL)
    assert len(got) >= 10, (len(got), r.output)  # 30 sent (60 at 30 fps → 15 fps); a few may be dropped
    assert set(got) == {(320, 240, 320 * 240 * 3)}


@needs_h264
@pytest.mark.parametrize("uri", ["rtp://127.0.0.1:{port}", "rtp://no-such-host.invalid:{port}"])
def test_an_unreachable_destination_leaves_the_run_finishing(cli, uri):
    r = run(cli, uri.format(port=udp_port()), 90)
    assert r.exit_code == 0, r.output
    assert "90 frames in" in r.output
    assert "edge: error" not in r.output
    if "invalid" in uri:  # one warning at start, the count at the end: the run goes on
        warnings = [l for l in r.output.splitlines() if l.startswith("edge: warning: rtp://no-such-host")]
        assert len(warnings) == 2 and "cannot resolve 'no-such-host.invalid'" in warnings[0], r.output
        assert "90 of 90 frames dropped" in warnings[1]


@needs_h264
def test_the_frame_loop_never_waits_for_the_encoder():
    """720p noise pushed as fast as the loop can: each write returns at once, frames the encoder cannot
    take are dropped and counted."""
    out = RtpOutput(OutputSpec("rtp", "rtp://127.0.0.1:9", host="127.0.0.1", port=udp_port()), OutputOptions(),
                    warn=lambda line: None)
    noise = np.random.RandomState(0).randint(0, 255, (720, 1280, 3)).astype(np.uint8)
    slowest = 0.0
    try:
        for i in range(120):
            t = time.monotonic()
            assert out.write(Frame(i, noise, 0.0), None, noise)
            slowest = max(slowest, time.monotonic() - t)
    finally:
        out.close()
    assert out.dropped > 0 and out.sent > 0, (out.sent, out.dropped)
    assert slowest < 0.25, slowest  # a whole 720p encode takes longer than that on a loaded CI core


def test_rtp_without_an_h264_encoder_is_one_line(cli, monkeypatch):
    monkeypatch.setattr("edge.outputs.encoders.available_encoders", lambda: [])
    r = run(cli, "rtp://127.0.0.1:5000", 3)
    lines = r.output.strip().splitlines()
    assert r.exit_code == 4 and len(lines) == 1 and lines[0].startswith("edge: error: --output rtp:// needs an "
                                                                        "H.264 encoder"), r.output
    assert "gstreamer1.0-plugins-ugly" in lines[0]
