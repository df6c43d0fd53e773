"""edge doctor's output lines: which H.264 encoder the video outputs will use (the Orin Nano has none in
hardware: a software one), and whether gst-rtsp-server's typelib is there for --output rtsp://."""
import json

import pytest

from edge.doctor import checks as d

NANO = {"jetson": True, "jetson_model": "NVIDIA Jetson Nano Developer Kit",
        "h264_encoders": ["nvv4l2h264enc", "x264enc"], "rtsp_server": True}
ORIN = {"jetson": True, "jetson_model": "NVIDIA Jetson Orin Nano Developer Kit",
        "h264_encoders": ["nvv4l2h264enc", "x264enc"], "rtsp_server": True}  # its GStreamer lists nvv4l2h264enc
LAPTOP = {"jetson": False, "h264_encoders": ["x264enc", "openh264enc"], "rtsp_server": False}


def _with(base, **kw):
    f = dict(base)
    f.update(kw)
    return f


@pytest.mark.parametrize("facts, level, found, fix", [
    (NANO, d.OK, "video outputs use nvv4l2h264enc (hardware)", ""),
    (ORIN, d.OK, "video outputs use x264enc (software) (the NVIDIA Jetson Orin Nano Developer Kit has no hardware "
                 "encoder)", ""),
    (_with(ORIN, h264_encoders=["nvv4l2h264enc"]), d.WARN, "none in GStreamer", "gstreamer1.0-plugins-ugly"),
    (_with(NANO, h264_encoders=["x264enc"]), d.WARN, "x264enc (software): the hardware encoder nvv4l2h264enc is "
                                                     "missing", "nvidia-l4t-gstreamer"),
    (LAPTOP, d.OK, "video outputs use x264enc (software)", ""),
    (_with(LAPTOP, h264_encoders=["openh264enc"]), d.OK, "openh264enc (software)", ""),
    (_with(LAPTOP, h264_encoders=[]), d.WARN, "fall back to OpenCV's MPEG-4", "sudo apt-get install "
                                                                              "gstreamer1.0-plugins-ugly"),
    ({"jetson": False, "gst_error": "ImportError: gi"}, d.SKIP, "GStreamer not probed", ""),
])
def test_h264_encoder_check(facts, level, found, fix):
    c = d.check_h264_encoder(facts)
    assert (c.name, c.level) == ("h264 encoder", level) and found in c.found and fix in c.fix, c


@pytest.mark.parametrize("facts, level, words", [
    (NANO, d.OK, "GstRtspServer 1.0 typelib present"),
    (LAPTOP, d.WARN, "gir1.2-gst-rtsp-server-1.0"),
    ({"gst_error": "ImportError: gi"}, d.SKIP, "not probed"),
])
def test_rtsp_server_check(facts, level, words):
    c = d.check_rtsp_server(facts)
    assert c.level == level and words in c.found + c.fix


def test_doctor_on_this_machine_names_the_encoder(cli):
    from edge.outputs.encoders import available_encoders, choose_encoder
    from edge.sources import gst

    out = json.loads(cli(["doctor", "--json"]).output)
    checks = {c["name"]: c for c in out["checks"]}
    assert "h264 encoder" in checks and "rtsp server" in checks
    if gst.available():
        name = choose_encoder(available_encoders())
        assert (name or "none in GStreamer") in checks["h264 encoder"]["found"]
        assert isinstance(out["facts"]["rtsp_server"], bool)
