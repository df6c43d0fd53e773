"""Source URIs → what to open: a pure parser, so ``--camera`` strings are tested without hardware.

    csi | csi://N                                CSI camera N (Jetson, nvarguscamerasrc)
    usb | usb://N | N | /dev/videoN | v4l2://N | v4l2:///dev/videoN   V4L2 webcam
    rtsp://…                                     network camera (RTSP; --input-rtsp-latency)
    http(s)://…                                  network camera: MJPEG over HTTP, or HLS (….m3u8)
    test:// | test://PATTERN?frames=N            GStreamer videotestsrc
    PATH | file://PATH                           a video file, an image, or a folder of images
    file:///data/cam/*.jpg | PATH with * ? [ ]   the images matching a glob, in sorted order
"""
import glob
import os
import re
from typing import Dict, List, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from edge.errors import InputError, UsageError
from edge.files import IMAGE_SUFFIXES
KINDS = ("csi", "usb", "rtsp", "http", "test", "video", "image", "folder")
HELP = ("expected a camera (csi, csi://N, usb, N, /dev/videoN, v4l2:///dev/videoN), rtsp://…, http(s)://… "
        "(MJPEG or HLS), test://, a video file, an image, a folder or a glob of images")
GLOB_CHARS = re.compile(r"[*?\[]")


class SourceSpec(NamedTuple):
    kind: str             # one of KINDS
    target: str           # sensor id, device path, URL, pattern or file path
    params: Dict[str, str]


def http_format(url: str) -> str:
    """"hls" for a playlist URL (its path ends in .m3u8), else "mjpeg" (multipart/x-mixed-replace JPEGs)."""
    return "hls" if urlsplit(url).path.lower().endswith(".m3u8") else "mjpeg"


def glob_images(pattern: str) -> List[str]:
    """The image files matching a glob pattern, sorted by name."""
    return sorted(p for p in glob.glob(pattern) if p.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(p))


def parse_uri(uri: str) -> SourceSpec:
    uri = (uri or "").strip()
    if not uri:
        raise UsageError(HELP + ", found an empty string")
    low = uri.lower()
    if low in ("csi", "csi://"):
        return SourceSpec("csi", "0", {})
    m = re.match(r"^csi://(\d+)$", low)
    if m:
        return SourceSpec("csi", m.group(1), {})
    if low in ("usb", "usb://", "v4l2://"):
        return SourceSpec("usb", "/dev/video0", {})
    m = re.match(r"^(?:usb://|v4l2://)?(\d+)$", low)
    if m:
        return SourceSpec("usb", "/dev/video" + m.group(1), {})
    device = uri[len("v4l2://"):] if low.startswith("v4l2://") else uri
    if re.match(r"^/dev/video\d+$", device):
        return SourceSpec("usb", device, {})
    if low.startswith("v4l2://"):
        raise UsageError("expected v4l2:///dev/videoN or v4l2://N, found '{}'".format(uri))
    if low.startswith(("rtsp://", "rtsps://")):
        return SourceSpec("rtsp", uri, {})
    if low.startswith(("http://", "https://")):
        if not urlsplit(uri).hostname:
            raise UsageError("expected http(s)://HOST[:PORT]/PATH, found no host in '{}'".format(uri))
        return SourceSpec("http", uri, {"format": http_format(uri)})
    if low.startswith("test://"):
        parts = urlsplit(uri)
        return SourceSpec("test", parts.netloc or "smpte", dict(parse_qsl(parts.query)))
    if re.match(r"^[a-z][a-z0-9+.\-]*://", low) and not low.startswith("file://"):
        raise UsageError("{}, found the unsupported scheme in '{}'".format(HELP, uri))
    path = uri[len("file://"):] if low.startswith("file://") else uri
    if os.path.isdir(path):
        return SourceSpec("folder", path, {})
    if not os.path.exists(path) and GLOB_CHARS.search(path):
        if not glob_images(path):
            raise InputError("expected images ({}) matching the pattern '{}', found none".format(
                "/".join(IMAGE_SUFFIXES), path))
        return SourceSpec("folder", path, {"glob": "1"})
    if not os.path.exists(path):
        raise InputError("{}, found nothing at '{}'".format(HELP, path))
    if path.lower().endswith(IMAGE_SUFFIXES):
        return SourceSpec("image", path, {})
    return SourceSpec("video", path, {})
