"""Read what the engine builder needs from an ONNX file without the ``onnx`` package (the Jetson Nano's
JetPack 4.6 has none): ``metadata_props`` and the graph's op types, straight from the protobuf wire
format. Python 3.6 compatible, pure Python.

ONNX field numbers (onnx.proto): ModelProto.graph = 7, ModelProto.metadata_props = 14;
StringStringEntryProto.key = 1, .value = 2; GraphProto.node = 1, .initializer = 5, .input = 11;
NodeProto.op_type = 4; TensorProto.name = 8; ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1;
TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1; Dimension.dim_value = 1, .dim_param = 2.
"""
from typing import Dict, Iterator, List, Set, Tuple

from edge.errors import InputError

_MODEL_GRAPH, _MODEL_PROPS = 7, 14
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _NODE_OP_TYPE, _TENSOR_NAME = 1, 5, 11, 4, 8


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf: bytes) -> Iterator[Tuple[int, int, object]]:
    """(field number, wire type, value) of each top-level field of a protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type {}".format(wire))
        if pos > len(buf):
            raise ValueError("truncated field {}".format(number))
        yield number, wire, value


def read_onnx(path: str) -> Tuple[Dict[str, str], Set[str]]:
    """(metadata_props, op types in the main graph) of an ONNX file; a non-ONNX file is an InputError."""
    props, ops, _ = _parse(path)
    return props, ops


# TensorProto.DataType numbers → names (onnx.proto), for messages about an input's element type
ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
              10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def onnx_inputs(path: str) -> List[Tuple[str, Tuple[int, ...]]]:
    """[(name, shape)] of the main graph's inputs (initializers excluded), -1 for a symbolic or unknown
    dimension, as TensorRT's ONNX parser reports them."""
    return [(name, shape) for name, shape, _ in _parse(path)[2]]


def onnx_input_types(path: str) -> Dict[str, str]:
    """{input name: element type} ("float32", "int64", ...; "unknown" where the file does not say)."""
    return {name: ELEM_TYPES.get(t, "unknown") for name, _, t in _parse(path)[2]}


def check_float_inputs(path: str) -> None:
    """InputError unless every input is float32 or float16 (what edge feeds); a file that does not parse is
    left to the caller's parser to name."""
    try:
        types = onnx_input_types(path)
    except InputError:
        return
    for name, elem in types.items():
        if elem not in ("float32", "float16", "unknown"):
            raise InputError("'{}': expected a float32 input, found {} (input '{}'; float16 is accepted too)".format(
                path, elem, name))


def _value_shape(value_info: bytes) -> Tuple[str, Tuple[int, ...], int]:
    name, dims, elem = "", [], 0  # type: Tuple[str, List[int], int]
    for n, w, v in fields(value_info):
        if n == 1 and w == 2:
            name = v.decode("utf-8")
        elif n == 2 and w == 2:
            tensor = [t for k, kw, t in fields(v) if k == 1 and kw == 2]
            elem = next((t for k, kw, t in fields(tensor[0]) if k == 1 and kw == 0), 0) if tensor else 0
            shapes = [s for k, kw, s in fields(tensor[0]) if k == 2 and kw == 2] if tensor else []
            for k, kw, dim in (fields(shapes[0]) if shapes else ()):
                if k == 1 and kw == 2:
                    values = [d for dk, dw, d in fields(dim) if dk == 1 and dw == 0]
                    dims.append(values[0] if values and values[0] > 0 else -1)
    return name, tuple(dims), elem


def _parse(path: str) -> Tuple[Dict[str, str], Set[str], List[Tuple[str, Tuple[int, ...], int]]]:
    try:
        with open(path, "rb") as f:
            buf = f.read()
        props = {}  # type: Dict[str, str]
        ops = set()  # type: Set[str]
        inputs, weights = [], set()  # type: List[Tuple[str, Tuple[int, ...], int]], Set[str]
        seen_graph = False
        for number, wire, value in fields(buf):
            if number == _MODEL_PROPS and wire == 2:
                entry = {n: v for n, w, v in fields(value) if w == 2}
                props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
            elif number == _MODEL_GRAPH and wire == 2:
                seen_graph = True
                for n, w, item in fields(value):
                    if n == _GRAPH_NODE and w == 2:
                        ops.update(v.decode("utf-8") for k, kw, v in fields(item) if k == _NODE_OP_TYPE and kw == 2)
                    elif n == _GRAPH_INPUT and w == 2:
                        inputs.append(_value_shape(item))
                    elif n == _GRAPH_INITIALIZER and w == 2:
                        weights.update(v.decode("utf-8") for k, kw, v in fields(item) if k == _TENSOR_NAME and kw == 2)
    except (ValueError, UnicodeDecodeError, IndexError, TypeError) as e:
        raise InputError("expected an ONNX model at '{}', found a file that does not parse as one ({})".format(
            path, e)) from None
    if not seen_graph:
        raise InputError("expected an ONNX model at '{}', found no graph in it".format(path))
    return props, ops, [i for i in inputs if i[0] not in weights]
