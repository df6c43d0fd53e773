"""`edge profile MODEL.onnx`: parameters from the initializers (no onnx package), size, ONNX Runtime latency."""
import json

import numpy as np
import pytest

from edge.bench.onnx_profile import count_initializers
from edge.zoo import MASK_MODEL

pytest.importorskip("onnxruntime")


def _reference(path):
    """What the onnx package counts: (total, zero, bytes) over the initializers."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    arrays = [numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer]
    return sum(a.size for a in arrays), sum(int(np.count_nonzero(a == 0)) for a in arrays), \
        sum(a.nbytes for a in arrays)


@pytest.mark.parametrize("path", [MASK_MODEL, "edge/zoo/blazeface/face_detection_short_range.onnx"])
def test_counts_equal_the_onnx_package(path):
    c = count_initializers(path)
    assert (c["total"], c["zero"], c["bytes"]) == _reference(path)
    assert c["nonzero"] == c["total"] - c["zero"] and c["total"] > 1000


def test_every_way_a_tensor_stores_its_data(tmp_path):
    """raw_data, packed float_data / int64_data / int32_data (float16), doubles, a scalar."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    tensors = [
        helper.make_tensor("raw", TensorProto.FLOAT, [2, 3], np.array([0, 1, 2, 0, 0, 5], np.float32).tobytes(),
                           raw=True),
        helper.make_tensor("floats", TensorProto.FLOAT, [4], [0.0, 1.5, 0.0, -2.0]),
        helper.make_tensor("int64s", TensorProto.INT64, [5], [0, 300, 0, -1, 7]),
        helper.make_tensor("halves", TensorProto.FLOAT16, [3], np.array([0, 1, -0.0], np.float16)),
        helper.make_tensor("doubles", TensorProto.DOUBLE, [2], [0.0, 3.0]),
        helper.make_tensor("scalar", TensorProto.INT32, [], [0]),
    ]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], initializer=tensors)
    path = str(tmp_path / "m.onnx")
    onnx.save(helper.make_model(graph), path)
    c = count_initializers(path)
    assert (c["total"], c["zero"], c["bytes"]) == _reference(path) == (21, 11, 24 + 16 + 40 + 6 + 16 + 4)


def test_not_onnx_is_one_input_error(tmp_path):
    from edge.errors import InputError

    p = tmp_path / "x.onnx"
    p.write_bytes(b"\xff" * 64)
    with pytest.raises(InputError, match="expected an ONNX model"):
        count_initializers(str(p))


def test_cli_profile_onnx(cli):
    r = cli(["profile", MASK_MODEL, "--json", "--runs", "3", "--warmup", "0", "--batch", "1", "--batch", "2"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    c = count_initializers(MASK_MODEL)  # equal to the onnx package's count (above), which the device lacks
    total, zero, nbytes = c["total"], c["zero"], c["bytes"]
    assert report["parameters"] == {"total": total, "zero": zero, "nonzero": total - zero}
    assert report["flops"] is None and report["input_shape"] == [1, 3, 128, 128]
    assert set(report["latency_ms"]) == {"1", "2"} and report["latency_ms"]["2"]["n"] == 3
    assert report["size_mb"]["memory"] == nbytes / 2 ** 20 and report["size_mb"]["disk"] > report["size_mb"]["memory"]
    assert report["runtime"].startswith("ONNX Runtime")
    r = cli(["profile", MASK_MODEL, "--runs", "2", "--warmup", "0", "--batch", "1"])
    assert r.exit_code == 0 and "n/a" in r.output and "{:,}".format(total) in r.output, r.output
