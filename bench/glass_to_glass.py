#!/usr/bin/env python3
"""Glass-to-glass latency of ``--output rtsp://``: a frame's stamp time → the client has it decoded.

    nice -n 10 python bench/glass_to_glass.py                      # 1280x720 30 fps, 20 s, GStreamer client
    python bench/glass_to_glass.py --reader opencv --seconds 10    # OpenCV's FFmpeg as the client
    python bench/glass_to_glass.py --json out.json

The server is edge's own ``RtspOutput`` (the encoder ``edge run`` would pick, ``--bitrate``) fed by a frame
loop at ``--fps``: a moving scene, each frame stamped (edge.bench.stamp: a counter and the wall-clock ms,
written into the pixels just before ``write``). The client runs in another process, as a viewer would:
GStreamer ``rtspsrc protocols=tcp latency=0 ! rtph264depay ! h264parse ! avdec_h264`` to an appsink that
keeps every frame (or OpenCV/FFmpeg with ``rtsp_transport;tcp|fflags;nobuffer|flags;low_delay``); it reads
the stamp back from each decoded frame and takes its age then. Not included: the camera's exposure and
readout before the frame reaches edge, and the display's scan-out after the client has it.

Reports p50/p95/p99/max of the age in ms after ``--warmup`` s, frames lost per 1,000 (counters between the
first and last read that never arrived), unreadable stamps, and the server's own drops; one JSON object
(``--json`` too) and a table.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edge.bench.stamp import age_ms, now_ms, read_stamp, rtsp_reader, stamp  # noqa: E402


def scene(width: int, height: int, i: int) -> np.ndarray:
    """A frame with motion everywhere (a drifting gradient, moving boxes, some texture), like a camera's."""
    x = np.arange(width, dtype=np.int32)[None, :]
    y = np.arange(height, dtype=np.int32)[:, None]
    base = ((x + y + 3 * i) % 256).astype(np.uint8)
    img = np.dstack([base, np.roll(base, i, axis=1), 255 - base])
    for k in range(4):
        cx = int((0.2 + 0.2 * k) * width + 0.15 * width * np.sin(0.05 * i + k))
        cy = int(0.5 * height + 0.3 * height * np.cos(0.04 * i + 2 * k))
        img[max(0, cy - 40):cy + 40, max(0, cx - 40):cx + 40] = (40 * k, 255 - 50 * k, 120)
    return img


def client(url: str, seconds: float, reader: str) -> None:
    """The viewer process: one line per frame, "counter age_ms" ("- -" when the stamp is unreadable)."""
    deadline = time.monotonic() + seconds
    if reader == "opencv":
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp|fflags;nobuffer|flags;low_delay"
        import cv2

        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        read = lambda: cap.read()[1]  # noqa: E731
    else:
        src = rtsp_reader(url, drop=False, max_buffers=16)
        read = lambda: src.read(timeout=10.0).image  # noqa: E731
    try:
        while time.monotonic() < deadline:
            img = read()
            if img is None:
                break
            got = read_stamp(img)
            t = now_ms()
            print("{} {}".format(got[0], age_ms(got[1], t)) if got else "- -", flush=True)
    finally:
        cap.release() if reader == "opencv" else src.close()


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if values else float("nan")


def run(args) -> dict:
    from edge.outputs.base import OutputSpec
    from edge.outputs.options import OutputOptions
    from edge.outputs.rtsp import RtspOutput
    from edge.sources.base import Frame
    from tests.localnet import free_port

    width, height = (int(v) for v in args.size.lower().split("x"))
    port = free_port()
    lines = []
    out = RtspOutput(OutputSpec("rtsp", "rtsp://@:{}/live".format(port), "127.0.0.1", port, "/live"),
                     OutputOptions(bitrate=args.bitrate, encoder=args.encoder), lines.append)
    halt = threading.Event()
    written = [0]
    frames = [scene(width, height, i) for i in range(60)]  # made ahead: the loop only stamps and writes

    def feed():
        due = time.monotonic()
        while not halt.is_set():
            i = written[0]
            img = frames[i % len(frames)].copy()
            stamp(img, i, now_ms())
            out.write(Frame(i, img, time.time()), None, img)
            written[0] = i + 1
            due += 1.0 / args.fps
            time.sleep(max(0.0, due - time.monotonic()))

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--client", out.url, "--seconds",
                             str(args.seconds + args.warmup), "--reader", args.reader],
                            stdout=subprocess.PIPE, universal_newlines=True)
    t0, rows = time.monotonic(), []
    for line in proc.stdout:
        if time.monotonic() - t0 >= args.warmup:
            rows.append(line.split())
    proc.wait()
    halt.set()
    feeder.join(5)
    info = out.info()
    out.close()
    good = [(int(c), int(a)) for c, a in rows if c != "-"]
    ages = [a for _, a in good]
    counters = sorted(set(c for c, _ in good))
    span = counters[-1] - counters[0] + 1 if counters else 0
    lost = span - len(counters)
    return {"bench": "glass_to_glass", "transport": "rtsp/tcp", "reader": args.reader, "size": args.size,
            "fps": args.fps, "bitrate_kbps": args.bitrate, "encoder": info["encoder"], "seconds": args.seconds,
            "frames_read": len(rows), "unreadable_stamps": len(rows) - len(good),
            "p50_ms": percentile(ages, 50), "p95_ms": percentile(ages, 95), "p99_ms": percentile(ages, 99),
            "max_ms": float(max(ages)) if ages else float("nan"),
            "lost_per_1000": round(1000.0 * lost / span, 2) if span else float("nan"),
            "server_dropped": info["dropped"], "clients_evicted": info["evicted"], "frames_written": written[0],
            "cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=2.0, help="seconds not counted at the start")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--bitrate", type=int, default=4000, help="kbit/s")
    p.add_argument("--encoder", default="auto")
    p.add_argument("--reader", choices=("gst", "opencv"), default="gst")
    p.add_argument("--json", default="", help="also write the result here")
    p.add_argument("--client", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.client:
        client(args.client, args.seconds, args.reader)
        return 0
    result = run(args)
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print("\n| RTSP {size} {fps:g} fps, {encoder} {bitrate_kbps} kbit/s, reader {reader} | p50 ms | p95 ms | p99 ms "
          "| max ms | lost /1000 | unreadable | server drops |".format(**result))
    print("|---|---|---|---|---|---|---|---|")
    print("| {frames_read} frames in {seconds:g} s (load {load_1min} on {cpus} CPUs) | {p50_ms:.0f} | {p95_ms:.0f} | "
          "{p99_ms:.0f} | {max_ms:.0f} | {lost_per_1000} | {unreadable_stamps} | {server_dropped} |".format(**result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
