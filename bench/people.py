#!/usr/bin/env python3
"""Classifier cost per tracked face at steady state, people counting on (re-classify every K frames — up to 4K
while a label holds — or when a box or its averaged score changes) against classifying every face on every frame
(``--no-people``), and whether the per-track labels stay those of classifying every face on every frame.

    nice python bench/people.py                 # the bundled sample video (1280×720, 4 faces)
    nice python bench/people.py --tile 3x3      # its frames tiled 3×3 and scaled to 1920×1080: 9× the faces
    nice python bench/people.py --tile 3x3 --root /tmp/old-tree   # the same with another tree's edge/

"Classifier ms" is what the loop spends on faces after detection: the preprocess (the choice of rows, crops,
resizing), infer and postprocess (top-1, the people's votes) stages of each frame's log line, divided by the
faces of that frame (``ms_per_face``: the mean of that; ``p50``; ``ms_per_face_total``: all those stage
milliseconds over all faces); frames before ``--warmup`` (tracks not yet confirmed) are left out. ``classified``:
the share of faces the classifier saw. ``labels_agree``: the share of tracks whose final vote (the ``ended``
event) is the one they get with ``--reclassify-every 1`` (every face on every frame; the same tracks, since
tracking does not depend on labels). The machine may be shared: run old and new back to back. Prints one JSON
line.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


class Ended:
    """An event sink keeping each track's final label (its ``ended`` event)."""

    def __init__(self):
        self.labels = {}

    def publish(self, event, snapshot):
        if event.get("type") == "person" and event.get("phase") == "ended":
            self.labels[event["track_id"]] = event["label"]

    def stats(self, stats):
        pass

    def close(self):
        pass


def classifier_ms_per_face(source: str, people: bool, warmup: int, **options) -> dict:
    from edge.run import loop
    from edge.run.config import RunConfig
    from edge.run.people import People, PeopleOptions

    sink, seen = Ended(), [0, 0]
    real_needs = People.needs_classify

    def needs(self, faces, wanted):  # counts the faces classified once the warm-up is over
        need = real_needs(self, faces, wanted)
        if self.frame >= warmup:
            seen[0], seen[1] = seen[0] + int(need.sum()), seen[1] + len(faces)
        return need

    loop.make_event_sinks, People.needs_classify = (lambda cfg, echo=None, frame_sinks=(): [sink]), needs
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "frames.jsonl")
        cfg = RunConfig(source=source, headless=True, log=log, summary_every=0,
                        people=PeopleOptions(enabled=people, **options))
        summary = loop.run(cfg)
        rows = [json.loads(x) for x in open(log)]
    People.needs_classify = real_needs
    per_face, faces, stages = [], [], {"preprocess": [], "infer": [], "postprocess": []}
    for r in rows:
        if "frame" in r and r["frame"] >= warmup and r["faces"]:
            for k in stages:
                stages[k].append(r["ms"][k])
            per_face.append(sum(r["ms"][k] for k in stages) / r["faces"])
            faces.append(r["faces"])
    total_ms = sum(sum(v) for v in stages.values())
    return {"people": people, "reclassify_every": options.get("reclassify_every"),
            "ms_per_face": round(float(np.mean(per_face)), 4), "p50": round(float(np.median(per_face)), 4),
            "ms_per_face_total": round(total_ms / sum(faces), 4),
            "stage_ms": {k: round(float(np.mean(v)), 3) for k, v in stages.items()},
            "classified": round(seen[0] / seen[1], 4) if seen[1] else (1.0 if not people else None),
            "faces_per_frame": round(float(np.mean(faces)), 1), "mean_fps": summary["mean_fps"],
            "counted": (summary.get("people") or {}).get("people"), "_labels": sink.labels}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="", help="a video (default: the bundled sample)")
    ap.add_argument("--tile", default="", help="RxC: tile each frame R×C and scale it to 1920×1080")
    ap.add_argument("--warmup", type=int, default=30, help="frames left out at the start")
    ap.add_argument("--reclassify-every", type=int, default=10)
    ap.add_argument("--root", default=ROOT, help="the tree whose edge/ runs (another checkout: the old code)")
    ap.add_argument("--no-reference", action="store_true", help="skip the --no-people and every-frame runs")
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.root))
    from edge.zoo import SAMPLE_VIDEO

    with tempfile.TemporaryDirectory() as tmp:
        source = args.source or SAMPLE_VIDEO
        if args.tile:
            r, c = (int(v) for v in args.tile.lower().split("x"))
            source = tiled_video(source, r, c, os.path.join(tmp, "tiled.mp4"))
        results = [] if args.no_reference else [classifier_ms_per_face(source, False, args.warmup),
                                                classifier_ms_per_face(source, True, args.warmup,
                                                                       reclassify_every=1)]
        results.append(classifier_ms_per_face(source, True, args.warmup, reclassify_every=args.reclassify_every))
    if not args.no_reference:
        every, sparse = results[1]["_labels"], results[2]["_labels"]
        results[2]["labels_agree"] = round(sum(sparse.get(t) == l for t, l in every.items()) / max(len(every), 1), 4)
        results[2]["tracks"] = len(every)
    for r in results:
        r.pop("_labels")
    import edge

    print(json.dumps({"source": args.source or "sample", "tile": args.tile, "edge": os.path.dirname(edge.__file__),
                      "results": results}))


if __name__ == "__main__":
    main()
