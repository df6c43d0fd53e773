"""`edge export DETECTOR.onnx --engine` for object detectors (issue 17): real Ultralytics exports
(tests/data/ultralytics) built against the TensorRT doubles of tests/fakes.py: FP16, the profile for the
model's input (static, or dynamic from ``yolo export dynamic=True``), the sidecar's ``"objects"`` record the
runtime reads, and TensorRT 8.2's limits (opset 13, no NMS inside the graph) named before any build."""
import json
import os
import shutil

import pytest

from edge.backends.tensorrt import onnx_model as tb
from edge.backends.tensorrt.onnx_props import OnnxGraph, onnx_graph
from edge.backends.tensorrt.sidecar import read_sidecar
from edge.errors import InputError
from edge.meta import OBJECTS_KEY

DATA = os.path.join(os.path.dirname(__file__), "data", "ultralytics")
NANO = ("8.2.1.8", "NVIDIA Tegra X1", "5.3")
ORIN = ("10.3.0.30", "Orin", "8.7")


def _copy(tmp_path, name="yolov8n", edit=None):
    """tests/data/ultralytics/<name>.onnx copied into tmp_path, through ``edit(onnx ModelProto)`` if given."""
    path = str(tmp_path / (name + ".onnx"))
    if edit is None:
        shutil.copy(os.path.join(DATA, name + ".onnx"), path)
        return path
    onnx = pytest.importorskip("onnx")
    model = onnx.load(os.path.join(DATA, name + ".onnx"))
    edit(model)
    onnx.save(model, path)
    return path


def _export(cli, onnx, tmp_path, *more):
    result = cli(["export", onnx, "--engine", "--timing-cache", str(tmp_path / "tc"), "--json"] + list(more))
    report = json.loads(result.output[result.output.index("{\n"):])["engine"] if result.exit_code == 0 else None
    return result, report


@pytest.mark.parametrize("name", ["yolov8n", "yolo11n"])
def test_ultralytics_export_builds_fp16_at_its_static_input(tmp_path, cli, device, name):
    """A plain `yolo export format=onnx opset=13 imgsz=320` (input images [1, 3, 320, 320]) on a Nano: FP16,
    the profile fixed at its input, and the sidecar's record: COCO names, input size, layout, stride."""
    pytest.importorskip("onnx")  # the fake parser reads the ONNX with it
    calls = device(*NANO).calls
    result, report = _export(cli, _copy(tmp_path, name), tmp_path)
    assert result.exit_code == 0, result.output
    assert report["kind"] == "detector" and report["fingerprint"]["precision"] == "fp16"
    assert ("flag", "FP16") in calls and report["api"] == "legacy"
    assert [c for c in calls if c[0] == "profile"] == [("profile", "images") + ((1, 3, 320, 320),) * 3]
    meta, _, side = read_sidecar(report["engine"])
    objects = side[OBJECTS_KEY]
    assert objects["labels"][:3] == ["person", "bicycle", "car"] and len(objects["labels"]) == 80
    assert objects["input_size"] == [320, 320] and objects["layout"] == "v8" and objects["stride"] == 32
    assert meta.labels == tuple(objects["labels"]) and meta.input_size == (320, 320)
    assert (meta.mean, meta.std) == ((0.0,) * 3, (1.0,) * 3)  # Ultralytics feeds pixel / 255
    assert "detector" not in side  # no BlazeFace record


def test_the_runtime_reads_the_sidecar_record(tmp_path, cli, device):
    """What the engine's sidecar carries is what TensorRTBackend hands the YOLO detector (runtime.detector_record)."""
    pytest.importorskip("onnx")
    from edge.backends.tensorrt.runtime import detector_record

    device(*ORIN)
    result, report = _export(cli, _copy(tmp_path, "yolo11n"), tmp_path)
    assert result.exit_code == 0, result.output
    record, objects = detector_record(read_sidecar(report["engine"])[2], report["engine"])
    assert record is None and objects.labels[0] == "person" and objects.input_size == (320, 320)
    assert objects.provenance["version"] == json.load(open(os.path.join(DATA, "yolo11n.json")))["ultralytics"]


def _dynamic(model):
    """As `yolo export dynamic=True` writes the input: ["batch", 3, "height", "width"]."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for i, name in ((0, "batch"), (2, "height"), (3, "width")):
        dims[i].dim_param = name


@pytest.mark.parametrize("more,shapes", [
    ([], ((1, 3, 32, 32), (1, 3, 320, 320), (1, 3, 320, 320))),  # one frame per call, tuned and capped at imgsz
    (["--max-input", "640x640"], ((1, 3, 32, 32), (1, 3, 320, 320), (1, 3, 640, 640))),
    (["--opt-input", "480x640", "--max-batch", "2"], ((1, 3, 32, 32), (1, 3, 480, 640), (2, 3, 480, 640))),
])
def test_dynamic_ultralytics_export_gets_a_profile_at_its_imgsz(tmp_path, cli, device, more, shapes):
    calls = device(*NANO).calls
    result, report = _export(cli, _copy(tmp_path, edit=_dynamic), tmp_path, *more)
    assert result.exit_code == 0, result.output
    assert [c for c in calls if c[0] == "profile"] == [("profile", "images") + shapes]
    assert read_sidecar(report["engine"])[2][OBJECTS_KEY]["input_size"] == [320, 320]


def test_dynamic_profile_sizes_are_multiples_of_the_stride(tmp_path, cli, device):
    calls = device(*NANO).calls
    result, _ = _export(cli, _copy(tmp_path, edit=_dynamic), tmp_path, "--max-input", "650x650")
    assert result.exit_code == 2 and "multiples of 32" in result.output
    assert "build_engine" not in [c[0] for c in calls]


def _opset(version):
    def edit(model):
        for entry in model.opset_import:
            if entry.domain in ("", "ai.onnx"):
                entry.version = version
    return edit


def test_opset_above_13_is_refused_on_tensorrt_8_2_before_any_build(tmp_path, cli, device):
    """Ultralytics' default opset is newer than TensorRT 8.2 parses: one line naming the re-export, exit 3."""
    calls = device(*NANO).calls
    onnx = _copy(tmp_path, edit=_opset(17))
    assert onnx_graph(onnx).opset == 17
    result, _ = _export(cli, onnx, tmp_path)
    assert result.exit_code == 3, result.output
    assert "has ONNX opset 17; TensorRT 8.2.1.8 parses opset 13 at most" in result.output
    assert "`yolo export format=onnx opset=13`" in result.output
    assert not [c for c in calls if c[0] in ("parse", "build_engine")]


def test_opset_17_builds_on_a_newer_tensorrt(tmp_path, cli, device):
    device(*ORIN)
    result, report = _export(cli, _copy(tmp_path, edit=_opset(17)), tmp_path)
    assert result.exit_code == 0, result.output
    assert report["api"] == "v10"


@pytest.mark.parametrize("name", ["yolov8n-nms", "yolo11n-nms"])
def test_nms_inside_the_graph_is_refused_on_tensorrt_8_2(tmp_path, cli, device, name):
    """`yolo export nms=True` (NonMaxSuppression inside, output [1, 300, 6]): 'export without nms=True'."""
    calls = device(*NANO).calls
    result, _ = _export(cli, _copy(tmp_path, name), tmp_path)
    assert result.exit_code == 3, result.output
    assert "has NMS inside the graph (NonMaxSuppression)" in result.output
    assert "export without nms=True" in result.output
    assert not [c for c in calls if c[0] in ("parse", "build_engine")]


def test_nms_export_builds_on_a_newer_tensorrt_as_end_to_end(tmp_path, cli, device):
    pytest.importorskip("onnx")
    device(*ORIN)
    result, report = _export(cli, _copy(tmp_path, "yolov8n-nms"), tmp_path)
    assert result.exit_code == 0, result.output
    assert read_sidecar(report["engine"])[2][OBJECTS_KEY]["layout"] == "end2end"


def _graph(ops=(), opset=13, dynamic_topk=0):
    return OnnxGraph({}, set(ops), [], [], opset, dynamic_topk)


@pytest.mark.parametrize("version,graph,message", [
    ("8.2.1.8", _graph(opset=13), None),
    ("8.2.1.8", _graph(opset=14), "has ONNX opset 14"),
    ("8.0.1.6", _graph(opset=17), "has ONNX opset 17"),  # JetPack 4.6.0
    ("8.5.2.2", _graph(opset=17), None),  # JetPack 5.1: its own parser's limits
    ("8.2.1.8", _graph(["Conv", "EfficientNMS_TRT"]), r"NMS inside the graph \(EfficientNMS_TRT\)"),
    ("8.2.1.8", _graph(["TopK"], dynamic_topk=1), r"NMS inside the graph \(TopK with a computed K\)"),
    ("8.2.1.8", _graph(["TopK"]), None),  # a constant K builds
    ("10.3.0.30", _graph(["NonMaxSuppression"], dynamic_topk=1), None),
])
def test_check_limits(version, graph, message):
    if message is None:
        tb.check_limits(graph, version, "m.onnx")
        return
    with pytest.raises(InputError, match=message):
        tb.check_limits(graph, version, "m.onnx")


def test_onnx_graph_counts_topk_whose_k_is_computed(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    k = helper.make_tensor("k", TensorProto.INT64, [1], [5])
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "one"], ["n"], axis=0),
             helper.make_node("TopK", ["x", "n"], ["v1", "i1"]),  # K from the input's shape: dynamic
             helper.make_node("TopK", ["x", "k"], ["v2", "i2"]),  # K an initializer
             helper.make_node("Constant", [], ["c"], value=k), helper.make_node("TopK", ["x", "c"], ["v3", "i3"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info(v, TensorProto.FLOAT, None) for v in ("v1", "v2", "v3")],
                              [k, helper.make_tensor("one", TensorProto.INT64, [1], [1])])
    path = str(tmp_path / "topk.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    g = onnx_graph(path)
    assert g.dynamic_topk == 1 and g.opset == 13 and "TopK" in g.ops
    assert [name for name, _, _ in g.outputs] == ["v1", "v2", "v3"]


def _no_metadata(model):
    del model.metadata_props[:]


def test_detector_without_metadata_takes_labels(tmp_path, cli, device):
    """An ONNX with no metadata and a rank-3 output is a detector: --labels names its classes (the input size
    comes from its static input); without them one line asks for them."""
    device(*NANO)
    onnx = _copy(tmp_path, edit=_no_metadata)
    result, _ = _export(cli, onnx, tmp_path)
    assert result.exit_code == 3, result.output
    assert "is an object detector without Ultralytics metadata (names, imgsz): give --labels a,b,c" in result.output
    assert "--input-size" not in result.output  # its input is static: 320x320
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join("c{}".format(i) for i in range(80)))
    result, report = _export(cli, onnx, tmp_path, "--labels", str(labels))
    assert result.exit_code == 0, result.output
    objects = read_sidecar(report["engine"])[2][OBJECTS_KEY]
    assert objects["labels"][:2] == ["c0", "c1"] and objects["input_size"] == [320, 320]


def test_dynamic_detector_without_metadata_takes_an_input_size(tmp_path, cli, device):
    calls = device(*NANO).calls

    def edit(model):
        _no_metadata(model)
        _dynamic(model)

    onnx, labels = _copy(tmp_path, edit=edit), ",".join("c{}".format(i) for i in range(80))
    result, _ = _export(cli, onnx, tmp_path, "--labels", labels)
    assert result.exit_code == 3 and "(names, imgsz): give --input-size HxW" in result.output, result.output
    result, report = _export(cli, onnx, tmp_path, "--labels", labels, "--input-size", "256x416")
    assert result.exit_code == 0, result.output
    assert [c for c in calls if c[0] == "profile"] == [("profile", "images", (1, 3, 32, 32), (1, 3, 256, 416),
                                                        (1, 3, 256, 416))]


def test_input_size_that_contradicts_a_static_input_is_refused(tmp_path, cli, device):
    calls = device(*NANO).calls
    result, _ = _export(cli, _copy(tmp_path), tmp_path, "--input-size", "640x640")
    assert result.exit_code == 3 and "its metadata gives input size 640x640" in result.output, result.output
    assert "build_engine" not in [c[0] for c in calls]


def test_detector_engine_refuses_int8_calibration(tmp_path, cli, device, face_crops):
    import cv2

    device(*ORIN)
    calib = tmp_path / "calib"
    calib.mkdir()
    cv2.imwrite(str(calib / "0.png"), face_crops[0])
    result, _ = _export(cli, _copy(tmp_path), tmp_path, "--int8", "--calib", str(calib))
    assert result.exit_code == 2 and "is a detector: INT8 calibration" in result.output, result.output


def test_engine_model_still_tells_a_classifier_without_metadata():
    """A classifier's rank-2 output and no metadata: not an object detector (its --labels/--input-size apply)."""
    graph = OnnxGraph({}, {"Gemm"}, [("input", (-1, 3, 64, 64), 1)], [("logits", (-1, 2), 1)], 13, 0)
    assert tb.engine_objects(graph, "m.onnx") is None
    ultralytics = graph._replace(props={"names": "{0: 'a'}", "imgsz": "[64, 64]", "task": "detect"})
    assert tb.engine_objects(ultralytics, "m.onnx").labels == ("a",)
