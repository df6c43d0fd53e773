"""``edge doctor``: probe the machine once (``probe()`` → facts), then judge the facts with pure checks.

Each check takes the facts dict and returns a Check (ok / warn / fail / skip, what was found, the fix),
so every judgement is tested with tables of facts; only ``probe()`` touches the machine.
"""
import json
import os
import re
from typing import Any, Callable, Dict, List, NamedTuple, Optional

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

# GStreamer elements each source kind needs (Jetson hardware elements where they exist).
SOURCE_PLUGINS = {
    "csi": ("nvarguscamerasrc", "nvvidconv", "videoconvert", "appsink"),
    "usb": ("v4l2src", "videoconvert", "appsink"),
    "file": ("filesrc", "decodebin", "videoconvert", "appsink"),
    "rtsp": ("rtspsrc", "rtph264depay", "h264parse", "decodebin", "videoconvert", "appsink"),
    "http": ("souphttpsrc", "multipartdemux", "jpegdec", "hlsdemux", "decodebin", "videoconvert", "appsink"),
}
GB = 1024 ** 3


class Check(NamedTuple):
    name: str
    level: str
    found: str
    fix: str = ""


# --- pure parsers ----------------------------------------------------------------------------------

def opencv_has_gstreamer(build_info: str) -> Optional[bool]:
    """From cv2.getBuildInformation(): the "GStreamer: YES (1.14.5)" line → True/False; None if absent."""
    m = re.search(r"^\s*GStreamer:\s*(\S+)", build_info or "", re.M)
    return None if m is None else m.group(1).upper() == "YES"


def parse_l4t_release(text: str) -> Optional[str]:
    """/etc/nv_tegra_release "# R32 (release), REVISION: 7.1, ..." → "32.7.1"."""
    m = re.search(r"R(\d+) \(release\), REVISION: ([\d.]+)", text or "")
    return "{}.{}".format(m.group(1), m.group(2)) if m else None


def parse_nvpmodel(text: str) -> Optional[str]:
    """`nvpmodel -q` output → the mode name, e.g. "MAXN" or "5W"."""
    m = re.search(r"NV Power Mode:\s*(\S+)", text or "")
    return m.group(1) if m else None


def parse_jetson_clocks(text: str) -> Optional[bool]:
    """`jetson_clocks --show`: True when every CPU runs pinned at max (MinFreq == MaxFreq)."""
    cpus = re.findall(r"^cpu\d+:.*?MinFreq=(\d+) MaxFreq=(\d+)", text or "", re.M)
    if not cpus:
        return None
    return all(lo == hi for lo, hi in cpus)


def parse_meminfo(text: str) -> Dict[str, int]:
    """/proc/meminfo → bytes for MemTotal, SwapTotal, MemAvailable..."""
    out = {}
    for line in (text or "").splitlines():
        m = re.match(r"(\w+):\s+(\d+) kB", line)
        if m:
            out[m.group(1)] = int(m.group(2)) * 1024
    return out


# --- pure checks over facts -------------------------------------------------------------------------

def check_python(f) -> Check:
    v = f.get("python", "?")
    return Check("python", OK, "Python {}".format(v))


def check_opencv(f) -> Check:
    if not f.get("opencv"):
        return Check("opencv", FAIL, "cv2 is not importable",
                     "on a Jetson: JetPack's OpenCV (sudo apt-get install nvidia-opencv); "
                     "elsewhere: pip install 'opencv-python-headless<5'")
    gst = f.get("opencv_gstreamer")
    found = "OpenCV {}, GStreamer {}".format(f["opencv"], {True: "YES", False: "NO", None: "unknown"}[gst])
    if gst:
        return Check("opencv", OK, found)
    use_jetpack = "use JetPack's OpenCV (apt), and uninstall any pip opencv-python that shadows it"
    if f.get("gst_version") and not f.get("gst_error"):  # capture goes through PyGObject's GStreamer
        found += " (fine: camera pipelines run through PyGObject)"
        if not f.get("jetson"):
            return Check("opencv", OK, found)
        return Check("opencv", WARN, found, "--save uses the software encoder: the hardware encoder "
                     "(nvv4l2h264enc) needs an OpenCV built with GStreamer: " + use_jetpack)
    level = FAIL if f.get("jetson") else WARN
    return Check("opencv", level, found, "camera pipelines (csi://, rtsp://) need an OpenCV built with "
                 "GStreamer (or PyGObject, see gstreamer): " + use_jetpack)


def check_gstreamer(f) -> Check:
    if f.get("gst_error"):
        return Check("gstreamer", WARN, "PyGObject/GStreamer not usable: {}".format(f["gst_error"]),
                     "sudo apt-get install python3-gi gir1.2-gstreamer-1.0 gstreamer1.0-plugins-good "
                     "gstreamer1.0-plugins-bad gstreamer1.0-libav")
    return Check("gstreamer", OK, "{} via PyGObject".format(f.get("gst_version", "GStreamer ?")))


def check_cascades(f) -> Check:
    from edge.detectors.haar import CASCADE_FIX, DEFAULT_CASCADE  # numpy and the detector: only for this check

    if "cascade_folders" not in f:
        return Check("haar cascades", SKIP, "not probed (no OpenCV)")
    if f.get("haar_cascade"):
        return Check("haar cascades", OK, "{} in {}".format(DEFAULT_CASCADE, os.path.dirname(f["haar_cascade"])))
    return Check("haar cascades", FAIL, "no {} in {}".format(DEFAULT_CASCADE, ", ".join(f["cascade_folders"])),
                 "the default detector needs it: " + CASCADE_FIX)


def check_source(kind: str) -> Callable[[Dict[str, Any]], Check]:
    def check(f) -> Check:
        plugins = f.get("gst_plugins")
        if plugins is None:
            return Check("source " + kind, SKIP, "GStreamer not probed")
        missing = [e for e in SOURCE_PLUGINS[kind] if not plugins.get(e)]
        if not missing:
            return Check("source " + kind, OK, "elements present: " + ", ".join(SOURCE_PLUGINS[kind]))
        if kind == "csi" and not f.get("jetson"):
            return Check("source " + kind, SKIP, "not a Jetson (no {})".format(", ".join(missing)))
        fixes = {"csi": "CSI cameras need JetPack's nvarguscamerasrc/nvvidconv (nvidia-l4t-gstreamer)",
                 "rtsp": "sudo apt-get install gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav",
                 "usb": "sudo apt-get install gstreamer1.0-plugins-good",
                 "http": "sudo apt-get install gstreamer1.0-plugins-good gstreamer1.0-plugins-bad",
                 "file": "sudo apt-get install gstreamer1.0-plugins-base gstreamer1.0-plugins-good"}
        return Check("source " + kind, WARN, "missing elements: " + ", ".join(missing), fixes[kind])
    return check


def check_argus(f) -> Check:
    if not f.get("jetson"):
        return Check("nvargus-daemon", SKIP, "not a Jetson")
    state = f.get("nvargus_daemon")
    if state == "active":
        sock = "present" if f.get("argus_socket") else "missing"
        return Check("nvargus-daemon", OK if f.get("argus_socket") else WARN,
                     "active, /tmp/argus_socket {}".format(sock),
                     "" if f.get("argus_socket") else "sudo systemctl restart nvargus-daemon")
    return Check("nvargus-daemon", FAIL, "service is {}".format(state or "unknown"),
                 "CSI cameras need it: sudo systemctl enable --now nvargus-daemon "
                 "(after a camera error: sudo systemctl restart nvargus-daemon)")


def check_video_devices(f) -> Check:
    devs = f.get("video_devices") or []
    if devs:
        return Check("/dev/video*", OK, ", ".join(devs))
    return Check("/dev/video*", WARN, "no video devices",
                 "plug in the camera (USB) or check the CSI ribbon cable; `v4l2-ctl --list-devices` lists them")


def check_tensorrt(f) -> Check:
    if f.get("tensorrt"):
        return Check("tensorrt", OK, "TensorRT {}".format(f["tensorrt"]))
    return Check("tensorrt", FAIL if f.get("jetson") else SKIP, "not importable",
                 "on a Jetson TensorRT comes with JetPack: sudo apt-get install python3-libnvinfer "
                 "(use the system python3, not a venv without system site-packages)")


def check_pycuda(f) -> Check:
    if f.get("pycuda"):
        return Check("pycuda", OK, "pycuda {}".format(f["pycuda"]))
    return Check("pycuda", WARN if f.get("jetson") else SKIP, "not importable",
                 "the TensorRT backend needs it: export PATH=/usr/local/cuda/bin:$PATH; pip3 install pycuda")


def check_onnxruntime(f) -> Check:
    prov = f.get("onnxruntime_providers")
    if prov is None:
        level = WARN if not f.get("tensorrt") else SKIP
        return Check("onnxruntime", level, "not importable", "pip install onnxruntime (CPU) or NVIDIA's "
                     "onnxruntime-gpu wheel for your JetPack")
    return Check("onnxruntime", OK, "ONNX Runtime {}: {}".format(f.get("onnxruntime"), ", ".join(prov)))


def check_backend(f) -> Check:
    if f.get("tensorrt") or f.get("onnxruntime_providers") is not None:
        return Check("inference backend", OK, "TensorRT" if f.get("tensorrt") else "ONNX Runtime")
    return Check("inference backend", FAIL, "neither TensorRT nor ONNX Runtime is importable",
                 "install one: TensorRT (JetPack) or `pip install onnxruntime`")


def check_cuda(f) -> Check:
    n = f.get("cuda_devices")
    if n:
        return Check("cuda device", OK, "{} device(s): {}".format(n, f.get("cuda_name", "")))
    if f.get("jetson"):
        return Check("cuda device", FAIL, f.get("cuda_error") or "no CUDA device",
                     "the user needs the `video` group for /dev/nvhost-* (sudo usermod -aG video $USER); "
                     "in Docker use --runtime nvidia")
    return Check("cuda device", SKIP, f.get("cuda_error") or "no CUDA device (CPU inference)")


def check_jtop(f) -> Check:
    if not f.get("jetson"):
        return Check("jtop", SKIP, "not a Jetson")
    if f.get("jtop_socket"):
        return Check("jtop", OK, "jtop service socket /run/jtop.sock present")
    return Check("jtop", WARN, "jtop service not running: no power/temperature telemetry",
                 "sudo pip3 install jetson-stats && sudo systemctl restart jtop.service")


def check_power(f) -> Check:
    if not f.get("jetson"):
        return Check("power mode", SKIP, "not a Jetson")
    mode, clocks = f.get("nvpmodel"), f.get("jetson_clocks")
    found = "nvpmodel {}, jetson_clocks {}".format(
        mode or "unknown", {True: "on", False: "off", None: "unknown (needs root)"}[clocks])
    if mode and mode.upper() in ("MAXN", "0") and clocks:
        return Check("power mode", OK, found)
    return Check("power mode", WARN, found, "for full speed: sudo nvpmodel -m 0 && sudo jetson_clocks "
                 "(the 5W mode halves the GPU clock; benchmark in the mode you deploy)")


def check_swap(f) -> Check:
    mem, swap = f.get("mem_total", 0), f.get("swap_total", 0)
    found = "RAM {:.1f} GiB, swap {:.1f} GiB".format(mem / GB, swap / GB)
    if mem and mem < 6 * GB and swap < 4 * GB:
        return Check("memory/swap", WARN, found, "TensorRT engine builds on a 4 GB Nano can run out of memory: "
                     "add swap (sudo fallocate -l 4G /swapfile && sudo chmod 600 /swapfile && sudo mkswap "
                     "/swapfile && sudo swapon /swapfile; add it to /etc/fstab)")
    return Check("memory/swap", OK, found)


def check_disk(f) -> Check:
    free = f.get("disk_free")
    if free is None:
        return Check("disk", SKIP, "not probed")
    found = "{:.1f} GiB free in {}".format(free / GB, f.get("disk_path", "."))
    if free < 1 * GB:
        return Check("disk", FAIL, found, "free space: logs, engines and recordings need room "
                     "(sudo apt-get clean; journalctl --vacuum-size=100M; remove old runs)")
    if free < 5 * GB:
        return Check("disk", WARN, found, "less than 5 GiB left: keep JSONL rotation small, no --save")
    return Check("disk", OK, found)


def check_display(f) -> Check:
    if f.get("display"):
        return Check("display", OK, "DISPLAY={}".format(f["display"]))
    return Check("display", WARN, "DISPLAY is not set: no preview window",
                 "run with --headless (a service always does), or use the live view (--serve)")


def check_h264_encoder(f) -> Check:
    """Which H.264 encoder the video outputs (files, RTP, RTSP, clips) will use: the best GStreamer lists that
    the board can run (the Orin Nano has no hardware encoder: a software one)."""
    from edge.outputs.encoders import ENCODER_PACKAGES, choose_encoder, describe_encoder, hardware_encoder_usable

    if "h264_encoders" not in f:
        return Check("h264 encoder", SKIP, "GStreamer not probed")
    no_nvenc = f.get("jetson") and not hardware_encoder_usable(f.get("jetson_model") or "")
    usable = [n for n in f["h264_encoders"] if n != "nvv4l2h264enc" or not no_nvenc]
    name = choose_encoder(usable)
    if name is None:
        return Check("h264 encoder", WARN, "none in GStreamer: video files fall back to OpenCV's MPEG-4 (no browser "
                     "plays it); rtsp:// and rtp:// outputs cannot run",
                     "sudo apt-get install {} (x264enc)".format(ENCODER_PACKAGES["x264enc"]))
    found = "video outputs use " + describe_encoder(name)
    if no_nvenc:
        return Check("h264 encoder", OK, found + " (the {} has no hardware encoder)".format(
            f.get("jetson_model") or "Orin Nano"))
    if f.get("jetson") and name != "nvv4l2h264enc":
        return Check("h264 encoder", WARN, found + ": the hardware encoder nvv4l2h264enc is missing",
                     "sudo apt-get install {} (JetPack's GStreamer plugins)".format(
                         ENCODER_PACKAGES["nvv4l2h264enc"]))
    return Check("h264 encoder", OK, found)


def check_rtsp_server(f) -> Check:
    """gst-rtsp-server's typelib (GstRtspServer 1.0), which ``--output rtsp://`` needs."""
    if "rtsp_server" not in f:
        return Check("rtsp server", SKIP, "GStreamer not probed")
    if f["rtsp_server"]:
        return Check("rtsp server", OK, "GstRtspServer 1.0 typelib present (--output rtsp:// can run)")
    return Check("rtsp server", WARN, "no GstRtspServer 1.0 typelib: --output rtsp:// cannot run",
                 "sudo apt-get install gir1.2-gst-rtsp-server-1.0 libgstrtspserver-1.0-0")


CHECKS = (check_python, check_opencv, check_gstreamer, check_cascades, check_source("csi"), check_source("usb"),
          check_source("file"), check_source("rtsp"), check_source("http"), check_h264_encoder, check_rtsp_server,
          check_argus, check_video_devices, check_tensorrt, check_pycuda, check_onnxruntime, check_backend, check_cuda, check_jtop,
          check_power, check_swap, check_disk, check_display)


def run_checks(facts: Dict[str, Any]) -> List[Check]:
    return [c(facts) for c in CHECKS]


def exit_code(checks: List[Check]) -> int:
    return 1 if any(c.level == FAIL for c in checks) else 0


def to_json(facts: Dict[str, Any], checks: List[Check]) -> str:
    return json.dumps({"ok": exit_code(checks) == 0, "checks": [c._asdict() for c in checks],
                       "facts": facts}, indent=2, default=str)
