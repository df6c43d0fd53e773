"""``display://0`` and the automatic window: the annotated view on the screen.

    window = auto_display(echo)          # the default window, or None (the reason printed: runs headless)
    window.write(frame, faces, view)     # False: q/Esc pressed or the window closed ("quit by the user")

Through GStreamer first (``appsrc ! videoconvert ! SINK``, SINK the best window sink that opens here, as
``autovideosink`` would pick: xvimagesink, ximagesink, glimagesink, nveglglessink, waylandsink), which
needs no OpenCV GUI (the x86 install has the headless OpenCV wheel); else OpenCV's HighGUI
(``cv2.imshow``; JetPack's OpenCV has one). The sink's key presses come back as GstNavigation messages
on the bus (and as upstream events, caught by a pad probe on the sink); a closed window is the sink's error "Output window was closed". A frame pushed while the
previous one still waits for the window is dropped (counted in ``dropped``), so a slow window never stalls
the frame loop. ``display://0`` names X display ``:0`` (the X sinks' ``display`` property, or DISPLAY for
HighGUI); the automatic window uses the environment's DISPLAY / WAYLAND_DISPLAY.
"""
import os
import re
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from edge.errors import HardwareError, UsageError
from edge.outputs.base import OutputSpec, Pacer
from edge.run.sinks import Sink

TITLE = "edge run"
QUIT_KEYS = ("q", "Q", "Escape")
X_SINKS = ("xvimagesink", "ximagesink")
WINDOW_SINKS = X_SINKS + ("glimagesink", "nveglglessink", "waylandsink")  # each draws a window
HEADLESS_HINT = "running headless (pass --headless to skip this check)"
_named = [False]  # GLib's application name (the X sinks' window title) is set once per process


def check_display(display: str) -> str:
    """``display`` if it is an X display name (":0", ":1.0", "host:10"; "" for the environment's), else
    UsageError."""
    if display and not re.match(r"^[A-Za-z0-9.\-_]*:\d+(\.\d+)?$", display):
        raise UsageError("expected display://N (X display :N) or display://HOST:N, found display '{}'".format(
            display))
    return display


def sink_order(ranks: Dict[str, int], x11: bool, wayland: bool) -> List[str]:
    """The window sinks to try, best first: those installed (``ranks``: factory → rank) that fit the
    displays there are (X: ``x11``, Wayland: ``wayland``); the X sinks first (their key presses reach us on
    every GStreamer), then the others; each group by rank as autovideosink orders them."""
    def fits(name):
        if name in X_SINKS:
            return x11
        return wayland if name == "waylandsink" else x11 or wayland

    names = [n for n in WINDOW_SINKS if n in ranks and fits(n)]
    return sorted(names, key=lambda n: (n not in X_SINKS, -ranks[n]))  # stable: WINDOW_SINKS breaks ties


def display_pipeline(sink: str, display: str = "") -> str:
    """The GStreamer string of the window: BGR frames in through appsrc ``src``, ``display`` (an X sink's
    property) only when one is named."""
    prop = ' display="{}"'.format(check_display(display)) if display and sink in X_SINKS else ""
    return ("appsrc name=src is-live=true do-timestamp=true format=time block=false ! videoconvert ! "
            "{} name=sink sync=false{}".format(sink, prop))


def frame_caps(width: int, height: int) -> str:
    return "video/x-raw,format=BGR,width={},height={},framerate=0/1".format(width, height)


def _gst_sink(display: str) -> Tuple[str, str]:
    """(the first window sink that opens on ``display`` or the environment's, "") or ("", why none)."""
    from edge.sources import gst

    if not gst.available():
        return "", "PyGObject/GStreamer is not installed"
    Gst = gst.gst()
    ranks = {}
    for name in WINDOW_SINKS:
        factory = Gst.ElementFactory.find(name)
        if factory is not None:
            ranks[name] = factory.get_rank()
    order = sink_order(ranks, bool(display or os.environ.get("DISPLAY")),
                       bool(not display and os.environ.get("WAYLAND_DISPLAY")))
    for name in order:
        def opens():
            element = Gst.ElementFactory.make(name, None)
            if display and name in X_SINKS:
                element.set_property("display", display)
            element.set_bus(Gst.Bus.new())  # its error, read by _start
            return _start(Gst, element, Gst.State.READY)
        if not retried(opens):
            return name, ""
    if not order:
        return "", "GStreamer has no window sink (install gstreamer1.0-x)"
    return "", "no GStreamer window sink opens ({})".format(", ".join(order))


def _start(Gst, element, state) -> Tuple[str, str]:
    """("", "") when ``element`` reached ``state``; else its error's (message, debug text), left in NULL."""
    ok = element.set_state(state) != Gst.StateChangeReturn.FAILURE
    bus = element.get_bus()
    message = None if ok else bus.pop_filtered(Gst.MessageType.ERROR)
    while not ok and bus.pop_filtered(Gst.MessageType.ERROR) is not None:  # the rest of this attempt's
        pass
    if ok and state == Gst.State.READY:
        element.set_state(Gst.State.NULL)
    if ok:
        return "", ""
    element.set_state(Gst.State.NULL)
    if message is None:
        return "{} failed".format(element.get_name()), ""
    error, debug = message.parse_error()
    return error.message, debug or ""


def retried(attempt: Callable[[], Tuple[str, str]], tries: int = 3) -> str:
    """The error of ``attempt()`` ("" once it worked), tried again while the X server refuses the
    connection (a loaded server's full backlog: "Could not open display", errno EAGAIN), 0.15 s at most."""
    for n in range(tries):
        error, debug = attempt()
        if not error or "open display" not in debug.lower() or n == tries - 1:
            return error
        time.sleep(0.05 * 2 ** n)
    return ""


class _display_env:
    """DISPLAY set to ``display`` (when one is named) inside the block, as it was after."""

    def __init__(self, display: str):
        self.display, self.saved = display, None  # type: str, Optional[str]

    def __enter__(self):
        if self.display:
            self.saved = os.environ.get("DISPLAY")
            os.environ["DISPLAY"] = self.display

    def __exit__(self, *exc):
        if self.display:
            if self.saved is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = self.saved


def _opencv_gui(display: str) -> str:
    """"" when OpenCV's HighGUI opens a window (on ``display`` when one is named), else why not."""
    import cv2

    try:
        with _display_env(display):
            cv2.namedWindow("edge-probe", cv2.WINDOW_AUTOSIZE)
            cv2.destroyWindow("edge-probe")
        return ""
    except cv2.error as e:
        if "not implemented" in str(e):  # opencv-python-headless: no HighGUI
            return "this OpenCV has no GUI (the headless wheel)"
        return "OpenCV cannot open a window: {}".format(" ".join(str(e).split())[:120])


def choose_backend(display: str = "") -> Tuple[str, str, str]:
    """(backend "gst" or "opencv", its sink, "") for the window on ``display``, or ("", "", why none)."""
    sink, gst_reason = _gst_sink(display)
    if sink:
        return "gst", sink, ""
    cv_reason = _opencv_gui(display)
    if not cv_reason:
        return "opencv", "", ""
    where = display or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY", "")
    return "", "", "no window can open on {}: {}, and {}".format(where, gst_reason, cv_reason)


def _choice(display: str = "") -> Tuple[str, str, str]:
    """choose_backend, or ("", "", "no display here …") on Linux with neither DISPLAY nor WAYLAND_DISPLAY."""
    if not display and sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "", "", "no display here (DISPLAY is not set)"
    return choose_backend(check_display(display))


def display_reason(display: str = "") -> str:
    """"" when a window can open (a display, and a GStreamer window sink or an OpenCV GUI), else why not."""
    return _choice(display)[2]


def auto_display(warn: Optional[Callable[[str], None]], opts=None) -> Optional["DisplayOutput"]:
    """The default window (no --headless, no other output) when one can open; else None, the reason said
    once through ``warn``."""
    choice = _choice()
    if choice[2]:
        if warn:
            warn("{}: {}".format(choice[2], HEADLESS_HINT))
        return None
    if opts is None:
        from edge.outputs.options import OutputOptions

        opts = OutputOptions()
    return DisplayOutput(OutputSpec("display", "display://"), opts, warn, choice=choice)


def _navigation(GstVideo, name: str):
    """GstVideo's ``navigation_NAME`` (GStreamer 1.14's flat name), else the interface's ``NAME``."""
    return getattr(GstVideo, "navigation_" + name, None) or getattr(GstVideo.Navigation, name)


def navigation_key(GstVideo, message) -> str:
    """The key of a GstNavigation key-press message ("q", "Escape"), else ""."""
    if _navigation(GstVideo, "message_get_type")(message) != GstVideo.NavigationMessageType.EVENT:
        return ""
    ok, event = _navigation(GstVideo, "message_parse_event")(message)
    return navigation_event_key(GstVideo, event) if ok else ""


def navigation_event_key(GstVideo, event) -> str:
    """The key of a GstNavigation key-press event, else ""."""
    if _navigation(GstVideo, "event_get_type")(event) != GstVideo.NavigationEventType.KEY_PRESS:
        return ""
    ok, key = _navigation(GstVideo, "event_parse_key_event")(event)
    return key if ok else ""


class DisplayOutput(Sink):
    """The annotated view in a window titled "edge run"; ``write`` is False once the user quit."""

    def __init__(self, spec: OutputSpec, opts, warn: Optional[Callable[[str], None]] = None,
                 token: Optional[str] = None, choice: Optional[Tuple[str, str, str]] = None):
        self.spec, self.warn = spec, warn or (lambda message: None)
        self.display = check_display(spec.path)
        self.pacer = Pacer(opts.fps, opts.size)
        self.shown = self.dropped = 0
        self.backend, self.sink, reason = choice or choose_backend(self.display)  # choice: auto_display's
        if not self.backend:
            raise HardwareError("cannot show {}: {}".format(spec.uri, reason))
        self._window = (_GstWindow(self.sink, self.display, spec.uri) if self.backend == "gst"
                        else _CvWindow(self.display))
        self._failed = False

    def describe(self) -> str:
        return "{} ({})".format(self.spec.uri, self.sink or "OpenCV HighGUI")

    def write(self, frame, faces, view) -> bool:
        if self._failed:
            return True
        bgr = self.pacer.take(frame.image if view is None else view, frame.t_capture)
        if bgr is None:
            return True
        try:
            shown = self._window.show(bgr)
        except HardwareError as e:
            self._failed = True
            self.warn("{}; going on without the window".format(e))
            return True
        if shown is None:
            self.dropped += 1
            return True
        self.shown += 1
        return shown

    def close(self, keep: bool = True) -> None:
        self._window.close()


class _GstWindow:
    def __init__(self, sink: str, display: str, uri: str):
        import gi

        from edge.sources.gst import gst

        Gst = gst()
        gi.require_version("GstVideo", "1.0")
        from gi.repository import GLib, GstVideo

        if not _named[0]:
            GLib.set_application_name(TITLE)  # the X sinks' window title
            _named[0] = True
        self.Gst, self.GstVideo, self.uri = Gst, GstVideo, uri
        self.pipeline = Gst.parse_launch(display_pipeline(sink, display))
        self.src = self.pipeline.get_by_name("src")
        self.bus = self.pipeline.get_bus()
        self.size = None  # type: Optional[Tuple[int, int]]
        self.quit = threading.Event()  # q/Esc seen by the pad probe (the X sink's thread)
        pad = self.pipeline.get_by_name("sink").get_static_pad("sink")
        pad.add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._upstream)
        error = retried(lambda: _start(Gst, self.pipeline, Gst.State.PLAYING))
        if error:
            self.pipeline = None
            raise HardwareError("cannot open the window for {}: {}".format(uri, error))

    def _upstream(self, pad, info):
        """The sink's navigation events on their way upstream (where no bus message follows them)."""
        event = info.get_event()
        if event is not None and event.type == self.Gst.EventType.NAVIGATION and navigation_event_key(
                self.GstVideo, event) in QUIT_KEYS:
            self.quit.set()
        return self.Gst.PadProbeReturn.OK

    def _quit_asked(self) -> bool:
        """Read the bus: a q/Esc key press or a closed window; another error raises HardwareError."""
        Gst = self.Gst
        while True:
            message = self.bus.pop_filtered(Gst.MessageType.ELEMENT | Gst.MessageType.ERROR)
            if message is None:
                return self.quit.is_set()
            if message.type == Gst.MessageType.ERROR:
                text = message.parse_error()[0].message
                if "window was closed" in text.lower():
                    return True
                raise HardwareError("the window of {} failed: {}".format(self.uri, text))
            if navigation_key(self.GstVideo, message) in QUIT_KEYS:
                return True

    def show(self, bgr) -> Optional[bool]:
        """False: quit; None: dropped (the window still has the previous frame to draw); True: shown."""
        if self._quit_asked():
            return False
        height, width = bgr.shape[:2]
        if self.size != (width, height):
            self.src.set_property("caps", self.Gst.Caps.from_string(frame_caps(width, height)))
            self.size = (width, height)
        elif self.src.get_property("current-level-bytes") >= bgr.nbytes:
            return None
        self.src.emit("push-buffer", self.Gst.Buffer.new_wrapped(bgr.tobytes()))
        return True

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.set_state(self.Gst.State.NULL)
            self.pipeline = None


class _CvWindow:
    def __init__(self, display: str, title: str = TITLE):
        self.display, self.title, self.opened = display, title, False

    def show(self, bgr) -> bool:
        import cv2

        with _display_env("" if self.opened else self.display):  # HighGUI connects on the first imshow
            cv2.imshow(self.title, bgr)
        self.opened = True
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), ord("Q"), 27):
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1  # closed: quit

    def close(self) -> None:
        if self.opened:
            import cv2

            cv2.destroyWindow(self.title)
            self.opened = False
