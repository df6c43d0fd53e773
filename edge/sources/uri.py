"""Source URIs → what to open: a pure parser, so ``--camera`` strings are tested without hardware.

    csi | csi://N                      CSI camera N (Jetson, nvarguscamerasrc)
    usb | usb://N | N | /dev/videoN    V4L2 webcam
    rtsp://…                           network camera
    test:// | test://PATTERN?frames=N  GStreamer videotestsrc
    PATH | file://PATH                 a video file, an image, or a folder of images
"""
import os
import re
from typing import Dict, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from edge.errors import InputError, UsageError
from edge.files import IMAGE_SUFFIXES
KINDS = ("csi", "usb", "rtsp", "test", "video", "image", "folder")
HELP = ("expected a camera (csi, csi://N, usb, N, /dev/videoN), rtsp://…, test://, a video file, an "
        "image or a folder of images")


class SourceSpec(NamedTuple):
    kind: str             # one of KINDS
    target: str           # sensor id, device path, URL, pattern or file path
    params: Dict[str, str]


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
    if low in ("usb", "usb://"):
        return SourceSpec("usb", "/dev/video0", {})
    m = re.match(r"^(?:usb://)?(\d+)$", low)
    if m:
        return SourceSpec("usb", "/dev/video" + m.group(1), {})
    if re.match(r"^/dev/video\d+$", uri):
        return SourceSpec("usb", uri, {})
    if low.startswith(("rtsp://", "rtsps://")):
        return SourceSpec("rtsp", uri, {})
    if low.startswith("test://"):
        parts = urlsplit(uri)
        return SourceSpec("test", parts.netloc or "smpte", dict(parse_qsl(parts.query)))
    if re.match(r"^[a-z][a-z0-9+.\-]*://", low) and not low.startswith("file://"):
        raise UsageError("{}, found the unsupported scheme in '{}'".format(HELP, uri))
    path = uri[len("file://"):] if low.startswith("file://") else uri
    if os.path.isdir(path):
        return SourceSpec("folder", path, {})
    if not os.path.exists(path):
        raise InputError("{}, found nothing at '{}'".format(HELP, path))
    if path.lower().endswith(IMAGE_SUFFIXES):
        return SourceSpec("image", path, {})
    return SourceSpec("video", path, {})
