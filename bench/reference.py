#!/usr/bin/env python3
"""The seed-style reference (what seed 004 did): full-resolution Haar on every frame, then PyTorch eager
on each face, one face at a time, drawing as it goes. The baseline ``bench/compare.py`` measures
``edge run`` against. Writes one JSON line per frame (boxes, labels, ms) when ``--log`` is given.

    python bench/reference.py edge/data/sample.mp4 --model teacher.pt --log ref.jsonl
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models.checkpoint import load_checkpoint  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("--model", required=True, help="an edge checkpoint (.pt)")
    ap.add_argument("--log", default="")
    ap.add_argument("--max-frames", type=int, default=0)
    args = ap.parse_args(argv)

    model, meta = load_checkpoint(args.model)
    model.eval()
    h, w = meta.input_size
    mean = torch.tensor(meta.mean).view(3, 1, 1)
    std = torch.tensor(meta.std).view(3, 1, 1)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    cap = cv2.VideoCapture(args.video)
    log = open(args.log, "w") if args.log else None
    n, t_start = 0, time.perf_counter()
    while True:
        t0 = time.perf_counter()
        ok, frame = cap.read()
        if not ok or (args.max_frames and n >= args.max_frames):
            break
        t1 = time.perf_counter()
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4)
        t2 = time.perf_counter()
        boxes, labels = [], []
        for (x, y, fw, fh) in faces:
            face = cv2.resize(frame[y:y + fh, x:x + fw], (w, h))
            face = cv2.cvtColor(face, cv2.COLOR_BGR2RGB)
            x_t = (torch.from_numpy(face).permute(2, 0, 1).float() / 255.0 - mean) / std
            with torch.no_grad():
                prob = torch.softmax(model(x_t.unsqueeze(0)), dim=1)[0]
            i = int(prob.argmax())
            label = meta.labels[i]
            cv2.rectangle(frame, (x, y), (x + fw, y + fh), (0, 255, 0) if i == 0 else (0, 0, 255), 2)
            cv2.putText(frame, "{} {:.2f}".format(label, float(prob[i])), (x, y - 10),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
            boxes.append([float(x), float(y), float(x + fw), float(y + fh)])
            labels.append(label)
        t3 = time.perf_counter()
        if log:
            log.write(json.dumps({"frame": n, "boxes": boxes, "labels": labels,
                                  "ms": {"decode": (t1 - t0) * 1e3, "detect": (t2 - t1) * 1e3,
                                         "classify": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}}) + "\n")
        n += 1
    seconds = time.perf_counter() - t_start
    if log:
        log.close()
    print(json.dumps({"frames": n, "seconds": round(seconds, 3), "fps": round(n / seconds, 2)}))


if __name__ == "__main__":
    main()
