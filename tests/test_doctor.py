"""edge doctor: parsers and checks judged from tables of facts; the command on this machine."""
import json

import pytest

from edge.doctor import checks as d

BUILD_INFO_JETPACK = """
  Video I/O:
    FFMPEG:                      YES
    GStreamer:                   YES (1.14.5)
    v4l/v4l2:                    Using libv4l1 (ver 1.14.2) / libv4l2 (ver 1.14.2)
"""
BUILD_INFO_PIP = "  Video I/O:\n    DC1394:  NO\n    FFMPEG:  YES\n    GStreamer:                   NO\n"
CLOCKS_ON = ("SOC family:tegra210  Machine:NVIDIA Jetson Nano Developer Kit\nOnline CPUs: 0-3\n"
             "cpu0: Online=1 Governor=schedutil MinFreq=1479000 MaxFreq=1479000 CurrentFreq=1479000 IdleStates: WFI=0 c7=0\n"
             "cpu1: Online=1 Governor=schedutil MinFreq=1479000 MaxFreq=1479000 CurrentFreq=1479000 IdleStates: WFI=0 c7=0\n"
             "GPU MinFreq=921600000 MaxFreq=921600000 CurrentFreq=921600000\n")
CLOCKS_OFF = CLOCKS_ON.replace("cpu1: Online=1 Governor=schedutil MinFreq=1479000", "cpu1: Online=1 Governor=schedutil MinFreq=102000")


@pytest.mark.parametrize("fn,text,expected", [
    (d.opencv_has_gstreamer, BUILD_INFO_JETPACK, True), (d.opencv_has_gstreamer, BUILD_INFO_PIP, False),
    (d.opencv_has_gstreamer, "no video section", None),
    (d.parse_l4t_release, "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64", "32.7.1"),
    (d.parse_l4t_release, "", None),
    (d.parse_nvpmodel, "NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN\n0\n", "MAXN"),
    (d.parse_nvpmodel, "NV Power Mode: 5W\n1\n", "5W"), (d.parse_nvpmodel, "command not found", None),
    (d.parse_jetson_clocks, CLOCKS_ON, True), (d.parse_jetson_clocks, CLOCKS_OFF, False),
    (d.parse_jetson_clocks, "", None),
    (d.parse_meminfo, "MemTotal:        4059272 kB\nSwapTotal:       2029632 kB\n",
     {"MemTotal": 4059272 * 1024, "SwapTotal": 2029632 * 1024}),
])
def test_parsers(fn, text, expected):
    assert fn(text) == expected


NANO = {"jetson": True, "opencv": "4.1.1", "opencv_gstreamer": True, "gst_version": "GStreamer 1.14.5",
        "gst_plugins": {e: True for els in d.SOURCE_PLUGINS.values() for e in els},
        "nvargus_daemon": "active", "argus_socket": True, "video_devices": ["/dev/video0"],
        "tensorrt": "8.2.1.8", "pycuda": "2021.1", "onnxruntime_providers": None, "cuda_devices": 1,
        "cuda_name": "NVIDIA Tegra X1", "jtop_socket": True, "nvpmodel": "MAXN", "jetson_clocks": True,
        "mem_total": 4 * d.GB, "swap_total": 4 * d.GB, "disk_free": 20 * d.GB, "display": ":0", "python": "3.6.9",
        "cascade_folders": ["/usr/share/opencv4/haarcascades"],
        "haar_cascade": "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml",
        "h264_encoders": ["nvv4l2h264enc", "x264enc"], "rtsp_server": True,
        "jetson_model": "NVIDIA Jetson Nano Developer Kit"}
LAPTOP = {"jetson": False, "opencv": "4.10.0", "opencv_gstreamer": False, "gst_error": "ImportError: No module named 'gi'",
          "video_devices": [], "tensorrt": None, "pycuda": None, "onnxruntime": "1.18",
          "onnxruntime_providers": ["CPUExecutionProvider"], "cuda_devices": 0, "cuda_error": "no GPU device nodes",
          "mem_total": 16 * d.GB, "swap_total": 0, "disk_free": 3 * d.GB, "display": None}


def _with(base, **kw):
    f = dict(base)
    f.update(kw)
    return f


def test_a_healthy_nano_passes_everything():
    checks = d.run_checks(NANO)
    assert [(c.name, c.level) for c in checks if c.level != d.OK] == [("onnxruntime", d.SKIP)]
    assert d.exit_code(checks) == 0


def test_opencv_without_gstreamer_is_fine_where_pygobject_has_it():
    laptop = _with(LAPTOP, gst_error=None, gst_version="GStreamer 1.22.0")
    check = {c.name: c for c in d.run_checks(laptop)}["opencv"]
    assert check.level == d.OK and "GStreamer NO (fine: camera pipelines run through PyGObject)" in check.found


def test_a_laptop_warns_but_does_not_fail():
    checks = {c.name: c for c in d.run_checks(LAPTOP)}
    assert checks["opencv"].level == d.WARN and "GStreamer NO" in checks["opencv"].found
    assert checks["gstreamer"].level == d.WARN and "python3-gi" in checks["gstreamer"].fix
    assert checks["tensorrt"].level == d.SKIP and checks["inference backend"].level == d.OK
    assert checks["disk"].level == d.WARN and checks["display"].level == d.WARN
    assert d.exit_code(list(checks.values())) == 0


@pytest.mark.parametrize("facts,name,level,fix_part", [
    (_with(NANO, opencv_gstreamer=False, gst_version=None, gst_error="ImportError: gi"), "opencv", d.FAIL,
     "built with GStreamer"),
    (_with(NANO, opencv_gstreamer=False), "opencv", d.WARN, "hardware encoder"),  # capture: PyGObject
    (_with(NANO, opencv=None), "opencv", d.FAIL, "nvidia-opencv"),
    (_with(NANO, gst_plugins=dict(NANO["gst_plugins"], nvarguscamerasrc=False)), "source csi", d.WARN, "nvarguscamerasrc"),
    (_with(LAPTOP, gst_error=None, gst_plugins={"v4l2src": True}), "source csi", d.SKIP, ""),
    (_with(NANO, nvargus_daemon="inactive"), "nvargus-daemon", d.FAIL, "systemctl enable --now nvargus-daemon"),
    (_with(NANO, argus_socket=False), "nvargus-daemon", d.WARN, "restart nvargus-daemon"),
    (_with(NANO, video_devices=[]), "/dev/video*", d.WARN, "v4l2-ctl"),
    (_with(NANO, tensorrt=None), "tensorrt", d.FAIL, "python3-libnvinfer"),
    (_with(NANO, pycuda=None), "pycuda", d.WARN, "pip3 install pycuda"),
    (_with(NANO, tensorrt=None), "inference backend", d.FAIL, "pip install onnxruntime"),
    (_with(NANO, cuda_devices=0, cuda_error="no access to /dev/nvhost-ctrl-gpu"), "cuda device", d.FAIL, "video"),
    (_with(NANO, jtop_socket=False), "jtop", d.WARN, "jetson-stats"),
    (_with(NANO, nvpmodel="5W"), "power mode", d.WARN, "nvpmodel -m 0"),
    (_with(NANO, jetson_clocks=None), "power mode", d.WARN, "jetson_clocks"),
    (_with(NANO, swap_total=0), "memory/swap", d.WARN, "mkswap"),
    (_with(NANO, disk_free=d.GB // 2), "disk", d.FAIL, "journalctl"),
    (_with(NANO, display=None), "display", d.WARN, "--headless"),
])
def test_each_check(facts, name, level, fix_part):
    checks = {c.name: c for c in d.run_checks(facts)}
    assert checks[name].level == level
    assert fix_part in checks[name].fix
    assert d.exit_code(list(checks.values())) == (1 if level == d.FAIL else 0)


def test_doctor_command_on_this_machine(cli):
    r = cli(["doctor", "--json"])
    out = json.loads(r.output)
    assert r.exit_code == (0 if out["ok"] else 1)
    names = [c["name"] for c in out["checks"]]
    assert names[:3] == ["python", "opencv", "gstreamer"] and "memory/swap" in names
    assert out["facts"]["python"] and "disk_free" in out["facts"]
    import cv2

    assert out["facts"]["opencv"] == cv2.__version__


def test_doctor_exit_code_when_a_check_fails(cli, monkeypatch):
    import edge.doctor.probe

    monkeypatch.setattr(edge.doctor.probe, "probe", lambda path: _with(NANO, nvargus_daemon="failed"))
    r = cli(["doctor"])
    assert r.exit_code == 1
    assert "fail nvargus-daemon" in r.output and "fix: CSI cameras need it" in r.output
    assert "1 failed" in r.output
