"""HTTP cameras: before a pipeline opens, one GET says whether the URL answers and with what, so an
unreachable camera, a refused token or a web page instead of a stream is one clear line, whichever capture
(GStreamer's souphttpsrc or OpenCV's FFmpeg) then reads it.

    fmt = probe("http://cam.local/video.mjpg")     # "mjpeg" or "hls"; HardwareError / InputError
"""
import base64
import socket
import ssl
from typing import Optional, Tuple
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit
from urllib.request import (HTTPBasicAuthHandler, HTTPDigestAuthHandler, HTTPPasswordMgrWithDefaultRealm,
                            Request, build_opener)

from edge.errors import HardwareError, InputError
from edge.sources.pipelines import strip_userinfo

PROBE_TIMEOUT_S = 5.0
PEEK_BYTES = 512
HLS_TYPES = ("application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl")
EXPECTED = "an MJPEG stream (multipart/x-mixed-replace) or an HLS playlist (.m3u8)"


def stream_format(content_type: str, head: bytes) -> Optional[str]:
    """"mjpeg" / "hls" from a response's Content-Type and first bytes; None when it is neither — a pure rule."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype.startswith("multipart/"):
        return "mjpeg"
    if ctype in HLS_TYPES or head.lstrip().startswith(b"#EXTM3U"):
        return "hls"
    if ctype in ("", "application/octet-stream") and head.lstrip().startswith(b"--") and b"\xff\xd8" in head:
        return "mjpeg"  # a camera that leaves the multipart Content-Type out
    return None


def _opener(url: str):
    parts = urlsplit(url)
    handlers = []
    if parts.username is not None:
        mgr = HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, strip_userinfo(url), unquote(parts.username), unquote(parts.password or ""))
        handlers = [HTTPBasicAuthHandler(mgr), HTTPDigestAuthHandler(mgr)]
    return build_opener(*handlers)


def _basic_header(url: str) -> Optional[Tuple[str, str]]:
    parts = urlsplit(url)
    if parts.username is None:
        return None
    token = "{}:{}".format(unquote(parts.username), unquote(parts.password or "")).encode("utf-8")
    return "Authorization", "Basic " + base64.b64encode(token).decode("ascii")


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """GET ``url``, read the headers and the first bytes, close: the stream's format ("mjpeg" or "hls").
    Unreachable, timed out or a server error → HardwareError (a camera that may come back: reopened with
    back-off); refused (4xx) or not a video stream → InputError."""
    shown = strip_userinfo(url)
    req = Request(strip_userinfo(url), headers={"User-Agent": "edge", "Accept": "*/*"})
    header = _basic_header(url)
    if header:  # sent up front: many cameras never send the challenge urllib waits for
        req.add_header(*header)
    try:
        resp = _opener(url).open(req, timeout=timeout)
    except HTTPError as e:
        hint = "; edge's live view (/stream.mjpg) needs ?token=… off localhost" if e.code in (401, 403) else ""
        cls = HardwareError if e.code >= 500 else InputError
        raise cls("expected {} at '{}', found HTTP {} {}{}".format(EXPECTED, shown, e.code, e.reason, hint)) from None
    except (URLError, socket.timeout, ssl.SSLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise HardwareError("cannot reach the http camera '{}': {}".format(shown, _reason(reason))) from None
    try:
        ctype = resp.headers.get("Content-Type", "") or ""
        try:
            head = resp.read(PEEK_BYTES) if not ctype.lower().startswith("multipart/") else b""
        except (socket.timeout, OSError):
            head = b""
    finally:
        resp.close()
    fmt = stream_format(ctype, head)
    if fmt is None:
        raise InputError("expected {} at '{}', found {}".format(EXPECTED, shown, _what(ctype, head)))
    return fmt


def _what(ctype: str, head: bytes) -> str:
    if ctype.lower().startswith("text/html") or head.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
        return "a web page ({})".format(ctype or "no Content-Type")
    return "Content-Type '{}'".format(ctype) if ctype else "a response without a Content-Type"


def _reason(reason) -> str:
    text = str(getattr(reason, "strerror", None) or reason)
    return " ".join(text.split()) or type(reason).__name__

