#!/usr/bin/env bash
# Installs everything edge and its tests need on Debian/Ubuntu: system packages (apt) and a Python
# virtual environment in .venv with the host, CPU-runtime and dev extras. Safe to run again: it only
# reinstalls when setup.sh or setup.cfg changed. Used by README's commands and by CI.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# System packages: a compiler and headers for wheels that build from source, and GStreamer with
# its GObject-introspection data for the camera/file sources.
# chromium: the live-view page test (about 30 s to install); systemd: systemd-analyze verify of the
# unit; prometheus: promtool check metrics.
APT_PACKAGES=(
  python3-venv python3-dev gcc pkg-config
  chromium systemd prometheus
  # mosquitto: the MQTT tests' broker (tests/test_mqtt.py starts its own on a free port; no service needed),
  # openssl: their TLS certificates
  mosquitto openssl
  # edge run: GStreamer (videotestsrc, decodebin, v4l2src, jpegdec, libav decoders, gst-launch-1.0) and
  # the introspection data + headers PyGObject builds against; libcairo2-dev for its pycairo dependency.
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 libgirepository1.0-dev libcairo2-dev
  # H.264 for --save/--output files, RTP/RTSP and [record] clips: x264enc (ugly), h264parse and
  # openh264enc (bad); the in-process RTSP server's introspection data (--output rtsp://…)
  gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gir1.2-gst-rtsp-server-1.0
  # the window (display://, edge/outputs/display.py): GStreamer's X sinks; its tests: an X server, key presses
  gstreamer1.0-x xvfb xdotool
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
stamp=".venv/.edge-setup"
want="$(cat setup.sh setup.cfg | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: 2.13.0 resolves to the local CPU build here; an unpinned torch would pull
# several GB of CUDA libraries.
.venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
# PyGObject for the GStreamer appsink sources, as the [gst] extra pins it (setup.cfg says why), built first
# and alone so that its build flag (no pycairo bindings) reaches no other package.
gst_pin="$(.venv/bin/python -c 'import configparser; c = configparser.ConfigParser(); c.read("setup.cfg");
print([l for l in c["options.extras_require"]["gst"].splitlines() if l.strip()][0].split(";")[0].strip())')"
.venv/bin/python -m pip install -q "$gst_pin" -Csetup-args=-Dpycairo=disabled
.venv/bin/python -m pip install -q -e ".[host,dev,gst]"
echo "$want" > "$stamp"
echo "setup: ready (.venv/bin/edge)"
