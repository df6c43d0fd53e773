#!/usr/bin/env bash
# CSI camera (IMX219 on a Jetson Nano) → display, the same pipeline `edge run --camera csi` builds
# (edge/sources/pipelines.py: csi_pipeline), with the appsink swapped for a window or fakesink.
#   SENSOR=0 WIDTH=1280 HEIGHT=720 FPS=30 FLIP=0 SINK=fakesink ./gstreamer/csi.sh
# IMX219 sensor modes: 3264x2464@21 3264x1848@28 1920x1080@30 1640x1232@30 1280x720@60.
set -euo pipefail
SENSOR=${SENSOR:-0} WIDTH=${WIDTH:-1280} HEIGHT=${HEIGHT:-720} FPS=${FPS:-30} FLIP=${FLIP:-0}
MODE_W=${MODE_W:-1280} MODE_H=${MODE_H:-720}
SINK=${SINK:-nv3dsink}
exec gst-launch-1.0 -e nvarguscamerasrc sensor-id="$SENSOR" \
  ! "video/x-raw(memory:NVMM), width=$MODE_W, height=$MODE_H, framerate=$FPS/1, format=NV12" \
  ! nvvidconv flip-method="$FLIP" ! "video/x-raw, width=$WIDTH, height=$HEIGHT, format=BGRx" \
  ! videoconvert ! "video/x-raw, format=BGR" ! queue ! videoconvert ! fpsdisplaysink video-sink="$SINK" text-overlay=false -v
