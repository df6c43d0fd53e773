"""Real capture: GStreamer pipelines through PyGObject's appsink, OpenCV files, image folders, threading."""
import os
import time

import numpy as np
import pytest

from edge.errors import HardwareError, InputError
from edge.sources import EndOfStream, SourceTimeout, open_source
from edge.sources.opencv import CvSource, ImageSource, list_images
from edge.sources.threaded import ThreadedSource

gst_mod = pytest.importorskip("edge.sources.gst")
needs_gi = pytest.mark.skipif(not gst_mod.available(), reason="needs PyGObject + GStreamer typelibs (setup.sh)")


def haar_faces(img):
    from edge.detectors import create_detector

    return create_detector("haar", scale=0.5).detect(img).boxes


def matched(boxes, truth_faces, thr=0.5):
    from edge.detectors.boxes import iou_matrix

    if not len(truth_faces) or not len(boxes):
        return [False] * len(truth_faces)
    iou = iou_matrix(np.array([f["box"] for f in truth_faces]), boxes)
    return list(iou.max(axis=1) >= thr)


@needs_gi
def test_videotestsrc_through_appsink_until_end_of_stream():
    src = open_source("test://ball?frames=12", width=320, height=240, fps=30, threaded=False)
    frames = list(src)
    assert [f.index for f in frames] == list(range(12))
    assert all(f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[5].pts_ms == pytest.approx(5 * 1000 / 30.0, abs=1)
    with pytest.raises(EndOfStream):  # after the end, it stays ended
        src.read(0.5)
    src.close()


@needs_gi
def test_odd_width_rows_are_unpadded():
    with open_source("test://smpte?frames=1", width=321, height=11, threaded=False) as src:
        img = src.read().image
    assert img.shape == (11, 321, 3)
    top = img[:7]  # SMPTE bars fill the top two thirds with the same colours in every row
    assert (top == top[0]).all(), "rows skewed: the 4-byte row padding was not removed"


@needs_gi
def test_timeout_is_not_end_of_stream():
    desc = ("videotestsrc is-live=true ! video/x-raw, width=64, height=48, framerate=1/2 ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink name=sink drop=1 max-buffers=1 sync=false")
    src = gst_mod.GstSource("test://slow", desc, "test", start_timeout=5.0)
    try:
        src.read(5.0)  # the first frame comes at once
        t0 = time.monotonic()
        with pytest.raises(SourceTimeout, match="within 0.2 s"):
            src.read(0.2)
        assert time.monotonic() - t0 < 1.5
    finally:
        src.close()


@needs_gi
def test_filesrc_decodebin_on_a_real_face_video(face_video):
    path, truth = face_video
    with open_source(path, capture="gstreamer", threaded=False) as src:
        assert "filesrc" in src.pipeline_str and "decodebin" in src.pipeline_str
        frames = list(src)
    assert len(frames) == len(truth["frames"])
    assert frames[0].image.shape == (truth["height"], truth["width"], 3)
    bare = [f for f in truth["frames"][0]["faces"] if f["label"] == "without_mask"]
    assert all(matched(haar_faces(frames[0].image), bare))


def test_opencv_file_capture_matches_truth(face_video):
    path, truth = face_video
    with open_source(path, capture="opencv", threaded=False) as src:
        assert isinstance(src, CvSource)
        frames = list(src)
    assert len(frames) == len(truth["frames"]) and src.corrupt == 0
    hits = [m for fr, t in zip(frames[::10], truth["frames"][::10])
            for m in matched(haar_faces(fr.image), [f for f in t["faces"] if f["label"] == "without_mask"])]
    assert hits and all(hits)


def test_threaded_file_keeps_every_frame(face_video):
    path, truth = face_video
    with open_source(path, capture="opencv", threaded=True) as src:
        assert isinstance(src, ThreadedSource) and not src.live
        n = 0
        for _ in src:
            n += 1
            time.sleep(0.005)
    assert n == len(truth["frames"]) and src.dropped == 0


@needs_gi
def test_threaded_camera_drops_stale_frames_and_counts_them():
    desc = ("videotestsrc is-live=true ! video/x-raw, width=64, height=48, framerate=50/1 ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink name=sink drop=1 max-buffers=1 sync=false")
    inner = gst_mod.GstSource("test://live", desc, "usb")  # kind usb: a live camera
    with ThreadedSource(inner) as src:
        indices = []
        for _ in range(5):
            indices.append(src.read(2.0).index)
            time.sleep(0.1)  # a slow stage: 5 camera frames arrive meanwhile
        # ≈ 5 frames arrive per sleep; generous bounds so a loaded CI machine still passes
        assert src.dropped >= 4
        assert indices == sorted(indices) and indices[-1] - indices[0] >= 6  # always the newest frame


def test_image_folder_skips_and_counts_corrupt_files(tmp_path, face_photos):
    import cv2

    img, _ = face_photos["astronaut"]
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg at all")
    cv2.imwrite(str(tmp_path / "c.png"), img[:100, :100])
    (tmp_path / "notes.txt").write_text("ignored")
    src = open_source(str(tmp_path))
    assert isinstance(src, ImageSource)
    frames = list(src)
    assert [f.image.shape for f in frames] == [img.shape, (100, 100, 3)] and src.corrupt == 1
    assert list_images(str(tmp_path))[-1].endswith("c.png")


@pytest.mark.parametrize("content,words", [
    (b"this is a text file, not a video\n" * 20, "expected a video file OpenCV can decode"),
    (b"", "expected a video file OpenCV can decode"),
])
def test_file_that_is_not_a_video(tmp_path, content, words):
    p = tmp_path / "clip.mp4"
    p.write_bytes(content)
    with pytest.raises(InputError, match=words):
        open_source(str(p), capture="opencv")


@needs_gi
def test_file_that_is_not_a_video_through_gstreamer(tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"this is a text file, not a video\n" * 20)
    with pytest.raises(InputError) as e:
        src = open_source(str(p), capture="gstreamer", threaded=False)
        src.read(5.0)
    assert "clip.mp4" in str(e.value) and "\n" not in str(e.value)


@needs_gi
def test_camera_that_does_not_exist():
    with pytest.raises(HardwareError) as e:
        src = open_source("/dev/video57", capture="gstreamer", threaded=False)
        src.read(3.0)
    assert "/dev/video57" in str(e.value)


def test_opencv_camera_that_does_not_exist():
    with pytest.raises(HardwareError, match="cannot open the usb camera '/dev/video57'"):
        open_source("/dev/video57", capture="opencv")


@needs_gi
@pytest.mark.parametrize("desc,words,code", [
    ("videotestsrc ! x264enc ! appsink name=sink", "install the apt package gstreamer1.0-plugins-ugly", 4),
    ("nvarguscamerasrc ! appsink name=sink", "needs a Jetson with JetPack's nvidia-l4t-gstreamer", 5),
])
def test_missing_element_names_the_package(desc, words, code, monkeypatch):
    """The element is made missing (setup.sh installs x264enc; a Jetson has nvarguscamerasrc)."""
    factory = gst_mod.gst().ElementFactory
    missing, real = desc.split()[2] if "x264" in desc else "nvarguscamerasrc", factory.find
    monkeypatch.setattr(factory, "find", staticmethod(lambda name: None if name == missing else real(name)))
    with pytest.raises(Exception) as e:
        gst_mod.GstSource("x", desc, "csi" if "nvargus" in desc else "video")
    assert words in str(e.value) and e.value.exit_code == code


@needs_gi
def test_csi_error_mentions_nvargus_daemon():
    src = gst_mod.GstSource.__new__(gst_mod.GstSource)
    src.kind, src.uri = "csi", "csi://0"
    err = src._error("Failed to create CaptureSession", "")
    assert isinstance(err, HardwareError) and "nvargus-daemon" in str(err)


TORCH_AFTER_GST = """
import numpy
from edge.sources import gst
gst.gst()
import torch
net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
torch.jit.trace(net, torch.zeros(1, 3, 16, 16))
print("traced")
"""


@needs_gi
def test_torch_jit_still_works_after_gstreamer_init():
    """libgstreamer's libunwind must not take over C++ exception unwinding (it aborts torch's tracer)."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", TORCH_AFTER_GST], cwd=root, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert r.returncode == 0 and "traced" in r.stdout, r.stdout[-2000:]
