"""Inputs jetson-inference's videoSource users expect (issue 16): v4l2://, http(s):// cameras — a real MJPEG
server and a GStreamer-made HLS stream on localhost, read through GStreamer and OpenCV's FFmpeg, killed and
restarted, sending garbage —, file:// globs of images, --input-rtsp-latency, and the H.264 bundled sample."""
import json
import os
import re
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, SimpleHTTPRequestHandler

import numpy as np
import pytest

from edge.errors import HardwareError, InputError, UsageError
from edge.files import IMAGE_SUFFIXES
from edge.sources import choose_capture, open_source, parse_uri, pipeline_for
from edge.sources import pipelines as P
from edge.sources.http import probe, stream_format
from edge.sources.opencv import has_log_control
from edge.sources.reopening import reopen_policy
from edge.sources.uri import SourceSpec
from localnet import free_port, wait_for
from test_source_faults import edge_run, gst_or_skip, summary_of

SIZE = (160, 120)  # the served frames: W×H


def gray_jpeg(level: int) -> bytes:
    import cv2

    return cv2.imencode(".jpg", np.full((SIZE[1], SIZE[0], 3), level, np.uint8))[1].tobytes()


class _Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class MjpegCamera:
    """An IP camera on localhost: multipart/x-mixed-replace JPEGs (frame i is gray level 10·i mod 250) at
    ``fps``; ``mode`` "garbage" sends parts that are not JPEGs, "html" a web page, "401" refuses."""

    def __init__(self, port=None, fps=30, mode="mjpeg"):
        self.port, self.fps, self.mode = port or free_port(), fps, mode
        self.served = 0
        self.url = "http://127.0.0.1:{}/stream.mjpg".format(self.port)
        self._stopped = threading.Event()
        self.httpd = None

    def start(self):
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if cam.mode == "401":
                    return self._plain(401, b"token required\n")
                if cam.mode == "html":
                    return self._plain(200, b"<!DOCTYPE html><html><body>camera login</body></html>", "text/html")
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while not cam._stopped.is_set():
                        body = bytes(range(256)) * 8 if cam.mode == "garbage" else gray_jpeg(10 * i % 250)
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(body)).encode() + b"\r\n\r\n" + body + b"\r\n")
                        i += 1
                        cam.served += 1
                        time.sleep(1.0 / cam.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _plain(self, code, body, ctype="text/plain"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._stopped.clear()
        self.httpd = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Killed: the listening socket and every open stream closed."""
        self._stopped.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- URIs, pipelines, rules: pure ---------------------------------------------------------------------

@pytest.mark.parametrize("uri,kind,target,params", [
    ("v4l2:///dev/video0", "usb", "/dev/video0", {}),
    ("V4L2:///dev/video3", "usb", "/dev/video3", {}),
    ("v4l2://0", "usb", "/dev/video0", {}),
    ("v4l2://", "usb", "/dev/video0", {}),
    ("http://127.0.0.1:8080/stream.mjpg?token=abc", "http", "http://127.0.0.1:8080/stream.mjpg?token=abc",
     {"format": "mjpeg"}),
    ("https://cam.local/axis-cgi/mjpg/video.cgi", "http", "https://cam.local/axis-cgi/mjpg/video.cgi",
     {"format": "mjpeg"}),
    ("HTTP://cam/live/index.M3U8?x=1", "http", "HTTP://cam/live/index.M3U8?x=1", {"format": "hls"}),
    ("http://user:pw@10.0.0.5/video", "http", "http://user:pw@10.0.0.5/video", {"format": "mjpeg"}),
])
def test_parse_uri_new_camera_forms(uri, kind, target, params):
    assert parse_uri(uri) == SourceSpec(kind, target, params)


@pytest.fixture
def stills(tmp_path):
    """img_0.jpg … img_3.jpg (gray 0, 60, 120, 180), b.png, notes.txt, and a folder sub.jpg."""
    import cv2

    for i in range(4):
        cv2.imwrite(str(tmp_path / "img_{}.jpg".format(i)), np.full((24, 32, 3), 60 * i, np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub.jpg").mkdir()
    return tmp_path


@pytest.mark.parametrize("pattern,count", [
    ("file://{}/*.jpg", 4), ("{}/img_?.jpg", 4), ("{}/img_[02].jpg", 2), ("{}/*", 5), ("file://{}/*.PNG", 0),
])
def test_parse_uri_globs(stills, pattern, count):
    uri = pattern.format(stills)
    if not count:
        with pytest.raises(InputError) as e:
            parse_uri(uri)
        assert str(e.value) == "expected images ({}) matching the pattern '{}/*.PNG', found none".format(
            "/".join(IMAGE_SUFFIXES), stills)
        return
    spec = parse_uri(uri)
    assert spec.kind == "folder" and spec.params == {"glob": "1"} and not spec.target.startswith("file://")
    with open_source(uri) as src:
        frames = list(src)
    assert len(frames) == count == len(src.paths)
    assert src.paths == sorted(src.paths) and all(os.path.isfile(p) for p in src.paths)


def test_glob_images_come_in_sorted_order(stills):
    with open_source("{}/img_*.jpg".format(stills)) as src:
        levels = [int(f.image.mean()) for f in src]
    assert [round(v / 60.0) for v in levels] == [0, 1, 2, 3]


def test_an_existing_file_with_glob_characters_is_that_file(tmp_path):
    import cv2

    p = tmp_path / "cam[1].jpg"
    cv2.imwrite(str(p), np.zeros((8, 8, 3), np.uint8))
    assert parse_uri(str(p)) == SourceSpec("image", str(p), {})


@pytest.mark.parametrize("uri,error,words", [
    ("v4l2:///dev/sda", UsageError, "expected v4l2:///dev/videoN or v4l2://N, found 'v4l2:///dev/sda'"),
    ("v4l2://front", UsageError, "expected v4l2:///dev/videoN or v4l2://N"),
    ("http://", UsageError, "expected http(s)://HOST[:PORT]/PATH, found no host in 'http://'"),
    ("https:///stream.mjpg", UsageError, "found no host"),
    ("ftp://cam/x.mjpg", UsageError, "unsupported scheme"),
    ("/no/such/dir/*.jpg", InputError, "matching the pattern '/no/such/dir/*.jpg', found none"),
])
def test_parse_uri_bad_new_forms(uri, error, words):
    with pytest.raises(error) as e:
        parse_uri(uri)
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("spec,kwargs,expected", [
    (SourceSpec("http", "http://h:81/s.mjpg?token=t", {"format": "mjpeg"}), {},
     "souphttpsrc location=http://h:81/s.mjpg?token=t is-live=true do-timestamp=true ! multipartdemux ! jpegdec "
     "! videoconvert ! video/x-raw, format=BGR ! appsink name=sink drop=1 max-buffers=1 sync=false "
     "emit-signals=false"),
    (SourceSpec("http", "http://h/a b.mjpg", {"format": "mjpeg"}), dict(jetson=True),
     'souphttpsrc location="http://h/a b.mjpg" is-live=true do-timestamp=true ! multipartdemux ! jpegdec ! '),
    (SourceSpec("http", "https://u:p%40ss@h/live.m3u8", {"format": "hls"}), {},
     "souphttpsrc location=https://h/live.m3u8 user-id=u user-pw=p@ss ! hlsdemux ! decodebin ! videoconvert ! "
     "video/x-raw, format=BGR ! appsink name=sink drop=1 max-buffers=1 sync=true emit-signals=false"),
    (SourceSpec("http", "http://h/live.m3u8", {"format": "hls"}), dict(jetson=True),
     "souphttpsrc location=http://h/live.m3u8 ! hlsdemux ! decodebin ! nvvidconv ! video/x-raw, format=BGRx ! "),
    (SourceSpec("rtsp", "rtsp://h/s", {}), dict(rtsp_latency=0), "rtspsrc location=rtsp://h/s latency=0 ! "),
    (SourceSpec("rtsp", "rtsp://h/s", {}), dict(rtsp_latency=750, jetson=True),
     "rtspsrc location=rtsp://h/s latency=750 ! decodebin ! nvvidconv"),
])
def test_pipelines_of_the_new_inputs(spec, kwargs, expected):
    desc = pipeline_for(spec, **kwargs)
    assert desc.startswith(expected), desc
    assert "appsink name=sink" in desc and desc.endswith("emit-signals=false")


def test_http_pipeline_rejects_an_unknown_format():
    with pytest.raises(ValueError, match="mjpeg or hls"):
        P.http_pipeline("http://h/x", "dash")


@pytest.mark.parametrize("ctype,head,fmt", [
    ("multipart/x-mixed-replace; boundary=frame", b"", "mjpeg"),
    ("multipart/x-mixed-replace;boundary=--myboundary", b"", "mjpeg"),
    ("application/vnd.apple.mpegurl", b"#EXTM3U\n", "hls"),
    ("audio/x-mpegurl", b"", "hls"),
    ("text/plain", b"\n#EXTM3U\n#EXT-X-VERSION:3", "hls"),
    ("", b"--frame\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff", "mjpeg"),
    ("text/html; charset=utf-8", b"<html>", None),
    ("image/jpeg", b"\xff\xd8\xff", None),
    ("application/octet-stream", b"\x00\x01\x02", None),
])
def test_stream_format(ctype, head, fmt):
    assert stream_format(ctype, head) == fmt


@pytest.mark.parametrize("capture,gi,cvgst,expected", [
    ("auto", True, False, "gstreamer"),
    ("auto", False, True, "cv-gstreamer"),
    ("auto", False, False, "opencv"),        # no GStreamer at all: FFmpeg reads MJPEG and HLS
    ("opencv", True, True, "opencv"),
])
def test_choose_capture_for_http(capture, gi, cvgst, expected):
    assert choose_capture(SourceSpec("http", "http://h/x", {}), capture, gi, cvgst, False) == expected


def test_an_http_camera_is_reopened_like_rtsp():
    assert reopen_policy("http", False) == reopen_policy("rtsp", False) == (True, True)


def test_rtsp_latency_appears_in_print_pipeline():
    for args, latency in (([], 200), (["--input-rtsp-latency", "35"], 35)):
        code, out, err, _ = edge_run(["--camera", "rtsp://127.0.0.1:9/cam"] + args + ["--print-pipeline"])
        assert code == 0 and "rtspsrc location=rtsp://127.0.0.1:9/cam latency={} ! ".format(latency) in out, err
    code, out, err, _ = edge_run(["--camera", "http://127.0.0.1:9/live.m3u8", "--print-pipeline"])
    assert code == 0 and "souphttpsrc location=http://127.0.0.1:9/live.m3u8 ! hlsdemux" in out, err


# --- a real MJPEG camera on localhost -------------------------------------------------------------------

CAPTURES = ("gstreamer", "opencv")


def _needs(capture):
    if capture == "gstreamer":
        gst_or_skip("souphttpsrc", "multipartdemux", "jpegdec", "videoconvert", "appsink")


@pytest.mark.parametrize("capture", CAPTURES)
def test_mjpeg_camera_frames_are_the_served_ones(capture):
    _needs(capture)
    with MjpegCamera() as cam:
        with open_source(cam.url, capture=capture, threaded=False) as src:
            frames = [src.read(10.0) for _ in range(8)]
            assert src.live and src.describe().endswith("'{}'".format(cam.url))
    assert all(f.image.shape == (SIZE[1], SIZE[0], 3) for f in frames)
    levels = [int(round(f.image.mean())) for f in frames]
    steps = np.diff(levels)
    assert all(abs(s - 10) <= 3 or s < -200 for s in steps), levels  # +10 a frame (mod 250): served in order
    assert [f.index for f in frames] == list(range(8))


@pytest.mark.parametrize("capture", CAPTURES)
def test_edge_run_reads_an_mjpeg_camera(capture, tmp_path):
    _needs(capture)
    log = tmp_path / "f.jsonl"
    with MjpegCamera() as cam:
        code, out, err, _ = edge_run(["--camera", cam.url, "--capture", capture, "--max-frames", "12", "--log",
                                      str(log), "--summary-every", "0"])
    assert code == 0, err
    (summary,) = summary_of(log)
    assert summary["frames"] == 12 and summary["reconnects"] == 0


def test_camera_killed_mid_stream_is_reopened_and_counted(tmp_path):
    _needs("gstreamer")
    log = tmp_path / "f.jsonl"
    cam = MjpegCamera(fps=20).start()

    def kill_and_restart():
        wait_for(lambda: cam.served >= 25, 30, "25 frames served")
        cam.stop()
        time.sleep(0.7)  # the camera is away: at least one failed attempt to reopen
        cam.start()

    t = threading.Thread(target=kill_and_restart, daemon=True)
    t.start()
    try:
        code, out, err, _ = edge_run(["--camera", cam.url, "--max-frames", "60", "--log", str(log),
                                      "--reconnect-initial", "0.2", "--reconnect-max-delay", "0.5",
                                      "--summary-every", "0", "--timeout", "5"])
    finally:
        t.join(40)
        cam.stop()
    assert code == 0, err
    (summary,) = summary_of(log)
    assert summary["frames"] == 60 and summary["reconnects"] >= 1, summary
    assert "source lost" in err and "source back" in err, err


def test_camera_unreachable_at_start_is_one_line():
    url = "http://127.0.0.1:{}/stream.mjpg".format(free_port())
    code, out, err, _ = edge_run(["--camera", url])
    assert code == 5 and err == "edge: error: cannot reach the http camera '{}': Connection refused\n".format(url)


def test_wait_for_source_retries_until_the_camera_answers(tmp_path):
    _needs("gstreamer")
    cam = MjpegCamera()
    timer = threading.Timer(1.5, cam.start)
    timer.start()
    try:
        code, out, err, _ = edge_run(["--camera", cam.url, "--wait-for-source", "--max-frames", "5",
                                      "--reconnect-initial", "0.3", "--reconnect-max-delay", "0.5",
                                      "--summary-every", "0", "--json"])
    finally:
        timer.join()
        cam.stop()
    assert code == 0, err
    assert "cannot open {} (attempt 1): cannot reach the http camera".format(cam.url) in err, err
    assert json.loads(out.strip().splitlines()[-1])["frames"] == 5


@pytest.mark.parametrize("mode,capture,code,words", [
    ("garbage", "gstreamer", 3, "undecodable frames in a row"),
    ("garbage", "opencv", 3, "expected MJPEG or HLS frames OpenCV can decode from"),
    ("html", "gstreamer", 3, "found a web page (text/html)"),
    ("401", "opencv", 3, "found HTTP 401 Unauthorized; edge's live view (/stream.mjpg) needs ?token="),
])
def test_camera_that_sends_no_video_is_one_line(mode, capture, code, words):
    _needs(capture)
    with MjpegCamera(mode=mode) as cam:
        got, out, err, seconds = edge_run(["--camera", cam.url, "--capture", capture, "--reconnect-attempts", "1",
                                           "--timeout", "8"])
    if capture == "opencv" and mode == "garbage" and not has_log_control():
        # OpenCV 4.1 (JetPack 4.6, which reads HTTP through GStreamer anyway): its FFmpeg skips the parts it
        # cannot decode and waits for a good one, saying so on stderr from the capture thread: --timeout ends it
        lines = [x for x in err.splitlines() if not re.match(r"\[\w+ @ 0x[0-9a-f]+\] ", x)]
        assert got == 5 and lines == [err.splitlines()[-1]] and "no frame from OpenCV http source" in lines[0], err
        return
    assert got == code and len(err.splitlines()) == 1 and err.startswith("edge: error: ") and words in err, err
    assert seconds < 30


def test_probe_names_what_it_found():
    with MjpegCamera(mode="html") as cam:
        with pytest.raises(InputError, match="expected an MJPEG stream .* found a web page"):
            probe(cam.url)
    with MjpegCamera() as cam:
        assert probe(cam.url) == "mjpeg"
    with pytest.raises(HardwareError, match="cannot reach"):
        probe("http://127.0.0.1:{}/x".format(free_port()))


# --- HLS made by GStreamer, served by http.server ---------------------------------------------------------

HLS_FRAMES = 45  # 3 s at 15 fps, a segment a second


@pytest.fixture(scope="module")
def hls_site(tmp_path_factory):
    """(url of live.m3u8, frames): videotestsrc → x264enc → hlssink2 in a folder served on localhost."""
    gst_or_skip("videotestsrc", "x264enc", "h264parse", "hlssink2", "souphttpsrc", "hlsdemux", "decodebin")
    from edge.sources.gst import gst

    Gst = gst()
    folder = tmp_path_factory.mktemp("hls")
    pipeline = Gst.parse_launch(
        "videotestsrc pattern=ball num-buffers={} ! video/x-raw, width=320, height=240, framerate=15/1 ! "
        "x264enc speed-preset=ultrafast key-int-max=15 ! h264parse ! hlssink2 async-handling=true "
        "location={}/seg%05d.ts playlist-location={}/live.m3u8 target-duration=1 playlist-length=0 "
        "max-files=0".format(HLS_FRAMES, folder, folder))
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.EOS
    assert "#EXT-X-ENDLIST" in (folder / "live.m3u8").read_text()

    class Quiet(SimpleHTTPRequestHandler):
        def translate_path(self, path):  # Python 3.6 has no directory= argument
            return os.path.join(str(folder), os.path.basename(path.split("?", 1)[0]))

        def log_message(self, *args):
            pass

    httpd = _Server(("127.0.0.1", free_port()), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:{}/live.m3u8".format(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("capture", CAPTURES)
def test_hls_stream_is_read(hls_site, capture):
    with open_source(hls_site, capture=capture, threaded=False) as src:
        if capture == "gstreamer":
            assert "hlsdemux" in src.pipeline_str
        frames = [src.read(15.0) for _ in range(20)]
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert frames[-1].image.std() > 10  # the moving ball on black, not an empty picture


def test_edge_run_reads_hls(hls_site, tmp_path):
    log = tmp_path / "f.jsonl"
    code, out, err, _ = edge_run(["--camera", hls_site, "--max-frames", "10", "--log", str(log),
                                  "--summary-every", "0"])
    assert code == 0, err
    assert summary_of(log)[0]["frames"] == 10


# --- images by glob through edge run ----------------------------------------------------------------------

def test_edge_run_over_a_glob_of_images(stills, tmp_path):
    log = tmp_path / "f.jsonl"
    code, out, err, _ = edge_run(["--camera", "file://{}/img_*.jpg".format(stills), "--log", str(log),
                                  "--summary-every", "0"])
    assert code == 0, err
    assert summary_of(log)[0]["frames"] == 4
    code, out, err, _ = edge_run(["--camera", "{}/none_*.jpg".format(stills)])
    assert code == 3 and err.startswith("edge: error: expected images") and \
        "matching the pattern '{}/none_*.jpg', found none".format(stills) in err and len(err.splitlines()) == 1


# --- the bundled sample: H.264, frame for frame with sample.json -------------------------------------------

def test_bundled_sample_is_h264_faststart_and_matches_its_truth():
    import cv2

    from edge.zoo import SAMPLE_TRUTH, SAMPLE_VIDEO

    truth = json.load(open(SAMPLE_TRUTH))
    data = open(SAMPLE_VIDEO, "rb").read()
    assert b"avc1" in data[:data.find(b"mdat")] and data.find(b"moov") < data.find(b"mdat")  # index first
    cap = cv2.VideoCapture(SAMPLE_VIDEO)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FPS)) == \
        (truth["width"], truth["height"], truth["fps"]) == (1280, 720, 15)
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(truth["frames"]) == 180


def test_bundled_sample_decodes_in_gstreamer_with_a_key_frame_a_second():
    gst_or_skip("filesrc", "qtdemux", "h264parse", "decodebin", "appsink")
    from edge.sources.gst import gst
    from edge.zoo import SAMPLE_VIDEO

    with open_source(SAMPLE_VIDEO, capture="gstreamer", threaded=False) as src:
        n = sum(1 for _ in src)
        assert n == 180 and src.corrupt == 0
    Gst = gst()
    pipeline = Gst.parse_launch("filesrc location={} ! qtdemux ! h264parse ! appsink name=sink sync=false".format(
        SAMPLE_VIDEO))
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    keys = 0
    while True:
        sample = sink.try_pull_sample(5 * Gst.SECOND)
        if sample is None:
            break
        keys += not sample.get_buffer().has_flags(Gst.BufferFlags.DELTA_UNIT)
    pipeline.set_state(Gst.State.NULL)
    assert 12 <= keys <= 13  # 12 s at one a second



def test_bundled_sample_plays_in_headless_chromium(tmp_path):
    """The reason it is H.264 with the index first: a browser plays it (the mp4v one did not)."""
    import shutil

    from browser import CHROMIUM
    from edge.zoo import SAMPLE_VIDEO

    if CHROMIUM is None:
        pytest.skip("needs Chromium (Debian package `chromium`)")
    from test_clips import play_in_chromium

    shutil.copy(SAMPLE_VIDEO, str(tmp_path / "sample.mp4"))
    body = play_in_chromium(str(tmp_path), "sample.mp4")
    assert body.get("state") == "playing" and body.get("w") == "1280", body
