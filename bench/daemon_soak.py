"""Soak `edge run` as the service runs it: N frames with every daemon part on, memory and fds checked.

The source is a short clip looped through GStreamer, so its pipeline is torn down and reopened every
few frames (hundreds of times: a leak per reopen shows up in the fd count); the live view is served
with a viewer on /stream.mjpg and a poller on /metrics; the JSONL log rotates; sd_notify goes to a
real datagram socket with the watchdog on. Memory (RSS) and open file descriptors are sampled in the
frame loop after a warm-up and at the end.

    nice python bench/daemon_soak.py --frames 10000
"""
import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402

from edge.run.config import RunConfig  # noqa: E402
from edge.run.loop import run  # noqa: E402
from edge.zoo import SAMPLE_VIDEO  # noqa: E402
from edge.sources.backoff import BackoffConfig  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def fds() -> list:
    """What the open file descriptors point at (sockets, pipes, files)."""
    out = []
    for n in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink("/proc/self/fd/" + n))
        except OSError:  # the listing's own fd, closed by now
            pass
    return sorted(out)


def kinds(targets: list) -> dict:
    out = {}
    for t in targets:
        k = t.split(":")[0] if ":" in t else ("file" if t.startswith("/") else t)
        out[k] = out.get(k, 0) + 1
    return out


def make_clip(path: str, frames: int, width: int) -> None:
    """The first ``frames`` frames of the bundled sample, downscaled (faces included)."""
    cap = cv2.VideoCapture(SAMPLE_VIDEO)
    out = None
    for _ in range(frames):
        ok, img = cap.read()
        if not ok:
            break
        img = cv2.resize(img, (width, int(img.shape[0] * width / img.shape[1])))
        if out is None:
            out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30, (img.shape[1], img.shape[0]))
        out.write(img)
    cap.release()
    out.release()


def clients(base: str, stop: threading.Event, counts: dict) -> None:
    def viewer():
        while not stop.is_set():
            try:
                with urllib.request.urlopen(base + "stream.mjpg", timeout=5) as r:
                    while not stop.is_set() and r.readline():
                        counts["stream_lines"] += 1
            except OSError:
                time.sleep(0.2)

    def poller():
        while not stop.is_set():
            try:
                urllib.request.urlopen(base + "metrics", timeout=5).read()
                counts["polls"] += 1
            except OSError:
                pass
            stop.wait(0.5)

    for fn in (viewer, poller):
        threading.Thread(target=fn, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--clip-frames", type=int, default=50, help="frames per loop of the clip (one reopen each)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--model", default="", help="classifier (default: the bundled model)")
    ap.add_argument("--warmup", type=int, default=2000, help="frames before the baseline is taken")
    ap.add_argument("--no-clients", action="store_true", help="serve, but with no HTTP client (isolates leaks)")
    ap.add_argument("--no-serve", action="store_true", help="no live view at all")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="edge-soak-")
    clip = os.path.join(tmp, "clip.mp4")
    make_clip(clip, a.clip_frames, a.width)
    notify_path = os.path.join(tmp, "notify")
    sd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sd.bind(notify_path)
    sd.setblocking(False)
    os.environ.update(NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="2000000")
    notes = {"WATCHDOG=1": 0, "READY=1": 0}

    port_probe = socket.socket()
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()

    samples, stop, counts = {}, threading.Event(), {"stream_lines": 0, "polls": 0}

    def on_frame(frame, faces):
        while True:
            try:
                msg = sd.recv(4096).decode()
            except BlockingIOError:
                break
            for k in notes:
                notes[k] += msg.startswith(k)
        if frame.index == 10 and not (a.no_clients or a.no_serve):
            clients("http://127.0.0.1:{}/".format(port), stop, counts)
        if frame.index + 1 in (a.warmup, a.frames):
            samples[frame.index + 1] = (rss_mb(), fds(), time.monotonic())

    cfg = RunConfig(source=clip, model=a.model, headless=True, loop=True, capture="gstreamer", threaded=True,
                    max_frames=a.frames, log=os.path.join(tmp, "frames.jsonl"), log_max_mb=1.0, log_keep=3,
                    summary_every=0, reconnect=BackoffConfig(initial=0.1, max_delay=1.0))
    if not a.no_serve:
        cfg.serve.address = "127.0.0.1:{}".format(port)
    s = run(cfg, on_frame=on_frame)
    stop.set()
    (rss0, fd0, t0), (rss1, fd1, t1) = samples[a.warmup], samples[a.frames]
    logs = sorted(os.listdir(tmp))
    print(json.dumps({
        "frames": s["frames"], "mean_fps": s["mean_fps"], "faces": s["faces"], "corrupt": s["corrupt"],
        "reconnects": s["reconnects"], "reopens": a.frames // a.clip_frames, "stopped": s["stopped"],
        "rss_mb": [round(rss0, 1), round(rss1, 1)], "rss_growth_mb": round(rss1 - rss0, 2),
        "fds": [len(fd0), len(fd1)], "fd_kinds": [kinds(fd0), kinds(fd1)], "fps_after_warmup": round((a.frames - a.warmup) / (t1 - t0), 1),
        "sd_notify": notes, "http": counts, "files": logs}, indent=1))
    files0 = [t for t in fd0 if not t.startswith("socket:")]
    files1 = [t for t in fd1 if not t.startswith("socket:")]
    # Sockets come and go with the HTTP clients; files and pipes must not pile up.
    ok = rss1 - rss0 < 5.0 and len(files1) <= len(files0) and len(fd1) <= len(fd0) + 4
    print("PASS" if ok else "FAIL", "memory growth {:+.2f} MB (limit 5), fds {} → {} (non-socket {} → {})".format(
        rss1 - rss0, len(fd0), len(fd1), len(files0), len(files1)))
    sd.close()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
