"""What an ONNX model costs, for ``edge profile MODEL.onnx``: parameters (total, zero) counted from the graph's
initializers, size on disk and in memory, CPU latency with ONNX Runtime. No ``onnx`` package (JetPack has
none): the initializers are read from the protobuf wire format (edge.backends.tensorrt.onnx_props.fields).
FLOPs are not counted (they need shape inference): "n/a".

TensorProto field numbers (onnx.proto): dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7,
raw_data 9, double_data 10, uint64_data 11, data_location 14 (1 = external file); GraphProto.initializer 5.
"""
import os
from typing import Dict, Optional, Sequence

import numpy as np

from edge.backends.tensorrt.onnx_props import _varint, fields
from edge.errors import InputError
from edge.timing import summarize, time_calls

MB = float(1 << 20)
_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_DIMS, _TYPE, _FLOATS, _INT32S, _INT64S, _RAW, _DOUBLES, _UINT64S, _LOCATION = 1, 2, 4, 5, 7, 9, 10, 11, 14
# data_type → (numpy dtype of raw_data, bytes per element); float16/bfloat16 compared as bits without the sign
DTYPES = {1: ("<f4", 4), 2: ("u1", 1), 3: ("i1", 1), 4: ("<u2", 2), 5: ("<i2", 2), 6: ("<i4", 4), 7: ("<i8", 8),
          9: ("u1", 1), 10: ("<u2", 2), 11: ("<f8", 8), 12: ("<u4", 4), 13: ("<u8", 8), 16: ("<u2", 2)}
_HALF = (10, 16)


def _zero_varints(buf: bytes) -> int:
    """How many of the varints packed in ``buf`` are 0 (a 0 is the one byte 0x00 that starts a varint)."""
    b = np.frombuffer(buf, np.uint8)
    if not len(b):
        return 0
    starts = np.concatenate([[True], (b[:-1] & 0x80) == 0])
    return int(np.count_nonzero(starts & (b == 0)))


def tensor_stats(buf: bytes) -> Dict[str, Optional[int]]:
    """{"total": elements, "zero": zero elements (None for external data), "bytes": in memory} of a
    serialized TensorProto."""
    dims, dtype, location, zero, data = [], 1, 0, 0, []
    for number, wire, value in fields(buf):
        if number == _DIMS:
            dims += [int(v) for v in _packed_ints(wire, value)]
        elif number == _TYPE:
            dtype = int(value)
        elif number == _LOCATION:
            location = int(value)
        elif number in (_RAW, _FLOATS, _DOUBLES, _INT32S, _INT64S, _UINT64S):
            data.append((number, wire, value))
    for number, wire, value in data:  # after the loop: data_type may come after the data
        if number == _RAW:
            zero += _zero_raw(value, dtype)
        elif number in (_FLOATS, _DOUBLES):
            values = np.frombuffer(value, "<f4" if number == _FLOATS else "<f8")  # packed or one: same bytes
            zero += int(np.count_nonzero(values == 0))
        elif dtype in _HALF:  # float16 / bfloat16 bits in int32_data
            zero += sum(1 for v in _packed_ints(wire, value) if not v & 0x7FFF)
        else:
            zero += _zero_varints(value) if wire == 2 else int(value == 0)
    total = int(np.prod(dims)) if dims else 1
    size = DTYPES.get(dtype, ("", 4))[1]
    return {"total": total, "zero": None if location == 1 else zero, "bytes": total * size}


def _packed_ints(wire: int, value):
    """The int64 values of a repeated field: one varint (wire 0) or a packed run (wire 2)."""
    if wire == 0:
        return [value]
    out, pos = [], 0
    while pos < len(value):
        n, pos = _varint(value, pos)
        out.append(n)
    return out


def _zero_raw(raw: bytes, dtype: int) -> int:
    fmt = DTYPES.get(dtype, ("u1", 1))[0]
    data = np.frombuffer(raw, fmt)
    if dtype in _HALF:
        data = data & 0x7FFF
    return int(np.count_nonzero(data == 0))


def count_initializers(path: str) -> Dict[str, Optional[int]]:
    """{"total", "zero", "nonzero", "bytes"} over the main graph's initializers (zero: None when a tensor is
    stored in an external file); InputError for a file that is not ONNX."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
        stats = [tensor_stats(init) for number, _, graph in fields(buf) if number == _MODEL_GRAPH
                 for n, _, init in fields(graph) if n == _GRAPH_INITIALIZER]
    except (ValueError, IndexError, TypeError):
        raise InputError("expected an ONNX model, found a file that does not parse as one: '{}'".format(path)) \
            from None
    total = sum(s["total"] for s in stats)
    zero = None if any(s["zero"] is None for s in stats) else sum(s["zero"] for s in stats)
    return {"total": total, "zero": zero, "nonzero": None if zero is None else total - zero,
            "bytes": sum(s["bytes"] for s in stats)}


def profile_onnx(path: str, batch_sizes: Sequence[int] = (1, 8), warmup: int = 10, runs: int = 50,
                 threads: int = 0) -> Dict:
    """What ``edge profile`` reports for an ONNX classifier, in the shape of models.profile.profile_model's
    report (``flops`` None: not counted)."""
    import onnxruntime

    from edge.backends import load_backend
    from edge.bench.latency import make_inputs

    counts = count_initializers(path)
    backend = load_backend(path, "onnxruntime:cpu", options={"threads": threads} if threads else {})
    try:
        meta = backend.meta
        shape = [meta.channels] + list(meta.input_size)
        sizes = [b for b in batch_sizes if backend.static_batch in (None, b)] or [backend.static_batch]
        latency = {}
        for b in sizes:
            x = make_inputs(meta, b)
            latency[str(b)] = summarize(time_calls(lambda: backend.infer(x), warmup=warmup, runs=runs))
    finally:
        backend.close()
    return {
        "model": path, "variant": meta.variant, "arch": meta.arch, "arch_args": meta.arch_args,
        "input_shape": [1] + shape,
        "parameters": {k: counts[k] for k in ("total", "zero", "nonzero")},
        "flops": None,
        "size_mb": {"disk": os.path.getsize(path) / MB, "memory": counts["bytes"] / MB},
        "latency_ms": latency,
        "runtime": "ONNX Runtime {} (CPU)".format(onnxruntime.__version__),
        "threads": threads or "default",
    }
