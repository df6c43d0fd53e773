"""Build a TensorRT engine from an ONNX file, ON the device (Jetson Nano: Python 3.6, TensorRT 8.2).

Every decision is a pure function (tested without a GPU): API generation by TensorRT version,
precision, optimization profile (``edge.backends.tensorrt.profile``), workspace size, cache paths, engine naming,
stale-engine action.
Only ``build_engine`` and the calibrator touch tensorrt/pycuda, following NVIDIA's samples:

* TensorRT 8.2 (JetPack 4.6): ``config.max_workspace_size``, ``builder.build_engine`` → ``serialize()``,
  ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH``.
* TensorRT 8.5 – 10.x: ``config.set_memory_pool_limit(MemoryPoolType.WORKSPACE, n)``,
  ``builder.build_serialized_network``; from 10.0 every network is explicit-batch (flag 0).

A detector ONNX (an ``edge.detector`` record, no classifier ``edge.meta``) builds the same way: its
sidecar carries the record (``"detector"``) beside the ModelMeta that feeds it, and its batch
profile is tuned for one frame plus its 3x2 tiles (opt 7, max 16). A detector whose input height
and width are dynamic (``["N", 3, "H", "W"]``: one pass over the whole resized frame, then square
second-pass crops) gets a profile over height and width too (``spatial_profile``).

An object detector ONNX (an Ultralytics export: ``metadata_props`` ``names``, ``imgsz``, ``stride``, ``task``;
or none, its outputs rank 3) builds FP16 by default, one frame per call at its input size; its sidecar carries
its ObjectDetectorMeta (``"objects"``). What an ONNX is, and TensorRT 8.0–8.2's limits (named before any
build): ``edge.backends.tensorrt.onnx_model``.

This module must stay Python-3.6 compatible (checked by ``vermin`` in CI).
"""
import os
import re
import time
from collections import namedtuple
from typing import Dict, List, Mapping, Optional, Tuple

from edge.backends.tensorrt.sidecar import (build_fingerprint, check_engine, fingerprint_mismatches, read_sidecar,
                                            write_sidecar)
from edge.errors import EdgeError, HardwareError, InputError, UsageError, require, require_tensorrt
from edge.files import sha256_file, write_atomic
from edge.meta import DETECTOR_KEY, OBJECTS_KEY, ONNX_KEY, ModelMeta, ObjectDetectorMeta, detector_model_meta
from edge.backends.tensorrt.onnx_model import check_limits
from edge.backends.tensorrt.profile import engine_plan, hw_text

MiB = 1 << 20
GiB = 1 << 30
PRECISIONS = ("fp32", "fp16", "int8")
LOG_LEVELS = ("error", "warning", "info", "verbose")

ApiPlan = namedtuple("ApiPlan", "generation workspace build explicit_batch_flag")
Precision = namedtuple("Precision", "name fp16 int8 calibrate notes")


# ---------------------------------------------------------------- pure decisions

def parse_version(text: str) -> Tuple[int, int, int]:
    """'8.2.1.8' → (8, 2, 1); a string without a version is an InputError."""
    m = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text))
    if not m:
        raise InputError("expected a TensorRT version like 8.2.1, found '{}'".format(text))
    return tuple(int(g or 0) for g in m.groups())


def api_plan(trt_version: str) -> ApiPlan:
    """Which builder API this TensorRT version takes.

    8.0–8.4 ("legacy"): ``max_workspace_size`` + ``build_engine`` (JetPack 4.6 ships 8.2.1);
    8.5–9.x ("pool"): ``set_memory_pool_limit`` + ``build_serialized_network`` with EXPLICIT_BATCH;
    10.x+ ("v10"): the same, networks are always explicit-batch (the flag is deprecated: pass 0).
    """
    major, minor, _ = parse_version(trt_version)
    if major < 8:
        raise UsageError("TensorRT {} is too old: edge builds engines with TensorRT 8.2 or newer "
                         "(JetPack 4.6+)".format(trt_version))
    if major == 8 and minor < 5:
        return ApiPlan("legacy", "max_workspace_size", "build_engine", True)
    if major < 10:
        return ApiPlan("pool", "set_memory_pool_limit", "build_serialized_network", True)
    return ApiPlan("v10", "set_memory_pool_limit", "build_serialized_network", False)


def choose_precision(requested: str, fast_fp16: bool, fast_int8: bool, onnx_is_qdq: bool = False,
                     has_calibration: bool = False, gpu: str = "this GPU") -> Precision:
    """The precision to build, and a note for every departure from what was asked (never silent).

    ``requested``: "auto" (FP16 where the GPU has fast FP16, else FP32), "fp32", "fp16" or "int8".
    A QDQ ONNX (explicit quantization) needs the INT8 flag and no calibrator; an FP32 ONNX built for
    INT8 needs calibration images (or a cache). INT8 on a GPU without fast INT8 (the Nano's Maxwell)
    falls back to FP16 (or FP32) and says so.
    """
    if requested not in ("auto",) + PRECISIONS:
        raise UsageError("expected precision auto/fp32/fp16/int8, found '{}'".format(requested))
    notes = []  # type: List[str]
    if onnx_is_qdq:
        if not fast_int8:
            raise UsageError("{} has no fast INT8, and this ONNX is INT8-quantized (QDQ); build the engine "
                             "from the FP32 ONNX instead (it gets FP16)".format(gpu))
        if requested in ("fp32", "fp16"):
            notes.append("the ONNX is INT8-quantized (QDQ): building INT8, not {}".format(requested.upper()))
        return Precision("int8", fast_fp16, True, False, notes)
    if requested == "int8":
        if fast_int8:
            if not has_calibration:
                raise UsageError("an INT8 engine from an FP32 ONNX needs calibration images: pass --calib DIR "
                                 "(or a QDQ ONNX from `edge quantize`)")
            return Precision("int8", fast_fp16, True, True, notes)
        fallback = "fp16" if fast_fp16 else "fp32"
        notes.append("{} has no fast INT8 (e.g. the Nano's Maxwell GPU): building {} instead of INT8".format(
            gpu, fallback.upper()))
        return Precision(fallback, fast_fp16, False, False, notes)
    if requested == "fp16" and not fast_fp16:
        notes.append("{} has no fast FP16: building FP32 instead".format(gpu))
        return Precision("fp32", False, False, False, notes)
    if requested == "auto":
        requested = "fp16" if fast_fp16 else "fp32"
    return Precision(requested, requested == "fp16", False, False, notes)


def engine_model(props: Mapping[str, str], source: str) -> Tuple[Optional[ModelMeta], Optional[str]]:
    """What an engine built from an ONNX with these ``metadata_props`` records in its sidecar:
    (the classifier's ModelMeta or None, None), or for a detector (``edge.detector`` and no
    ``edge.meta``) (the ModelMeta that feeds it, its detector record)."""
    if ONNX_KEY in props:
        return ModelMeta.from_onnx_props(props, source), None
    if DETECTOR_KEY in props:
        record = props[DETECTOR_KEY]
        return detector_model_meta(record, "'{}'".format(source)), record
    return None, None


def workspace_bytes(total_memory: Optional[int] = None, requested_mb: Optional[int] = None) -> int:
    """Builder workspace limit: ``requested_mb`` if given, else 1/16 of GPU memory within 128 MiB–1 GiB.

    The Nano's 4 GB is shared by CPU and GPU: 256 MiB leaves room for the OS, the camera pipeline and
    the build itself. Unknown memory → the Nano's budget.
    """
    if requested_mb is not None:
        if requested_mb < 16:
            raise UsageError("expected --workspace ≥ 16 (MiB), found {}".format(requested_mb))
        return int(requested_mb) * MiB
    if not total_memory:
        return 256 * MiB
    return int(min(GiB, max(128 * MiB, total_memory // 16)))


def slug(text: str) -> str:
    """'NVIDIA Tegra X1' → 'nvidia-tegra-x1' (file-name safe)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def engine_path(onnx_path: str, trt_version: str, gpu: str, compute_capability: str, precision: str,
                out_dir: Optional[str] = None) -> str:
    """``mask.onnx`` → ``mask.trt8.2.1.nvidia-tegra-x1-sm53.fp16.engine`` (beside the ONNX by default).

    One name per TensorRT version, GPU and precision, so engines for several devices can sit side
    by side and a stale one is never picked up by name alone.
    """
    stem = os.path.splitext(os.path.basename(onnx_path))[0]
    name = "{}.trt{}.{}-sm{}.{}.engine".format(
        stem, ".".join(str(v) for v in parse_version(trt_version)), slug(gpu),
        str(compute_capability).replace(".", ""), precision)
    return os.path.join(out_dir if out_dir is not None else os.path.dirname(os.path.abspath(onnx_path)), name)


def timing_cache_path(trt_version: str, gpu: str, compute_capability: str,
                      cache_dir: Optional[str] = None) -> str:
    """One timing cache per TensorRT version and GPU, shared by all models (``~/.cache/edge/tensorrt``)."""
    base = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "edge", "tensorrt")
    return os.path.join(base, "timing.trt{}.{}-sm{}.cache".format(
        ".".join(str(v) for v in parse_version(trt_version)), slug(gpu), str(compute_capability).replace(".", "")))


def calibration_cache_path(onnx_path: str, onnx_sha256: str, calib_sha: str) -> str:
    """Beside the ONNX, keyed by the ONNX and the calibration set: a different model or image set
    never reuses a stale cache."""
    stem = os.path.splitext(os.path.abspath(onnx_path))[0]
    return "{}.calib-{}-{}.cache".format(stem, onnx_sha256[:12], calib_sha[:12])


def engine_action(existing: Optional[Dict[str, str]], current: Dict[str, str], force: bool = False
                  ) -> Tuple[str, List[str]]:
    """("build" | "reuse" | "rebuild", reasons) for an engine path whose sidecar fingerprint is ``existing``."""
    if existing is None:
        return "build", []
    diffs = fingerprint_mismatches(existing, current)
    if diffs:
        return "rebuild", diffs
    if force:
        return "rebuild", ["--force"]
    return "reuse", []


# ---------------------------------------------------------------- TensorRT calls (GPU only)

def _logger(trt, level: str):
    sev = {"error": trt.Logger.ERROR, "warning": trt.Logger.WARNING, "info": trt.Logger.INFO,
           "verbose": trt.Logger.VERBOSE}
    if level not in sev:
        raise UsageError("expected --trt-log {}, found '{}'".format("/".join(LOG_LEVELS), level))
    return trt.Logger(sev[level])


def make_calibrator(trt, batches, batch_size: int, cache_path: str):
    """IInt8EntropyCalibrator2 pulling preprocessed float32 NCHW batches of ``batch_size`` from the
    iterable ``batches`` one at a time (a Nano has 4 GB for everything), caching the table to
    ``cache_path``; as in NVIDIA's samples (a pycuda device buffer, ``get_batch`` returns its pointer)."""
    import numpy as np
    cuda = require("pycuda.driver", "pycuda", "INT8 calibration")

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = iter(batches)
            self.device = None
            self.count = 0

        def get_batch_size(self):
            return batch_size

        def get_batch(self, names, p_str=None):
            batch = next(self.batches, None)
            if batch is None:
                return None
            batch = np.ascontiguousarray(batch, dtype=np.float32)
            if len(batch) != batch_size:
                raise ValueError("calibration batch of {} images, expected {}".format(len(batch), batch_size))
            if self.device is None:
                self.device = cuda.mem_alloc(batch.nbytes)
            cuda.memcpy_htod(self.device, batch)
            self.count += 1
            return [int(self.device)]

        def read_calibration_cache(self):
            if os.path.isfile(cache_path):
                with open(cache_path, "rb") as f:
                    return f.read()
            return None

        def write_calibration_cache(self, cache):
            write_atomic(cache_path, bytes(memoryview(cache)))

    return Calibrator()


def device_caps():
    """(tensorrt version, GPU name, compute capability, total memory bytes) of GPU 0."""
    trt = require_tensorrt()
    cuda = require("pycuda.driver", "pycuda", "TensorRT engines")
    try:
        cuda.init()
        dev = cuda.Device(0)
    except Exception as e:
        raise HardwareError("no CUDA GPU available for TensorRT ({})".format(str(e).splitlines()[0]))
    major, minor = dev.compute_capability()
    return trt.__version__, dev.name(), "{}.{}".format(major, minor), dev.total_memory()


def build_engine(onnx_path: str, meta, precision: str = "auto", calib_batches=None, out: Optional[str] = None,
                 opt_batch: Optional[int] = None, max_batch: Optional[int] = None, workspace_mb: Optional[int] = None,
                 timing_cache: Optional[str] = None, log_level: str = "warning", force: bool = False,
                 calib_sha: str = "", onnx_is_qdq: bool = False, calib_batch: int = 8, echo=print,
                 detector_record: Optional[str] = None, opt_input: Optional[Tuple[int, int]] = None,
                 max_input: Optional[Tuple[int, int]] = None, objects: Optional[ObjectDetectorMeta] = None) -> Dict:
    """ONNX → plain TensorRT plan + JSON sidecar; reuses a matching engine unless ``force``.

    ``calib_batches``: a callable taking a batch size and returning an iterable of float32 NCHW batches of
    that many images for INT8 calibration (only called when no calibration cache exists); the size is
    ``calib_batch``, or the ONNX's static batch where it has one. ``detector_record``:
    the ``edge.detector`` JSON of a detector ONNX, kept in the sidecar; ``objects``: an object detector's record
    (``engine_objects``), kept in the sidecar as ``"objects"``. ``opt_batch``/``max_batch``:
    the profile's batch (None: ``default_opt_batch``/``default_max_batch``); ``opt_input``/``max_input``:
    its (height, width) for a detector whose input height/width are dynamic (``spatial_profile``).
    The engine is reused when its sidecar fingerprint (``build_fingerprint``) matches; a rebuild names
    every key that changed. Returns a report dict.
    """
    from edge.backends.tensorrt.onnx_props import check_float_inputs, onnx_graph

    trt = require_tensorrt()
    require("pycuda.driver", "pycuda", "TensorRT engines")
    try:
        require("pycuda.autoinit", "pycuda", "TensorRT engines")  # a CUDA context for builder and calibrator
    except EdgeError:
        raise
    except Exception as e:  # pycuda raises its own error types when there is no usable GPU
        raise HardwareError("no CUDA GPU available for TensorRT ({})".format(str(e).splitlines()[0][:200]))
    version, gpu, cc, total = device_caps()
    plan = api_plan(version)
    try:  # the input as the ONNX declares it: the profile is decided (and a reuse too) before TensorRT parses
        graph = onnx_graph(onnx_path)
    except InputError:
        graph = None  # TensorRT's parser names what is wrong with it below
    if graph is not None:
        check_limits(graph, version, onnx_path)
    logger = _logger(trt, log_level)
    builder = trt.Builder(logger)
    choice = choose_precision(precision, bool(getattr(builder, "platform_has_fast_fp16", True)),
                              bool(getattr(builder, "platform_has_fast_int8", True)), onnx_is_qdq,
                              calib_batches is not None, gpu)
    for note in choice.notes:
        echo("note: " + note)
    onnx_sha = sha256_file(onnx_path)
    path = out or engine_path(onnx_path, version, gpu, cc, choice.name)
    ws = workspace_bytes(total, workspace_mb)

    def planned(name, in_shape):
        p = engine_plan(in_shape, meta, onnx_path, name, detector_record, opt_batch, max_batch, opt_input,
                        max_input, calib_batch if choice.calibrate else None, objects)
        return p, build_fingerprint(version, gpu, cc, choice.name, onnx_sha, p, ws, meta, calib_sha,
                                    objects.to_dict() if objects is not None else None)

    check_float_inputs(onnx_path)  # an int64 image input is one clear line, not a TensorRT build error
    inputs = [(name, shape) for name, shape, _ in graph.inputs] if graph is not None else []
    kind = "detector" if detector_record or objects is not None else "classifier"
    plan_, current = planned(*inputs[0]) if inputs else (None, None)
    stored = _stored_fingerprint(path)
    action, reasons = (engine_action(stored, current, force) if current is not None else
                       ("build", []) if stored is None else ("rebuild", ["its ONNX input is unreadable here"]))
    if action == "reuse":
        echo("engine {} is up to date (same TensorRT, GPU, precision, ONNX, profile, calibration, workspace and "
             "metadata): reusing it".format(path))
        return {"engine": path, "action": action, "fingerprint": current, "notes": choice.notes, "kind": kind}
    if action == "rebuild":
        echo("rebuilding {}: {}".format(path, "; ".join(reasons)))

    flags = (1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)) if plan.explicit_batch_flag else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, "rb") as f:
        if not parser.parse(f.read()):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise InputError("TensorRT {} cannot parse '{}': {}".format(version, onnx_path, "; ".join(errors)[:400]))
    config = builder.create_builder_config()
    if plan.workspace == "max_workspace_size":
        config.max_workspace_size = ws
    else:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, ws)
    if choice.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if choice.int8:
        config.set_flag(trt.BuilderFlag.INT8)

    inp = network.get_input(0)
    if plan_ is None or tuple(inp.shape) != tuple(inputs[0][1]):  # TensorRT's reading wins (and is fingerprinted)
        plan_, current = planned(inp.name, tuple(inp.shape))
    prof, shapes, frame = plan_.batch, plan_.shapes, plan_.frame
    profile = builder.create_optimization_profile()
    profile.set_shape(inp.name, *shapes)
    config.add_optimization_profile(profile)

    cache_file = None
    if choice.calibrate:
        cal_shape = plan_.calibration_shape
        if cal_shape[0] != calib_batch:
            echo("note: calibrating in batches of {} (the ONNX's static batch), not {}".format(cal_shape[0],
                                                                                              calib_batch))
        cache_file = calibration_cache_path(onnx_path, onnx_sha, calib_sha or "nodata")
        batches = iter(()) if os.path.isfile(cache_file) else calib_batches(cal_shape[0])
        config.int8_calibrator = make_calibrator(trt, batches, cal_shape[0], cache_file)
        cal_profile = builder.create_optimization_profile()
        cal_profile.set_shape(inp.name, cal_shape, cal_shape, cal_shape)
        config.set_calibration_profile(cal_profile)

    tc_path = timing_cache or timing_cache_path(version, gpu, cc)
    cache_bytes = b""
    if os.path.isfile(tc_path):
        with open(tc_path, "rb") as f:
            cache_bytes = f.read()
    tcache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(tcache, False)

    echo("building {} engine with TensorRT {} on {} (sm {}), batch {}/{}/{}{}, workspace {} MiB — this takes "
         "minutes on a Jetson Nano".format(choice.name.upper(), version, gpu, cc, prof.min, prof.opt, prof.max,
                                           ", input {}/{}/{}".format(*(hw_text(sh[2:]) for sh in shapes)) if frame
                                           else "", ws // MiB))
    t0 = time.time()
    if plan.build == "build_engine":
        engine = builder.build_engine(network, config)
        blob = engine.serialize() if engine is not None else None
    else:
        blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise EdgeError("TensorRT could not build the engine (see its log above; --trt-log verbose for more)")
    seconds = time.time() - t0
    write_atomic(path, bytes(memoryview(blob)))
    write_atomic(tc_path, bytes(memoryview(config.get_timing_cache().serialize())))
    input_shapes = {k: list(v) for k, v in zip(("min", "opt", "max"), shapes)}
    extra = {"build": {"profile": list(prof), "input_shapes": input_shapes, "workspace_mib": ws // MiB,
                       "api": plan.generation, "seconds": round(seconds, 1), "calibration_cache": cache_file,
                       "notes": choice.notes}}
    if detector_record:
        extra["detector"] = detector_record
    if objects is not None:
        extra[OBJECTS_KEY] = objects.to_dict()
    write_sidecar(path, meta, current, extra=extra)
    return {"engine": path, "action": action, "fingerprint": current, "notes": choice.notes,
            "profile": list(prof), "input_shapes": input_shapes, "seconds": seconds, "size": os.path.getsize(path),
            "timing_cache": tc_path, "calibration_cache": cache_file, "api": plan.generation, "kind": kind}


def _stored_fingerprint(path: str) -> Optional[Dict[str, str]]:
    """The fingerprint in an existing engine's sidecar (None: no engine; {}: an unreadable sidecar)."""
    if not os.path.exists(path):
        return None
    try:
        return read_sidecar(path)[1]
    except InputError:
        return {}


def check_existing(engine: str, current: Dict[str, str]) -> None:
    """Refuse an engine whose sidecar fingerprint does not match ``current`` (one line)."""
    _, stored, _ = read_sidecar(engine)
    check_engine(engine, stored, current)
