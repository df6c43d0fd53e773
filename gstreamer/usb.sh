#!/usr/bin/env bash
# USB webcam (V4L2, MJPEG) → display, the pipeline `edge run --camera usb` builds (usb_pipeline).
#   DEVICE=/dev/video0 WIDTH=1280 HEIGHT=720 FPS=30 DECODER=jpegdec ./gstreamer/usb.sh
# List what a camera offers: v4l2-ctl -d /dev/video0 --list-formats-ext (package v4l-utils).
# On a Jetson DECODER="nvjpegdec ! video/x-raw" decodes MJPEG in hardware.
set -euo pipefail
DEVICE=${DEVICE:-/dev/video0} WIDTH=${WIDTH:-1280} HEIGHT=${HEIGHT:-720} FPS=${FPS:-30}
DECODER=${DECODER:-jpegdec}
SINK=${SINK:-autovideosink}
# shellcheck disable=SC2086
exec gst-launch-1.0 -e v4l2src device="$DEVICE" ! "image/jpeg, width=$WIDTH, height=$HEIGHT, framerate=$FPS/1" \
  ! $DECODER ! videoconvert ! "video/x-raw, format=BGR" ! videoconvert ! fpsdisplaysink video-sink="$SINK" \
  text-overlay=false -v
