"""Smaller things a user meets: one TensorRT install hint that fits the machine, why no window opens."""
import os
import re
import sys

import pytest

import edge.files
from edge.errors import MissingDependency, require_tensorrt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("jetson,says,never", [
    (True, "`sudo apt-get install python3-libnvinfer` (on a Jetson TensorRT comes with JetPack, not pip",
     "pip install tensorrt"),
    (False, "`pip install tensorrt`", "JetPack"),
])
def test_tensorrt_hint_is_one_consistent_message(monkeypatch, jetson, says, never):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as where it is not installed
    monkeypatch.setattr(edge.files, "is_jetson", lambda: jetson)
    with pytest.raises(MissingDependency) as e:
        require_tensorrt()
    text = str(e.value)
    assert says in text and never not in text and "\n" not in text
    assert e.value.exit_code == 4


def test_every_tensorrt_import_goes_through_the_one_hint():
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "edge")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                if re.search(r"require\(\s*[\"']tensorrt[\"']", text) or "comes with JetPack, not pip)\"" in text:
                    found.append(os.path.relpath(path, ROOT))
    assert not found, "use edge.errors.require_tensorrt() in: {}".format(found)


def test_a_display_with_headless_opencv_says_no_gui(monkeypatch):
    cv2 = pytest.importorskip("cv2")
    from edge.outputs import display
    from edge.run import sinks

    def headless(*args):
        raise cv2.error("OpenCV(4.10.0) window.cpp:1284: error: (-2:Unspecified error) The function is not "
                        "implemented. Rebuild the library with Windows, GTK+ 2.x or Cocoa support.")

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "namedWindow", headless)
    monkeypatch.setattr(display, "_gst_sink", lambda where: ("", "no GStreamer window sink opens (ximagesink)"))
    reason = sinks.no_display_reason()
    assert "this OpenCV has no GUI" in reason and "no GStreamer window sink" in reason
    assert "no display here" not in reason
    assert not sinks.display_available()
    lines = []

    class Cfg:
        save, headless = "", False
    assert sinks.make_sinks(Cfg(), None, lines.append) == []
    assert lines == ["{}: running headless (pass --headless to skip this check)".format(reason)]
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert sinks.no_display_reason().startswith("no display here")
