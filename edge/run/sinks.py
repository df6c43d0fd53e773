"""Where processed frames go: each sink is given every frame with its faces and the annotated view.

    for sink in sinks: sink.write(frame, faces, view)   # False: the user asked to quit
    sink.close(keep=ok)                                  # keep what was written unless the run failed

``make_sinks``: the outputs ``--output URI`` (repeatable) and ``--save PATH`` name (``edge.outputs``: video
files, images, RTP, RTSP, a window), else a window unless ``--headless`` or no display; and the clip recorder
(``[record] dir``). ``--save`` is one more file output: ``.mp4``/``.mov``/``.mkv`` an H.264 video, an image
suffix images (for one input image that file, else one per frame, ``out.jpg`` → ``out_000000.jpg`` …), checked
at start-up with its folder (``check_save_path``). A write that fails (a full disk) is one line and exit 1,
with no temporary file left behind.
"""
import sys
from typing import Callable, List, Optional

from edge.files import check_writable


class Sink:
    """A frame output; also a context manager that keeps its output only when the run ended cleanly."""

    needs_view = True  # the loop draws the annotated view only when a sink (or the live view) needs it

    def wants_view(self, t_capture: float) -> bool:
        """Whether this sink takes the view of the frame captured at ``t_capture``: the loop draws a frame only
        when one sink (or the live view) takes it. Default: every frame, when ``needs_view``."""
        return self.needs_view

    def write(self, frame, faces, view) -> bool:
        """One processed frame (``edge.sources.base.Frame``, ``edge.run.results.Faces``, annotated BGR or
        None); False when the user asked to quit."""
        raise NotImplementedError

    def close(self, keep: bool = True) -> None:
        pass

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)


def check_save_path(path: str) -> None:
    """UsageError unless ``path`` is a file ``--save`` writes (a video or images), InputError unless it can be
    written."""
    if not path:
        return
    from edge.outputs import save_spec

    check_writable(save_spec(path).path, "--save")


def make_sinks(cfg, source, echo=None) -> List[Sink]:
    """The sinks ``cfg`` asks for: its outputs (``--output``, ``--save``), else a window unless ``--headless``
    or no display; and with ``[record] dir`` the clip recorder (``edge.events.clips``: an event sink too, which
    ``edge.events.make_event_sinks`` takes from these). ``echo`` prints a line (warnings: "edge: warning: …")."""
    from edge.outputs import make_outputs

    sinks = make_outputs(cfg, source, warner(echo))  # type: List[Sink]
    try:
        if not sinks and not cfg.headless:
            sinks.extend(_window(cfg, echo))
        record = getattr(cfg, "record", None)  # a RunConfig has it; a stand-in cfg of a test may not
        if record is not None and record.dir:
            from edge.events.clips import ClipRecorder

            sinks.append(ClipRecorder(record, warn=echo))
    except BaseException:
        for sink in reversed(sinks):
            sink.close(keep=False)
        raise
    return sinks


def warner(echo: Optional[Callable[[str], None]] = None) -> Callable[[str], None]:
    """``warn(text)``: the line "edge: warning: text" through ``echo`` (default: stderr)."""
    def warn(text: str) -> None:
        line = "edge: warning: " + text
        if echo:
            echo(line)
        else:
            print(line, file=sys.stderr)
    return warn


def _window(cfg, echo=None) -> List[Sink]:
    """The automatic window (edge.outputs.display), or none: the reason said once, the run goes headless."""
    from edge.outputs.display import auto_display

    window = auto_display(echo, getattr(cfg, "output", None))  # --output-size/--output-fps apply to it too
    return [window] if window else []


def display_available() -> bool:
    """A window can open: a display and a GStreamer window sink (or an OpenCV with HighGUI)."""
    return not no_display_reason()


def no_display_reason() -> str:
    """Why no window can open ("no display here (DISPLAY is not set)", …); "" when one can."""
    from edge.outputs.display import display_reason

    return display_reason()
