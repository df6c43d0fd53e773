#!/usr/bin/env python3
"""Classifier cost per tracked face at steady state, people counting on (re-classify every K frames, or when a
box or score changes) against classifying every face on every frame (``--no-people``).

    nice python bench/people.py                 # the bundled sample video (1280×720, 4 faces)
    nice python bench/people.py --tile 3x3      # its frames tiled 3×3 and scaled to 1920×1080: 36 faces

"Classifier ms" is what the loop spends on faces after detection: the preprocess (crops, the choice of rows,
resizing), infer and postprocess (top-1, the people's votes) stages of each frame's log line, divided by the
faces of that frame; frames before ``--warmup`` (tracks not yet confirmed) are left out. Prints one JSON line.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def tiled_video(src: str, rows: int, cols: int, out: str, size=(1920, 1080)) -> str:
    """``src`` with each frame tiled rows × cols and resized to ``size``: rows·cols times its faces."""
    import cv2

    cap = cv2.VideoCapture(src)
    fps = cap.get(cv2.CAP_PROP_FPS) or 15
    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    while True:
        ok, img = cap.read()
        if not ok:
            break
        grid = np.vstack([np.hstack([img] * cols)] * rows)
        writer.write(cv2.resize(grid, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return out


def classifier_ms_per_face(source: str, people: bool, warmup: int, **options) -> dict:
    from edge.run.config import RunConfig
    from edge.run.loop import run
    from edge.run.people import PeopleOptions

    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "frames.jsonl")
        cfg = RunConfig(source=source, headless=True, log=log, summary_every=0,
                        people=PeopleOptions(enabled=people, **options))
        summary = run(cfg)
        rows = [json.loads(x) for x in open(log)]
    per_face, faces = [], []
    for r in rows:
        if "frame" in r and r["frame"] >= warmup and r["faces"]:
            ms = r["ms"]["preprocess"] + r["ms"]["infer"] + r["ms"]["postprocess"]
            per_face.append(ms / r["faces"])
            faces.append(r["faces"])
    return {"people": people, "classifier_ms_per_face": round(float(np.mean(per_face)), 4),
            "p50": round(float(np.median(per_face)), 4), "faces_per_frame": round(float(np.mean(faces)), 1),
            "mean_fps": summary["mean_fps"], "counted": (summary.get("people") or {}).get("people")}


def main():
    from edge.zoo import SAMPLE_VIDEO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=SAMPLE_VIDEO)
    ap.add_argument("--tile", default="", help="RxC: tile each frame R×C and scale it to 1920×1080")
    ap.add_argument("--warmup", type=int, default=30, help="frames left out at the start")
    ap.add_argument("--reclassify-every", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source
        if args.tile:
            r, c = (int(v) for v in args.tile.lower().split("x"))
            source = tiled_video(source, r, c, os.path.join(tmp, "tiled.mp4"))
        results = [classifier_ms_per_face(source, False, args.warmup),
                   classifier_ms_per_face(source, True, args.warmup, reclassify_every=args.reclassify_every)]
    print(json.dumps({"source": args.source, "tile": args.tile, "results": results}))


if __name__ == "__main__":
    main()
