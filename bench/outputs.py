#!/usr/bin/env python3
"""What each ``--output`` costs ``edge run``, side by side in one run: FPS with none, a file, RTSP, both.

    nice python bench/outputs.py                        # the bundled sample, 300 frames, 3 rounds
    python bench/outputs.py --frames 150 --rounds 2 --json out.json

Each configuration is a separate ``edge run --headless --json`` process on the same input (the bundled
1280×720 sample looped, default detector and model), run in interleaved rounds (A B C D, A B C D, …) so
a machine whose load drifts hurts every configuration alike; the median FPS of the rounds is reported with
its ratio to "none". The RTSP configurations get one real client for the whole run (``gst-launch-1.0
rtspsrc protocols=tcp ! rtph264depay ! fakesink`` in its own process: it receives every frame but does not
decode, so on a small machine its CPU is not counted against edge); without a client the RTSP output
encodes nothing.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

EDGE = [sys.executable, "-m", "edge"]
CLIENT = r"""
import subprocess, sys, time
url, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
while time.monotonic() < end:  # gst-launch ends when a run's server goes away: connect to the next one
    subprocess.call(["gst-launch-1.0", "-q", "rtspsrc", "location=" + url, "protocols=tcp", "latency=0", "!",
                     "rtph264depay", "!", "fakesink", "sync=false"], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    time.sleep(0.1)
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configurations(tmp: str, port: int):
    rtsp = "rtsp://@:{}/live".format(port)
    return [("none", []),
            ("file (--save out.mp4)", ["--save", os.path.join(tmp, "out.mp4")]),
            ("rtsp, 1 client", ["--output", rtsp]),
            ("file + rtsp, 1 client", ["--save", os.path.join(tmp, "both.mp4"), "--output", rtsp])]


def run_once(args, frames: int) -> dict:
    cmd = EDGE + ["run", "--headless", "--loop", "--max-frames", str(frames), "--summary-every", "0",
                  "--json"] + args
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                         timeout=900)
    if out.returncode != 0:
        raise SystemExit("bench: {} failed: {}".format(" ".join(args) or "edge run", out.stderr.strip()[-400:]))
    return json.loads(out.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300, help="frames per run (default 300)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--json", default="", help="also write the results here")
    a = ap.parse_args(argv)
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="edge-bench-outputs-")
    configs = configurations(tmp, port)
    fps = {name: [] for name, _ in configs}
    client = subprocess.Popen([sys.executable, "-c", CLIENT, "rtsp://127.0.0.1:{}/live".format(port), "86400"],
                              cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), stderr=subprocess.DEVNULL)
    try:
        for r in range(a.rounds):
            for name, args in configs:
                t0 = time.monotonic()
                summary = run_once(args, a.frames)
                fps[name].append(float(summary["mean_fps"]))
                print("round {}/{}  {:<24} {:6.1f} FPS  ({:.0f} s)".format(r + 1, a.rounds, name, fps[name][-1],
                                                                        time.monotonic() - t0), flush=True)
    finally:
        client.terminate()
        client.wait()
    base = sorted(fps["none"])[len(fps["none"]) // 2]
    rows = []
    for name, _ in configs:
        med = sorted(fps[name])[len(fps[name]) // 2]
        rows.append({"outputs": name, "fps_median": round(med, 2), "fps_runs": [round(v, 2) for v in fps[name]],
                     "ratio_to_none": round(med / base, 3) if base else None})
    print("\n| outputs | FPS (median of {}) | ratio to none | runs |".format(a.rounds))
    print("|---|---|---|---|")
    for row in rows:
        print("| {} | {:.1f} | {:.3f} | {} |".format(row["outputs"], row["fps_median"], row["ratio_to_none"],
                                                   " ".join("{:.1f}".format(v) for v in row["fps_runs"])))
    result = {"frames": a.frames, "rounds": a.rounds, "load_avg": os.getloadavg(), "nproc": os.cpu_count(),
              "rows": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
