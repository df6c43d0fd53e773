"""TensorRT backend: a serialized engine (``.engine``/``.plan``) plus its JSON sidecar (edge/engine.py).

Runs on both TensorRT API generations:

* ``bindings`` (TensorRT 8.2, JetPack 4.6 / Jetson Nano): ``num_bindings``, ``binding_is_input``,
  ``get_binding_shape``, ``get_profile_shape``, ``set_binding_shape``, ``execute_async_v2``;
* ``tensors`` (TensorRT 8.5+ and 10.x): ``num_io_tensors``, ``get_tensor_name``, ``get_tensor_mode``,
  ``get_tensor_profile_shape``, ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``.

Host buffers are page-locked (``pycuda.driver.pagelocked_empty``), copies and execution are queued on
one CUDA stream. Dynamic-batch engines get the input shape set per call and batches above the
profile's maximum are split; static-batch engines split and zero-pad. ``infer`` returns the first
output (a classifier's logits); ``run`` every output (a detector's regressors and scores), each
copied back from the device. A detector engine (``kind="detector"``) carries its ``edge.detector``
record in the sidecar (``"detector"``). TensorRT's own log lines go
to the Python logger ``edge.tensorrt``. The bookkeeping (API dispatch, I/O specs, batch limits) is
pure functions over engine objects so it is tested without a GPU.
"""
import json
import logging
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from edge.backends.base import Backend, MetaOverrides, detector_model_meta, run_planned, run_planned_many
from edge.engine import check_engine, device_fingerprint, read_sidecar
from edge.errors import HardwareError, InputError, require
from edge.meta import ModelMeta

log = logging.getLogger("edge.tensorrt")

TRT_PACKAGE = "tensorrt (JetPack's python3-libnvinfer, or NVIDIA's tensorrt wheel)"
SEVERITY_LEVELS = {"INTERNAL_ERROR": logging.CRITICAL, "ERROR": logging.ERROR, "WARNING": logging.WARNING,
                   "INFO": logging.INFO, "VERBOSE": logging.DEBUG}


class IOSpec(NamedTuple):
    name: str
    index: int  # binding index (bindings API) or I/O tensor index (tensors API)
    is_input: bool
    shape: Tuple[int, ...]  # -1 marks a dynamic dimension
    dtype: Any  # tensorrt.DataType


def api_generation(engine) -> str:
    """"tensors" when the engine has the name-based API (TensorRT ≥ 8.5), else "bindings" (8.2)."""
    return "tensors" if hasattr(engine, "num_io_tensors") else "bindings"


def io_specs(engine, api: str, input_mode=None) -> List[IOSpec]:
    """The engine's inputs and outputs (profile 0). ``input_mode`` is ``trt.TensorIOMode.INPUT``."""
    out = []
    if api == "tensors":
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            out.append(IOSpec(name, i, engine.get_tensor_mode(name) == input_mode,
                              tuple(engine.get_tensor_shape(name)), engine.get_tensor_dtype(name)))
    else:
        # with several optimization profiles, 8.2 repeats every binding per profile: take profile 0's
        per_profile = engine.num_bindings // max(1, getattr(engine, "num_optimization_profiles", 1))
        for i in range(per_profile):
            out.append(IOSpec(engine.get_binding_name(i), i, bool(engine.binding_is_input(i)),
                              tuple(engine.get_binding_shape(i)), engine.get_binding_dtype(i)))
    return out


def profile_shapes(engine, api: str, spec: IOSpec) -> Tuple[Tuple[int, ...], ...]:
    """(min, opt, max) input shapes of optimization profile 0."""
    if api == "tensors" and hasattr(engine, "get_tensor_profile_shape"):
        shapes = engine.get_tensor_profile_shape(spec.name, 0)
    elif api == "tensors":  # in case an 8.x build has the tensor API but not this getter: by name
        shapes = engine.get_profile_shape(0, spec.name)
    else:
        shapes = engine.get_profile_shape(0, spec.index)
    return tuple(tuple(s) for s in shapes)


def check_io(specs: List[IOSpec], meta: ModelMeta, path: str) -> Tuple[IOSpec, List[IOSpec]]:
    """(input, outputs in engine order); one clear InputError for anything edge cannot feed."""
    inputs = [s for s in specs if s.is_input]
    outputs = [s for s in specs if not s.is_input]
    if len(inputs) != 1 or not outputs:
        raise InputError("engine '{}' has {} inputs ({}) and {} outputs; edge runs image models with exactly "
                         "one input".format(path, len(inputs), ", ".join(s.name for s in inputs), len(outputs)))
    spec = inputs[0]
    expected = (meta.channels,) + tuple(meta.input_size)
    if len(spec.shape) != 4 or any(d != e for d, e in zip(spec.shape[1:], expected)):
        raise InputError("engine '{}' takes input {} of shape {}, expected (N, {}, {}, {}) from its metadata "
                         "(only the batch dimension may be dynamic)".format(path, spec.name, list(spec.shape),
                                                                            *expected))
    for out in outputs:
        if any(d < 0 for d in out.shape[1:]):
            raise InputError("engine '{}' output {} has dynamic dimensions beyond the batch {}; expected fixed "
                             "sizes such as (N, classes)".format(path, out.name, list(out.shape)))
    return spec, outputs


def detector_record(sidecar: Dict, path: str) -> str:
    """The ``edge.detector`` JSON a detector engine's sidecar carries (``edge export --engine`` writes it)."""
    record = sidecar.get("detector")
    if not record:
        raise InputError("engine '{}': expected a detector record ('detector' in its sidecar, written by `edge "
                         "export DETECTOR.onnx --engine`), found a classifier engine".format(path))
    return record if isinstance(record, str) else json.dumps(record, sort_keys=True)


def batch_limits(spec: IOSpec, profile: Optional[Tuple[Tuple[int, ...], ...]]) -> Tuple[Optional[int], int, int]:
    """(static batch or None, largest batch per call, batch to warm up with) of an input."""
    if spec.shape[0] > 0:
        return spec.shape[0], spec.shape[0], spec.shape[0]
    if not profile:
        raise InputError("engine input {} has a dynamic batch but no optimization profile".format(spec.name))
    return None, int(profile[2][0]), int(profile[1][0])


def with_batch(shape: Tuple[int, ...], n: int) -> Tuple[int, ...]:
    return (n,) + tuple(shape[1:])


def severity_level(severity) -> int:
    """Python logging level of a ``trt.ILogger.Severity`` (by its name, same in 8.x and 10.x)."""
    name = getattr(severity, "name", None) or str(severity).rsplit(".", 1)[-1]
    return SEVERITY_LEVELS.get(name, logging.INFO)


_LOGGER = []  # one TensorRT logger per process (TensorRT warns when runtimes get different ones)


def trt_logger(trt):
    """A ``trt.ILogger`` that forwards every TensorRT message to the ``edge.tensorrt`` Python logger."""
    if not _LOGGER:
        class _Logger(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)

            def log(self, severity, msg):
                log.log(severity_level(severity), "%s", msg)

        _LOGGER.append(_Logger())
    return _LOGGER[0]


class TensorRTBackend(Backend):
    name = "tensorrt"

    @classmethod
    def load(cls, path: str, overrides: Optional[MetaOverrides] = None, options: Optional[Dict] = None):
        options = options or {}
        meta, fingerprint, sidecar = read_sidecar(path)
        detector = options.get("kind") == "detector"
        if detector:
            record = detector_record(sidecar, path)
            meta = detector_model_meta(record, "'{}'".format(path))
        else:
            meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        trt = require("tensorrt", TRT_PACKAGE, "TensorRT engines")
        cuda = require("pycuda.driver", "pycuda", "TensorRT engines")
        try:
            current = device_fingerprint()
        except cuda.Error as e:
            raise HardwareError("TensorRT engines need an NVIDIA GPU; CUDA says: {}".format(e)) from None
        check_engine(path, fingerprint, current)
        self = cls(meta, path, precision=fingerprint.get("precision") or "fp32", device="cuda")
        if detector:
            self.kind, self.detector_record = "detector", record
        try:
            self._open(trt, cuda, int(options.get("gpu", 0)))
            for _ in range(int(options.get("warmup", 3))):
                warm = np.zeros((self._warm_batch, meta.channels) + tuple(meta.input_size), np.float32)
                if detector:
                    self.run(warm)
                else:
                    self.infer(warm)
        except BaseException:
            self.close()
            raise
        return self

    def _open(self, trt, cuda, gpu: int) -> None:
        self._cuda = cuda
        self._ctx = cuda.Device(gpu).retain_primary_context()
        self._ctx.push()
        try:
            with open(self.path, "rb") as f:
                blob = f.read()
            self._runtime = trt.Runtime(trt_logger(trt))
            engine = self._runtime.deserialize_cuda_engine(blob)
            if engine is None:
                raise InputError("TensorRT {} cannot deserialize '{}' (corrupt, or built by another TensorRT "
                                 "version; see the edge.tensorrt log)".format(trt.__version__, self.path))
            if getattr(engine, "has_implicit_batch_dimension", False):
                raise InputError("'{}' is an implicit-batch engine; rebuild it from ONNX with "
                                 "`edge export --engine` (explicit batch)".format(self.path))
            self._engine = engine
            self._api = api_generation(engine)
            specs = io_specs(engine, self._api, getattr(getattr(trt, "TensorIOMode", None), "INPUT", None))
            self._in, self._outs = check_io(specs, self.meta, self.path)
            profile = profile_shapes(engine, self._api, self._in) if self._in.shape[0] < 0 else None
            self.static_batch, self.max_batch, self._warm_batch = batch_limits(self._in, profile)
            self._context = engine.create_execution_context()
            self._stream = cuda.Stream()
            self._alloc(trt, specs)
            self._batch_set = None
        finally:
            self._ctx.pop()

    def _alloc(self, trt, specs: List[IOSpec]) -> None:
        cuda = self._cuda
        self._host, self._dev = {}, {}
        # the binding API wants an address slot for every profile's bindings (unused ones stay 0)
        bindings = [0] * (self._engine.num_bindings if self._api == "bindings" else len(specs))
        for spec in specs:
            shape = with_batch(spec.shape, self.max_batch)
            dtype = np.dtype(trt.nptype(spec.dtype))
            self._host[spec.name] = cuda.pagelocked_empty(shape, dtype)
            self._dev[spec.name] = cuda.mem_alloc(self._host[spec.name].nbytes)
            bindings[spec.index] = int(self._dev[spec.name])
            if self._api == "tensors":
                self._context.set_tensor_address(spec.name, int(self._dev[spec.name]))
        self._bindings = bindings

    def _set_batch(self, n: int) -> None:
        if self.static_batch is not None or n == self._batch_set:
            return
        shape = with_batch(self._in.shape, n)
        ok = (self._context.set_input_shape(self._in.name, shape) if self._api == "tensors"
              else self._context.set_binding_shape(self._in.index, shape))
        if ok is False:
            raise InputError("engine '{}' refuses input shape {} (profile allows batch ≤ {})".format(
                self.path, shape, self.max_batch))
        self._batch_set = n

    def _run_chunk(self, chunk: np.ndarray) -> np.ndarray:
        return self._execute(chunk, self._outs[:1])[0].reshape(len(chunk), -1)

    def _run_chunk_all(self, chunk: np.ndarray) -> List[np.ndarray]:
        return self._execute(chunk, self._outs)

    def _execute(self, chunk: np.ndarray, outputs: List[IOSpec]) -> List[np.ndarray]:
        """Run one chunk (≤ max_batch rows); copies of ``outputs`` (N, ...) as float32."""
        cuda, n = self._cuda, len(chunk)
        host_in = self._host[self._in.name]
        self._ctx.push()
        try:
            self._set_batch(n)
            host_in[:n] = chunk  # casts to the engine's input dtype (fp16 I/O engines)
            cuda.memcpy_htod_async(self._dev[self._in.name], host_in[:n], self._stream)
            if self._api == "tensors":
                ok = self._context.execute_async_v3(stream_handle=self._stream.handle)
            else:
                ok = self._context.execute_async_v2(bindings=self._bindings, stream_handle=self._stream.handle)
            for out in outputs:
                cuda.memcpy_dtoh_async(self._host[out.name][:n], self._dev[out.name], self._stream)
            self._stream.synchronize()
        finally:
            self._ctx.pop()
        if ok is False:
            raise HardwareError("TensorRT failed to run '{}' on a batch of {} (see the edge.tensorrt log)".format(
                self.path, n))
        return [self._host[out.name][:n].astype(np.float32) for out in outputs]  # copies: buffers are reused

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return run_planned(self._run_chunk, batch, self.max_batch, static=self.static_batch is not None)

    def _run_all(self, batch: np.ndarray) -> List[np.ndarray]:
        return run_planned_many(self._run_chunk_all, batch, self.max_batch, static=self.static_batch is not None)

    def info(self) -> Dict:
        d = super().info()
        d.update({"tensorrt_api": getattr(self, "_api", None),
                  "input": getattr(self, "_in", None) and self._in.name,
                  "outputs": [o.name for o in getattr(self, "_outs", [])]})
        return d

    def close(self) -> None:
        ctx = getattr(self, "_ctx", None)
        if ctx is None:
            return
        ctx.push()
        try:
            for mem in getattr(self, "_dev", {}).values():
                mem.free()
            self._dev = {}
            self._context = self._engine = self._runtime = None
        finally:
            ctx.pop()
            ctx.detach()
            self._ctx = None


BACKEND = TensorRTBackend
