"""The H.264 encoder is chosen from the GStreamer elements there are; the MP4s it writes have their index
first (faststart) and hold every frame; without one, OpenCV's writer after one warning."""
import struct

import numpy as np
import pytest

from edge.outputs import encoders
from edge.outputs.encoders import (H264_ENCODERS, OPENCV, choose_encoder, encoder_chain, mp4_pipeline,
                                  open_writer)
from edge.sources import gst


@pytest.mark.parametrize("available, chosen", [
    ([], None),
    (["videoconvert", "mp4mux"], None),
    (["avenc_h264"], "avenc_h264"),
    (["avenc_h264", "openh264enc"], "openh264enc"),
    (["openh264enc", "x264enc", "avenc_h264"], "x264enc"),
    (["x264enc", "nvv4l2h264enc"], "nvv4l2h264enc"),  # the Jetson's hardware encoder first
    (iter(["openh264enc"]), "openh264enc"),
])
def test_choose_encoder_table(available, chosen):
    assert choose_encoder(available) == chosen


@pytest.mark.parametrize("name", H264_ENCODERS)
def test_encoder_chain_names_the_encoder_with_i420_and_a_key_frame_every_2s(name):
    chain = encoder_chain(name, fps=10, bitrate_kbps=1500)
    assert chain.startswith("video/x-raw, format=I420 ! ") and name in chain
    assert ("=20" in chain) and ("1500" in chain)  # GOP 2 s at 10 fps; bitrate (kbit/s or bit/s)


def test_encoder_chain_refuses_an_unknown_element():
    with pytest.raises(ValueError, match="x264enc"):
        encoder_chain("vp8enc", 10)


def test_mp4_pipeline_is_faststart_and_quotes_the_path():
    text = mp4_pipeline("/tmp/a b/c.mp4", "x264enc", 640, 480, 10)
    assert "appsrc name=src" in text and "format=BGR,width=640,height=480,framerate=10/1" in text
    assert "! h264parse ! mp4mux faststart=true ! filesink location=" in text and '"/tmp/a b/c.mp4"' in text


class _Factory:
    def __init__(self, names):
        self.names = set(names)

    def find(self, name):
        return object() if name in self.names else None


def _fake_gst(monkeypatch, names):
    fake = type("Gst", (), {"ElementFactory": _Factory(names)})
    monkeypatch.setattr(gst, "gst", lambda: fake)


def test_available_encoders_probes_the_element_factory(monkeypatch):
    _fake_gst(monkeypatch, encoders.MUX_ELEMENTS + ("openh264enc", "avenc_h264"))
    assert encoders.available_encoders() == ["openh264enc", "avenc_h264"]
    _fake_gst(monkeypatch, ("x264enc", "appsrc", "videoconvert", "mp4mux", "filesink"))  # no h264parse
    assert encoders.available_encoders() == []


def test_no_encoder_falls_back_to_opencv_with_one_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(encoders, "available_encoders", lambda: [])
    lines = []
    w = open_writer(str(tmp_path / "x.mp4"), 64, 48, 10, warn=lines.append)
    for i in range(5):
        w.write(np.full((48, 64, 3), i * 40, np.uint8), i / 10)
    w.close()
    assert w.encoder == encoders.OpenCVWriter.encoder and len(lines) == 1
    assert "x264enc" in lines[0] and "gstreamer1.0-plugins-ugly" in lines[0] and "browser" in lines[0]
    assert encoders.pick_encoder(lines.append) == OPENCV and len(lines) == 2
    import cv2

    assert int(cv2.VideoCapture(str(tmp_path / "x.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 5


# --- the files themselves ------------------------------------------------------------------------------

def top_boxes(data: bytes, start: int = 0, end: int = None):
    """[(type, payload start, end)] of the ISO-BMFF boxes in data[start:end]."""
    end = len(data) if end is None else end
    out, at = [], start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = end - at
        assert size >= head, "a broken box at {}".format(at)
        out.append((kind.decode("latin1"), at + head, at + size))
        at += size
    assert at == end, "the boxes do not tile the file"
    return out


def box(data: bytes, path):
    start, end = 0, len(data)
    for name in path:
        start, end = next((s, e) for k, s, e in top_boxes(data, start, end) if k == name)
    return data[start:end]


def mp4_facts(path: str):
    """(top-level box types, duration in seconds, video samples) of an MP4 file."""
    data = open(path, "rb").read()
    mvhd = box(data, ["moov", "mvhd"])
    scale, duration = struct.unpack(">II", mvhd[12:20]) if mvhd[0] == 0 else struct.unpack(">IQ", mvhd[20:32])
    stsz = box(data, ["moov", "trak", "mdia", "minf", "stbl", "stsz"])
    return [k for k, _, _ in top_boxes(data)], duration / scale, struct.unpack(">I", stsz[8:12])[0]


def frames(n: int, size=(240, 320)):
    rng = np.random.RandomState(0)
    base = rng.randint(0, 255, size + (3,)).astype(np.uint8)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


def have_encoders():
    return encoders.available_encoders() if gst.available() else []


@pytest.mark.parametrize("name", H264_ENCODERS)
def test_each_encoder_here_writes_a_faststart_mp4_with_every_frame(name, tmp_path):
    if name not in have_encoders():
        pytest.skip("GStreamer has no {} here ({})".format(name, encoders.ENCODER_PACKAGES[name]))
    path = str(tmp_path / "clip.mp4")
    w = open_writer(path, 320, 240, 10, encoder=name)
    for i, f in enumerate(frames(25)):
        w.write(f, i / 10)
    w.close()
    kinds, duration, samples = mp4_facts(path)
    assert kinds.index("moov") < kinds.index("mdat"), kinds  # faststart: a browser plays while loading
    assert samples == 25 and duration == pytest.approx(2.5, abs=0.11)


def test_timestamps_set_the_duration_not_the_frame_count(tmp_path):
    """A source slower than the nominal rate: the clip lasts as long as the frames' times say."""
    if not have_encoders():
        pytest.skip("no H.264 encoder in GStreamer here (apt install gstreamer1.0-plugins-ugly)")
    path = str(tmp_path / "slow.mp4")
    w = open_writer(path, 320, 240, 10)
    for i, f in enumerate(frames(10)):
        w.write(f, i * 0.3)  # 3.3 fps into a nominal 10 fps stream
    w.close()
    _, duration, samples = mp4_facts(path)
    assert samples == 10 and duration == pytest.approx(2.8, abs=0.35)
