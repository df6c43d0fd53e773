"""Read what the engine builder needs from an ONNX file without the ``onnx`` package (the Jetson Nano's
JetPack 4.6 has none): ``metadata_props`` and the graph's op types, straight from the protobuf wire
format. Python 3.6 compatible, pure Python.

ONNX field numbers (onnx.proto): ModelProto.graph = 7, .opset_import = 8, .metadata_props = 14;
OperatorSetIdProto.domain = 1, .version = 2; StringStringEntryProto.key = 1, .value = 2; GraphProto.node = 1,
.initializer = 5, .input = 11, .output = 12; NodeProto.input = 1, .output = 2, .op_type = 4; TensorProto.name = 8;
ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1;
Dimension.dim_value = 1, .dim_param = 2.
"""
from collections import namedtuple
from typing import Dict, Iterator, List, Set, Tuple

from edge.errors import InputError

_MODEL_GRAPH, _MODEL_OPSET, _MODEL_PROPS = 7, 8, 14
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 5, 11, 12
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _TENSOR_NAME = 1, 2, 4, 8

# what the engine builder checks before TensorRT parses: ``props`` (metadata_props), ``ops`` (op types of the
# main graph), ``inputs``/``outputs`` [(name, shape, element type number)], ``opset`` (the default domain's,
# 0 when the file names none) and ``dynamic_topk`` (TopK nodes whose K is computed in the graph, not a constant)
OnnxGraph = namedtuple("OnnxGraph", "props ops inputs outputs opset dynamic_topk")


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
    graph = onnx_graph(path)
    return graph.props, graph.ops


# TensorProto.DataType numbers → names (onnx.proto), for messages about an input's element type
ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
              10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def onnx_inputs(path: str) -> List[Tuple[str, Tuple[int, ...]]]:
    """[(name, shape)] of the main graph's inputs (initializers excluded), -1 for a symbolic or unknown
    dimension, as TensorRT's ONNX parser reports them."""
    return [(name, shape) for name, shape, _ in onnx_graph(path).inputs]


def onnx_input_types(path: str) -> Dict[str, str]:
    """{input name: element type} ("float32", "int64", ...; "unknown" where the file does not say)."""
    return {name: ELEM_TYPES.get(t, "unknown") for name, _, t in onnx_graph(path).inputs}


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


def _opset(entry: bytes) -> Tuple[str, int]:
    domain, version = "", 0
    for n, w, v in fields(entry):
        if n == 1 and w == 2:
            domain = v.decode("utf-8")
        elif n == 2 and w == 0:
            version = v
    return domain, version


def onnx_graph(path: str) -> OnnxGraph:
    """The facts ``OnnxGraph`` names, of an ONNX file; a non-ONNX file is an InputError."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
        props = {}  # type: Dict[str, str]
        ops = set()  # type: Set[str]
        inputs, outputs, weights = [], [], set()  # type: List[Tuple[str, Tuple[int, ...], int]], List, Set[str]
        constants, topk_k, opset = set(), [], 0  # type: Set[str], List[str], int
        seen_graph = False
        for number, wire, value in fields(buf):
            if number == _MODEL_PROPS and wire == 2:
                entry = {n: v for n, w, v in fields(value) if w == 2}
                props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
            elif number == _MODEL_OPSET and wire == 2:
                domain, version = _opset(value)
                if domain in ("", "ai.onnx"):
                    opset = max(opset, version)
            elif number == _MODEL_GRAPH and wire == 2:
                seen_graph = True
                for n, w, item in fields(value):
                    if n == _GRAPH_NODE and w == 2:
                        node = [(k, v) for k, kw, v in fields(item) if kw == 2]
                        op = next((v.decode("utf-8") for k, v in node if k == _NODE_OP_TYPE), "")
                        ops.add(op)
                        if op == "Constant":
                            constants.update(v.decode("utf-8") for k, v in node if k == _NODE_OUTPUT)
                        elif op == "TopK":
                            topk_k.extend([v.decode("utf-8") for k, v in node if k == _NODE_INPUT][1:2])
                    elif n == _GRAPH_INPUT and w == 2:
                        inputs.append(_value_shape(item))
                    elif n == _GRAPH_OUTPUT and w == 2:
                        outputs.append(_value_shape(item))
                    elif n == _GRAPH_INITIALIZER and w == 2:
                        weights.update(v.decode("utf-8") for k, kw, v in fields(item) if k == _TENSOR_NAME and kw == 2)
    except (ValueError, UnicodeDecodeError, IndexError, TypeError) as e:
        raise InputError("expected an ONNX model at '{}', found a file that does not parse as one ({})".format(
            path, e)) from None
    if not seen_graph:
        raise InputError("expected an ONNX model at '{}', found no graph in it".format(path))
    dynamic_topk = sum(1 for k in topk_k if k not in weights and k not in constants)
    return OnnxGraph(props, ops, [i for i in inputs if i[0] not in weights], outputs, opset, dynamic_topk)
