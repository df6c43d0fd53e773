#!/usr/bin/env python
"""Fine-tune BlazeFace (full range) to see through masks: mask-invariance distillation, then export back.

    PYTHONPATH=/path/to/onnx2torch nice python scripts/finetune_blazeface.py --steps 300 \\
        --out edge/zoo/blazeface/face_detection_full_range_masked.onnx

1. The bundled ONNX → PyTorch with onnx2torch (``pip install --no-deps --target DIR onnx2torch``; its
   MaxPool converter needs explicit pads, so SAME_UPPER 2x2/2 pools become pads 0: inputs are multiples
   of 32) — parity gate against ONNX Runtime (max |Δ| ≤ 1e-3) before training.
2. Data: bench/detectors.py's mask-family frames of the TUNING people and families only (held-out people,
   families and half the hard negatives never appear), each frame drawn twice: masked and bare, same places.
   Random scales 0.1–0.9 (log-uniform) of the 1280x720 frame, random 192x192 crops, horizontal flips.
3. Target: the frozen original on the BARE crop (every anchor's logit and box/keypoint regressors); the
   student sees the MASKED crop. Loss: BCE on logits (soft targets; the anchors on faces, and those the
   student calls a face where the teacher does not, weighted up) + smooth-L1 on the regressors of the
   anchors the teacher finds a face at (weighted by its score). Bare faces and backgrounds keep the
   original's answers, so false positives do not grow; masked faces get the bare face's answer.
4. Export (opset 11, batch/height/width dynamic) with the original's ``edge.detector`` record (name and
   provenance updated); parity gate: exported ONNX vs the PyTorch student (max |Δ| ≤ 1e-3).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

SRC = os.path.join(ROOT, "edge", "zoo", "blazeface", "face_detection_full_range.onnx")
TUNE_NEGATIVES = ("hand", "beard", "microphone")  # held out: phone, scarf, chin_mask


def to_torch(path):
    """The ONNX model as a torch module (onnx2torch), SAME_UPPER pools made explicit."""
    import onnx
    from onnx2torch import convert

    m = onnx.load(path)
    for n in m.graph.node:
        if n.op_type == "MaxPool":
            keep = [a for a in n.attribute if a.name != "auto_pad"]
            del n.attribute[:]
            n.attribute.extend(keep + [onnx.helper.make_attribute("pads", [0, 0, 0, 0])])
    return convert(m)


def max_diff(onnx_path, model, shapes=((1, 3, 192, 192), (2, 3, 288, 512), (1, 3, 128, 128))):
    import onnxruntime as ort
    import torch

    s = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for shape in shapes:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        ref = s.run(None, {s.get_inputs()[0].name: x})
        with torch.no_grad():
            out = model(torch.from_numpy(x))
        worst = max([worst] + [float(np.abs(a - b.numpy()).max()) for a, b in zip(ref, out)])
    return worst


def pairs(n_frames, seed):
    """(masked frames, bare frames): tuning people, tuning families, tuning negatives only."""
    import detectors as B

    people = B.cast()
    names, held, negatives = B.families()
    tune_people = {p: people[p] for p in B.TUNE_PEOPLE if p in people}
    tune = [f for f in names if f not in held]
    per = max(1, (n_frames * 3) // (len(tune) + 3))
    items = B.family_faces(tune_people, tune, per, per, seed, [k for k in negatives if k in TUNE_NEGATIVES])
    masked = [f for f, _ in B.family_frames(tune_people, items, seed)]
    bare = [f for f, _ in B.family_frames(tune_people, items, seed, bare=True)]
    return masked, bare, {"people": sorted(tune_people), "families": tune, "negatives": list(TUNE_NEGATIVES)}


def batch_of(masked, bare, rng, size=192, n=16):
    import cv2

    xs, ys = [], []
    for _ in range(n):
        i = int(rng.integers(len(masked)))
        s = float(np.exp(rng.uniform(np.log(0.1), np.log(0.9))))  # the coarse pass (0.1) to close crops
        a = cv2.resize(masked[i], None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(bare[i], None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        h, w = a.shape[:2]
        pad = max(0, size - h), max(0, size - w)
        if pad[0] or pad[1]:
            a = cv2.copyMakeBorder(a, 0, pad[0], 0, pad[1], cv2.BORDER_CONSTANT)
            b = cv2.copyMakeBorder(b, 0, pad[0], 0, pad[1], cv2.BORDER_CONSTANT)
            h, w = a.shape[:2]
        y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        a, b = a[y:y + size, x:x + size], b[y:y + size, x:x + size]
        if rng.uniform() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        xs.append(a)
        ys.append(b)

    def norm(imgs):
        x = np.stack(imgs)[..., ::-1].astype(np.float32) / 127.5 - 1.0  # RGB, [-1, 1]
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return norm(xs), norm(ys)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--frames", type=int, default=160, help="frame pairs synthesised (3 faces each)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--size", type=int, default=192, help="training crop side (a multiple of 32)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--face-weight", type=float, default=0.5, help="extra weight of the anchors on faces")
    ap.add_argument("--hard-weight", type=float, default=0.15, help="extra weight of the anchors the student calls a "
                                                                    "face and the teacher does not")
    ap.add_argument("--out", default=os.path.join(ROOT, "edge", "zoo", "blazeface",
                                                  "face_detection_full_range_masked.onnx"))
    args = ap.parse_args()
    import copy

    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    teacher = to_torch(SRC).eval()
    gate = max_diff(SRC, teacher)
    print("parity onnx2torch vs ONNX Runtime: max |d| = {:.2e}".format(gate), flush=True)
    if gate > 1e-3:
        raise SystemExit("parity gate failed: {:.2e}".format(gate))
    student = copy.deepcopy(teacher).train()
    for p in teacher.parameters():
        p.requires_grad_(False)
    cache = os.path.join(os.path.expanduser("~"), ".cache", "edge", "finetune-{}-{}.npz".format(args.frames, args.seed))
    if os.path.isfile(cache):
        z = np.load(cache, allow_pickle=True)
        masked, bare, split = list(z["masked"]), list(z["bare"]), z["split"].item()
    else:
        masked, bare, split = pairs(args.frames, args.seed)
        np.savez(cache, masked=np.stack(masked), bare=np.stack(bare), split=np.array(split, dtype=object))
    print("tuning data: {} frame pairs, {}".format(len(masked), split), flush=True)
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    for step in range(args.steps):
        xm, xb = batch_of(masked, bare, rng, size=args.size, n=args.batch)
        with torch.no_grad():
            reg_t, log_t = teacher(torch.from_numpy(xb))
        reg_s, log_s = student(torch.from_numpy(xm))
        target = torch.sigmoid(log_t.clamp(-80, 80))
        bce = F.binary_cross_entropy_with_logits(log_s, target, reduction="none")
        w = (target > 0.3).float() * target
        hard = ((target < 0.1) & (torch.sigmoid(log_s.detach()) > 0.2)).float()  # student sure, teacher not
        cls = bce.mean() + args.face_weight * (bce * w).sum() / w.sum().clamp(min=1.0) + \
            args.hard_weight * (bce * hard).sum() / hard.sum().clamp(min=1.0)  # faces and hard negatives are few
        box = (F.smooth_l1_loss(reg_s, reg_t, reduction="none", beta=1.0).mean(-1, keepdim=True) * w).sum() / \
            w.sum().clamp(min=1.0)
        loss = cls + 0.05 * box
        opt.zero_grad()
        loss.backward()
        opt.step()
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * (step + 1) / args.steps))
        if step % 10 == 0 or step == args.steps - 1:
            print("step {} loss {:.4f} (cls {:.4f} box {:.4f}) {:.0f}s".format(
                step, float(loss), float(cls), float(box), time.time() - t0), flush=True)
    student.eval()
    export(student, args, split, gate)


def export(student, args, split, gate):
    import hashlib

    import onnx
    import torch

    tmp = args.out + ".tmp"
    torch.onnx.export(student, torch.zeros(1, 3, 192, 192), tmp, opset_version=11, dynamo=False,
                      input_names=["input"], output_names=["regressors", "classificators"],
                      dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "regressors": {0: "N", 1: "A"},
                                    "classificators": {0: "N", 1: "A"}})
    src = onnx.load(SRC)
    record = json.loads(next(p.value for p in src.metadata_props if p.key == "edge.detector"))
    record["name"] = "face_detection_full_range_masked"
    record["provenance"] = dict(record.get("provenance", {}), finetuned_from=os.path.basename(SRC),
                                source_sha256=hashlib.sha256(open(SRC, "rb").read()).hexdigest(),
                                method="mask-invariance distillation (scripts/finetune_blazeface.py)",
                                steps=args.steps, frames=args.frames, seed=args.seed, tuning=split)
    m = onnx.load(tmp)
    os.remove(tmp)
    del m.metadata_props[:]
    m.metadata_props.add(key="edge.detector", value=json.dumps(record, sort_keys=True))
    onnx.save(m, args.out)
    diff = max_diff(args.out, student)
    print("parity exported ONNX vs PyTorch student: max |d| = {:.2e}".format(diff))
    if diff > 1e-3:
        os.remove(args.out)
        raise SystemExit("export parity gate failed")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
