"""Frame sources addressed by URI (see ``edge.sources.uri``).

    >>> with open_source("test://ball?frames=30") as src:
    ...     for frame in src:                 # Frame(index, image BGR, t_capture, pts_ms)
    ...         pass

Which capture runs (``capture="auto"``):

* csi, usb, rtsp, http, test — a GStreamer pipeline through PyGObject's appsink; where PyGObject is
  missing but OpenCV was built with GStreamer (JetPack), the same pipeline through ``cv2.CAP_GSTREAMER``;
  a USB camera falls back to OpenCV's V4L2 capture, an RTSP or HTTP camera to OpenCV's FFmpeg (where
  ``rtsp_latency`` does not apply).
* video files — OpenCV (FFmpeg) on a workstation; GStreamer (``decodebin`` → hardware decoder) on a Jetson.
* images, folders and globs of images — ``cv2.imread``.

An HTTP camera is probed first (``edge.sources.http.probe``): one GET says whether it answers, and with
MJPEG or HLS.
"""
from typing import Optional

from edge.errors import MissingDependency, UsageError
from edge.sources import pipelines
from edge.sources.base import EndOfStream, Frame, Source, SourceTimeout  # noqa: F401
from edge.sources.uri import SourceSpec, parse_uri  # noqa: F401

CAPTURES = ("auto", "gstreamer", "opencv")


def pipeline_for(spec: SourceSpec, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0,
                 jetson: bool = False, mjpeg: bool = True, rtsp_latency: int = 200) -> Optional[str]:
    """The GStreamer description for a source, or None for images/folders (no pipeline)."""
    if spec.kind == "csi":
        return pipelines.csi_pipeline(int(spec.target), width, height, fps, flip)
    if spec.kind == "usb":
        return pipelines.usb_pipeline(spec.target, width, height, fps, mjpeg=mjpeg, jetson=jetson)
    if spec.kind == "rtsp":
        return pipelines.rtsp_pipeline(spec.target, latency_ms=rtsp_latency, jetson=jetson)
    if spec.kind == "http":
        return pipelines.http_pipeline(spec.target, spec.params.get("format", "mjpeg"), jetson=jetson)
    if spec.kind == "test":
        return pipelines.testsrc_pipeline(spec.target, width, height, fps,
                                          int(spec.params.get("frames", spec.params.get("num-buffers", -1))))
    if spec.kind == "video":
        return pipelines.file_pipeline(spec.target, jetson=jetson)
    return None


def choose_capture(spec: SourceSpec, capture: str, have_gi: bool, cv_gst: bool, jetson: bool) -> str:
    """"gstreamer" (PyGObject), "cv-gstreamer" (cv2.CAP_GSTREAMER), "opencv" or "images" — a pure rule."""
    if capture not in CAPTURES:
        raise UsageError("expected --capture {}, found '{}'".format("/".join(CAPTURES), capture))
    if spec.kind in ("image", "folder"):
        return "images"
    if capture == "opencv":
        return "opencv" if spec.kind in ("video", "usb", "rtsp", "http") else (
            "cv-gstreamer" if cv_gst else "opencv")
    if capture == "gstreamer" or spec.kind in ("csi", "test") or (spec.kind == "video" and jetson) or \
            (spec.kind in ("usb", "rtsp", "http") and (have_gi or cv_gst)):
        if have_gi:
            return "gstreamer"
        if cv_gst:
            return "cv-gstreamer"
        if spec.kind in ("usb", "rtsp", "http", "video") and capture == "auto":
            return "opencv"
        raise MissingDependency("gi", "PyGObject", "the {} source (GStreamer); OpenCV here was built "
                                "without GStreamer either".format(spec.kind))
    return "opencv"


def open_source(uri: str, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0,
                capture: str = "auto", threaded: bool = True, loop: bool = False, rtsp_latency: int = 200) -> Source:
    """Open the source a URI names; ``threaded`` runs capture in its own thread (stale frames dropped
    for cameras, counted in ``source.dropped``); ``rtsp_latency``: rtspsrc's jitter buffer in ms (GStreamer
    captures only)."""
    from edge.sources import gst
    from edge.sources.opencv import CvSource, ImageSource, list_images, opencv_has_gstreamer
    from edge.sources.uri import glob_images

    spec = parse_uri(uri)
    have_gi = gst.available()
    jetson = have_gi and gst.is_jetson()
    how = choose_capture(spec, capture, have_gi, opencv_has_gstreamer(), jetson)
    if how == "images":
        paths = [spec.target] if spec.kind == "image" else (
            glob_images(spec.target) if spec.params.get("glob") else list_images(spec.target))
        return ImageSource(uri, paths, loop=loop)  # reading a file is the work itself: no thread
    if spec.kind == "http":
        from edge.sources.http import probe

        spec = spec._replace(params=dict(spec.params, format=probe(spec.target)))
    if how == "opencv":
        target = int(spec.target[len("/dev/video"):]) if spec.kind == "usb" else spec.target
        src = CvSource(uri, target, spec.kind, width=width, height=height, fps=fps, loop=loop)
    else:
        mjpeg = True
        if spec.kind == "usb" and have_gi:
            offered = gst.usb_offers_mjpeg(spec.target)
            mjpeg = True if offered is None else offered
        desc = pipeline_for(spec, width, height, fps, flip, jetson=jetson, mjpeg=mjpeg, rtsp_latency=rtsp_latency)
        if how == "gstreamer":
            src = gst.GstSource(uri, desc, spec.kind)
        else:
            import cv2

            src = CvSource(uri, desc, spec.kind, api=cv2.CAP_GSTREAMER)
    if threaded:
        from edge.sources.threaded import ThreadedSource

        return ThreadedSource(src)
    return src
