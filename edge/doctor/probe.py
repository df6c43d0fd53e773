"""Facts for ``edge doctor``, probed from this machine (each probe guarded: a failing probe is a fact too)."""
import glob
import os
import shutil
import subprocess
import sys
from typing import Any, Dict, Optional

from edge.doctor.checks import SOURCE_PLUGINS, opencv_has_gstreamer, parse_jetson_clocks, parse_l4t_release, \
    parse_meminfo, parse_nvpmodel
from edge.files import L4T_RELEASE, is_jetson, jetson_model, read_text


def _run(cmd, timeout=10) -> Optional[str]:
    """stdout+stderr of ``cmd``, or None when it is missing, fails to start or times out."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           universal_newlines=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout


def probe(disk_path: str = ".") -> Dict[str, Any]:
    f = {"python": sys.version.split()[0], "platform": sys.platform,
         "machine": os.uname().machine if hasattr(os, "uname") else "?"}
    f["l4t"] = parse_l4t_release(read_text(L4T_RELEASE) or "")
    f["jetson"] = is_jetson()

    try:
        import cv2
        f["opencv"] = cv2.__version__
        f["opencv_gstreamer"] = opencv_has_gstreamer(cv2.getBuildInformation())
        f.update(_probe_cascades())
    except Exception as e:  # ImportError, or a broken binary wheel
        f["opencv"], f["opencv_error"] = None, str(e)

    try:
        import gi
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
        Gst.init(None)
        f["gst_version"] = Gst.version_string()
        names = sorted({e for els in SOURCE_PLUGINS.values() for e in els})
        f["gst_plugins"] = {n: Gst.ElementFactory.find(n) is not None for n in names}
        f.update(_probe_outputs(Gst))
    except Exception as e:
        f["gst_error"] = "{}: {}".format(type(e).__name__, e)
    f["jetson_model"] = jetson_model()

    if f["jetson"]:
        f["nvargus_daemon"] = (_run(["systemctl", "is-active", "nvargus-daemon"]) or "").strip() or None
        f["nvpmodel"] = parse_nvpmodel(_run(["nvpmodel", "-q"]) or "")
        f["jetson_clocks"] = parse_jetson_clocks(_run(["jetson_clocks", "--show"]) or "") \
            if os.geteuid() == 0 else None
    f["argus_socket"] = os.path.exists("/tmp/argus_socket")
    f["video_devices"] = sorted(glob.glob("/dev/video*"))
    f["jtop_socket"] = os.path.exists("/run/jtop.sock")

    for mod, key in (("tensorrt", "tensorrt"), ("pycuda", "pycuda"), ("onnxruntime", "onnxruntime")):
        try:
            m = __import__(mod)
            f[key] = getattr(m, "__version__", None) or getattr(m, "VERSION_TEXT", "?")
        except Exception:
            f[key] = None
    if f["onnxruntime"]:
        import onnxruntime
        f["onnxruntime_providers"] = onnxruntime.get_available_providers()
    f.update(_probe_cuda(f))

    mem = parse_meminfo(read_text("/proc/meminfo") or "")
    f["mem_total"], f["swap_total"] = mem.get("MemTotal", 0), mem.get("SwapTotal", 0)
    try:
        f["disk_free"], f["disk_path"] = shutil.disk_usage(disk_path).free, os.path.abspath(disk_path)
    except OSError:
        f["disk_free"] = None
    f["display"] = os.environ.get("DISPLAY") or None
    return f


def _probe_outputs(Gst) -> Dict[str, Any]:
    """The H.264 encoders GStreamer lists (whether the board can run them is for the check), and whether
    gst-rtsp-server's GObject-introspection typelib (GstRtspServer 1.0, for rtsp:// outputs) loads."""
    from edge.outputs.encoders import H264_ENCODERS

    listed = [n for n in H264_ENCODERS if Gst.ElementFactory.find(n) is not None]
    facts = {"h264_encoders": listed}  # type: Dict[str, Any]
    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer  # noqa: F401

        facts["rtsp_server"] = True
    except (ImportError, ValueError) as e:
        facts["rtsp_server"], facts["rtsp_server_error"] = False, str(e)
    return facts


def _probe_cascades() -> Dict[str, Any]:
    """The folders searched for OpenCV's cascades and where the default one is (None: nowhere)."""
    from edge.detectors.haar import DEFAULT_CASCADE, find_cascade, opencv_cascade_folders

    folders = opencv_cascade_folders()
    return {"cascade_folders": folders, "haar_cascade": find_cascade(DEFAULT_CASCADE, folders)}


def _probe_cuda(f) -> Dict[str, Any]:
    if f.get("pycuda"):
        try:
            import pycuda.driver as cuda
            cuda.init()
            n = cuda.Device.count()
            return {"cuda_devices": n, "cuda_name": cuda.Device(0).name() if n else ""}
        except Exception as e:
            return {"cuda_devices": 0, "cuda_error": "pycuda: {}".format(e)}
    nodes = glob.glob("/dev/nvhost-ctrl-gpu") + glob.glob("/dev/nvidia[0-9]*")
    if not nodes:
        return {"cuda_devices": 0, "cuda_error": "no GPU device nodes (/dev/nvhost-ctrl-gpu, /dev/nvidia*)"}
    readable = [n for n in nodes if os.access(n, os.R_OK | os.W_OK)]
    if not readable:
        return {"cuda_devices": 0, "cuda_error": "no access to {} (not in the video group?)".format(nodes[0])}
    return {"cuda_devices": len(readable), "cuda_name": "device nodes " + ", ".join(readable)}
