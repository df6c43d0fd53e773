#!/usr/bin/env python3
"""``edge run --headless`` against the seed-style reference (bench/reference.py) on the same 1280×720
real-face video, in one run: FPS ratio, detections matched (IoU ≥ 0.5), stage shares, resident memory.

    nice python bench/compare.py                        # the bundled sample, teacher-sized model
    nice python bench/compare.py --long 10000           # plus a 10,000-frame memory run (video looped)
    nice python bench/compare.py --trained              # the bundled classifier both sides: label accuracy

Both sides run the same seeded network: the reference as a PyTorch checkpoint in eager mode, ``edge run``
as its ONNX export on ONNX Runtime (what the device runs). Each runs in its own process; its resident
memory (VmRSS) is sampled every 0.2 s next to the number of frames it has logged.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def export(arch, folder):
    """A seeded ``arch`` as checkpoint (.pt) and ONNX with edge metadata (.onnx)."""
    import torch

    from export.onnx_export import finish, torch_export
    from models import create_model
    from models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model(arch).eval()
    pt = save_checkpoint(model, os.path.join(folder, arch + ".pt"))
    path = os.path.join(folder, arch + ".onnx")
    torch_export(model, model.meta, path)
    finish(path, model.meta, simplify=False)
    return pt, path


def rss_mb(pid):
    try:
        with open("/proc/{}/status".format(pid)) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None


def run_sampled(cmd, log_path):
    """Run ``cmd``; return (stdout, [(frames logged, RSS MB)], wall seconds)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    samples, t0, lines, offset = [], time.monotonic(), 0, 0
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb is not None:
            if os.path.exists(log_path):
                with open(log_path, "rb") as f:  # count only what was appended since the last sample
                    f.seek(offset)
                    new = f.read()
                    offset += len(new)
                    lines += new.count(b"\n")
            samples.append((lines, mb))
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit("{} failed ({}): {}".format(" ".join(cmd), proc.returncode, err.strip()[-2000:]))
    return out, samples, time.monotonic() - t0


def read_log(path):
    rows = [json.loads(x) for x in open(path)]
    return [r for r in rows if "frame" in r], [r["summary"] for r in rows if "summary" in r]


def match_rate(ref_rows, edge_rows, thr=0.5):
    """Share of the reference's detections that edge found too (IoU ≥ thr), frame by frame."""
    from edge.detectors.boxes import iou_matrix

    edge_by = {r["frame"]: r["boxes"] for r in edge_rows}
    total = hit = 0
    for r in ref_rows:
        if not r["boxes"]:
            continue
        total += len(r["boxes"])
        other = edge_by.get(r["frame"], [])
        if other:
            hit += int((iou_matrix(r["boxes"], other).max(axis=1) >= thr).sum())
    return hit / float(total) if total else float("nan"), total


def recall(rows, truth, thr=0.5):
    """Recall per true label, and ``label_accuracy``: of the faces found, the share whose best-overlapping box
    has the true label (meaningful with a trained model: ``--trained``)."""
    from edge.detectors.boxes import iou_matrix

    by = {r["frame"]: (r["boxes"], r.get("labels") or []) for r in rows}
    out, right = {}, []
    for t in truth["frames"]:
        for f in t["faces"]:
            boxes, labels = by.get(t["frame"], ([], []))
            o = iou_matrix([f["box"]], boxes)[0] if boxes else np.zeros(0)
            ok = bool(len(o)) and o.max() >= thr
            out.setdefault(f["label"], []).append(ok)
            if ok and len(labels) == len(boxes):
                right.append(labels[int(o.argmax())] == f["label"])
    res = {k: float(np.mean(v)) for k, v in out.items()}
    res["label_accuracy"] = round(float(np.mean(right)), 4) if right else None
    return res


def flat(samples):
    """RSS at the first sample past 10 % of the frames and at the end, and the max."""
    s = [x for x in samples if x[0] > 0]
    if not s:
        return {}
    n = s[-1][0]
    after_warmup = [mb for fr, mb in s if fr >= n * 0.1]
    return {"frames": n, "rss_mb_at_10pct": round(after_warmup[0], 1), "rss_mb_end": round(s[-1][1], 1),
            "rss_mb_max": round(max(mb for _, mb in s), 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=os.path.join(ROOT, "edge", "data", "sample.mp4"))
    ap.add_argument("--arch", default="teacher", help="model variant both sides run (teacher, medium, small)")
    ap.add_argument("--long", type=int, default=0, help="also run edge for this many frames (looping) for memory")
    ap.add_argument("--edge-args", default="", help="extra `edge run` flags, e.g. '--detect-every 3'")
    ap.add_argument("--long-args", default="", help="extra `edge run` flags for the --long run only")
    ap.add_argument("--skip-compare", action="store_true", help="only the --long memory run")
    ap.add_argument("--trained", action="store_true", help="both sides run the bundled classifier "
                                                            "(edge/zoo/mask_default.pt / .onnx) instead of a seeded "
                                                            "--arch: label accuracy against the truth")
    args = ap.parse_args(argv)

    truth = json.load(open(os.path.splitext(args.video)[0] + ".json"))
    tmp = tempfile.mkdtemp(prefix="edge-bench-")
    if args.trained:  # the bundled classifier on both sides: label accuracy means something
        zoo = os.path.join(ROOT, "edge", "zoo")
        pt, onnx_path = os.path.join(zoo, "mask_default.pt"), os.path.join(zoo, "mask_default.onnx")
        args.arch = "mask_default"
    else:
        pt, onnx_path = export(args.arch, tmp)
    report = {}
    if not args.skip_compare:
        report = compare(args, truth, tmp, pt, onnx_path)
    if args.long:
        long_log = os.path.join(tmp, "long.jsonl")
        cmd = [sys.executable, "-m", "edge", "run", "--camera", args.video, "--model", onnx_path, "--headless",
               "--loop", "--max-frames", str(args.long), "--log", long_log, "--summary-every", "0", "--json"] + \
            args.edge_args.split() + args.long_args.split()
        out, long_rss, _ = run_sampled(cmd, long_log)
        s = json.loads(out.strip().splitlines()[-1])
        report["long_run"] = dict(flat(long_rss), mean_fps=s["mean_fps"], args=args.edge_args + " " + args.long_args,
                                  rss_curve=[(fr, round(mb, 1)) for fr, mb in long_rss[::max(1, len(long_rss) // 20)]])
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=2))


def compare(args, truth, tmp, pt, onnx_path):
    py = sys.executable
    ref_log = os.path.join(tmp, "ref.jsonl")
    out, ref_rss, _ = run_sampled([py, "bench/reference.py", args.video, "--model", pt, "--log", ref_log], ref_log)
    ref = json.loads(out.strip().splitlines()[-1])
    ref_rows, _ = read_log(ref_log)

    edge_log = os.path.join(tmp, "edge.jsonl")
    cmd = [py, "-m", "edge", "run", "--camera", args.video, "--model", onnx_path, "--headless", "--log", edge_log,
           "--summary-every", "0", "--json"] + args.edge_args.split()
    out, edge_rss, _ = run_sampled(cmd, edge_log)
    summary = json.loads(out.strip().splitlines()[-1])
    edge_rows, _ = read_log(edge_log)

    stages = summary["stages"]
    total = stages["total"]["mean"]
    rest = total - stages["detect"]["mean"] - stages["capture_wait"]["mean"]
    rate, n_ref = match_rate(ref_rows, edge_rows)
    report = {
        "video": os.path.relpath(args.video, ROOT), "frames": summary["frames"], "model": args.arch,
        "reference_fps": ref["fps"], "edge_fps": summary["mean_fps"],
        "fps_ratio": round(summary["mean_fps"] / ref["fps"], 2),
        "reference_detections_matched": round(rate, 4), "reference_detections": n_ref,
        "recall_vs_truth": {"reference": recall(ref_rows, truth), "edge": recall(edge_rows, truth)},
        "edge_stage_ms": {k: round(v["mean"], 2) for k, v in stages.items()},
        "edge_share_outside_decode_and_detect": round(rest / total, 4),
        "reference_ms": {k: round(float(np.mean([r["ms"][k] for r in ref_rows])), 2)
                         for k in ("decode", "detect", "classify", "total")},
        "rss": {"reference": flat(ref_rss), "edge": flat(edge_rss)},
        "edge_detector": summary.get("detector"),
        "cpu_count": os.cpu_count(), "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    return report


if __name__ == "__main__":
    main()
