"""TensorRT backend: a serialized engine (``.engine``/``.plan``) plus its JSON sidecar (edge/backends/tensorrt/sidecar.py).

Runs on both TensorRT API generations:

* ``bindings`` (TensorRT 8.2, JetPack 4.6 / Jetson Nano): ``num_bindings``, ``binding_is_input``,
  ``get_binding_shape`` (engine and context), ``get_profile_shape``, ``set_binding_shape``,
  ``execute_async_v2``;
* ``tensors`` (TensorRT 8.5+ and 10.x): ``num_io_tensors``, ``get_tensor_name``, ``get_tensor_mode``,
  ``get_tensor_shape`` (engine and context), ``get_tensor_profile_shape``, ``set_input_shape``,
  ``set_tensor_address``, ``execute_async_v3``.

Host buffers are page-locked (``pycuda.driver.pagelocked_empty``), copies and execution are queued on
one CUDA stream. Dynamic-batch engines get the input shape set per call and batches above the
profile's maximum are split; static-batch engines split and zero-pad. ``infer`` returns the first
output (a classifier's logits); ``run`` every output (a detector's regressors and scores), each
copied back from the device. A detector engine (``kind="detector"``) carries its ``edge.detector``
record in the sidecar (``"detector"``; an object detector: its ObjectDetectorMeta as ``"objects"``); its
input height/width may be dynamic (a whole-frame pass plus square second-pass crops through one engine):
``input_hw_range`` then comes from the optimization profile, buffers are sized for the profile's max shape,
and every call sets the full input shape and reads each output's shape back from the execution context
(``get_binding_shape``/``get_tensor_shape``). TensorRT's own log lines go to the Python logger
``edge.tensorrt``. The bookkeeping (API dispatch, I/O specs, batch limits) is
pure functions over engine objects so it is tested without a GPU.
"""
import json
import logging
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edge.backends.base import Backend, MetaOverrides, run_planned, run_planned_many
from edge.backends.tensorrt.profile import has_dynamic_hw
from edge.backends.tensorrt.sidecar import check_engine, device_fingerprint, read_sidecar
from edge.errors import HardwareError, InputError, require, require_tensorrt
from edge.meta import OBJECTS_KEY, ModelMeta, ObjectDetectorMeta, detector_model_meta

log = logging.getLogger("edge.tensorrt")

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


def check_io(specs: List[IOSpec], meta: ModelMeta, path: str, detector: bool = False
             ) -> Tuple[IOSpec, List[IOSpec]]:
    """(input, outputs in engine order); one clear InputError for anything edge cannot feed.

    Only the batch may be dynamic, except in a detector engine: there the input's height and width
    may be too (-1), and then so may its outputs' dimensions (anchors follow the input size).
    """
    inputs = [s for s in specs if s.is_input]
    outputs = [s for s in specs if not s.is_input]
    if len(inputs) != 1 or not outputs:
        raise InputError("engine '{}' has {} inputs ({}) and {} outputs; edge runs image models with exactly "
                         "one input".format(path, len(inputs), ", ".join(s.name for s in inputs), len(outputs)))
    spec = inputs[0]
    expected = (meta.channels,) + tuple(meta.input_size)
    if len(spec.shape) != 4 or any(d != e and not (detector and i > 0 and d < 0)
                                   for i, (d, e) in enumerate(zip(spec.shape[1:], expected))):
        raise InputError("engine '{}' takes input {} of shape {}, expected (N, {}, {}, {}) from its metadata "
                         "(only the batch dimension may be dynamic{})".format(
                             path, spec.name, list(spec.shape), expected[0], expected[1], expected[2],
                             ", and a detector's height and width" if detector else ""))
    for out in outputs:
        if any(d < 0 for d in out.shape[1:]) and not (detector and has_dynamic_hw(spec.shape)):
            raise InputError("engine '{}' output {} has dynamic dimensions beyond the batch {}; expected fixed "
                             "sizes such as (N, classes){}".format(
                                 path, out.name, list(out.shape),
                                 "" if detector else " (or a detector engine whose input height/width is dynamic)"))
    return spec, outputs


def hw_range(spec: IOSpec, profile: Optional[Tuple[Tuple[int, ...], ...]], square: Sequence[int], path: str
             ) -> Optional[Tuple[Tuple[int, int], Tuple[int, int]]]:
    """``((min_h, min_w), (max_h, max_w))`` of an input with dynamic height/width, from its profile's min and
    max shapes (None when height and width are fixed). The detector's square ``input_size`` (its warm-up
    and second-pass crops) must be inside the range."""
    if not has_dynamic_hw(spec.shape):
        return None
    if not profile:
        raise InputError("engine '{}' input {} has a dynamic height/width but no optimization profile".format(
            path, spec.name))
    lo, hi = (int(profile[0][2]), int(profile[0][3])), (int(profile[2][2]), int(profile[2][3]))
    if not (lo[0] <= square[0] <= hi[0] and lo[1] <= square[1] <= hi[1]):
        raise InputError("engine '{}' takes inputs from {}x{} to {}x{} (its optimization profile), which leaves "
                         "out the detector's {}x{} input; rebuild it with `edge export DETECTOR.onnx --engine` "
                         "(--max-input)".format(path, lo[0], lo[1], hi[0], hi[1], square[0], square[1]))
    return lo, hi


def set_input_shape(context, api: str, spec: IOSpec, shape: Sequence[int]) -> bool:
    """Set the execution context's input shape (8.2: ``set_binding_shape``; 8.5+: ``set_input_shape``);
    False when TensorRT refuses it (outside the optimization profile)."""
    shape = tuple(int(d) for d in shape)
    ok = (context.set_input_shape(spec.name, shape) if api == "tensors"
          else context.set_binding_shape(spec.index, shape))
    return ok is not False


def context_shapes(context, api: str, specs: Sequence[IOSpec]) -> List[Tuple[int, ...]]:
    """The shapes TensorRT resolved for ``specs`` in this context, for the input shape last set
    (8.2: ``get_binding_shape``; 8.5+: ``get_tensor_shape``)."""
    return [tuple(int(d) for d in (context.get_tensor_shape(s.name) if api == "tensors"
                                   else context.get_binding_shape(s.index))) for s in specs]


def volume(shape: Sequence[int]) -> int:
    """Elements in a tensor of ``shape``."""
    return int(np.prod(shape, dtype=np.int64))


def detector_record(sidecar: Dict, path: str) -> Tuple[Optional[str], Optional[ObjectDetectorMeta]]:
    """What a detector engine's sidecar carries (``edge export --engine`` writes it): (the ``edge.detector``
    JSON of an SSD face detector, None) or (None, an object detector's record: ``"objects"``)."""
    record, objects = sidecar.get("detector"), sidecar.get(OBJECTS_KEY)
    if objects:
        return None, ObjectDetectorMeta.from_dict(objects, "engine '{}' sidecar".format(path))
    if not record:
        raise InputError("engine '{}': expected a detector record ('detector' or '{}' in its sidecar, written by "
                         "`edge export DETECTOR.onnx --engine`), found a classifier engine".format(path, OBJECTS_KEY))
    return (record if isinstance(record, str) else json.dumps(record, sort_keys=True)), None


def batch_limits(spec: IOSpec, profile: Optional[Tuple[Tuple[int, ...], ...]]) -> Tuple[Optional[int], int, int]:
    """(static batch or None, largest batch per call, batch to warm up with) of an input."""
    if spec.shape[0] > 0:
        return spec.shape[0], spec.shape[0], spec.shape[0]
    if not profile:
        raise InputError("engine input {} has a dynamic batch but no optimization profile".format(spec.name))
    return None, int(profile[2][0]), int(profile[1][0])


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
            record, objects = detector_record(sidecar, path)
            meta = objects.model_meta() if objects else detector_model_meta(record, "'{}'".format(path))
        else:
            meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        trt = require_tensorrt()
        cuda = require("pycuda.driver", "pycuda", "TensorRT engines")
        gpu = int(options.get("gpu", 0))
        try:
            current = device_fingerprint(gpu=gpu)  # the GPU the engine opens on
        except cuda.Error as e:
            raise HardwareError("TensorRT engines need an NVIDIA GPU; CUDA says: {}".format(e)) from None
        check_engine(path, fingerprint, current)
        self = cls(meta, path, precision=fingerprint.get("precision") or "fp32", device="cuda")
        if detector:
            self.kind, self.detector_record, self.objects = "detector", record, objects
        try:
            self._open(trt, cuda, gpu)
            warm = np.zeros((self._warm_batch, meta.channels) + tuple(meta.input_size), np.float32)
            outputs = None
            for _ in range(int(options.get("warmup", 3))):  # at the profile's opt batch; infer checks rows
                outputs = self.run(warm) if detector else [self.infer(warm)]
            if outputs is not None:  # warmup 0 (tests): no call, no check
                self.check_finite(outputs, len(warm))  # the load-time NaN check every backend makes
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
            self._in, self._outs = check_io(specs, self.meta, self.path, detector=self.kind == "detector")
            self._dynamic = any(d < 0 for d in self._in.shape)
            self._profile = profile_shapes(engine, self._api, self._in) if self._dynamic else None
            self.static_batch, self.max_batch, self._warm_batch = batch_limits(self._in, self._profile)
            self.input_hw_range = hw_range(self._in, self._profile, self.meta.input_size, self.path)
            self._context = engine.create_execution_context()
            self._stream = cuda.Stream()
            self._alloc(trt, specs)
        finally:
            self._ctx.pop()

    def _alloc(self, trt, specs: List[IOSpec]) -> None:
        """Flat page-locked host buffers and device buffers, each sized for the largest shape it takes:
        the profile's max input shape and the output shapes TensorRT resolves for it."""
        cuda = self._cuda
        self._capacity = {}  # type: Dict[str, int]  # elements each buffer holds
        self._shape_set = None  # type: Optional[Tuple[int, ...]]  # input shape last set in the context
        self._out_shapes = {}  # type: Dict[str, Tuple[int, ...]]  # output shapes for it
        if self._dynamic:
            self._set_shape(tuple(self._profile[2]))
            largest = dict(self._out_shapes)
            largest[self._in.name] = self._shape_set
            unresolved = [(o.name, list(largest[o.name])) for o in self._outs if min(largest[o.name]) < 0]
            if unresolved:
                raise InputError("engine '{}': TensorRT cannot tell the shape of output {} before running it (found "
                                 "{}); edge runs engines whose output shapes follow from the input shape".format(
                                     self.path, unresolved[0][0], unresolved[0][1]))
        else:
            largest = {spec.name: tuple(spec.shape) for spec in specs}
            self._out_shapes = {o.name: tuple(o.shape) for o in self._outs}
        self._capacity = {spec.name: volume(largest[spec.name]) for spec in specs}
        self._host, self._dev = {}, {}
        # the binding API wants an address slot for every profile's bindings (unused ones stay 0)
        bindings = [0] * (self._engine.num_bindings if self._api == "bindings" else len(specs))
        for spec in specs:
            dtype = np.dtype(trt.nptype(spec.dtype))
            self._host[spec.name] = cuda.pagelocked_empty((self._capacity[spec.name],), dtype)
            self._dev[spec.name] = cuda.mem_alloc(self._host[spec.name].nbytes)
            bindings[spec.index] = int(self._dev[spec.name])
            if self._api == "tensors":
                self._context.set_tensor_address(spec.name, int(self._dev[spec.name]))
        self._bindings = bindings

    def _set_shape(self, shape: Tuple[int, ...]) -> Dict[str, Tuple[int, ...]]:
        """Set the full input shape when it changed (dynamic engines); the outputs' shapes for it."""
        if not self._dynamic or shape == self._shape_set:
            return self._out_shapes
        if not set_input_shape(self._context, self._api, self._in, shape):
            self._shape_set = None
            lo, hi = self._profile[0], self._profile[2]
            raise InputError("engine '{}' refuses input shape {} (its optimization profile takes {} to {})".format(
                self.path, list(shape), list(lo), list(hi)))
        self._shape_set = shape
        self._out_shapes = dict(zip([o.name for o in self._outs], context_shapes(self._context, self._api,
                                                                                 self._outs)))
        for name, out_shape in self._out_shapes.items():
            if volume(out_shape) > self._capacity.get(name, volume(out_shape)):
                raise HardwareError("engine '{}': TensorRT gives output {} the shape {} for input {}, larger than "
                                    "for the profile's max input shape".format(self.path, name, list(out_shape),
                                                                               list(shape)))
        return self._out_shapes

    def _run_chunk(self, chunk: np.ndarray) -> np.ndarray:
        return self._execute(chunk, self._outs[:1])[0].reshape(len(chunk), -1)

    def _run_chunk_all(self, chunk: np.ndarray) -> List[np.ndarray]:
        return self._execute(chunk, self._outs)

    def _execute(self, chunk: np.ndarray, outputs: List[IOSpec]) -> List[np.ndarray]:
        """Run one chunk (≤ max_batch rows); copies of ``outputs`` (N, ...) as float32."""
        cuda = self._cuda
        self._ctx.push()
        try:
            shapes = self._set_shape(tuple(chunk.shape))
            host_in = self._host[self._in.name][:chunk.size].reshape(chunk.shape)
            host_in[...] = chunk  # casts to the engine's input dtype (fp16 I/O engines)
            cuda.memcpy_htod_async(self._dev[self._in.name], host_in, self._stream)
            if self._api == "tensors":
                ok = self._context.execute_async_v3(stream_handle=self._stream.handle)
            else:
                ok = self._context.execute_async_v2(bindings=self._bindings, stream_handle=self._stream.handle)
            for out in outputs:
                cuda.memcpy_dtoh_async(self._host[out.name][:volume(shapes[out.name])], self._dev[out.name],
                                       self._stream)
            self._stream.synchronize()
        finally:
            self._ctx.pop()
        if ok is False:
            raise HardwareError("TensorRT failed to run '{}' on a batch of shape {} (see the edge.tensorrt "
                                "log)".format(self.path, list(chunk.shape)))
        # copies (astype copies by default): the buffers are reused by the next call
        return [self._host[out.name][:volume(shapes[out.name])].reshape(shapes[out.name]).astype(np.float32)
                for out in outputs]

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
        """Free everything while the CUDA context is still attached: device buffers, the page-locked host
        buffers and the stream (pycuda silently skips frees once the context is detached: a leak per load)."""
        ctx = getattr(self, "_ctx", None)
        if ctx is None:
            return
        ctx.push()
        try:
            for mem in getattr(self, "_dev", {}).values():
                mem.free()
            for host in getattr(self, "_host", {}).values():
                host.base.free()  # pycuda's HostAllocation behind pagelocked_empty
            self._dev, self._host = {}, {}
            self._stream = None  # its destructor (cuStreamDestroy) runs now, in this context
            self._context = self._engine = self._runtime = None
        finally:
            ctx.pop()
            ctx.detach()
            self._ctx = None


BACKEND = TensorRTBackend
