"""GStreamer pipeline strings — pure functions, one per kind of source, all ending in a BGR appsink.

    >>> csi_pipeline(0, 1280, 720, 30)     # doctest: +ELLIPSIS
    'nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM), width=1280, height=720, ...'

``edge run --print-pipeline`` prints what these build; ``gstreamer/*.sh`` keep the same templates for
``gst-launch-1.0`` on the device.
"""
import re
from typing import List, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import unquote, urlsplit, urlunsplit

APPSINK_NAME = "sink"


class SensorMode(NamedTuple):
    width: int
    height: int
    fps: int


# Sony IMX219 (Raspberry Pi camera v2, the usual Nano CSI camera) modes as nvarguscamerasrc lists them.
IMX219_MODES = (
    SensorMode(3264, 2464, 21),
    SensorMode(3264, 1848, 28),
    SensorMode(1920, 1080, 30),
    SensorMode(1640, 1232, 30),
    SensorMode(1280, 720, 60),
)

# element → (Debian/Ubuntu package, JetPack package) that provides it; named in "missing element" errors.
ELEMENT_PACKAGES = {
    "appsink": ("gstreamer1.0-plugins-base", "gstreamer1.0-plugins-base"),
    "appsrc": ("gstreamer1.0-plugins-base", "gstreamer1.0-plugins-base"),
    "videoconvert": ("gstreamer1.0-plugins-base", "gstreamer1.0-plugins-base"),
    "videoscale": ("gstreamer1.0-plugins-base", "gstreamer1.0-plugins-base"),
    "videotestsrc": ("gstreamer1.0-plugins-base", "gstreamer1.0-plugins-base"),
    "decodebin": ("gstreamer1.0-plugins-base", "gstreamer1.0-plugins-base"),
    "filesrc": ("libgstreamer1.0-0", "libgstreamer1.0-0"),
    "queue": ("libgstreamer1.0-0", "libgstreamer1.0-0"),
    "v4l2src": ("gstreamer1.0-plugins-good", "gstreamer1.0-plugins-good"),
    "jpegdec": ("gstreamer1.0-plugins-good", "gstreamer1.0-plugins-good"),
    "rtspsrc": ("gstreamer1.0-plugins-good", "gstreamer1.0-plugins-good"),
    "souphttpsrc": ("gstreamer1.0-plugins-good", "gstreamer1.0-plugins-good"),
    "multipartdemux": ("gstreamer1.0-plugins-good", "gstreamer1.0-plugins-good"),
    "hlsdemux": ("gstreamer1.0-plugins-bad", "gstreamer1.0-plugins-bad"),
    "qtdemux": ("gstreamer1.0-plugins-good", "gstreamer1.0-plugins-good"),
    "qtmux": ("gstreamer1.0-plugins-good", "gstreamer1.0-plugins-good"),
    "h264parse": ("gstreamer1.0-plugins-bad", "gstreamer1.0-plugins-bad"),
    "avdec_h264": ("gstreamer1.0-libav", "gstreamer1.0-libav"),
    "avdec_mpeg4": ("gstreamer1.0-libav", "gstreamer1.0-libav"),
    "x264enc": ("gstreamer1.0-plugins-ugly", "gstreamer1.0-plugins-ugly"),
    "nvarguscamerasrc": ("(Jetson only)", "nvidia-l4t-gstreamer"),
    "nvvidconv": ("(Jetson only)", "nvidia-l4t-gstreamer"),
    "nvv4l2decoder": ("(Jetson only)", "nvidia-l4t-gstreamer"),
    "nvv4l2h264enc": ("(Jetson only)", "nvidia-l4t-gstreamer"),
    "nvjpegdec": ("(Jetson only)", "nvidia-l4t-gstreamer"),
}


def package_for(element: str, jetson: bool = False) -> str:
    """The apt package that provides a GStreamer element, or a hint where it is unknown."""
    if element not in ELEMENT_PACKAGES:
        return "the GStreamer plugin that provides it (`gst-inspect-1.0 {}`)".format(element)
    return ELEMENT_PACKAGES[element][1 if jetson else 0]


def elements(pipeline: str) -> List[str]:
    """Element factory names used in a ``gst-launch``-style description (caps strings skipped)."""
    names = []
    for part in pipeline.split("!"):
        word = part.strip().split(" ", 1)[0]
        if word and "/" not in word and re.match(r"^[a-z][a-z0-9_\-]*$", word):
            names.append(word)
    return names


def appsink(drop: bool = True, max_buffers: int = 1, sync: bool = False) -> str:
    """The BGR tail every source pipeline ends with; ``drop=1 max-buffers=1`` keeps only the newest frame."""
    return ("videoconvert ! video/x-raw, format=BGR ! appsink name={} drop={} max-buffers={} sync={} "
            "emit-signals=false".format(APPSINK_NAME, int(drop), max_buffers, str(sync).lower()))


def choose_sensor_mode(width: int, height: int, fps: int,
                       modes: Sequence[SensorMode] = IMX219_MODES) -> SensorMode:
    """The smallest sensor mode that covers ``width``×``height`` at ``fps`` (hardware scales down from it);
    the fastest mode when none does."""
    fits = [m for m in modes if m.width >= width and m.height >= height and m.fps >= fps]
    if fits:
        return min(fits, key=lambda m: m.width * m.height)
    return max(modes, key=lambda m: m.fps)


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0,
                 mode: Optional[SensorMode] = None) -> str:
    """CSI camera on a Jetson: capture in NVMM at a sensor mode, flip and downscale on the VIC with
    ``nvvidconv``, then BGR into an appsink that keeps only the newest frame."""
    m = mode or choose_sensor_mode(width, height, fps)
    return ("nvarguscamerasrc sensor-id={sid} ! video/x-raw(memory:NVMM), width={mw}, height={mh}, "
            "framerate={fps}/1, format=NV12 ! nvvidconv flip-method={flip} ! "
            "video/x-raw, width={w}, height={h}, format=BGRx ! {tail}").format(
        sid=sensor_id, mw=m.width, mh=m.height, fps=min(fps, m.fps), flip=flip, w=width, h=height,
        tail=appsink())


def usb_pipeline(device: str = "/dev/video0", width: int = 1280, height: int = 720, fps: int = 30,
                 mjpeg: bool = True, jetson: bool = False) -> str:
    """V4L2 webcam; MJPEG (decoded by ``nvjpegdec`` on a Jetson, ``jpegdec`` elsewhere) where the camera
    offers it, since most webcams give 720p at 30 fps only as MJPEG."""
    caps = "width={}, height={}, framerate={}/1".format(width, height, fps)
    if mjpeg:
        dec = "nvjpegdec ! video/x-raw" if jetson else "jpegdec"
        return "v4l2src device={} ! image/jpeg, {} ! {} ! {}".format(device, caps, dec, appsink())
    return "v4l2src device={} ! video/x-raw, {} ! {}".format(device, caps, appsink())


def file_pipeline(path: str, jetson: bool = False) -> str:
    """A video file; ``decodebin`` picks the decoder (``nvv4l2decoder`` on a Jetson, whose NVMM output
    ``nvvidconv`` brings back to system memory). Every frame is kept: no drop."""
    conv = "nvvidconv ! video/x-raw, format=BGRx ! " if jetson else ""
    return "filesrc location={} ! decodebin ! {}{}".format(quote(path), conv, appsink(drop=False, max_buffers=2))


def rtsp_pipeline(url: str, latency_ms: int = 200, jetson: bool = False) -> str:
    """A network camera over RTSP; ``latency_ms`` is rtspsrc's jitter buffer (``--input-rtsp-latency``)."""
    conv = "nvvidconv ! video/x-raw, format=BGRx ! " if jetson else ""
    return "rtspsrc location={} latency={} ! decodebin ! {}{}".format(quote(url), int(latency_ms), conv, appsink())


def http_pipeline(url: str, fmt: str = "mjpeg", jetson: bool = False) -> str:
    """A network camera over HTTP. ``fmt`` "mjpeg": multipart/x-mixed-replace JPEGs (an IP camera, another
    edge's /stream.mjpg), timestamped on arrival and decoded by ``jpegdec`` (its caps carry no size, which
    nvjpegdec on JetPack 4.6 needs); "hls": an HLS playlist, ``hlsdemux`` fetching the segments and
    ``decodebin`` picking the decoder (nvv4l2decoder on a Jetson), played at its own pace (``sync=true``).
    Credentials in the URL (``http://user:pw@host/…``) go to ``user-id``/``user-pw`` (Basic or Digest)."""
    src = "souphttpsrc location={}{}".format(quote(strip_userinfo(url)), auth_properties(url))
    if fmt == "mjpeg":
        return "{} is-live=true do-timestamp=true ! multipartdemux ! jpegdec ! {}".format(src, appsink())
    if fmt == "hls":
        conv = "nvvidconv ! video/x-raw, format=BGRx ! " if jetson else ""
        return "{} ! hlsdemux ! decodebin ! {}{}".format(src, conv, appsink(sync=True))
    raise ValueError("expected an HTTP stream format mjpeg or hls, found '{}'".format(fmt))


def strip_userinfo(url: str) -> str:
    """The URL without ``user:password@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def auth_properties(url: str) -> str:
    """`` user-id=… user-pw=…`` for souphttpsrc from the URL's userinfo ("" without one)."""
    parts = urlsplit(url)
    if parts.username is None:
        return ""
    props = " user-id={}".format(quote(unquote(parts.username)))
    if parts.password is not None:
        props += " user-pw={}".format(quote(unquote(parts.password)))
    return props


def testsrc_pipeline(pattern: str = "smpte", width: int = 1280, height: int = 720, fps: int = 30,
                  num_buffers: int = -1) -> str:
    """``videotestsrc`` — a camera stand-in with no hardware; ``num_buffers`` > 0 ends the stream."""
    return ("videotestsrc pattern={} num-buffers={} ! video/x-raw, width={}, height={}, framerate={}/1 ! "
            "{}".format(pattern, num_buffers, width, height, fps, appsink(drop=False, max_buffers=2)))


def quote(value: str) -> str:
    """Quote a property value for ``gst_parse_launch`` when it has spaces or quotes."""
    if re.match(r'^[\w./:@%+=,\-~?&]*$', value):
        return value
    return '"{}"'.format(value.replace("\\", "\\\\").replace('"', '\\"'))


def size_of(pipeline: str) -> Optional[Tuple[int, int]]:
    """(width, height) of the last raw-video caps in a pipeline, if it fixes one."""
    found = re.findall(r"video/x-raw[^!]*?width=(\d+), height=(\d+)", pipeline)
    return (int(found[-1][0]), int(found[-1][1])) if found else None
