"""ONNX Runtime backend: TensorRT EP, then CUDA EP, then CPU — whichever are installed."""
from typing import Dict, Optional

import numpy as np

from edge.backends.base import Backend, MetaOverrides, split_batches
from edge.errors import InputError, require
from edge.meta import ModelMeta

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(available, wanted=None):
    """Providers to ask for, best first, limited to the ones installed."""
    order = wanted or PREFERRED_PROVIDERS
    return [p for p in order if p in available] or ["CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, session, meta, path, static_batch):
        provider = session.get_providers()[0]
        super().__init__(meta, path, static_batch, precision="fp32",
                         device="cpu" if provider == "CPUExecutionProvider" else provider)
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    @classmethod
    def load(cls, path: str, overrides: Optional[MetaOverrides] = None, options: Optional[Dict] = None):
        ort = require("onnxruntime", "onnxruntime", "running .onnx models")
        options = options or {}
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if options.get("threads"):
            so.intra_op_num_threads = int(options["threads"])
        providers = choose_providers(ort.get_available_providers(), options.get("providers"))
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
        meta = ModelMeta.from_onnx_props(props, path) if "edge.meta" in props else None
        meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        dim0 = inputs[0].shape[0]
        static = dim0 if isinstance(dim0, int) and dim0 > 0 else None
        backend = cls(session, meta, path, static)
        backend.infer(np.zeros((static or 1, meta.channels) + tuple(meta.input_size), np.float32))  # warm up
        return backend

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.static_batch is None:
            return self.session.run([self.output_name], {self.input_name: batch})[0]
        outs = []
        for s in split_batches(len(batch), self.static_batch):
            chunk = batch[s]
            n = len(chunk)
            if n < self.static_batch:  # pad the last chunk up to the engine's fixed batch
                chunk = np.concatenate([chunk, np.zeros((self.static_batch - n,) + chunk.shape[1:], chunk.dtype)])
            outs.append(self.session.run([self.output_name], {self.input_name: chunk})[0][:n])
        return np.concatenate(outs)


BACKEND = OnnxRuntimeBackend
