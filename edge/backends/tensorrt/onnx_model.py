"""What an ONNX file is to the engine builder, from its metadata and graph (``onnx_props``; no ``onnx`` package):
an object detector (Ultralytics' ``metadata_props``, or none and rank-3 outputs: ``engine_objects``; a
classifier's and an SSD face detector's records: ``build.engine_model``), and whether TensorRT
can build it: TensorRT 8.0–8.2 (JetPack 4.6) parse ONNX opset 13 at most and no NMS inside the graph
(``check_limits``, said before any build). Python 3.6 compatible.
"""
from typing import Mapping, Optional

from edge.errors import InputError
from edge.meta import DETECTOR_KEY, ONNX_KEY, ObjectDetectorMeta


ULTRALYTICS_KEYS = ("names", "imgsz", "stride", "task")
LIMITED_UNTIL = (8, 2)  # TensorRT 8.0–8.2 (JetPack 4.6): the limits below; newer parsers name their own
MAX_OPSET = 13  # the newest ONNX opset TensorRT 8.2's parser reads fully
NMS_OPS = ("NonMaxSuppression", "EfficientNMS_TRT")


def engine_objects(graph, source: str, overrides: Optional[Mapping] = None) -> Optional[ObjectDetectorMeta]:
    """The record of an object detector ONNX (``graph``: its onnx_props.OnnxGraph): one without edge's own
    records that has Ultralytics' metadata, or none and a detector's rank-3 outputs; else None (a classifier,
    an SSD face detector). ``overrides``: --labels/--input-size (MetaOverrides) for a model without metadata."""
    from edge.meta import object_detector_meta

    props = graph.props
    if ONNX_KEY in props or DETECTOR_KEY in props:
        return None
    if not (set(ULTRALYTICS_KEYS) & set(props) or any(len(shape) == 3 for _, shape, _ in graph.outputs)):
        return None
    hw = list(graph.inputs[0][1])[2:] if graph.inputs else []
    given, static = overrides or {}, len(hw) == 2 and min(hw) > 0
    missing = []
    if "names" not in props and "labels" not in given:
        missing.append("--labels a,b,c (or a file, one name per line)")
    if "imgsz" not in props and "input_size" not in given and not static:
        missing.append("--input-size HxW")
    if missing:  # in export's own flags (object_detector_meta names run's --detector-labels)
        raise InputError("'{}' is an object detector without Ultralytics metadata ({}): give {}".format(
            source, ", ".join(k for k in ("names", "imgsz") if k not in props), " and ".join(missing)))
    return object_detector_meta(props, "'{}'".format(source), overrides, hw)


def check_limits(graph, trt_version: str, source: str) -> None:
    """InputError, before any build, where the ONNX exceeds what TensorRT ``trt_version``'s parser reads: on
    8.0–8.2 (JetPack 4.6) an opset above 13, or NMS inside the graph (NonMaxSuppression, EfficientNMS_TRT, a
    TopK whose K is computed: dynamic shapes it cannot build)."""
    from edge.backends.tensorrt.build import parse_version

    if parse_version(trt_version)[:2] > LIMITED_UNTIL:
        return
    if graph.opset > MAX_OPSET:
        raise InputError("'{}' has ONNX opset {}; TensorRT {} parses opset {} at most: export it again with opset "
                         "{} (Ultralytics: `yolo export format=onnx opset={}`; edge: `edge export MODEL --opset "
                         "{}`)".format(source, graph.opset, trt_version, MAX_OPSET, MAX_OPSET, MAX_OPSET, MAX_OPSET))
    nms = sorted(set(NMS_OPS) & set(graph.ops)) + (["TopK with a computed K"] if graph.dynamic_topk else [])
    if nms:
        raise InputError("'{}' has NMS inside the graph ({}), whose dynamic shapes TensorRT {} cannot build: "
                         "export without nms=True (`yolo export format=onnx opset={}`); edge runs NMS itself".format(
                             source, ", ".join(nms), trt_version, MAX_OPSET))
