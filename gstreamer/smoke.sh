#!/usr/bin/env bash
# Smoke test of the capture chain on the device, without Python: each check runs a short gst-launch-1.0
# pipeline into fakesink and prints PASS/FAIL/SKIP. Run on the Jetson after flashing or a JetPack update:
#   ./gstreamer/smoke.sh            # all checks
#   FRAMES=300 ./gstreamer/smoke.sh # longer runs
# A failing CSI check usually means the ribbon cable or the daemon: `sudo systemctl restart nvargus-daemon`.
set -uo pipefail
FRAMES=${FRAMES:-60}
VIDEO=${VIDEO:-$(dirname "$0")/../edge/data/sample.mp4}
fails=0

has() { gst-inspect-1.0 "$1" >/dev/null 2>&1; }

check() {  # name, required elements (space-separated), pipeline…
  local name=$1 need=$2; shift 2
  for e in $need; do
    if ! has "$e"; then echo "SKIP $name (no element $e)"; return; fi
  done
  if timeout 30 gst-launch-1.0 -q "$@" >/tmp/edge-smoke.log 2>&1; then
    echo "PASS $name"
  else
    echo "FAIL $name: $(grep -m1 -i error /tmp/edge-smoke.log)"; fails=$((fails + 1))
  fi
}

check "videotestsrc → BGR appsink path" "videotestsrc videoconvert" \
  videotestsrc num-buffers="$FRAMES" ! video/x-raw,width=1280,height=720 ! videoconvert ! video/x-raw,format=BGR ! fakesink
check "sample video decode (decodebin)" "filesrc decodebin" \
  filesrc location="$VIDEO" ! decodebin ! videoconvert ! video/x-raw,format=BGR ! fakesink
check "CSI camera 0 (nvarguscamerasrc → nvvidconv)" "nvarguscamerasrc nvvidconv" \
  nvarguscamerasrc sensor-id=0 num-buffers="$FRAMES" ! "video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1,format=NV12" \
  ! nvvidconv ! video/x-raw,width=1280,height=720,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! fakesink
if [ -e /dev/video0 ]; then
  check "USB camera /dev/video0 (MJPEG)" "v4l2src jpegdec" \
    v4l2src device=/dev/video0 num-buffers="$FRAMES" ! image/jpeg ! jpegdec ! videoconvert ! video/x-raw,format=BGR ! fakesink
else
  echo "SKIP USB camera (no /dev/video0)"
fi
check "hardware H.264 encoder (--save on a Jetson)" "nvv4l2h264enc nvvidconv" \
  videotestsrc num-buffers="$FRAMES" ! video/x-raw,width=1280,height=720 ! nvvidconv ! "video/x-raw(memory:NVMM),format=NV12" \
  ! nvv4l2h264enc ! h264parse ! qtmux ! filesink location=/tmp/edge-smoke.mp4
exit $fails
