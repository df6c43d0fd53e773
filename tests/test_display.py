"""display://0 and the automatic window, for real under Xvfb: the annotated frame on the X screen
(screenshot with ximagesrc), q in the window ends the run, a closed window too, a stopped X server does not
stall the frame loop; no DISPLAY: one "running headless" line."""
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edge.errors import HardwareError, UsageError
from edge.outputs import display as d
from edge.outputs.base import OutputSpec
from edge.outputs.options import OutputOptions
from edge.sources.base import Frame
from tests.localnet import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H = 640, 360


@pytest.mark.parametrize("ranks, x11, wayland, order", [
    ({"xvimagesink": 256, "ximagesink": 128, "waylandsink": 64}, True, False, ["xvimagesink", "ximagesink"]),
    ({"xvimagesink": 256, "ximagesink": 128, "waylandsink": 64}, False, True, ["waylandsink"]),
    ({"ximagesink": 128, "glimagesink": 256, "waylandsink": 64}, True, True,
     ["ximagesink", "glimagesink", "waylandsink"]),  # X sinks first: q/Esc reach us
    ({"nveglglessink": 256, "glimagesink": 128}, True, False, ["nveglglessink", "glimagesink"]),
    ({"glimagesink": 128, "nveglglessink": 128}, False, True, ["glimagesink", "nveglglessink"]),  # tie: list order
    ({"kmssink": 128, "fakesink": 0}, True, True, []),  # not window sinks
    ({"ximagesink": 128}, False, False, []),
])
def test_sink_order(ranks, x11, wayland, order):
    assert d.sink_order(ranks, x11, wayland) == order


@pytest.mark.parametrize("sink, display, text", [
    ("ximagesink", ":9", 'ximagesink name=sink sync=false display=":9"'),
    ("xvimagesink", "host:10.0", 'xvimagesink name=sink sync=false display="host:10.0"'),
    ("ximagesink", "", "ximagesink name=sink sync=false"),
    ("waylandsink", ":0", "waylandsink name=sink sync=false"),  # an X display is no Wayland one
])
def test_display_pipeline(sink, display, text):
    line = d.display_pipeline(sink, display)
    assert line.startswith("appsrc name=src is-live=true") and " ! videoconvert ! " in line
    assert line.endswith(text)


@pytest.mark.parametrize("bad", ["0", ":x", ':0" ! fakesink', "a b:0"])
def test_bad_display_name(bad):
    with pytest.raises(UsageError, match="expected display://N"):
        d.check_display(bad)


def test_frame_caps():
    assert d.frame_caps(640, 360) == "video/x-raw,format=BGR,width=640,height=360,framerate=0/1"


def test_no_display_reason(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    said = []
    assert d.display_reason() == "no display here (DISPLAY is not set)"
    assert d.auto_display(said.append) is None
    assert said == ["no display here (DISPLAY is not set): running headless (pass --headless to skip this check)"]


def test_no_display_runs_headless():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "edge", "run", "--camera", "test://smpte?frames=3"], cwd=ROOT,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert r.returncode == 0, r.stderr
    said = [line for line in (r.stdout + r.stderr).splitlines() if "running headless" in line]
    assert len(said) == 1 and said[0].endswith(
        "no display here (DISPLAY is not set): running headless (pass --headless to skip this check)"), said


# --- under Xvfb -----------------------------------------------------------------------------------------

def _start_xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb (Debian package xvfb)")
    for n in range(90, 100):
        if os.path.exists("/tmp/.X{}-lock".format(n)) or os.path.exists("/tmp/.X11-unix/X{}".format(n)):
            continue
        server = subprocess.Popen(["Xvfb", ":{}".format(n), "-screen", "0", "1024x640x24", "-br", "-nolisten", "tcp"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server.poll() is None:
            if os.path.exists("/tmp/.X11-unix/X{}".format(n)):
                return server, ":{}".format(n)
            time.sleep(0.05)
        server.kill()
        server.wait()
    pytest.skip("no free X display :90…:99 for Xvfb")


@pytest.fixture
def xvfb():
    server, name = _start_xvfb()
    yield name
    server.send_signal(signal.SIGCONT)  # in case a test stopped it
    server.terminate()
    server.wait(10)


@pytest.fixture
def xvfb_server():
    server, name = _start_xvfb()
    yield server, name
    server.send_signal(signal.SIGCONT)
    server.terminate()
    server.wait(10)


def _need_gst_window(display):
    from edge.sources import gst

    if not gst.available() or not gst.gst().ElementFactory.find("ximagesrc"):
        pytest.skip("needs PyGObject and GStreamer's ximagesrc (gstreamer1.0-plugins-good) for the screenshot")
    if not gst.gst().ElementFactory.find("ximagesink"):
        pytest.skip("needs GStreamer's ximagesink (Debian package gstreamer1.0-x)")


def screenshot(display, path):
    """The X screen as a BGR image (ximagesrc → PNG)."""
    import cv2

    subprocess.run(["gst-launch-1.0", "-q", "ximagesrc", "display-name=" + display, "use-damage=false",
                    "num-buffers=1", "!", "videoconvert", "!", "pngenc", "!", "filesink", "location=" + path],
                   check=True, timeout=20, stdout=subprocess.DEVNULL)
    return cv2.imread(path)


@pytest.fixture(scope="module")
def raw_frame():
    """The test source's frame as edge reads it, before the overlay (videotestsrc's SMPTE bars)."""
    from edge.sources import open_source

    with open_source("test://smpte?frames=1", W, H, threaded=False) as src:
        return src.read(10).image.copy()


def frame_shown(shot, raw) -> bool:
    """The frame fills the window at the screen's top-left corner (ximagesink's place without a window
    manager): its middle row as the source made it."""
    return np.abs(shot[H // 2, :W].astype(int) - raw[H // 2].astype(int)).mean() < 8


def banner_shown(shot, raw) -> bool:
    """The overlay's banner (edge.run.overlay.draw): a black box with white text over the top-left bar,
    which is bright in the raw frame."""
    box, under = shot[2:16, 2:120].astype(int), raw[2:16, 2:120].astype(int)
    assert (under.max(axis=2) > 150).all(), "the raw frame is dark under the banner: the check would mean nothing"
    dark, white = (box.max(axis=2) < 40).mean(), (box.min(axis=2) > 180).mean()
    return dark > 0.5 and white > 0.02


def window_id(display, timeout=15.0) -> str:
    env = dict(os.environ, DISPLAY=display)

    def find():
        r = subprocess.run(["xdotool", "search", "--name", "^edge run$"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True)
        return r.stdout.split()[0] if r.stdout.split() else ""
    return wait_for(find, timeout, "the window titled 'edge run'")


def press(display, wid, key):
    subprocess.run(["xdotool", "key", "--window", wid, key], env=dict(os.environ, DISPLAY=display), check=True,
                   stderr=subprocess.DEVNULL)


def close_window(display, wid):
    """What a window manager's close button sends: a WM_DELETE_WINDOW client message (through libX11)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XInternAtom.restype, x11.XInternAtom.argtypes = ctypes.c_ulong, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    disp = x11.XOpenDisplay(display.encode())
    event = XEvent()
    event.xclient.type, event.xclient.window, event.xclient.format = 33, int(wid), 32  # 33: ClientMessage
    event.xclient.message_type = x11.XInternAtom(disp, b"WM_PROTOCOLS", 0)
    event.xclient.data[0] = x11.XInternAtom(disp, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(disp, int(wid), 0, 0, ctypes.byref(event))
    x11.XFlush(disp)
    x11.XCloseDisplay(disp)


def edge_run(env, *args):
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--camera", "test://smpte?frames=100000",
                             "--width", str(W), "--height", str(H), "--json"] + list(args), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def finish(p, timeout=10.0):
    """(the run's summary, what it said on stderr) once it ended by itself within ``timeout`` s."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("edge run went on {} s after it was asked to quit: {}".format(
            timeout, p.communicate()[1][-2000:]))
    assert p.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1]), err


def test_default_window_shows_the_annotated_view_and_q_quits(xvfb, tmp_path, raw_frame):
    """The laptop demo: DISPLAY set, no --headless, no output → the window (GStreamer; this OpenCV may be
    the headless wheel); the screenshot shows the bars under the overlay's banner; q ends the run."""
    _need_gst_window(xvfb)
    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool (Debian package xdotool) to press q")
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env["DISPLAY"] = xvfb
    p = edge_run(env)
    try:
        wid = window_id(xvfb)
        shots = []
        wait_for(lambda: frame_shown(shots.append(screenshot(xvfb, str(tmp_path / "s.png"))) or shots[-1],
                                     raw_frame), 15, "the test source's frame in the window")
        assert banner_shown(shots[-1], raw_frame), "the window shows the frame without the overlay's banner"
        press(xvfb, wid, "q")
        t = time.monotonic()
        summary, err = finish(p)
        assert time.monotonic() - t < 5, "q took {:.1f} s to end the run".format(time.monotonic() - t)
    finally:
        if p.poll() is None:
            p.kill()
    assert summary["stopped"] == "quit by the user" and "running headless" not in err


def test_output_display_uri_names_the_screen_and_closing_quits(xvfb):
    """--output display://:N opens on that X display although DISPLAY is not set; closing the window ends
    the run as the user's quit."""
    _need_gst_window(xvfb)
    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool (Debian package xdotool) to find the window")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = edge_run(env, "--output", "display://" + xvfb)
    try:
        close_window(xvfb, window_id(xvfb))
        summary, err = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
    assert summary["stopped"] == "quit by the user", err


def test_escape_quits_and_a_stopped_x_server_does_not_stall_the_loop(xvfb_server):
    """In process: frames are dropped, not queued, while the X server does not draw (SIGSTOP), each write
    returning at once; after it resumes, Esc in the window quits."""
    server, name = xvfb_server
    _need_gst_window(name)
    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool (Debian package xdotool) to press Esc")
    out = d.DisplayOutput(OutputSpec("display", "display://" + name, path=name), OutputOptions(), print)
    image = np.full((H, W, 3), 90, np.uint8)
    frames = iter(range(10 ** 6))

    def write():
        return out.write(Frame(next(frames), image, time.monotonic()), None, image)
    try:
        assert out.sink == "ximagesink"
        assert write()
        wid = window_id(name)  # the window opens with the first frame
        server.send_signal(signal.SIGSTOP)
        slowest = 0.0
        for _ in range(200):
            t = time.monotonic()
            assert write()
            slowest = max(slowest, time.monotonic() - t)
            time.sleep(0.002)
        server.send_signal(signal.SIGCONT)
        assert out.dropped > 150, "only {} of 200 frames dropped while X was stopped".format(out.dropped)
        assert slowest < 0.5, "a write took {:.2f} s while X was stopped".format(slowest)
        press(name, wid, "Escape")
        wait_for(lambda: not write(), 10, "Esc to end the display")
    finally:
        server.send_signal(signal.SIGCONT)
        out.close()


def test_unknown_display_is_one_error(xvfb):
    _need_gst_window(xvfb)
    with pytest.raises(HardwareError, match="cannot show display://:89"):
        d.DisplayOutput(OutputSpec("display", "display://:89", path=":89"), OutputOptions(), print)


def test_without_gstreamer_the_reason_names_both_ways(xvfb, monkeypatch):
    """No PyGObject: HighGUI would be used; with the headless OpenCV wheel the one line names both."""
    import cv2

    from edge.sources import gst

    monkeypatch.setattr(gst, "available", lambda: False)
    monkeypatch.setenv("DISPLAY", xvfb)
    try:
        cv2.namedWindow("edge-probe")
        cv2.destroyWindow("edge-probe")
        assert d.choose_backend()[:2] == ("opencv", "")  # an OpenCV with a GUI (JetPack's)
    except cv2.error:
        assert d.display_reason() == ("no window can open on {}: PyGObject/GStreamer is not installed, and this "
                                      "OpenCV has no GUI (the headless wheel)".format(xvfb))
