#!/usr/bin/env python
"""Robustness, measured: face recall and label accuracy (the bundled classifier) against one condition at a
time — face size, roll, yaw, brightness, motion blur, JPEG quality, sensor noise.

    nice python bench/robustness.py                                    # the default detector, JSON + table
    nice python bench/robustness.py --detector blazeface:model=masked --json docs/benchmarks/robustness.json

Faces: bench/detectors.py's cast (12 real faces from package photos), masked with every models.masks family
(2 in 3 faces) or bare, 3 a frame on real 1280x720 backgrounds. One condition varies, the rest stay at
their neutral value (faces 60-200 px). Roll rotates the face (its mask drawn before, so it follows); yaw
is APPROXIMATED by foreshortening the frontal face horizontally by cos(yaw) (no 3D turn: the photos are
frontal) and the truth box narrows with it. Brightness, blur, JPEG and noise apply to the whole frame.
Recall: IoU >= 0.4, one to one (edge.bench.detectors.match). Label accuracy: of the faces found, the share
the classifier (``--model``, default edge/zoo/mask_default.onnx) labels right (masked: with_mask; bare and
hard negatives: without_mask), on the crop of the detected box as ``edge run`` crops it.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

CONDITIONS = {  # name: values (the first neutral where there is one)
    "size_px": [40, 60, 90, 140, 200, 300],
    "roll_deg": [0, -30, -15, 15, 30],
    "yaw_deg": [0, -45, -25, 25, 45],
    "brightness": [1.0, 0.3, 0.5, 0.75, 1.25, 1.5],
    "motion_blur_px": [0, 5, 9, 15],
    "jpeg_quality": [95, 50, 30],
    "noise_sigma": [0, 8, 16, 25],
}


def face_transform(kind, value):
    """(patch, alpha, fb, rng) -> (patch, alpha, fb) for roll/yaw, else None."""
    import cv2

    if kind not in ("roll_deg", "yaw_deg") or not value:
        return None

    def roll(patch, alpha, fb, rng):
        n = patch.shape[0]
        cx, cy = fb[0] + fb[2] / 2.0, fb[1] + fb[3] / 2.0
        m = cv2.getRotationMatrix2D((cx, cy), -float(value), 1.0)
        p = cv2.warpAffine(patch, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        a = cv2.warpAffine(alpha[..., 0], m, (n, n), flags=cv2.INTER_LINEAR)[..., None]
        return p, a, fb  # a rolled face keeps its size: the truth box stays, centred on the face

    def yaw(patch, alpha, fb, rng):
        k = float(np.cos(np.radians(value)))
        n = patch.shape[0]
        cx = fb[0] + fb[2] / 2.0
        shift = 0.25 * np.sin(np.radians(value)) * fb[2]  # the face centre moves towards the turn
        m = np.float32([[k, 0, (1 - k) * cx + shift], [0, 1, 0]])
        p = cv2.warpAffine(patch, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        a = cv2.warpAffine(alpha[..., 0], np.float32([[1, 0, 0], [0, 1, 0]]), (n, n))[..., None]
        w = fb[2] * k
        return p, a, (cx + shift - w / 2.0, fb[1], w, fb[3])

    return roll if kind == "roll_deg" else yaw


def frame_op(kind, value, rng):
    import cv2

    def op(frame):
        if kind == "brightness":
            return np.clip(frame.astype(np.float32) * value, 0, 255).astype(np.uint8)
        if kind == "motion_blur_px" and value:
            k = np.zeros((value, value), np.float32)
            k[value // 2, :] = 1.0 / value
            return cv2.filter2D(frame, -1, k)
        if kind == "jpeg_quality":
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(value)])
            return cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if kind == "noise_sigma" and value:
            return np.clip(frame + rng.normal(0, value, frame.shape), 0, 255).astype(np.uint8)
        return frame
    return op


def classifier(path):
    from edge.backends import load_backend
    from edge.preprocess import preprocess, top1

    backend = load_backend(path, "auto", None, {"threads": 1})

    def labels(crops):
        if not crops:
            return []
        return [name for name, _ in top1(backend.infer(preprocess(crops, backend.meta)), backend.meta.labels)]
    return labels


def measure(detector, labels, people, names, negatives, kind, value, frames_each, seed):
    """One condition value: recall (masked, bare), label accuracy of the faces found, FP per 100 frames."""
    import detectors as B
    from edge.bench.detectors import match
    from edge.run.loop import crop_faces

    rng = np.random.default_rng(seed)
    items = B.family_faces(people, names, max(1, 2 * frames_each // len(names) + 1), frames_each, seed, negatives)
    items = items[:3 * frames_each]
    sizes = (value, value * 1.0001) if kind == "size_px" else (60, 200)
    found = {"masked": [], "bare": []}
    right, fps, n = [], 0, 0
    op = frame_op(kind, value, rng)
    for frame, truth in B.family_frames(people, items, seed, sizes=sizes, transform=face_transform(kind, value)):
        frame = op(frame)
        dets = detector.detect(frame)
        hits, extra = match(dets.boxes, [{"box": t[0]} for t in truth])
        fps += extra
        n += 1
        matched = []
        for t, hit in zip(truth, hits):
            masked = t[1] is not None and not t[1].startswith("neg:")
            found["masked" if masked else "bare"].append(hit)
            if hit:
                matched.append((t[0], masked))
        if matched and labels:
            crops, keep = crop_faces(frame, np.array([m[0] for m in matched], np.float32))
            got = labels(crops)
            right += [g == ("with_mask" if m[1] else "without_mask")
                      for g, m in zip(got, [m for m, k in zip(matched, keep) if k])]

    def rate(v):
        return round(float(np.mean(v)), 4) if v else None
    return {"condition": kind, "value": value, "recall_masked": rate(found["masked"]), "n_masked": len(found["masked"]),
            "recall_bare": rate(found["bare"]), "n_bare": len(found["bare"]), "label_accuracy": rate(right),
            "n_labelled": len(right), "fp_per_100_frames": round(100.0 * fps / max(n, 1), 1)}


def table(rows, detector):
    out = ["| condition | value | masked recall | bare recall | label accuracy (found faces) | FP / 100 frames |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| {} | {} | {} | {} | {} | {} |".format(
            r["condition"], r["value"], r["recall_masked"], r["recall_bare"], r["label_accuracy"],
            r["fp_per_100_frames"]))
    return "Detector `{}`:\n\n".format(detector) + "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", default="blazeface", help="NAME[:option=value,...] as edge bench-detectors")
    ap.add_argument("--model", default=os.path.join(ROOT, "edge", "zoo", "mask_default.onnx"),
                    help="classifier for label accuracy ('none': skip)")
    ap.add_argument("--frames", type=int, default=10, help="frames per condition value (3 faces each)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--only", nargs="+", choices=sorted(CONDITIONS), help="these conditions only")
    ap.add_argument("--json", help="write the results to this JSON file")
    args = ap.parse_args()
    import detectors as B
    from edge.bench.detectors import parse_spec
    from edge.detectors import create_detector

    spec = parse_spec(args.detector)
    detector = create_detector(spec.name, **spec.options)
    labels = None if args.model == "none" else classifier(args.model)
    people = B.cast()
    names, _, negatives = B.families()
    rows = []
    for kind in args.only or list(CONDITIONS):
        for value in CONDITIONS[kind]:
            r = measure(detector, labels, people, names, negatives, kind, value, args.frames, args.seed)
            rows.append(r)
            print(json.dumps(r), flush=True)
    md = table(rows, args.detector)
    print(md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"detector": args.detector, "model": os.path.relpath(args.model, ROOT) if labels else None,
                       "frames_per_value": args.frames, "seed": args.seed, "rows": rows,
                       "families": names, "negatives": negatives, "people": sorted(people)}, f, indent=1)


if __name__ == "__main__":
    main()
