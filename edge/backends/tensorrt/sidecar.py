"""TensorRT engine sidecars: the plan stays a plain TensorRT file (``trtexec`` loads it); beside it,
``<engine>.json`` holds the model metadata and the fingerprint of what built it.

Engines are not portable: one built by another TensorRT version, on another GPU, or for another
precision or ONNX file must be rebuilt. The decisions here are pure functions; only
``device_fingerprint`` touches the GPU libraries.
"""
import json
import os
from typing import Dict, List, Optional, Tuple

from edge.errors import InputError, require, require_tensorrt
from edge.files import write_atomic
from edge.meta import ModelMeta

SIDECAR_SUFFIX = ".json"
# what an engine is built from beyond the device: its optimization profile, INT8 calibration (images and
# batch), builder workspace and the metadata its sidecar carries (a change in any of them means a rebuild)
BUILD_KEYS = ("profile", "calibration", "workspace_mib", "meta_sha256")
FINGERPRINT_KEYS = ("tensorrt", "gpu", "compute_capability", "precision", "onnx_sha256") + BUILD_KEYS


def sidecar_path(engine_path: str) -> str:
    return engine_path + SIDECAR_SUFFIX


def make_fingerprint(tensorrt: str, gpu: str, compute_capability: str, precision: str,
                     onnx_sha256: str, **build: str) -> Dict[str, str]:
    """The fingerprint of a device (load time: ``precision``/``onnx_sha256`` "", no ``build``) or of a build
    (``build``: the BUILD_KEYS as strings)."""
    unknown = sorted(set(build) - set(BUILD_KEYS))
    if unknown:
        raise TypeError("unknown fingerprint keys {}".format(unknown))
    out = {"tensorrt": tensorrt, "gpu": gpu, "compute_capability": compute_capability,
           "precision": precision, "onnx_sha256": onnx_sha256}
    out.update((k, str(v)) for k, v in build.items())
    return out


def build_fingerprint(version: str, gpu: str, cc: str, precision: str, onnx_sha: str, plan,
                      workspace: int, meta, calib_sha: str = "", objects: Optional[Dict] = None) -> Dict[str, str]:
    """Everything that shapes the engine (``plan``: its ``profile.EnginePlan``; ``workspace`` in bytes): device,
    precision, ONNX, profile, calibration (``calib_sha``: the image set's), workspace and metadata (``meta``,
    and an object detector's record ``objects`` as its dict)."""
    import hashlib

    from edge.backends.tensorrt.profile import shape_text

    calibration = ""
    if plan.calibration_shape is not None:
        calibration = "images {} batch {}".format((calib_sha or "none")[:16], plan.calibration_shape[0])
    return make_fingerprint(
        version, gpu, cc, precision, onnx_sha,
        profile=" ".join("{} {}".format(k, shape_text(v)) for k, v in zip(("min", "opt", "max"), plan.shapes)),
        calibration=calibration, workspace_mib=str(workspace >> 20),
        meta_sha256=hashlib.sha256(json.dumps(meta.to_dict() if objects is None else {"meta": meta.to_dict(),
                                                                                      "objects": objects},
                                              sort_keys=True).encode("utf-8")).hexdigest())


def fingerprint_mismatches(stored: Dict[str, str], current: Dict[str, str]) -> List[str]:
    """Human-readable differences between the engine's fingerprint and this device ("" keys ignored).

    ``current`` may omit keys it does not constrain (e.g. precision or onnx_sha256 at load time).
    """
    out = []
    for key in FINGERPRINT_KEYS:
        if key in current and current[key] != "" and stored.get(key) != current[key]:
            out.append("{} {} (engine) vs {} (here)".format(key, stored.get(key, "unknown"), current[key]))
    return out


def write_sidecar(engine_path: str, meta: ModelMeta, fingerprint: Dict[str, str],
                  extra: Optional[Dict] = None) -> str:
    data = {"meta": meta.to_dict(), "fingerprint": fingerprint}
    data.update(extra or {})
    return write_atomic(sidecar_path(engine_path), json.dumps(data, indent=2, sort_keys=True))


def read_sidecar(engine_path: str) -> Tuple[ModelMeta, Dict[str, str], Dict]:
    """(meta, fingerprint, whole sidecar) of an engine; a missing or bad sidecar is an InputError."""
    path = sidecar_path(engine_path)
    if not os.path.isfile(path):
        raise InputError("expected the engine's sidecar '{}' (metadata and fingerprint written by "
                         "`edge export --engine`), found none".format(path))
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as e:
        raise InputError("expected JSON in '{}', found unparsable text ({})".format(path, e)) from None
    if not isinstance(data, dict) or "meta" not in data or "fingerprint" not in data:
        raise InputError("expected 'meta' and 'fingerprint' in '{}', found keys {}".format(
            path, sorted(data) if isinstance(data, dict) else type(data).__name__))
    return ModelMeta.from_dict(data["meta"], source=path), data["fingerprint"], data


def check_engine(engine_path: str, stored: Dict[str, str], current: Dict[str, str]) -> None:
    """Refuse a stale engine with one line naming every difference and the fix."""
    diffs = fingerprint_mismatches(stored, current)
    if diffs:
        raise InputError("engine '{}' was built elsewhere ({}); rebuild it on this device with "
                         "`edge export MODEL.onnx --engine`".format(engine_path, "; ".join(diffs)))


def device_fingerprint(precision: str = "", onnx_sha256: str = "", gpu: int = 0) -> Dict[str, str]:
    """Fingerprint of this device's TensorRT and GPU ``gpu`` (the one the engine opens on; needs tensorrt and
    pycuda)."""
    trt = require_tensorrt()
    cuda = require("pycuda.driver", "pycuda", "TensorRT engines")
    cuda.init()
    dev = cuda.Device(int(gpu))
    major, minor = dev.compute_capability()
    return make_fingerprint(trt.__version__, dev.name(), "{}.{}".format(major, minor), precision, onnx_sha256)
