"""``--output`` URIs → ``OutputSpec``: a pure parser, so every form is table-tested without a network or a screen.

    rtsp://@:8554/live          an RTSP server in this process on localhost (@ or no host: 127.0.0.1)
    rtsp://0.0.0.0:8554/live    … on every interface (needs --serve-token); rtsp://HOST:PORT/PATH
    rtp://HOST:PORT             H.264 RTP over UDP to HOST
    display://0 | display://    a window on X display :0 (or the one DISPLAY names)
    out.mp4 | out.mov | out.mkv H.264 video (file://PATH too)
    out.jpg | out_%04d.png      images: one file, or numbered by frame (%d, %0Nd)
"""
import os
import re
from urllib.parse import parse_qsl

from edge.errors import UsageError
from edge.files import IMAGE_SUFFIXES
from edge.outputs.base import OutputSpec

SCHEMES = ("rtsp", "rtp", "display", "file")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")
LOCALHOST = "127.0.0.1"
DEFAULT_MOUNT = "/live"
FORMS = ("rtsp://@:PORT/PATH, rtsp://HOST:PORT/PATH, rtp://HOST:PORT, display://N, a video file ({}) or "
         "images (.jpg, .png, out_%04d.jpg …)".format(" ".join(VIDEO_SUFFIXES)))
_PATTERN = re.compile(r"%0?\d*d")  # a frame-number pattern: %d, %04d


def parse_output(uri: str, flag: str = "--output") -> OutputSpec:
    """``uri`` → OutputSpec (kind rtsp | rtp | display | video | images); UsageError saying what was
    expected and what was found (``flag`` names the option in it)."""
    text = str(uri).strip()
    if not text:
        raise UsageError("expected {} {}, found an empty value".format(flag, FORMS))
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", text)
    if m is None:
        return _file(text, text, flag)
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "file":
        return _file(rest, text, flag)
    if scheme == "display":
        return _display(rest, text, flag)
    if scheme in ("rtsp", "rtp"):
        return _network(scheme, rest, text, flag)
    raise UsageError("expected {} with a scheme of {} (or a file path), found '{}' ({}:// is not an output)".format(
        flag, ", ".join(s + "://" for s in SCHEMES), text, scheme))


def frame_pattern(path: str) -> str:
    """The frame-number pattern in an image path ("%04d"), or ""."""
    m = _PATTERN.search(path)
    return m.group(0) if m else ""


def numbered_path(path: str, index: int, numbered: bool = True) -> str:
    """The file of frame ``index``: its number in place of the pattern (``out_%04d.jpg`` → ``out_0012.jpg``),
    else with ``numbered`` after the stem (``out.jpg`` → ``out_000012.jpg``), else ``path`` itself."""
    pattern = frame_pattern(path)
    if pattern:
        return path.replace(pattern, pattern % index, 1)
    if numbered:
        stem, suffix = os.path.splitext(path)
        return "{}_{:06d}{}".format(stem, index, suffix)
    return path


def _file(path: str, uri: str, flag: str) -> OutputSpec:
    if not path or path.endswith(("/", os.sep)):
        raise UsageError("expected {} to name a file ({}), found '{}'".format(flag, FORMS, uri))
    suffix = os.path.splitext(path)[1].lower()
    patterns = _PATTERN.findall(path)
    if suffix in VIDEO_SUFFIXES:
        if patterns:
            raise UsageError("expected {} to be one video file, found the frame-number pattern '{}' in '{}' "
                             "(numbered files are for images: out_%04d.jpg)".format(flag, patterns[0], uri))
        return OutputSpec("video", uri, path=path)
    if suffix in IMAGE_SUFFIXES:
        if len(patterns) > 1:
            raise UsageError("expected {} with at most one frame-number pattern (%04d), found {} in '{}'".format(
                flag, len(patterns), uri))
        if patterns and _PATTERN.search(os.path.dirname(path)):
            raise UsageError("expected {} with the frame-number pattern in the file name, found it in the "
                             "folder of '{}'".format(flag, uri))
        return OutputSpec("images", uri, path=path)
    raise UsageError("expected {} ending in .mp4/.mov (a video) or an image suffix ({}), or .mkv (a Matroska "
                     "video), found '{}'".format(flag, " ".join(IMAGE_SUFFIXES), uri))


def _display(rest: str, uri: str, flag: str) -> OutputSpec:
    number = rest.strip("/")
    number = number[1:] if number.startswith(":") else number
    if number and not number.isdigit():
        raise UsageError("expected {} display://N with N a display number (display://0 is :0; display:// the "
                         "one DISPLAY names), found '{}'".format(flag, uri))
    return OutputSpec("display", uri, path=":" + str(int(number)) if number else "")


def _network(scheme: str, rest: str, uri: str, flag: str) -> OutputSpec:
    form = "rtsp://HOST:PORT/PATH (e.g. rtsp://@:8554/live)" if scheme == "rtsp" else \
        "rtp://HOST:PORT (e.g. rtp://192.168.1.20:5000)"
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    host_port = netloc.rpartition("@")[2]  # "@:8554": jetson-inference's "this machine"
    m = re.match(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]]*)(?::(.*))?$", host_port)
    if m is None:
        raise UsageError("expected {} {}, found the address '{}' in '{}'".format(flag, form, netloc, uri))
    host, port_text = m.group(1).strip("[]"), m.group(2)
    if port_text is None or port_text == "":
        raise UsageError("expected {} {} with a port, found none in '{}'".format(flag, form, uri))
    if not port_text.isdigit():
        raise UsageError("expected {} {} with a numeric port, found '{}' in '{}'".format(flag, form, port_text, uri))
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise UsageError("expected {} with a port 1…65535, found {} in '{}'".format(flag, port, uri))
    params = dict(parse_qsl(query))
    if scheme == "rtp":
        if not host:
            raise UsageError("expected {} {}: the host to send to, found none in '{}'".format(flag, form, uri))
        if path.strip("/"):
            raise UsageError("expected {} {} without a path, found '/{}' in '{}'".format(flag, form, path, uri))
        return OutputSpec("rtp", uri, host=host, port=port, params=params)
    mount = "/" + path.strip("/") if path.strip("/") else DEFAULT_MOUNT
    if not re.match(r"^(/[A-Za-z0-9._~\-]+)+$", mount):
        raise UsageError("expected {} {} with a path of letters, digits, '.', '-', '_' and '/', found '{}' in "
                         "'{}'".format(flag, form, mount, uri))
    return OutputSpec("rtsp", uri, host=host or LOCALHOST, port=port, path=mount, params=params)
