#!/usr/bin/env python
"""A YOLO export through `edge run --detector X.onnx --model none` against a bare ONNX Runtime call + numpy
decode of the same model on the same frames, side by side, alternating, in one run (issue 17).

    python bench/yolo.py yolov8n-320.onnx yolov8n-640.onnx            # the bundled 1280x720 sample, 180 frames
    python bench/yolo.py --repeats 3 --threads 1 --json docs/benchmarks/yolo.json yolov8n-320.onnx

Per model and repeat:

1. in one process, frame by frame in alternating order (so that the machine's load hits both alike): the bare
   loop (letterbox with cv2, /255, NCHW, one ``InferenceSession.run``, numpy decode of the [1, 4+nc, N] output,
   class-aware NMS, boxes back to the frame) and edge's detector (``YoloDetector.detect``) on frames decoded
   beforehand: the detector's overhead;
2. ``edge run`` on the same video (a subprocess, --log), its per-frame stage times (ms) summarised, then the
   bare loop again; against the bare loop's mean time before and after, edge's time per frame outside the
   video's decoding (total - capture_wait):
   the whole pipeline's overhead (its loop, tracking, log; and the capture thread decoding the next frame
   while the model runs, which a 2-core machine feels).

Both use ``--threads`` intra-op threads and ONNX Runtime's default graph optimisations.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
STAGES = ("capture_wait", "detect", "preprocess", "infer", "postprocess", "output", "total")


def letterbox(frame, size):
    """Ultralytics' LetterBox (centred, pad 114): the padded image, its scale and (left, top) padding."""
    import cv2

    h, w = frame.shape[:2]
    r = min(size[0] / h, size[1] / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (size[1] - nw) / 2, (size[0] - nh) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    img = cv2.copyMakeBorder(img, top, size[0] - nh - top, left, size[1] - nw - left, cv2.BORDER_CONSTANT,
                             value=(114, 114, 114))
    return img, r, (left, top)


def nms(boxes, scores, iou):
    """Greedy NMS of xyxy boxes, best first: kept indices."""
    order, keep = np.argsort(-scores), []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        lt, rb = np.maximum(boxes[i, :2], boxes[rest, :2]), np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        order = rest[inter / (area[i] + area[rest] - inter) <= iou]
    return np.array(keep, int)


def bare_detect(session, name, frame, size, conf=0.25, iou=0.45, max_det=300):
    """One frame, as a user would write it: (boxes xyxy in frame pixels, scores, class ids)."""
    import cv2

    img, r, (left, top) = letterbox(frame, size)
    x = (cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    out = session.run(None, {name: x})[0][0].T  # (N, 4+nc)
    cls = out[:, 4:].argmax(1)
    score = out[np.arange(len(out)), 4 + cls]
    m = score > conf
    xywh, score, cls = out[m, :4], score[m], cls[m]
    boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    keep = nms(boxes + cls[:, None] * 7680.0, score, iou)[:max_det]  # class-aware, as Ultralytics offsets
    boxes = (boxes[keep] - [left, top, left, top]) / r
    h, w = frame.shape[:2]
    return np.clip(boxes, 0, [w, h, w, h]), score[keep], cls[keep]


def read_frames(video, n):
    import cv2

    cap, frames = cv2.VideoCapture(video), []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def run_side_by_side(model, frames, threads, bare_only=False):
    """The bare loop and edge's YoloDetector on the same frames, alternating which goes first (``bare_only``:
    the bare loop alone)."""
    import onnxruntime as ort

    from edge.detectors.yolo import YoloDetector

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    s = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    size = tuple(inp.shape[2:4])
    calls = {"bare": lambda f: bare_detect(s, inp.name, f, size)[0]}
    if bare_only:
        ms = []
        for f in frames:
            t0 = time.perf_counter()
            calls["bare"](f)
            ms.append((time.perf_counter() - t0) * 1e3)
        return {"ms": _stats(ms)}
    det = YoloDetector(model, threads=threads)
    calls["edge"] = lambda f: det.detect(f).boxes
    ms, boxes = {"bare": [], "edge": []}, {"bare": 0, "edge": 0}
    for name in calls:
        calls[name](frames[0])  # warm-up
    for i, f in enumerate(frames):
        for name in (("bare", "edge") if i % 2 == 0 else ("edge", "bare")):
            t0 = time.perf_counter()
            b = calls[name](f)
            ms[name].append((time.perf_counter() - t0) * 1e3)
            boxes[name] += len(b)
    det.close()
    ratio = np.array(ms["edge"]) / np.array(ms["bare"])
    return {"bare": {"ms": _stats(ms["bare"]), "boxes": boxes["bare"]},
            "detector": {"ms": _stats(ms["edge"]), "boxes": boxes["edge"]},
            "detector_overhead": round(float(np.mean(ms["edge"]) / np.mean(ms["bare"]) - 1), 4),
            "detector_overhead_p50_ratio": round(float(np.median(ratio) - 1), 4)}


def run_edge(model, video, n, threads):
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "frames.jsonl")
        cmd = [sys.executable, "-m", "edge", "run", "--detector", model, "--model", "none", "--source", video,
               "--headless", "--max-frames", str(n), "--threads", str(threads), "--log", log, "--json"]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, check=True)
        summary = json.loads(out.stdout.decode())
        rows = [r for r in (json.loads(line) for line in open(log)) if "frame" in r]  # not the summary line
    per = {k: [r["ms"].get(k, 0.0) for r in rows[1:]] for k in STAGES}  # frame 0: the model's first call
    compute = [t - c for t, c in zip(per["total"], per["capture_wait"])]
    return {"ms": {k: _stats(v) for k, v in per.items()}, "compute": _stats(compute),
            "boxes": sum(len(r.get("boxes", [])) for r in rows[1:]), "frames": len(rows) - 1,
            "detector": summary.get("detector"), "command": " ".join(cmd[1:])}


def _stats(values):
    v = np.asarray(values, float)
    return {"mean": round(float(v.mean()), 2), "p50": round(float(np.percentile(v, 50)), 2),
            "p90": round(float(np.percentile(v, 90)), 2), "n": int(len(v))}


def main(argv=None):
    from edge.zoo import SAMPLE_VIDEO

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="YOLO ONNX exports ([1, 4+nc, N] output)")
    ap.add_argument("--video", default=SAMPLE_VIDEO)
    ap.add_argument("--frames", type=int, default=180)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the results here too")
    a = ap.parse_args(argv)
    frames = read_frames(a.video, a.frames)
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "load_before": os.getloadavg(), "python": platform.python_version()},
               "video": os.path.relpath(a.video, ROOT), "frames": len(frames), "threads": a.threads, "runs": []}
    for model in a.models:
        for rep in range(a.repeats):
            side = run_side_by_side(model, frames, a.threads)
            edge = run_edge(model, a.video, len(frames), a.threads)
            after = run_side_by_side(model, frames, a.threads, bare_only=True)  # the load may change meanwhile
            side["bare_after"] = after
            bare = (side["bare"]["ms"]["mean"] + after["ms"]["mean"]) / 2
            over = edge["compute"]["mean"] / bare - 1
            results["runs"].append(dict(side, model=os.path.basename(model), repeat=rep, edge_run=edge,
                                        pipeline_overhead=round(over, 4)))
            s = edge["ms"]
            print("{:<18} rep {}  bare {:6.2f} ms (before/after) | detector {:6.2f} ms ({:+.1%}, per-frame median {:+.1%}) | edge run "
                  "{:6.2f} ms ({:+.1%}): detect {:.2f}, output {:.2f}, capture_wait {:.2f}, total {:.2f} | boxes "
                  "{}/{}/{}".format(os.path.basename(model), rep, bare, side["detector"]["ms"]["mean"],
                                    side["detector_overhead"], side["detector_overhead_p50_ratio"],
                                    edge["compute"]["mean"], over, s["detect"]["mean"], s["output"]["mean"],
                                    s["capture_wait"]["mean"], s["total"]["mean"], side["bare"]["boxes"],
                                    side["detector"]["boxes"], edge["boxes"]), flush=True)
    results["machine"]["load_after"] = os.getloadavg()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
