"""Regenerate the Ultralytics fixtures in this folder (NOT run by the tests; needs ultralytics, see README.md).

    python3 -m venv /tmp/ultra && /tmp/ultra/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics \
        onnx onnxslim onnxruntime
    cd /tmp/ultra_work && YOLO_OFFLINE=1 /tmp/ultra/bin/python /work/main/tests/data/ultralytics/make_fixtures.py \
        /work/main/tests/data/ultralytics /work/main/.venv/lib/python3.11/site-packages/skimage/data

Builds YOLOv8n and YOLO11n from ultralytics' own YAML with a narrower width (random weights, seed 0), exports
each with ``format=onnx opset=13 imgsz=320`` (and ``nms=True``), runs ultralytics' predictor on the exported ONNX
over three scikit-image photos and writes its boxes, scores and classes as <model>.json.
"""
import hashlib
import json
import os
import shutil
import sys

import cv2
import numpy as np
import torch
import ultralytics
import yaml
from ultralytics import YOLO

IMAGES = ("astronaut.png", "coffee.png", "motorcycle_left.png")
CONF, IOU, IMGSZ, OPSET = 0.01, 0.7, 320, 13
WIDTH = 0.0625  # the "n" scale's width multiple is 0.25: a quarter of it keeps each ONNX under 3 MB
MODELS = {"yolov8n": "v8/yolov8.yaml", "yolo11n": "11/yolo11.yaml"}
CLS_BIAS = -8.0  # the class logits' bias: with BatchNorm calibrated, a few hundred scores per photo pass CONF


def narrow_yaml(name, rel):
    src = os.path.join(os.path.dirname(ultralytics.__file__), "cfg", "models", rel)
    cfg = yaml.safe_load(open(src))
    depth, _, channels = cfg["scales"]["n"]
    cfg["scales"] = {"n": [depth, WIDTH, channels]}
    out = os.path.abspath(name + ".yaml")  # the "n" in the name picks the scale
    yaml.safe_dump(cfg, open(out, "w"), sort_keys=False)
    return out


def build(name, rel, photos):
    """A random network whose scores depend on the image: PyTorch's default init lets activations vanish with
    depth (every class score would be the head's prior), so BatchNorm's statistics are set from the photos
    (one pass in train mode), and the class branch's bias is CLS_BIAS."""
    torch.manual_seed(0)
    model = YOLO(narrow_yaml(name, rel))
    net = model.model
    net.names = dict(enumerate(yaml.safe_load(open(os.path.join(
        os.path.dirname(ultralytics.__file__), "cfg", "datasets", "coco.yaml")))["names"].values()))
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # a plain average over the calibration pass
    x = np.stack([cv2.resize(img, (IMGSZ, IMGSZ))[:, :, ::-1] for _, img in photos])
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(x.copy()).permute(0, 3, 1, 2).float() / 255)
        net.eval()
        for seq in net.model[-1].cv3:
            seq[-1].bias.fill_(CLS_BIAS)
    return model


def predict(onnx_path, photos, **kwargs):
    model = YOLO(onnx_path, task="detect")
    out = []
    for name, img in photos:
        r = model.predict(img, imgsz=IMGSZ, conf=CONF, iou=IOU, device="cpu", verbose=False, **kwargs)[0]
        b = r.boxes
        out.append({"image": name, "pixels_sha256": hashlib.sha256(img.tobytes()).hexdigest(),
                    "shape": list(img.shape), "boxes": b.xyxy.numpy().astype(float).round(4).tolist(),
                    "scores": b.conf.numpy().astype(float).round(6).tolist(),
                    "classes": b.cls.numpy().astype(int).tolist()})
    return out


def main(dest, image_dir):
    photos = [(n, cv2.imread(os.path.join(image_dir, n))) for n in IMAGES]
    for name, rel in MODELS.items():
        for nms in (False, True):
            model = build(name, rel, photos)
            path = model.export(format="onnx", opset=OPSET, imgsz=IMGSZ, nms=nms, conf=CONF, iou=IOU,
                                simplify=True, device="cpu")
            stem = name + ("-nms" if nms else "")
            target = os.path.join(dest, stem + ".onnx")
            shutil.copy(path, target)
            record = {"model": stem, "ultralytics": ultralytics.__version__, "torch": torch.__version__,
                      "export": {"format": "onnx", "opset": OPSET, "imgsz": IMGSZ, "nms": nms, "simplify": True},
                      "predict": {"imgsz": IMGSZ, "conf": CONF, "iou": IOU}, "width": WIDTH, "cls_bias": CLS_BIAS,
                      "onnx_size": os.path.getsize(target),
                      "onnx_sha256": hashlib.sha256(open(target, "rb").read()).hexdigest(),
                      "names": [model.model.names[i] for i in range(len(model.model.names))],
                      "results": predict(target, photos)}
            with open(os.path.join(dest, stem + ".json"), "w") as f:
                json.dump(record, f, indent=1)
            print(stem, os.path.getsize(target), [len(r["boxes"]) for r in record["results"]])


if __name__ == "__main__":
    main(*sys.argv[1:3])
