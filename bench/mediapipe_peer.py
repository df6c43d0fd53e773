#!/usr/bin/env python
"""The peer a user would pick instead: MediaPipe's own face detector on the same frames as ours.

    .venv-mediapipe/bin/python bench/mediapipe_peer.py FRAMES_DIR [--model 1]   # JSON lines on stdout

``mediapipe==0.10.14``'s Solutions API, ``mp.solutions.face_detection.FaceDetection(model_selection=1)``:
its C++ graph (XNNPACK on the CPU) with its bundled full-range model (newer wheels have only the Tasks
API and no models). It lives in a side venv (``python3 -m venv .venv-mediapipe &&
.venv-mediapipe/bin/pip install mediapipe==0.10.14``) and runs as a subprocess of the bench
(``run_peer``): frames go to disk once as PNG (lossless), each comes back as one JSON line of
boxes (xyxy, frame pixels), scores, wall and CPU milliseconds of ``process()`` (RGB conversion included).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHONS = (os.path.join(ROOT, ".venv-mediapipe", "bin", "python"),
                os.path.join(os.path.expanduser("~"), ".cache", "edge", "venv-mediapipe", "bin", "python"))


def peer_python(python=None):
    """The side venv's python (``python``, $EDGE_MEDIAPIPE_PYTHON, .venv-mediapipe), or None."""
    for p in (python, os.environ.get("EDGE_MEDIAPIPE_PYTHON")) + VENV_PYTHONS:
        if p and os.path.isfile(p):
            return p
    return None


def run_peer(frames, model_selection=1, threshold=0.5, python=None, workdir=None):
    """MediaPipe on ``frames`` (BGR arrays) in the side venv: [(boxes (N, 4) xyxy, scores, ms, cpu_ms)] per frame
    and its version; None when the side venv is missing."""
    import cv2
    import numpy as np

    py = peer_python(python)
    if py is None:
        return None
    folder = tempfile.mkdtemp(prefix="edge-mp-", dir=workdir)
    try:
        for i, f in enumerate(frames):
            cv2.imwrite(os.path.join(folder, "{:06d}.png".format(i)), f)
        r = subprocess.run([py, os.path.abspath(__file__), folder, "--model", str(model_selection),
                            "--threshold", str(threshold)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if r.returncode:
            raise SystemExit("mediapipe peer failed ({}): {}".format(r.returncode, r.stderr.strip()[-1500:]))
        rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    finally:
        for p in glob.glob(os.path.join(folder, "*.png")):
            os.remove(p)
        os.rmdir(folder)
    head = rows[0]
    out = [(np.array(x["boxes"], np.float32).reshape(-1, 4), np.array(x["scores"], np.float32), x["ms"], x["cpu_ms"])
           for x in rows[1:]]
    return out, head["mediapipe"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("frames", help="folder of frames (*.png, read in name order)")
    ap.add_argument("--model", type=int, default=1, help="model_selection: 0 short range, 1 full range (default)")
    ap.add_argument("--threshold", type=float, default=0.5, help="min_detection_confidence (default 0.5)")
    args = ap.parse_args()
    import cv2
    import mediapipe as mp

    fd = mp.solutions.face_detection.FaceDetection(model_selection=args.model,
                                                   min_detection_confidence=args.threshold)
    paths = sorted(glob.glob(os.path.join(args.frames, "*.png")))
    print(json.dumps({"mediapipe": mp.__version__, "model_selection": args.model, "frames": len(paths)}), flush=True)
    for i, p in enumerate(paths):
        img = cv2.imread(p)
        if i == 0:
            fd.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))  # warm-up
        h, w = img.shape[:2]
        t0, c0 = time.perf_counter(), time.process_time()
        res = fd.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        ms, cpu = (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3
        boxes, scores = [], []
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            boxes.append([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h])
            scores.append(float(d.score[0]))
        print(json.dumps({"frame": i, "boxes": boxes, "scores": scores, "ms": round(ms, 3), "cpu_ms": round(cpu, 3)}))
    fd.close()


if __name__ == "__main__":
    sys.exit(main())
