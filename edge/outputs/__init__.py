"""Where the annotated video goes: ``--output URI`` (repeatable) and ``--save PATH``, each one frame sink.

    specs = output_specs(cfg)                  # [(flag, OutputSpec)] of --output … then --save; UsageError
    sinks = make_outputs(cfg, source, warn)    # one Sink per spec, built from OUTPUTS

``OUTPUTS`` maps a kind (``edge.outputs.uri.parse_output``) to its class, imported only when used. Every
class is built as ``Cls(spec, opts, warn, token)`` (``opts``: ``[output]``, ``warn(text)``: one warning line,
``token``: ``--serve-token``, which an RTSP server on another address than localhost needs); the file and
RTP outputs also get how the source is timed and the encoder chosen once for the run (one warning, when
there is no H.264 encoder, not one per output).
"""
import importlib
from typing import Callable, List, Optional, Tuple

from edge.errors import UsageError
from edge.outputs.base import OutputSpec

OUTPUTS = {
    "video": "edge.outputs.file:VideoOutput",       # out.mp4 / .mov / .mkv
    "images": "edge.outputs.images:ImageOutput",    # out.jpg, out_%04d.png
    "rtp": "edge.outputs.rtp:RtpOutput",            # rtp://HOST:PORT
    "rtsp": "edge.outputs.rtsp:RtspOutput",         # rtsp://@:8554/live
    "display": "edge.outputs.display:DisplayOutput",  # display://0
}
FILE_KINDS = ("video", "images")
NOT_LIVE = ("video", "image", "folder", "test")  # source kinds timed by frame number, not by the clock


def output_specs(cfg) -> List[Tuple[str, OutputSpec]]:
    """(flag, spec) of each ``--output`` URI, then ``--save``; UsageError for a bad URI or a file named twice."""
    from edge.outputs.uri import parse_output

    opts = getattr(cfg, "output", None)
    specs = [("--output", parse_output(u, "--output")) for u in (getattr(opts, "uris", None) or [])]
    save = getattr(cfg, "save", "")
    if save:
        specs.append(("--save", save_spec(save)))
    seen = {}  # type: dict
    for flag, spec in specs:
        key = _identity(spec)
        if key in seen:
            raise UsageError("expected each output once, found {} '{}' and {} '{}' naming the same {}".format(
                seen[key][0], seen[key][1].uri, flag, spec.uri, "file" if spec.kind in FILE_KINDS else "address"))
        seen[key] = (flag, spec)
    return specs


def save_spec(path: str) -> OutputSpec:
    """``--save PATH`` parsed: a file (a video or images), else UsageError."""
    from edge.outputs.uri import parse_output

    spec = parse_output(path, "--save")
    if spec.kind not in FILE_KINDS:
        raise UsageError("expected --save to name a file (a video or images), found '{}' (use --output for "
                         "{} outputs)".format(path, spec.kind))
    return spec


def _identity(spec: OutputSpec) -> tuple:
    import os

    if spec.kind in FILE_KINDS:
        return ("file", os.path.abspath(spec.path))
    return (spec.kind, spec.host, spec.port, spec.path)


def check_outputs(cfg) -> None:
    """At start-up: every output URI parses, every file output can be written, an RTSP output off localhost
    has its token (UsageError/InputError)."""
    from edge.files import check_writable

    token = getattr(getattr(cfg, "serve", None), "token", None) or None
    for flag, spec in output_specs(cfg):
        if spec.kind in FILE_KINDS:
            check_writable(spec.path, flag)
        elif spec.kind == "rtsp":  # anything but localhost needs the token, before the model loads
            from edge.outputs.rtsp import check_rtsp

            check_rtsp(spec, token)


def output_class(kind: str):
    """The class of output ``kind`` (imported now)."""
    module, name = OUTPUTS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def make_outputs(cfg, source=None, warn: Optional[Callable[[str], None]] = None) -> list:
    """One Sink per output ``cfg`` names; if one cannot be built, those built are closed (nothing kept)."""
    from edge.outputs.options import OutputOptions

    specs = output_specs(cfg)
    opts = getattr(cfg, "output", None) or OutputOptions()
    token = getattr(getattr(cfg, "serve", None), "token", None) or None
    extra = _source_facts(cfg, source)
    kinds = [spec.kind for _, spec in specs]
    encoder = None
    if "video" in kinds or "rtp" in kinds:
        from edge.outputs.encoders import resolve_encoder

        # RTP has no fallback: with it, no encoder is an error before the file outputs' warning
        encoder = resolve_encoder(opts.encoder, warn, fallback="rtp" not in kinds,
                                  what="--output rtp://" if "rtp" in kinds else "--encoder")
    built = []  # type: list
    try:
        for flag, spec in specs:
            cls = output_class(spec.kind)
            if spec.kind in ("video", "rtp"):
                out = cls(spec, opts, warn, token, encoder=encoder, source_fps=extra["fps"], live=extra["live"],
                          flag=flag)
            elif spec.kind == "images":
                out = cls(spec, opts, warn, token, numbered=extra["numbered"], flag=flag, live=extra["live"],
                          source_fps=extra["fps"])
            else:
                out = cls(spec, opts, warn, token)
            built.append(out)
    except BaseException:
        for out in reversed(built):
            out.close(keep=False)
        raise
    return built


class FrameClock:
    """A frame's time in seconds for pacing and timestamps: a camera's capture time (``live``), else the
    stream's own timestamp (``pts_ms``) or its number at ``fps``; a file starting again (``--loop``) goes on
    from where it was, so the times only grow."""

    def __init__(self, live: bool, fps: float):
        self.live, self.fps = live, float(fps or 30.0)
        self._offset, self._last = 0.0, None  # type: Tuple[float, Optional[float]]

    def time(self, frame) -> float:
        if self.live:
            return frame.t_capture
        t = frame.pts_ms / 1000.0 if frame.pts_ms is not None else frame.index / self.fps
        if self._last is not None and t + self._offset < self._last + 0.5 / self.fps:  # went back: a reopening
            self._offset = self._last + 1.0 / self.fps - t
        self._last = t + self._offset
        return self._last


def _source_facts(cfg, source) -> dict:
    """How the source's frames are timed: its rate, whether it is live (a camera: by the clock), and whether
    an image output is numbered (anything but one image)."""
    from edge.sources.reopening import source_kind

    uri = cfg.source_uri() if hasattr(cfg, "source_uri") else ""
    kind = source_kind(uri) if uri else "video"
    inner = getattr(source, "inner", source)
    fps = getattr(inner, "fps", 0) or getattr(source, "fps", 0) or getattr(cfg, "fps", 0) or 30.0
    live = getattr(source, "live", None)
    return {"fps": float(fps), "live": bool(kind not in NOT_LIVE if live is None else live),
            "numbered": bool(getattr(cfg, "loop", False) or kind != "image")}
