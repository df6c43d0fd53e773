"""Test doubles: a fixed face detector for the run loop (``FixedDetector``, at the end), and the TensorRT and
pycuda doubles shared by the TensorRT tests: the documented Python API of each TensorRT
generation and nothing more, so a call from the other generation fails as it would on the device.

* ``install(monkeypatch, version, gpu, cc)`` puts ``tensorrt``, ``pycuda``, ``pycuda.driver`` and
  ``pycuda.autoinit`` doubles in ``sys.modules`` and returns the ``Device``: ``calls`` records what the
  builder was asked, ``plans`` maps serialized plans to the engine doubles ``trt.Runtime`` deserializes,
  ``cuda_events`` what pycuda did with contexts and memory (``more_gpus``: GPUs 1, 2, ... beside GPU 0).
* Builder side: ``Builder``, ``IBuilderConfig`` (8.2: ``max_workspace_size`` + ``build_engine``; 8.5+:
  ``set_memory_pool_limit`` + ``build_serialized_network``), ``OnnxParser`` — it reads the real ONNX's
  input names and shapes (symbolic dimensions become -1, as TensorRT reports them) — optimization
  profiles checked against those inputs, the timing cache and the INT8 calibrator protocol.
* Runtime side: engines with the 8.2 binding API (``BindingEngine``) or the 8.5+/10.x tensor API
  (``TensorEngine``), their execution contexts, and pycuda's allocations, copies and stream on numpy
  arrays; executing an engine runs its ``compute`` function on the fake device memory.
"""
import itertools
import sys
import types

import numpy as np

NANO = ("8.2.1.8", "NVIDIA Tegra X1", "5.3")  # JetPack 4.6: the binding API
ORIN = ("10.3.0.30", "Orin", "8.7")  # JetPack 6: the tensor API
DEVICES = {"bindings": NANO, "tensors": ORIN}  # a device double for engines of each API
TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")


class DataType:
    def __init__(self, name, numpy_type):
        self.name, self.numpy_type = name, numpy_type

    def __repr__(self):
        return "DataType." + self.name


FLOAT = DataType("FLOAT", np.float32)


def generation(version):
    """The engine API of a TensorRT version: "bindings" (< 8.5) or "tensors" (8.5+; 10.x has no other)."""
    major, minor = (int(v) for v in version.split(".")[:2])
    return "bindings" if (major, minor) < (8, 5) else "tensors"


# ---------------------------------------------------------------- pycuda.driver

_MEMORY = {}  # device address → DeviceAllocation (flat float32 buffer)
_ADDRESSES = itertools.count(4096, 4096)


class ContextBound:
    """A pycuda object freed in the context current at its creation: a free (explicit, or by its destructor)
    after that context is detached is silently skipped by pycuda, which this double records as a leak."""

    def _bind(self, what, stack, events):
        self._what, self._ctx, self._events, self._freed = what, stack[-1] if stack else None, events, False

    def _release(self):
        if self._freed:
            return
        self._freed = True
        dead = self._ctx is not None and not self._ctx.attached
        self._events.append(("leak" if dead else "free", self._what))

    def __del__(self):
        self._release()


class DeviceAllocation(ContextBound):
    """What ``pycuda.driver.mem_alloc`` returns: ``int()`` is the device pointer; ``free()``."""

    def __init__(self, nbytes, stack=(), events=None):
        self._bind("device", stack, [] if events is None else events)
        self.buf = np.zeros(nbytes // 4, np.float32)  # float32 engines only
        self.addr = next(_ADDRESSES)
        _MEMORY[self.addr] = self

    def __int__(self):
        return self.addr

    def free(self):
        _MEMORY.pop(self.addr, None)
        self._release()


class HostAllocation(bytearray, ContextBound):
    """The ``base`` of a ``pycuda.driver.pagelocked_empty`` array: ``free()`` releases the pinned memory."""

    def free(self):
        self._release()


def memory_at(address):
    return _MEMORY[int(address)]


def pycuda_modules(gpu, cc, total, more_gpus=(), events=None):
    """{"pycuda", "pycuda.driver", "pycuda.autoinit"} doubles of GPU 0 named ``gpu`` (sm ``cc``, ``total`` bytes)
    and GPUs 1, 2, ... from ``more_gpus`` [(name, cc)]; ``events`` records pushes, pops, detaches, and each
    free or leak of device memory, page-locked host memory and streams (``ContextBound``)."""
    pkg, drv, auto = (types.ModuleType(n) for n in ("pycuda", "pycuda.driver", "pycuda.autoinit"))
    gpus = [(gpu, cc)] + list(more_gpus)
    events = [] if events is None else events
    stack = []  # the contexts pushed on this thread

    class Context:
        """A retained primary context."""

        def __init__(self):
            self.attached = True

        def push(self):
            stack.append(self)
            events.append("push")

        def pop(self):
            assert stack and stack[-1] is self, "pop of a context that is not current"
            stack.pop()
            events.append("pop")

        def detach(self):
            self.attached = False
            events.append("detach")

    class Device:
        def __init__(self, ordinal):
            if not 0 <= ordinal < len(gpus):
                raise drv.Error("cuDeviceGet failed: invalid device ordinal")
            self.ordinal = ordinal

        @staticmethod
        def count():
            return len(gpus)

        def name(self):
            return gpus[self.ordinal][0]

        def compute_capability(self):
            return tuple(int(v) for v in gpus[self.ordinal][1].split("."))

        def total_memory(self):
            return total

        def retain_primary_context(self):
            return Context()

    class Stream(ContextBound):
        handle = 0

        def __init__(self, flags=0):
            self._bind("stream", stack, events)

        def synchronize(self):
            pass

    def pagelocked_empty(shape, dtype):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        dtype = np.dtype(dtype)
        host = HostAllocation(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
        host._bind("host", stack, events)
        return np.ndarray(shape, dtype, buffer=host)

    def memcpy_htod(dest, src):
        memory_at(dest).buf[:src.size] = np.ascontiguousarray(src).ravel()

    def memcpy_dtoh(dest, src):
        dest[...] = memory_at(src).buf[:dest.size].reshape(dest.shape)

    drv.Error = type("Error", (Exception,), {})
    drv.init = lambda: None
    drv.Device, drv.Context, drv.Stream = Device, Context, Stream
    drv.mem_alloc = lambda nbytes: DeviceAllocation(nbytes, stack, events)
    drv.pagelocked_empty = pagelocked_empty
    drv.memcpy_htod = memcpy_htod
    drv.memcpy_htod_async = lambda dest, src, stream=None: memcpy_htod(dest, src)
    drv.memcpy_dtoh_async = lambda dest, src, stream=None: memcpy_dtoh(dest, src)
    pkg.driver, pkg.autoinit = drv, auto
    return {"pycuda": pkg, "pycuda.driver": drv, "pycuda.autoinit": auto}


# ---------------------------------------------------------------- engines and execution contexts

class Engine:
    """What ``trt.Runtime.deserialize_cuda_engine`` returns. ``io``: [(name, is_input, shape)] with -1 for
    dynamic dimensions, the input first; ``profile``: (min, opt, max) shapes of the input in profile 0;
    ``compute(x)`` → {output name: array} and ``output_shapes(input shape)`` → {output name: shape}."""

    api = None
    has_implicit_batch_dimension = False
    num_optimization_profiles = 1

    def __init__(self, io, profile, compute, output_shapes):
        self.io = [(n, bool(i), tuple(s)) for n, i, s in io]
        self.profile = [tuple(s) for s in profile]
        self.compute, self.output_shapes = compute, output_shapes

    def in_profile(self, shape):
        lo, _, hi = self.profile
        return len(shape) == len(lo) and all(a <= d <= b for a, d, b in zip(lo, shape, hi))

    def _index(self, name):
        return [n for n, _, _ in self.io].index(name)


class Context:
    """``IExecutionContext``: the input shape set (dynamic engines), output shapes resolved for it, and
    execution that reads the input from device memory and writes every output there."""

    def __init__(self, engine):
        self.engine, self.shape, self.addresses, self.calls = engine, None, {}, []

    def _set(self, shape):
        shape = tuple(shape)
        if not self.engine.in_profile(shape):
            return False  # TensorRT refuses a shape outside the profile and keeps the previous one
        self.shape = shape
        return True

    def _shape(self, index):
        name, is_input, declared = self.engine.io[index]
        if self.shape is None:
            return declared
        return self.shape if is_input else tuple(self.engine.output_shapes(self.shape)[name])

    def _execute(self, addresses):
        declared = self.engine.io[0][2]
        shape = self.shape or declared
        if min(shape) < 0:
            return False  # a dynamic input whose shape was never set
        x = memory_at(addresses[self.engine.io[0][0]]).buf[:int(np.prod(shape))].reshape(shape)
        for name, out in self.engine.compute(x).items():
            mem = memory_at(addresses[name])
            assert out.size <= mem.buf.size, "output {} overruns its device buffer".format(name)
            mem.buf[:out.size] = np.asarray(out, np.float32).ravel()
        return True


class BindingEngine(Engine):
    """TensorRT 8.2's ICudaEngine (JetPack 4.6): bindings by index."""

    api = "bindings"

    @property
    def num_bindings(self):
        return len(self.io)

    def get_binding_name(self, index):
        return self.io[index][0]

    def binding_is_input(self, index):
        return self.io[index][1]

    def get_binding_shape(self, index):
        return self.io[index][2]

    def get_binding_dtype(self, index):
        return FLOAT

    def get_profile_shape(self, profile_index, binding):
        index = binding if isinstance(binding, int) else self._index(binding)
        assert profile_index == 0 and self.io[index][1], "profile shapes exist for inputs only"
        return list(self.profile)

    def create_execution_context(self):
        return BindingContext(self)


class BindingContext(Context):
    def set_binding_shape(self, index, shape):
        assert self.engine.io[index][1], "only an input's shape can be set"
        return self._set(shape)

    def get_binding_shape(self, index):
        return self._shape(index)

    def execute_async_v2(self, bindings, stream_handle):
        assert len(bindings) == self.engine.num_bindings
        self.calls.append(("v2", self.shape))
        return self._execute({n: bindings[i] for i, (n, _, _) in enumerate(self.engine.io)})


class TensorEngine(Engine):
    """TensorRT 8.5+/10.x's ICudaEngine: I/O tensors by name (10.x has no binding API)."""

    api = "tensors"

    @property
    def num_io_tensors(self):
        return len(self.io)

    def get_tensor_name(self, index):
        return self.io[index][0]

    def get_tensor_mode(self, name):
        return TensorIOMode.INPUT if self.io[self._index(name)][1] else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name):
        return self.io[self._index(name)][2]

    def get_tensor_dtype(self, name):
        return FLOAT

    def get_tensor_profile_shape(self, name, profile_index):
        assert profile_index == 0 and self.io[self._index(name)][1], "profile shapes exist for inputs only"
        return list(self.profile)

    def create_execution_context(self):
        return TensorContext(self)


class TensorContext(Context):
    def set_input_shape(self, name, shape):
        assert self.engine.io[self.engine._index(name)][1], "only an input's shape can be set"
        return self._set(shape)

    def get_tensor_shape(self, name):
        return self._shape(self.engine._index(name))

    def set_tensor_address(self, name, memory):
        self.addresses[name] = int(memory)
        return True

    def execute_async_v3(self, stream_handle):
        self.calls.append(("v3", self.shape))
        if set(self.addresses) != {n for n, _, _ in self.engine.io}:
            return False  # every I/O tensor needs an address
        return self._execute(self.addresses)


ENGINES = {"bindings": BindingEngine, "tensors": TensorEngine}


def channel_means_engine(api, batch=-1, shape=(3, 128, 128), classes=2, profile_max=8):
    """A classifier engine whose logits are the means of the input's first ``classes`` channels."""
    profile = [(b,) + tuple(shape) for b in ((1, max(1, profile_max // 2), profile_max) if batch < 0 else
                                             (batch,) * 3)]
    return ENGINES[api]([("input", True, (batch,) + tuple(shape)), ("logits", False, (batch, classes))], profile,
                        lambda x: {"logits": x.reshape(len(x), x.shape[1], -1).mean(-1)[:, :classes]},
                        lambda s: {"logits": (s[0], classes)})


def onnx_engine(path, api, order=("classificators", "regressors"), batch=-1, profile=(1, 7, 16), hw=None):
    """An engine of the real ONNX at ``path``, executed by ONNX Runtime; outputs in ``order``. ``hw``: None for
    an engine built for the record's square input, else the (min, opt, max) (height, width) of an engine
    whose input height/width are dynamic (-1); ``profile``: the (min, opt, max) batch."""
    import json

    import onnxruntime as ort

    from edge.meta import DETECTOR_KEY

    session = ort.InferenceSession(path)
    names = [o.name for o in session.get_outputs()]
    cache = {}

    def output_shapes(shape):
        if shape[2:] not in cache:
            zeros = np.zeros((1, 3) + tuple(shape[2:]), np.float32)
            cache[shape[2:]] = [o.shape[1:] for o in session.run(None, {"input": zeros})]
        return {n: (shape[0],) + tuple(s) for n, s in zip(names, cache[shape[2:]])}

    if hw is None:
        s = json.loads(session.get_modelmeta().custom_metadata_map[DETECTOR_KEY])["layout"]["input_size"]
        in_hw, hw = (s, s), ((s, s),) * 3
        fixed = {n: s[1:] for n, s in output_shapes((batch, 3, s, s)).items()}
    else:  # height/width dynamic: symbolic ONNX dims are -1 in TensorRT
        in_hw = (-1, -1)
        fixed = {o.name: tuple(d if isinstance(d, int) else -1 for d in o.shape[1:]) for o in session.get_outputs()}
    io = [("input", True, (batch, 3) + in_hw)] + [(n, False, (batch,) + tuple(fixed[n])) for n in order]
    shapes = [(b if batch < 0 else batch, 3) + tuple(p) for b, p in zip(profile, hw)]
    return ENGINES[api](io, shapes, lambda x: dict(zip(names, session.run(None, {"input": x}))), output_shapes)


# ---------------------------------------------------------------- tensorrt

def onnx_inputs(data):
    """[(name, shape)] of an ONNX model's graph inputs (initializers excluded), -1 for symbolic dimensions;
    raises on bytes that are not an ONNX model."""
    import pytest

    onnx = pytest.importorskip("onnx")  # the fake parser reads the model with the host's onnx
    proto = onnx.load_model_from_string(bytes(data))
    if not proto.graph.node:
        raise ValueError("the model has no graph")
    weights = {i.name for i in proto.graph.initializer}
    return [(v.name, tuple(d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim))
            for v in proto.graph.input if v.name not in weights]


class Device:
    """One installed fake GPU: its TensorRT ``version``, ``gpu`` name, compute capability ``cc``; ``calls``
    (what the builder did) and ``plans`` (serialized plan bytes → the engine double they deserialize to)."""

    def __init__(self, version, gpu, cc):
        self.version, self.gpu, self.cc = version, gpu, cc
        self.api = generation(version)
        self.calls = []
        self.plans = {}
        self.cuda_events = []

    def fingerprint(self, precision="fp16", onnx_sha256="abc"):
        from edge.backends.tensorrt.sidecar import make_fingerprint

        return make_fingerprint(self.version, self.gpu, self.cc, precision, onnx_sha256)


def tensorrt_module(device, fast_fp16=True, fast_int8=True):
    """The ``tensorrt`` double of ``device.version``: only that generation's builder and engine API."""
    version, calls = device.version, device.calls
    legacy = device.api == "bindings"
    v10 = int(version.split(".")[0]) >= 10
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version

    class ILogger:
        Severity = types.SimpleNamespace(INTERNAL_ERROR=0, ERROR=1, WARNING=2, INFO=3, VERBOSE=4)

        def __init__(self):
            pass

    class Logger(ILogger):
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self, min_severity=WARNING):
            ILogger.__init__(self)
            calls.append(("logger", min_severity))

    class Tensor:
        def __init__(self, name, shape):
            self.name, self.shape, self.dtype = name, shape, FLOAT

    class Network:
        def __init__(self, flags):
            self.explicit_batch = v10 or bool(flags & 1)
            self.inputs = []

        @property
        def num_inputs(self):
            return len(self.inputs)

        def get_input(self, index):
            return self.inputs[index]

    class OptimizationProfile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, input, min, opt, max):
            calls.append(("profile", input, tuple(min), tuple(opt), tuple(max)))
            self.shapes[input] = (tuple(min), tuple(opt), tuple(max))

    class TimingCache:
        def __init__(self, data):
            self.data = bytes(data)

        def serialize(self):
            return b"timing-cache"

    class BuilderConfig:
        int8_calibrator = None

        def __init__(self):
            self.profiles, self.cache, self.calibration_profile = [], None, None

        def set_flag(self, flag):
            calls.append(("flag", flag))

        def add_optimization_profile(self, profile):
            calls.append(("add_profile",))
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def set_calibration_profile(self, profile):
            calls.append(("calibration_profile",) + tuple(profile.shapes.values()))
            self.calibration_profile = profile
            return True

        def create_timing_cache(self, serialized_timing_cache):
            calls.append(("timing_cache_in", bytes(serialized_timing_cache)))
            return TimingCache(serialized_timing_cache)

        def set_timing_cache(self, cache, ignore_mismatch):
            calls.append(("set_timing_cache", ignore_mismatch))
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    if legacy:
        BuilderConfig.max_workspace_size = property(lambda s: 0,
                                                    lambda s, v: calls.append(("max_workspace_size", v)))
    else:
        BuilderConfig.set_memory_pool_limit = lambda s, pool, size: calls.append(("set_memory_pool_limit", pool, size))

    def check_profiles(network, config):
        """TensorRT refuses (logs an error, builds nothing; here: AssertionError) a network with dynamic
        inputs but no profile, a profile (the INT8 calibration profile too) that misses an input, or shapes
        that contradict the input's fixed dimensions or are not ordered min <= opt <= max."""
        dynamic = any(d < 0 for t in network.inputs for d in t.shape)
        assert config.profiles or not dynamic, "a network with dynamic inputs needs an optimization profile"
        for profile in config.profiles + [p for p in [config.calibration_profile] if p is not None]:
            for t in network.inputs:
                lo, opt, hi = profile.shapes[t.name]
                assert len(lo) == len(t.shape) and all(d < 0 or a == b == c == d
                                                       for a, b, c, d in zip(lo, opt, hi, t.shape)), (t.shape, lo)
                assert all(a <= b <= c for a, b, c in zip(lo, opt, hi)), (lo, opt, hi)

    def run_calibrator(network, config):
        cal = config.int8_calibrator
        if cal is not None and cal.read_calibration_cache() is None:
            n = 0
            while cal.get_batch([t.name for t in network.inputs]) is not None:
                n += 1
            calls.append(("calibrated_batches", n, cal.get_batch_size()))
            cal.write_calibration_cache(b"calibration-table")

    def plan(network, config):
        check_profiles(network, config)
        run_calibrator(network, config)
        return b"plan-" + version.encode()

    class Builder:
        platform_has_fast_fp16 = fast_fp16
        platform_has_fast_int8 = fast_int8

        def __init__(self, logger):
            pass

        def create_network(self, flags=0):
            calls.append(("create_network", flags))
            return Network(flags)

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

    class HostEngine:  # what 8.2's build_engine returns
        def __init__(self, blob):
            self.blob = blob

        def serialize(self):
            return self.blob

    if legacy:
        def build_engine(self, network, config):
            calls.append(("build_engine",))
            return HostEngine(plan(network, config))
        Builder.build_engine = build_engine
    else:
        def build_serialized_network(self, network, config):
            calls.append(("build_serialized_network",))
            return plan(network, config)
        Builder.build_serialized_network = build_serialized_network

    class ParserError:
        def __init__(self, desc):
            self._desc = desc

        def desc(self):
            return self._desc

        def __str__(self):
            return self._desc

    class OnnxParser:
        def __init__(self, network, logger):
            self.network, self.errors = network, []

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, index):
            return self.errors[index]

        def parse(self, model, path=None):
            calls.append(("parse", len(model)))
            if not self.network.explicit_batch:
                self.errors.append(ParserError("the network must have an explicit batch dimension"))
                return False
            try:
                inputs = onnx_inputs(model)
            except Exception as e:  # onnx's DecodeError and friends
                self.errors.append(ParserError("failed to parse the ONNX model: {}".format(e)))
                return False
            self.network.inputs = [Tensor(name, shape) for name, shape in inputs]
            return True

    class IInt8EntropyCalibrator2:
        def __init__(self):
            pass

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, serialized_engine):
            engine = device.plans.get(bytes(serialized_engine))
            assert engine is None or engine.api == device.api, \
                "a TensorRT {} runtime gives {} engines, not {}".format(version, device.api, engine.api)
            return engine

    trt.ILogger, trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = ILogger, Logger, Builder, OnnxParser, Runtime
    trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16", INT8="INT8")
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.DataType = types.SimpleNamespace(FLOAT=FLOAT)
    trt.nptype = lambda dtype: dtype.numpy_type
    if not legacy:
        trt.TensorIOMode = TensorIOMode
    return trt


def engine_file(path, device, engine, meta, extra=None, built_on=None):
    """Write ``path`` as an FP16 engine built on ``built_on`` (default: ``device``): a plan that ``device``'s
    runtime deserializes to ``engine`` (None: a plan it cannot deserialize) and its sidecar."""
    from edge.backends.tensorrt.sidecar import write_sidecar

    plan = "plan of {}".format(path).encode()
    with open(path, "wb") as f:
        f.write(plan)
    if engine is not None:
        device.plans[plan] = engine
    write_sidecar(path, meta, (built_on or device).fingerprint("fp16", "abc"), extra=extra)
    return path


def install(monkeypatch, version, gpu, cc, total=4 * 2 ** 30, fast_fp16=True, fast_int8=True, more_gpus=()):
    """Fake ``tensorrt`` (``version``) and ``pycuda`` with GPU 0 ``gpu`` (and ``more_gpus`` [(name, cc)]) in
    ``sys.modules``; the Device."""
    device = Device(version, gpu, cc)
    monkeypatch.setitem(sys.modules, "tensorrt", tensorrt_module(device, fast_fp16, fast_int8))
    for name, mod in pycuda_modules(gpu, cc, total, more_gpus, device.cuda_events).items():
        monkeypatch.setitem(sys.modules, name, mod)
    return device


class FixedDetector:
    """A face-detector double for the run loop: the same ``boxes`` (xyxy) and ``scores`` on every frame."""

    name = "fixed"
    class_names = ("face",)

    def __init__(self, boxes, scores):
        self.boxes, self.scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)

    def detect(self, image):
        from edge.detectors.base import Detections

        return Detections(self.boxes.copy(), self.scores.copy())

    def info(self):
        return {"detector": self.name}

    def close(self):
        pass
