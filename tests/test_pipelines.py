"""Pipeline-string builders and URI parsing: pure functions, table-driven, no hardware."""
import pytest

from edge.errors import InputError, MissingDependency, UsageError
from edge.sources import choose_capture, parse_uri, pipeline_for
from edge.sources import pipelines as P
from edge.sources.uri import SourceSpec


@pytest.fixture
def video_file(tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"\x00" * 10)
    return str(p)


@pytest.mark.parametrize("uri,kind,target", [
    ("csi", "csi", "0"),
    ("csi://1", "csi", "1"),
    ("usb", "usb", "/dev/video0"),
    ("2", "usb", "/dev/video2"),
    ("usb://3", "usb", "/dev/video3"),
    ("/dev/video4", "usb", "/dev/video4"),
    ("rtsp://cam.local:554/stream", "rtsp", "rtsp://cam.local:554/stream"),
    ("test://", "test", "smpte"),
    ("test://ball?frames=30", "test", "ball"),
])
def test_parse_uri_cameras(uri, kind, target):
    spec = parse_uri(uri)
    assert (spec.kind, spec.target) == (kind, target)


def test_parse_uri_files(tmp_path, video_file):
    img = tmp_path / "a.JPG"
    img.write_bytes(b"x")
    assert parse_uri(video_file).kind == "video"
    assert parse_uri("file://" + video_file) == SourceSpec("video", video_file, {})
    assert parse_uri(str(img)).kind == "image"
    assert parse_uri(str(tmp_path)).kind == "folder"
    assert parse_uri("test://ball?frames=30").params == {"frames": "30"}


@pytest.mark.parametrize("uri,error,words", [
    ("", UsageError, "empty string"),
    ("ftp://example.com/x.mp4", UsageError, "unsupported scheme"),  # http(s):// is a camera (issue 16)
    ("/no/such/clip.mp4", InputError, "found nothing at '/no/such/clip.mp4'"),
])
def test_parse_uri_errors(uri, error, words):
    with pytest.raises(error) as e:
        parse_uri(uri)
    assert words in str(e.value) and "expected a camera" in str(e.value)


@pytest.mark.parametrize("spec,kwargs,expected", [
    (SourceSpec("csi", "0", {}), dict(width=1280, height=720, fps=30, flip=2),
     "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM), width=1280, height=720, framerate=30/1, "
     "format=NV12 ! nvvidconv flip-method=2 ! video/x-raw, width=1280, height=720, format=BGRx ! "
     "videoconvert ! video/x-raw, format=BGR ! appsink name=sink drop=1 max-buffers=1 sync=false "
     "emit-signals=false"),
    (SourceSpec("csi", "1", {}), dict(width=960, height=540, fps=25),
     "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM), width=1280, height=720, framerate=25/1, "
     "format=NV12 ! nvvidconv flip-method=0 ! video/x-raw, width=960, height=540, format=BGRx"),
    (SourceSpec("usb", "/dev/video1", {}), dict(width=640, height=480, fps=30),
     "v4l2src device=/dev/video1 ! image/jpeg, width=640, height=480, framerate=30/1 ! jpegdec ! videoconvert"),
    (SourceSpec("usb", "/dev/video1", {}), dict(width=640, height=480, fps=30, jetson=True),
     "v4l2src device=/dev/video1 ! image/jpeg, width=640, height=480, framerate=30/1 ! nvjpegdec ! video/x-raw"),
    (SourceSpec("usb", "/dev/video0", {}), dict(mjpeg=False),
     "v4l2src device=/dev/video0 ! video/x-raw, width=1280, height=720, framerate=30/1 ! videoconvert"),
    (SourceSpec("rtsp", "rtsp://h/s", {}), {}, "rtspsrc location=rtsp://h/s latency=200 ! decodebin ! videoconvert"),
    (SourceSpec("test", "ball", {"frames": "30"}), dict(width=320, height=240, fps=15),
     "videotestsrc pattern=ball num-buffers=30 ! video/x-raw, width=320, height=240, framerate=15/1 ! "),
    (SourceSpec("video", "/v/my clip.mp4", {}), {},
     'filesrc location="/v/my clip.mp4" ! decodebin ! videoconvert ! video/x-raw, format=BGR ! appsink '
     'name=sink drop=0 max-buffers=2'),
    (SourceSpec("video", "/v/a.mp4", {}), dict(jetson=True),
     "filesrc location=/v/a.mp4 ! decodebin ! nvvidconv ! video/x-raw, format=BGRx ! videoconvert"),
])
def test_pipeline_for_every_source(spec, kwargs, expected):
    desc = pipeline_for(spec, **kwargs)
    assert desc.startswith(expected)
    assert desc.endswith("emit-signals=false") and "appsink name=sink" in desc


@pytest.mark.parametrize("w,h,fps,mode", [
    (1280, 720, 30, P.SensorMode(1280, 720, 60)),
    (1920, 1080, 30, P.SensorMode(1920, 1080, 30)),
    (1280, 720, 60, P.SensorMode(1280, 720, 60)),
    (640, 480, 30, P.SensorMode(1280, 720, 60)),
    (3264, 2464, 15, P.SensorMode(3264, 2464, 21)),
    (1920, 1080, 120, P.SensorMode(1280, 720, 60)),  # nothing fits: the fastest mode
])
def test_choose_sensor_mode(w, h, fps, mode):
    assert P.choose_sensor_mode(w, h, fps) == mode


@pytest.mark.parametrize("element,jetson,package", [
    ("v4l2src", False, "gstreamer1.0-plugins-good"),
    ("avdec_h264", False, "gstreamer1.0-libav"),
    ("x264enc", False, "gstreamer1.0-plugins-ugly"),
    ("nvarguscamerasrc", True, "nvidia-l4t-gstreamer"),
    ("frobnicate", False, "the GStreamer plugin that provides it (`gst-inspect-1.0 frobnicate`)"),
])
def test_package_for(element, jetson, package):
    assert P.package_for(element, jetson) == package


def test_elements_skips_caps_and_properties():
    desc = pipeline_for(SourceSpec("csi", "0", {}))
    assert P.elements(desc) == ["nvarguscamerasrc", "nvvidconv", "videoconvert", "appsink"]
    assert P.size_of(desc) == (1280, 720)


@pytest.mark.parametrize("value,quoted", [
    ("/a/b.mp4", "/a/b.mp4"),
    ("/a b/c.mp4", '"/a b/c.mp4"'),
    ('x"y', '"x\\"y"'),
])
def test_quote(value, quoted):
    assert P.quote(value) == quoted


@pytest.mark.parametrize("kind,capture,gi,cvgst,jetson,expected", [
    ("csi", "auto", True, False, True, "gstreamer"),
    ("csi", "auto", False, True, True, "cv-gstreamer"),     # JetPack OpenCV, no PyGObject
    ("test", "auto", True, False, False, "gstreamer"),
    ("usb", "auto", False, False, False, "opencv"),
    ("usb", "auto", True, False, False, "gstreamer"),
    ("video", "auto", True, False, False, "opencv"),        # workstation: FFmpeg decodes files
    ("video", "auto", True, True, True, "gstreamer"),       # Jetson: hardware decoder
    ("video", "gstreamer", True, False, False, "gstreamer"),
    ("video", "opencv", True, True, True, "opencv"),
    ("image", "gstreamer", True, True, True, "images"),
    ("folder", "auto", False, False, False, "images"),
])
def test_choose_capture(kind, capture, gi, cvgst, jetson, expected):
    assert choose_capture(SourceSpec(kind, "x", {}), capture, gi, cvgst, jetson) == expected


def test_choose_capture_errors():
    with pytest.raises(MissingDependency, match="PyGObject"):
        choose_capture(SourceSpec("csi", "0", {}), "auto", False, False, False)
    with pytest.raises(UsageError, match="expected --capture auto/gstreamer/opencv"):
        choose_capture(SourceSpec("csi", "0", {}), "ffmpeg", True, True, True)
