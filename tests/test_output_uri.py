"""--output URIs: every form parses to what the outputs need, every bad one is one line saying what was expected
and what was found; the registry builds one sink per output and frames are timed the way the source runs."""
import os

import numpy as np
import pytest

from edge.errors import UsageError
from edge.outputs import FrameClock, make_outputs, output_specs
from edge.outputs.base import OutputSpec
from edge.outputs.options import OutputOptions
from edge.outputs.uri import numbered_path, parse_output
from edge.run.config import RunConfig
from edge.sources.base import Frame


@pytest.mark.parametrize("uri, kind, host, port, path, params", [
    ("rtsp://@:8554/live", "rtsp", "127.0.0.1", 8554, "/live", {}),       # @: this machine, localhost only
    ("rtsp://:8554/live", "rtsp", "127.0.0.1", 8554, "/live", {}),
    ("rtsp://@:8554", "rtsp", "127.0.0.1", 8554, "/live", {}),            # the default mount
    ("rtsp://0.0.0.0:8554/x", "rtsp", "0.0.0.0", 8554, "/x", {}),
    ("RTSP://cam.local:554/a/b/?profile=1", "rtsp", "cam.local", 554, "/a/b", {"profile": "1"}),
    ("rtsp://[::1]:8554/v", "rtsp", "::1", 8554, "/v", {}),
    ("rtp://127.0.0.1:5000", "rtp", "127.0.0.1", 5000, "", {}),
    ("rtp://239.0.0.1:5004?ttl=4", "rtp", "239.0.0.1", 5004, "", {"ttl": "4"}),
    ("rtp://viewer.lan:1234/", "rtp", "viewer.lan", 1234, "", {}),
    ("display://0", "display", "", 0, ":0", {}),
    ("display://1", "display", "", 0, ":1", {}),
    ("display://", "display", "", 0, "", {}),                             # the display DISPLAY names
    ("out.mp4", "video", "", 0, "out.mp4", {}),
    ("/var/x/OUT.MOV", "video", "", 0, "/var/x/OUT.MOV", {}),
    ("clips/b.mkv", "video", "", 0, "clips/b.mkv", {}),
    ("out.jpg", "images", "", 0, "out.jpg", {}),
    ("frames/out_%04d.png", "images", "", 0, "frames/out_%04d.png", {}),
    ("file:///tmp/a b/v.mp4", "video", "", 0, "/tmp/a b/v.mp4", {}),
    ("file://rel/f_%d.jpg", "images", "", 0, "rel/f_%d.jpg", {}),
])
def test_parse_output_table(uri, kind, host, port, path, params):
    assert parse_output(uri) == OutputSpec(kind, uri, host, port, path, params)


@pytest.mark.parametrize("uri, words", [
    ("http://example.com/x", "expected --output with a scheme of rtsp://, rtp://, display://, file:// (or a file "
                             "path), found 'http://example.com/x' (http:// is not an output)"),
    ("webrtc://@:1/x", "webrtc:// is not an output"),
    ("rtsp://@/live", "expected --output rtsp://HOST:PORT/PATH (e.g. rtsp://@:8554/live) with a port, found none "
                      "in 'rtsp://@/live'"),
    ("rtsp://@:/live", "with a port, found none"),
    ("rtp://10.0.0.2", "expected --output rtp://HOST:PORT (e.g. rtp://192.168.1.20:5000) with a port, found none"),
    ("rtsp://@:0/live", "expected --output with a port 1…65535, found 0 in 'rtsp://@:0/live'"),
    ("rtp://h:65536", "with a port 1…65535, found 65536"),
    ("rtp://h:50x0", "with a numeric port, found '50x0'"),
    ("rtp://:5000", "the host to send to, found none in 'rtp://:5000'"),
    ("rtp://@:5000", "the host to send to, found none"),
    ("rtp://h:5000/live", "without a path, found '/live'"),
    ("rtsp://@:8554/a b", "with a path of letters, digits"),
    ("display://x", "expected --output display://N with N a display number"),
    ("out.avi", "expected --output ending in .mp4/.mov (a video) or an image suffix (.jpg"),
    ("out.avi", "or .mkv (a Matroska video), found 'out.avi'"),
    ("recording", "found 'recording'"),
    ("clips/", "expected --output to name a file"),
    ("out_%04d.mp4", "expected --output to be one video file, found the frame-number pattern '%04d'"),
    ("a_%d_%d.jpg", "at most one frame-number pattern (%04d), found 2"),
    ("run_%02d/f.jpg", "the frame-number pattern in the file name, found it in the folder"),
    ("", "found an empty value"),
])
def test_bad_outputs_are_one_usage_error(uri, words):
    with pytest.raises(UsageError) as e:
        parse_output(uri)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_flag_is_named():
    with pytest.raises(UsageError, match="^expected --save ending in"):
        parse_output("x.gif", "--save")


@pytest.mark.parametrize("path, index, numbered, out", [
    ("out_%04d.jpg", 12, False, "out_0012.jpg"),       # a pattern numbers whatever the source
    ("f%d.png", 7, True, "f7.png"),
    ("out.jpg", 12, True, "out_000012.jpg"),
    ("a/out.jpg", 3, False, "a/out.jpg"),              # one image in, one image out
])
def test_numbered_path(path, index, numbered, out):
    assert numbered_path(path, index, numbered) == out


def cfg(uris=(), save="", **kw):
    return RunConfig(headless=True, save=save, output=OutputOptions(uris=list(uris)), **kw)


def test_output_specs_take_save_last_and_refuse_a_file_twice(tmp_path):
    a = str(tmp_path / "a.mp4")
    specs = output_specs(cfg(["rtp://h:5000", a], save=str(tmp_path / "b.jpg")))
    assert [(flag, s.kind) for flag, s in specs] == [("--output", "rtp"), ("--output", "video"), ("--save", "images")]
    with pytest.raises(UsageError, match="expected each output once, found --output '.*a.mp4' and --save '.*a.mp4' "
                                         "naming the same file"):
        output_specs(cfg([a], save=a))
    with pytest.raises(UsageError, match="naming the same address"):
        output_specs(cfg(["rtsp://@:8554/live", "rtsp://127.0.0.1:8554/live"]))
    with pytest.raises(UsageError, match="expected --save to name a file .*use --output for rtp outputs"):
        output_specs(cfg(save="rtp://h:5000"))


def test_the_registry_builds_each_output_and_closes_them_if_one_fails(tmp_path, monkeypatch):
    import edge.outputs as outputs
    from edge.outputs.encoders import OPENCV
    from edge.outputs.file import VideoOutput
    from edge.outputs.images import ImageOutput

    monkeypatch.setattr("edge.outputs.encoders.available_encoders", lambda: [])  # no GStreamer needed here
    lines = []
    built = make_outputs(cfg([str(tmp_path / "a.mp4")], save=str(tmp_path / "f.jpg")), None, lines.append)
    assert [type(s) for s in built] == [VideoOutput, ImageOutput] and built[0].encoder == OPENCV
    assert len(lines) == 1 and "gstreamer1.0-plugins-ugly" in lines[0]  # one warning for the run, not per output
    assert built[1].numbered  # a camera/video source: one image per frame
    for s in built:
        s.close()
    assert os.listdir(str(tmp_path)) == []  # nothing written, nothing left

    real = outputs.output_class

    def broken(kind):
        if kind == "images":
            raise RuntimeError("cannot build")
        return real(kind)

    monkeypatch.setattr(outputs, "output_class", broken)
    with pytest.raises(RuntimeError):
        make_outputs(cfg([str(tmp_path / "a.mp4")], save=str(tmp_path / "f.jpg")), None, lines.append)
    assert os.listdir(str(tmp_path)) == []  # the video built first was closed: no temporary file


def test_an_image_source_writes_one_image(tmp_path):
    photo = tmp_path / "in.png"
    photo.write_bytes(b"")
    out = make_outputs(cfg(save=str(tmp_path / "o.jpg"), source=str(photo)), None)[0]
    assert not out.numbered and out.frame_path(5) == str(tmp_path / "o.jpg")


def test_rtsp_and_display_kinds_are_registered():
    from edge.outputs import OUTPUTS

    assert OUTPUTS["rtsp"] == "edge.outputs.rtsp:RtspOutput" and OUTPUTS["display"].endswith(":DisplayOutput")
    assert [s.kind for _, s in output_specs(cfg(["rtsp://@:8554/live", "display://0"]))] == ["rtsp", "display"]


def frame(i, t=0.0, pts=None):
    return Frame(i, np.zeros((2, 2, 3), np.uint8), t, pts)


@pytest.mark.parametrize("live, fps, frames, times", [
    (False, 10, [frame(0, 100.0), frame(1, 100.001), frame(2, 100.002)], [0.0, 0.1, 0.2]),  # by number
    (False, 25, [frame(0, 5, 0.0), frame(1, 5, 40.0), frame(2, 5, 120.0)], [0.0, 0.04, 0.12]),  # by pts
    (False, 10, [frame(0, 0, 0.0), frame(1, 0, 100.0), frame(2, 0, 0.0), frame(3, 0, 100.0)],
     [0.0, 0.1, 0.2, 0.3]),                                                         # --loop: the file again
    (True, 30, [frame(0, 50.0), frame(1, 50.5), frame(2, 52.0)], [50.0, 50.5, 52.0]),  # a camera: the clock
])
def test_frame_clock(live, fps, frames, times):
    clock = FrameClock(live, fps)
    assert [clock.time(f) for f in frames] == pytest.approx(times)


def test_check_save_path_goes_through_the_parser(tmp_path):
    from edge.run.sinks import check_save_path

    check_save_path(str(tmp_path / "x.mkv"))
    check_save_path("file://" + str(tmp_path / "x_%03d.jpg"))
    with pytest.raises(UsageError, match="expected --save to name a file"):
        check_save_path("display://0")
    with pytest.raises(UsageError, match=r"expected --save ending in \.mp4/\.mov \(a video\) or an image suffix"):
        check_save_path(str(tmp_path / "x.avi"))


def test_outputs_replace_the_automatic_window(tmp_path, monkeypatch):
    """An output named means no window opens by itself (display://0 asks for one)."""
    from edge.run import sinks

    monkeypatch.setattr("edge.outputs.display._choice", lambda display="": ("gst", "fakesink", ""))
    monkeypatch.setattr("edge.outputs.encoders.available_encoders", lambda: [])
    c = RunConfig(output=OutputOptions(uris=[str(tmp_path / "a.mp4")]))
    built = sinks.make_sinks(c, None, lambda line: None)
    assert [type(s).__name__ for s in built] == ["VideoOutput"]
    built[0].close()
    built = sinks.make_sinks(RunConfig(), None)
    assert [type(s).__name__ for s in built] == ["DisplayOutput"]
    built[0].close()
