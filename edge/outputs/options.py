"""``[output]``: where the annotated video goes (``--output URI``, repeatable) and how it is encoded."""
from dataclasses import dataclass
from typing import List, Tuple

from edge.config import check_fields, setting
from edge.errors import UsageError

ENCODER_CHOICES = ("auto", "nvv4l2h264enc", "x264enc", "openh264enc", "avenc_h264")


def parse_wxh(text: str, flag: str = "--output-size") -> Tuple[int, int]:
    """"1280x720" → (width 1280, height 720): the parser of the frame-size flags of outputs."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 2 or min(size) < 16 or max(size) > 8192:
        raise UsageError("expected {} as WIDTHxHEIGHT, each 16…8192 (e.g. 1280x720), found '{}'".format(flag, text))
    return size


@dataclass
class OutputOptions:
    """``--output`` URIs (several at once) and the encoding every video output shares."""

    uris: List[str] = setting([], "--output", "Also send the annotated video here; repeat for several: "
                                              "rtsp://@:8554/live (RTSP server in this process; @ = localhost, "
                                              "rtsp://0.0.0.0:8554/live needs --serve-token), rtp://HOST:PORT "
                                              "(H.264 over UDP), out.mp4 or out.mkv (H.264: a browser plays the "
                                              "MP4), out.jpg or out_%04d.jpg (images), display://0 (a window; "
                                              "config file: a list).", metavar="URI")
    bitrate: int = setting(4000, "--bitrate", "H.264 bitrate of every video output in kbit/s.")
    fps: float = setting(0.0, "--output-fps", "Frame rate of the video outputs (frames are dropped to reach it; "
                                              "0: the source's rate).")
    size: Tuple[int, ...] = setting((), "--output-size", "Scale the video outputs to WIDTHxHEIGHT, e.g. 640x360 "
                                                         "(config file: [WIDTH, HEIGHT]; default: the frame's).",
                                   metavar="WxH")
    encoder: str = setting("auto", "--encoder", "H.264 encoder: auto (nvv4l2h264enc on a Jetson Nano, else "
                                                "x264enc, openh264enc, avenc_h264; `edge doctor` says which), or "
                                                "one of those by name.")

    def __post_init__(self):
        self.uris = [str(u) for u in (self.uris or [])]
        self.size = tuple(int(v) for v in (self.size or ()))
        check_fields(self, [
            (1 <= self.bitrate <= 200000, "bitrate", "1 ≤ kbit/s ≤ 200000"),
            (0 <= self.fps <= 240, "fps", "0 ≤ frames per second ≤ 240 (0 = the source's)"),
            (len(self.size) == 0 or (len(self.size) == 2 and 16 <= min(self.size) and max(self.size) <= 8192),
             "size", "[WIDTH, HEIGHT], each 16…8192"),
            (self.encoder in ENCODER_CHOICES, "encoder", " or ".join(ENCODER_CHOICES)),
        ], section="output.")
