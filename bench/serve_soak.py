"""Soak the live view: N concurrent clients for S seconds while a publisher runs at 30 fps.

Reports the publisher's achieved rate (side by side: the same publisher alone, then under load),
publish() latency, frames each viewer got, memory growth and open file descriptors before/after.

    nice python bench/serve_soak.py --seconds 30 --clients 20
"""
import argparse
import os
import resource
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from edge.service.live import LiveState  # noqa: E402
from edge.service.serve import start_server  # noqa: E402
from edge.timing import summarize  # noqa: E402


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fds():
    return len(os.listdir("/proc/self/fd"))


def publish_for(state, seconds, rate, jpegs):
    times, t0, i = [], time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        t = time.perf_counter()
        state.publish(jpegs[i % len(jpegs)], {"frame": i, "stages_ms": {"detect": 9.0, "classify": 2.0},
                                              "faces": [{"label": "with_mask"}]})
        times.append((time.perf_counter() - t) * 1000)
        i += 1
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
    return i / (time.monotonic() - t0), times


def viewer(url, stop, counts, idx):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            while not stop.is_set():
                line = r.readline()
                if not line:
                    return  # the server closed the stream
                if line.startswith(b"Content-Length:"):
                    n = int(line.split(b":")[1])
                    r.readline()
                    r.read(n)
                    counts[idx] += 1
    except OSError:
        if not stop.is_set():
            raise


def poller(url, stop, counts, idx):
    while not stop.is_set():
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
        counts[idx] += 1
        time.sleep(0.1)  # a dashboard polling at 10 Hz


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=20, help="half stream viewers, half status/metrics pollers")
    ap.add_argument("--rate", type=float, default=30.0)
    a = ap.parse_args()
    jpegs = [cv2.imencode(".jpg", np.random.RandomState(i).randint(0, 255, (480, 640, 3), np.uint8))[1].tobytes()
             for i in range(8)]
    fd0 = fds()
    state = LiveState(info={"model": "soak"})
    server = start_server(state, "127.0.0.1:0")
    alone_rate, alone = publish_for(state, min(5.0, a.seconds), a.rate, jpegs)
    rss0 = rss_mb()
    stop, counts = threading.Event(), [0] * a.clients
    nv = a.clients // 2
    threads = [threading.Thread(target=viewer, args=(server.url + "stream.mjpg", stop, counts, i), daemon=True)
               for i in range(nv)]
    threads += [threading.Thread(target=poller, args=(server.url + ("metrics" if i % 2 else "status.json"),
                                                       stop, counts, nv + i), daemon=True)
                for i in range(a.clients - nv)]
    for t in threads:
        t.start()
    # Two halves: growth in the first is warm-up (thread arenas, buffers); in the second it would be a leak.
    rate1, loaded1 = publish_for(state, a.seconds / 2, a.rate, jpegs)
    rss_half = rss_mb()
    rate2, loaded2 = publish_for(state, a.seconds / 2, a.rate, jpegs)
    rss1 = rss_mb()
    load_rate, loaded = (rate1 + rate2) / 2, loaded1 + loaded2
    stop.set()
    server.close()  # ends the streams, so the viewers see EOF
    for t in threads:
        t.join(15)
    fd1 = fds()
    p_alone, p_load = summarize(alone), summarize(loaded)
    print("publisher alone      : {:.1f} fps, publish p50 {:.3f} ms p99 {:.3f} ms".format(
        alone_rate, p_alone["p50"], p_alone["p99"]))
    print("publisher, {} clients: {:.1f} fps, publish p50 {:.3f} ms p99 {:.3f} ms  (ratio {:.3f})".format(
        a.clients, load_rate, p_load["p50"], p_load["p99"], load_rate / alone_rate))
    print("frames per viewer    : min {} max {} (published {})".format(min(counts[:nv]), max(counts[:nv]),
                                                                       len(loaded)))
    print("polls per poller     : min {} max {}".format(min(counts[nv:]), max(counts[nv:])))
    print("RSS {:.1f} → {:.1f} (half-way) → {:.1f} MB: second half {:+.2f} MB".format(
        rss0, rss_half, rss1, rss1 - rss_half))
    print("open fds before the server {} → after closing it {}".format(fd0, fd1))


if __name__ == "__main__":
    main()
