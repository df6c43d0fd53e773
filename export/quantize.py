"""Static INT8 quantization of an FP32 ONNX into QDQ format with ONNX Runtime's tools.

QDQ (QuantizeLinear/DequantizeLinear pairs, explicit quantization) is what TensorRT 8.x/10.x and ONNX
Runtime both consume. TensorRT accepts only symmetric INT8 (zero point 0), so activations and weights
are signed INT8, symmetric, weights per output channel; opset stays 13 (per-channel QDQ needs ≥ 13).
Calibration uses real images fed through ``edge.preprocess``; with ``data`` (an ImageFolder whose
class folders are the model's labels) accuracy is measured for FP32 and INT8 side by side.
"""
import contextlib
import io
import os
import tempfile
import time
from typing import Dict, Optional

import numpy as np

from edge.errors import InputError, UsageError
from edge.files import atomic_path
from edge.imagefolder import read_image, scan
from edge.meta import ModelMeta
from edge.preprocess import preprocess
from edge.backends.tensorrt import calibration
from export import parity
from export.onnx_export import describe, ort_fn, ort_session

METHODS = ("minmax", "entropy", "percentile")


def onnx_meta(path: str) -> ModelMeta:
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:
        raise InputError("expected an ONNX model at '{}', found a file onnx cannot read ({})".format(
            path, str(e).splitlines()[0][:200])) from None
    return ModelMeta.from_onnx_props({p.key: p.value for p in model.metadata_props}, "'{}'".format(path))


def check_fp32(path: str) -> None:
    """The checks ``edge run``/``eval``/``bench`` make when they load the model (float32 input, input shape
    against the metadata, one finite row of logits per image and label), on CPU, before calibration starts."""
    from edge.backends.onnxruntime import OnnxRuntimeBackend

    OnnxRuntimeBackend.load(path, options={"device": "cpu"}).close()


def is_qdq(path: str) -> bool:
    """True when the ONNX holds QuantizeLinear nodes (explicitly quantized)."""
    import onnx

    return any(n.op_type == "QuantizeLinear" for n in onnx.load(path, load_external_data=False).graph.node)


def quantize_onnx(fp32_path: str, out: str, calib_dir: str, limit: int = 256, method: str = "minmax",
                  per_channel: bool = True, batch: int = 8, progress=None) -> Dict:
    """FP32 ONNX → INT8 QDQ ONNX at ``out`` (atomic), calibrated on up to ``limit`` images of ``calib_dir``."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in METHODS:
        raise UsageError("expected --method {}, found '{}'".format("/".join(METHODS), method))
    meta = onnx_meta(fp32_path)
    if is_qdq(fp32_path):
        raise InputError("'{}' is already INT8-quantized (QDQ); quantize the FP32 ONNX".format(fp32_path))
    check_fp32(fp32_path)
    paths = calibration.calibration_paths(calib_dir, limit)
    t0 = time.time()
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    work = tempfile.mkdtemp(dir=directory, prefix=".tmp-quant-")
    try:
        pre = os.path.join(work, "pre.onnx")
        quant_pre_process(fp32_path, pre, skip_symbolic_shape=True)
        input_name = onnx.load(pre).graph.input[0].name
        reader = calibration.ort_reader(paths, meta, input_name, batch, progress)
        tmp = os.path.join(work, "int8.onnx")
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print progress chatter
            quantize_static(pre, tmp, reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method={"minmax": CalibrationMethod.MinMax,
                                              "entropy": CalibrationMethod.Entropy,
                                              "percentile": CalibrationMethod.Percentile}[method],
                            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
        model = onnx.load(tmp)
        m = meta.replace(provenance=dict(meta.provenance, quantization={
            "format": "QDQ", "activations": "int8 symmetric", "weights": "int8 symmetric" + (
                " per-channel" if per_channel else ""), "method": method, "calibration_images": len(paths),
            "calibration_dir": os.path.basename(os.path.normpath(calib_dir))}))
        used = {n.domain for n in model.graph.node} | {"", "ai.onnx"}
        keep = [o for o in model.opset_import if o.domain in used]  # pre-processing adds unused domains
        del model.opset_import[:]
        model.opset_import.extend(keep)
        del model.metadata_props[:]
        onnx.helper.set_model_props(model, m.to_onnx_props())
        with atomic_path(out) as final:
            onnx.save(model, final)
            onnx.checker.check_model(final, full_check=True)
    finally:
        for name in os.listdir(work):
            os.remove(os.path.join(work, name))
        os.rmdir(work)
    report = describe(onnx.load(out))
    report.update(path=out, size=os.path.getsize(out), fp32_size=os.path.getsize(fp32_path),
                  calibration_images=len(paths), method=method, seconds=time.time() - t0,
                  qdq_nodes=sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node))
    return report


def compare_int8(fp32_path: str, int8_path: str, parity_data: Optional[str] = None) -> Dict:
    """How far INT8 outputs are from FP32 on real and random inputs (reported, not gated)."""
    meta = onnx_meta(fp32_path)
    sets = parity.input_sets(meta, parity.real_images(parity_data))
    return parity.run_parity(ort_fn(ort_session(fp32_path)), ort_fn(ort_session(int8_path)), sets)


def check_data(data_dir: str, meta: ModelMeta):
    """The labelled ImageFolder, if its class folders are among the model's labels (checked before any work)."""
    folder = scan(data_dir, min_classes=1)
    unknown = [c for c in folder.classes if c not in meta.labels]
    if unknown:
        raise InputError("expected class folders named after the model's labels ({}) in '{}', found '{}'".format(
            ", ".join(meta.labels), data_dir, unknown[0]))
    return folder


def evaluate(paths: Dict[str, str], data_dir: str, batch: int = 32) -> Dict:
    """Top-1 accuracy of each ONNX in ``paths`` ({name: path}) on the ImageFolder ``data_dir``."""
    meta = onnx_meta(next(iter(paths.values())))
    folder = check_data(data_dir, meta)
    truth = np.array([meta.labels.index(folder.classes[s.label]) for s in folder.samples])
    preds = {name: [] for name in paths}
    sessions = {name: ort_fn(ort_session(p)) for name, p in paths.items()}
    for i in range(0, len(folder.samples), batch):
        x = preprocess([read_image(s.path) for s in folder.samples[i:i + batch]], meta)
        for name, fn in sessions.items():
            preds[name].append(fn(x).argmax(1))
    out = {"images": len(truth), "classes": list(folder.classes)}
    for name in paths:
        p = np.concatenate(preds[name])
        out[name] = {"accuracy": float(np.mean(p == truth)), "predictions": p.tolist()}
    names = list(paths)
    if len(names) == 2:
        a, b = (np.array(out[n]["predictions"]) for n in names)
        out["delta_pp"] = 100.0 * (out[names[1]]["accuracy"] - out[names[0]]["accuracy"])
        out["agreement"] = float(np.mean(a == b))
    return out
