"""ONNX Runtime backend: TensorRT EP (engine cache on), then CUDA EP, then CPU — whichever are installed.

``options``: ``device`` ("tensorrt", "cuda" or "cpu": force one provider), ``threads`` (CPU intra-op
threads), ``trt_cache`` (TensorRT EP engine cache folder, default ``<model>.trtcache/``), ``fp16``,
``kind`` ("detector": read the ``edge.detector`` record instead of ``edge.meta``, or an object detector's
Ultralytics metadata, see ``edge.meta.object_detector_meta``).
"""
import os
from typing import Dict, List, Optional

import numpy as np

from edge.backends.base import Backend, MetaOverrides, run_planned, run_planned_many
from edge.errors import InputError, MissingDependency, require
from edge.meta import DETECTOR_KEY, ModelMeta, detector_model_meta, object_detector_meta

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
DEVICE_PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                    "cpu": "CPUExecutionProvider"}
# which pip package brings each provider
PROVIDER_PACKAGES = {"TensorrtExecutionProvider": "onnxruntime-gpu (with TensorRT libraries)",
                     "CUDAExecutionProvider": "onnxruntime-gpu", "CPUExecutionProvider": "onnxruntime"}


def choose_providers(available, wanted=None):
    """Providers to ask for, best first, limited to the ones installed."""
    order = wanted or PREFERRED_PROVIDERS
    return [p for p in order if p in available] or ["CPUExecutionProvider"]


def provider_config(available, device: Optional[str] = None, trt_cache: str = "trtcache",
                    fp16: bool = False) -> List:
    """The ``providers`` argument of ``InferenceSession``: names, or (name, options) for the TensorRT EP.

    ``device`` forces one provider (then CPU as ORT's fallback for unsupported nodes); a forced
    provider that is not installed is a MissingDependency naming the package that brings it.
    """
    if device:
        if device not in DEVICE_PROVIDERS:
            raise InputError("expected an ONNX Runtime device among {}, found '{}'".format(
                ", ".join(DEVICE_PROVIDERS), device))
        wanted = DEVICE_PROVIDERS[device]
        if wanted not in available:
            raise MissingDependency("onnxruntime " + wanted, PROVIDER_PACKAGES[wanted],
                                    "--backend onnxruntime:" + device)
        names = [wanted] + (["CPUExecutionProvider"] if wanted != "CPUExecutionProvider" else [])
    else:
        names = choose_providers(available)
    out = []
    for name in names:
        if name == "TensorrtExecutionProvider":
            out.append((name, {"trt_engine_cache_enable": True, "trt_engine_cache_path": trt_cache,
                               "trt_fp16_enable": bool(fp16)}))
        else:
            out.append(name)
    return out


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, session, meta, path, static_batch, input_dtype=np.float32):
        provider = session.get_providers()[0]
        super().__init__(meta, path, static_batch,
                         precision="fp16" if input_dtype == np.float16 else "fp32",
                         device={"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda",
                                 "TensorrtExecutionProvider": "tensorrt"}.get(provider, provider))
        self.session = session
        self.providers = session.get_providers()
        self.input_dtype = input_dtype
        self.input_name = session.get_inputs()[0].name
        self.output_names = [session.get_outputs()[0].name]
        self.all_output_names = [o.name for o in session.get_outputs()]

    @classmethod
    def load(cls, path: str, overrides: Optional[MetaOverrides] = None, options: Optional[Dict] = None):
        ort = require("onnxruntime", "onnxruntime", "running .onnx models")
        options = options or {}
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if options.get("threads"):
            so.intra_op_num_threads = int(options["threads"])
        providers = provider_config(ort.get_available_providers(), options.get("device"),
                                    options.get("trt_cache") or path + ".trtcache", options.get("fp16", False))
        try:
            session = ort.InferenceSession(path, sess_options=so, providers=providers)
        except Exception as e:  # ORT raises its own Fail/InvalidGraph/... types
            raise InputError("expected a valid ONNX model at '{}', found one ONNX Runtime cannot load "
                             "({})".format(path, str(e).strip().splitlines()[0][:200])) from None
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise InputError("'{}' has {} inputs ({}); edge runs image models with exactly one".format(
                path, len(inputs), ", ".join(i.name for i in inputs)))
        props = session.get_modelmeta().custom_metadata_map
        detector = options.get("kind") == "detector"
        objects = None
        if detector and DETECTOR_KEY in props:
            meta = detector_model_meta(props[DETECTOR_KEY], "'{}'".format(path))
        elif detector:  # an object detector: Ultralytics' metadata, or the overrides (no record: convert_blazeface.py)
            objects = object_detector_meta(props, "'{}'".format(path), overrides, list(inputs[0].shape)[2:])
            meta = objects.model_meta()
        else:
            meta = ModelMeta.from_onnx_props(props, path) if "edge.meta" in props else None
            meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        shape = list(inputs[0].shape)
        check_input_shape(shape, meta, path)
        dim0 = shape[0]
        static = dim0 if isinstance(dim0, int) and dim0 > 0 else None
        backend = cls(session, meta, path, static, input_dtype(inputs[0], path))
        if detector and not any(isinstance(d, int) and d > 0 for d in shape[2:]):
            backend.input_hw_range = ((1, 1), (ANY_SIZE, ANY_SIZE))  # symbolic height and width
        if backend.device == "tensorrt" and options.get("fp16"):
            backend.precision = "fp16"
        if detector:
            backend.kind, backend.detector_record, backend.objects = "detector", props.get(DETECTOR_KEY), objects
        backend.probe()
        return backend

    def bare_run(self, batch: np.ndarray) -> np.ndarray:
        """The plain ``session.run`` call ``infer`` wraps (bench measures the wrapper's overhead with it)."""
        return self.session.run(self.output_names, {self.input_name: batch})[0]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.input_dtype is not np.float32:
            batch = batch.astype(self.input_dtype)
        if self.static_batch is None:
            out = self.session.run(self.output_names, {self.input_name: batch})[0]
        else:
            out = run_planned(self.bare_run, batch, self.static_batch, static=True)
        return out if out.dtype == np.float32 else out.astype(np.float32)

    def _run_all(self, batch: np.ndarray) -> List[np.ndarray]:
        if self.input_dtype is not np.float32:
            batch = batch.astype(self.input_dtype)

        def run(chunk):
            return self.session.run(self.all_output_names, {self.input_name: chunk})
        return run_planned_many(run, batch, self.static_batch, static=self.static_batch is not None)


ANY_SIZE = 1 << 16  # the "largest" side of an ONNX input whose height/width are symbolic


INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}  # images go in as float32 (or fp16)


def input_dtype(node_arg, path: str):
    """The numpy dtype of an image input (float32 or float16); InputError for any other element type."""
    if node_arg.type not in INPUT_TYPES:
        found = node_arg.type[len("tensor("):-1] if node_arg.type.startswith("tensor(") else node_arg.type
        raise InputError("'{}': expected a float32 input, found {} (input '{}'; float16 is accepted too)".format(
            os.path.basename(path), found, node_arg.name))
    return INPUT_TYPES[node_arg.type]


def check_input_shape(shape, meta: ModelMeta, path: str) -> None:
    """The model's declared input (N, C, H, W) must match the metadata; symbolic dims match anything."""
    expected = [meta.channels] + list(meta.input_size)
    if len(shape) != 4 or any(isinstance(d, int) and d > 0 and d != e for d, e in zip(shape[1:], expected)):
        raise InputError("'{}' takes input of shape {}, but its metadata (or --input-size/--channel-order) "
                         "says (N, {}, {}, {})".format(os.path.basename(path), shape, *expected))


BACKEND = OnnxRuntimeBackend
