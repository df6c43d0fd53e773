"""File outputs of a real run (GStreamer): --save/--output out.mp4 is H.264 with its index first and every frame,
plays in headless Chromium; .mkv too, several at once; --output-size/--output-fps/--bitrate change the file;
images out; a full disk or a missing encoder is one line."""
import os

import cv2
import pytest
from browser import CHROMIUM
from test_clips import play_in_chromium, tmpfs
from test_encoders import box, have_encoders, mp4_facts
from test_outputs import one_error_line

from edge.outputs import encoders
from edge.outputs.file import EBML_MAGIC, mkv_complete

needs_h264 = pytest.mark.skipif(not have_encoders(), reason="no H.264 encoder in GStreamer here "
                                                            "(apt install gstreamer1.0-plugins-ugly)")


def run(cli, *args, frames=30, size=(320, 240), pattern="ball"):
    r = cli(["run", "--headless", "--model", "none", "--camera", "test://{}?frames={}".format(pattern, frames),
             "--width", str(size[0]), "--height", str(size[1])] + list(args))
    return r


def decoded(path):
    """(frames, width, height) as OpenCV's FFmpeg decodes them."""
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.read()[0]:
        n += 1
    return n, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))


@needs_h264
def test_save_mp4_is_h264_with_the_index_first_and_every_frame(cli, tmp_path):
    out = str(tmp_path / "out.mp4")
    r = run(cli, "--max-frames", "30", "--save", out, frames=60)
    assert r.exit_code == 0, r.output
    data = open(out, "rb").read()
    stsd = box(data, ["moov", "trak", "mdia", "minf", "stbl", "stsd"])
    assert stsd[12:16] == b"avc1"  # the sample entry: H.264, not mp4v
    kinds, duration, samples = mp4_facts(out)
    assert kinds.index("moov") < kinds.index("mdat"), kinds  # faststart
    assert samples == 30 and duration == pytest.approx(1.0, abs=0.05)  # 30 frames at the source's 30 fps
    assert decoded(out) == (30, 320, 240)
    assert os.listdir(str(tmp_path)) == ["out.mp4"]  # no temporary or faststart file left


@needs_h264
def test_an_mp4_and_an_mkv_at_once(cli, tmp_path):
    a, b = str(tmp_path / "a.mp4"), str(tmp_path / "b.mkv")
    r = run(cli, "--output", a, "--output", b, frames=20)
    assert r.exit_code == 0, r.output
    assert decoded(a) == (20, 320, 240) and decoded(b) == (20, 320, 240)
    head = open(b, "rb").read()
    assert head[:4] == EBML_MAGIC and b"V_MPEG4/ISO/AVC" in head and mkv_complete(b)  # Matroska, H.264
    assert sorted(os.listdir(str(tmp_path))) == ["a.mp4", "b.mkv"]


@needs_h264
def test_output_size_and_fps_change_the_file(cli, tmp_path):
    out = str(tmp_path / "small.mp4")
    r = run(cli, "--output", out, "--output-size", "640x360", "--output-fps", "5", frames=30)
    assert r.exit_code == 0, r.output
    _, duration, samples = mp4_facts(out)
    assert samples == 5 and duration == pytest.approx(1.0, abs=0.05)  # 1 s of source at 5 fps
    assert decoded(out) == (5, 640, 360)


@needs_h264
def test_bitrate_sets_the_size(cli, tmp_path):
    sizes = []
    for kbps in (100, 2000):
        out = str(tmp_path / "{}.mp4".format(kbps))
        r = run(cli, "--output", out, "--bitrate", str(kbps), frames=30, pattern="snow")  # noise: every bit counts
        assert r.exit_code == 0, r.output
        sizes.append(os.path.getsize(out))
    assert sizes[0] * 4 < sizes[1], sizes


def test_images_for_an_image_input_and_numbered_for_a_video(cli, tmp_path, face_photos):
    photo = tmp_path / "in.png"
    cv2.imwrite(str(photo), face_photos["astronaut"][0])
    r = cli(["run", "--headless", "--model", "none", "--camera", str(photo), "--output",
             str(tmp_path / "o" / "a.png")])
    assert r.exit_code == 0, r.output
    assert os.listdir(str(tmp_path / "o")) == ["a.png"]
    assert cv2.imread(str(tmp_path / "o" / "a.png")).shape == face_photos["astronaut"][0].shape
    r = run(cli, "--output", str(tmp_path / "v" / "f_%03d.jpg"), "--output-fps", "10", frames=9)
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(str(tmp_path / "v"))) == ["f_000.jpg", "f_003.jpg", "f_006.jpg"]  # 30 → 10 fps
    assert cv2.imread(str(tmp_path / "v" / "f_003.jpg")).shape == (240, 320, 3)


@needs_h264
@pytest.mark.parametrize("name", ["out.mp4", "out.mkv"])
def test_a_full_disk_is_one_line_and_leaves_nothing(cli, name):
    with tmpfs("64k") as disk:
        with open(os.path.join(disk, "filler"), "wb") as f:
            f.write(b"x" * 56 * 1024)
        out = os.path.join(disk, name)
        r = run(cli, "--output", out, frames=300, pattern="snow")
        line = one_error_line(r, 1, "cannot write --output '{}': ".format(out))
        assert "No space left" in line or "incomplete" in line, line
        assert os.listdir(disk) == ["filler"]  # neither the file nor its temporary (or faststart) file


@pytest.mark.parametrize("name", encoders.H264_ENCODERS[1:])
def test_a_missing_encoder_is_one_line_naming_the_package(cli, tmp_path, monkeypatch, name):
    have = [n for n in encoders.H264_ENCODERS if n != name]
    monkeypatch.setattr(encoders, "available_encoders", lambda: have)
    r = run(cli, "--output", str(tmp_path / "a.mp4"), "--encoder", name, frames=3)
    one_error_line(r, 4, "the H.264 encoder '{}' (--encoder) is not in this GStreamer; install the apt package "
                         "{}".format(name, encoders.ENCODER_PACKAGES[name]))
    assert os.listdir(str(tmp_path)) == []


def test_the_hardware_encoder_off_a_jetson_says_so(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(encoders, "available_encoders", lambda: ["x264enc"])
    monkeypatch.setattr("edge.files.is_jetson", lambda: False)
    r = run(cli, "--output", str(tmp_path / "a.mp4"), "--encoder", "nvv4l2h264enc", frames=3)
    one_error_line(r, 5, "--encoder nvv4l2h264enc is a Jetson's hardware encoder")


def test_on_an_orin_nano_auto_is_software_and_nvenc_refused(monkeypatch):
    monkeypatch.setattr("edge.files.jetson_model", lambda: "NVIDIA Jetson Orin Nano Developer Kit")
    assert not encoders.hardware_encoder_usable()
    assert encoders.hardware_encoder_usable("NVIDIA Jetson Nano Developer Kit")
    if have_encoders():
        assert "nvv4l2h264enc" not in encoders.available_encoders()
    monkeypatch.setattr(encoders, "available_encoders", lambda: ["x264enc"])
    assert encoders.resolve_encoder("auto") == "x264enc"
    with pytest.raises(encoders.HardwareError, match="the Orin Nano has no hardware H.264 encoder"):
        encoders.resolve_encoder("nvv4l2h264enc")


def test_no_encoder_at_all_writes_mpeg4_after_one_warning(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(encoders, "available_encoders", lambda: [])
    out = str(tmp_path / "a.mp4")
    r = run(cli, "--save", out, frames=10)
    assert r.exit_code == 0, r.output
    warnings = [l for l in r.output.splitlines() if l.startswith("edge: warning: ")]
    assert len(warnings) == 1 and "gstreamer1.0-plugins-ugly" in warnings[0] and "browsers" in warnings[0]
    assert decoded(out)[0] == 10


@needs_h264
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")
def test_the_saved_mp4_plays_in_headless_chromium(cli, tmp_path):
    r = run(cli, "--save", str(tmp_path / "run.mp4"), frames=45)
    assert r.exit_code == 0, r.output
    body = play_in_chromium(str(tmp_path), "run.mp4")
    assert body["state"] == "playing" and float(body["t"]) > 0.5 and body["w"] == "320", body
