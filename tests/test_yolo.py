"""The object detector end to end on ONNX models built here (host: torch, onnx): constant-output models in each
layout whose right boxes are known exactly (through the letterbox of a non-square frame), models without
metadata, the filters as options, and a small YOLO-style network exported in the v8 layout."""
import warnings

import numpy as np
import onnx  # noqa: F401  (host module: the models are exported here)
import pytest
import torch

import fakes
import yolo_models as Y
from edge.backends import load_backend
from edge.backends.tensorrt.runtime import detector_record
from edge.detectors import create_detector, detector_class
from edge.detectors.blazeface import model_path
from edge.detectors.yolo import YoloDetector, YoloOptions
from edge.detectors.yolo_decode import letterbox_frame, letterbox_of
from edge.errors import ConfigError, InputError, UsageError
from edge.meta import object_detector_meta

FRAME = np.full((Y.FRAME_WH[1], Y.FRAME_WH[0], 3), 40, np.uint8)


def constant(tmp_path, name, outputs, props, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Y.constant_onnx(tmp_path / (name + ".onnx"), outputs, props, **kw)


@pytest.mark.parametrize("layout", ["v8", "v5", "end2end", "ssd"])
def test_each_layout_gives_exactly_the_known_boxes(yolo_onnx, layout):
    det = create_detector("yolo", model=yolo_onnx[layout])
    found = det.detect(FRAME)
    assert det.class_names == Y.NAMES and det.layout == layout
    np.testing.assert_allclose(found.boxes, Y.FRAME_BOXES[Y.EXPECTED], atol=1e-3)
    np.testing.assert_allclose(found.scores, Y.SCORES[Y.EXPECTED], atol=1e-6)
    assert list(found.class_ids) == list(Y.CLASS_IDS[Y.EXPECTED]) and found.class_ids.dtype == np.int64
    info = det.info()
    assert info["layout"] == layout and info["input_size"] == [640, 640] and info["classes"] == 3
    det.close()


@pytest.mark.parametrize("options,rows", [
    ({"classes": ["car"]}, [2]),
    ({"classes": ["0", "bicycle"]}, [0, 3, 4]),
    ({"max_det": 1}, [0]),
    ({"conf": 0.65}, [0, 3, 2]),
    ({"conf": 0.05}, [0, 3, 2, 4, 5]),
    ({"iou": 0.99}, [0, 3, 1, 2, 4]),
])
def test_options_filter(yolo_onnx, options, rows):
    with YoloDetectorClosing(yolo_onnx["v8"], **options) as det:
        found = det.detect(FRAME)
    np.testing.assert_allclose(found.boxes, Y.FRAME_BOXES[rows], atol=1e-3)


class YoloDetectorClosing(YoloDetector):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_bad_options_fail_before_the_model_loads(yolo_onnx):
    with pytest.raises(ConfigError, match="'objects.conf' \\(--conf\\): expected a score in \\[0, 1\\]"):
        YoloDetector(yolo_onnx["v8"], conf=1.5)
    with pytest.raises(ConfigError, match="'objects.layout' \\(--detector-layout\\)"):
        YoloOptions(layout="v7")
    with pytest.raises(UsageError, match="expected --classes among the model's classes .* found 'dog'"):
        YoloDetector(yolo_onnx["v8"], classes=["dog"])


def test_a_model_without_metadata_takes_labels_and_input_size(yolo_onnx, tmp_path):
    with pytest.raises(InputError, match="give an object detector without them --detector-labels"):
        YoloDetector(yolo_onnx["v8_nometa"])
    with YoloDetectorClosing(yolo_onnx["v8_nometa"], labels=["a", "b", "c"]) as det:  # size: the static input
        assert det.class_names == ("a", "b", "c") and det.meta.input_size == (640, 640) and det.layout == "v8"
        np.testing.assert_allclose(det.detect(FRAME).boxes, Y.FRAME_BOXES[Y.EXPECTED], atol=1e-3)
    with pytest.raises(InputError, match="with 2 classes"):  # labels that do not fit the outputs
        YoloDetector(yolo_onnx["v8_nometa"], labels=["a", "b"])
    lb = letterbox_of(Y.FRAME_WH, (320, 320))
    boxes = np.array([[10, 90, 110, 190]], np.float32)  # input pixels of a 320x320 input
    dynamic = constant(tmp_path, "dyn", Y.layout_outputs("v8", boxes, [0.9], [1], 3, 16), {}, input_hw=(320, 320),
                       dynamic=True)
    with pytest.raises(InputError, match=r"--detector-input-size \(its input size is dynamic\)"):
        YoloDetector(dynamic, labels=["a", "b", "c"])
    with YoloDetectorClosing(dynamic, labels=["a", "b", "c"], input_size=[320]) as det:
        found = det.detect(FRAME)
    assert lb.pad == (0, 70) and lb.scale == 0.25
    np.testing.assert_allclose(found.boxes, [[40, 80, 440, 480]], atol=1e-3)  # (y - 70) x 4
    assert list(found.class_ids) == [1]
    with YoloDetectorClosing(dynamic, labels=["a", "b", "c"], input_size=[192, 320]) as det:  # HEIGHT WIDTH
        assert det.input_wh == (320, 192) and det.meta.input_size == (192, 320)
        found = det.detect(FRAME)
    np.testing.assert_allclose(found.boxes, [[40, 336, 440, 720]], atol=1e-3)  # 320x180 inside, 6 px above


def test_an_ambiguous_shape_is_decided_by_metadata_or_the_layout_option(tmp_path):
    boxes = np.array([[100, 200, 300, 400]], np.float32)
    outs = Y.layout_outputs("v8", boxes, [0.9], [0], 3, 8)  # [1, 7, 8]: v8 with 8 anchors, or v5 with 7
    plain = constant(tmp_path, "amb", outs, {})
    with pytest.raises(InputError, match=r"output \[1, 7, 8\] is ambiguous for 3 classes \(it fits v8 and v5\)"):
        YoloDetector(plain, labels=Y.NAMES)
    with YoloDetectorClosing(plain, labels=Y.NAMES, layout="v8") as det:
        np.testing.assert_allclose(det.detect(FRAME).boxes, [[200, 120, 600, 520]], atol=1e-3)
    ultralytics = constant(tmp_path, "amb_u", outs, Y.ultralytics_props(Y.NAMES))  # task=detect: Ultralytics ≥ 8
    with YoloDetectorClosing(ultralytics) as det:
        assert det.layout == "v8"
    yolov5 = constant(tmp_path, "amb_5", outs, {"names": str(dict(enumerate(Y.NAMES))), "stride": "32"})
    with YoloDetectorClosing(yolov5) as det:  # YOLOv5's export.py writes names and stride only
        assert det.layout == "v5"


def test_blazeface_refuses_an_object_detector(yolo_onnx):
    with pytest.raises(InputError, match="expected a face detector's 'edge.detector' record, found an object "
                                         "detector .* run it as --detector PATH"):
        create_detector("blazeface", model=yolo_onnx["v8"])


def test_a_face_detector_or_a_classifier_is_refused(seeded_onnx):
    with pytest.raises(UsageError, match="is a face detector .* --detector blazeface"):
        YoloDetector(model_path("full"))
    with pytest.raises(InputError, match="found a classifier \\('edge.meta'\\); give it as --model"):
        YoloDetector(seeded_onnx)
    assert detector_class("yolo") is YoloDetector


def test_the_backend_carries_the_record_and_an_engine_sidecar_carries_it_too(yolo_onnx):
    with load_backend(yolo_onnx["end2end"], kind="detector") as b:
        assert b.objects.labels == Y.NAMES and b.objects.layout == "end2end" and b.detector_record is None
        assert b.meta.input_size == (640, 640) and b.meta.std == (1, 1, 1)
        record = b.objects
    assert detector_record({"objects": record.to_dict()}, "m.engine") == (None, record)
    with pytest.raises(InputError, match="expected a detector record \\('detector' or 'objects'"):
        detector_record({}, "m.engine")


@pytest.mark.parametrize("api", ["bindings", "tensors"])
def test_an_engine_whose_sidecar_carries_the_record_finds_the_same_boxes(yolo_onnx, tmp_path, device, api):
    """A TensorRT engine (the doubles of tests/fakes.py, computing with ONNX Runtime) of the v8 model, its sidecar
    carrying the ONNX's record as ``"objects"``: the same boxes and class names, no flags."""
    import onnxruntime as ort

    session = ort.InferenceSession(yolo_onnx["v8"])
    record = object_detector_meta(session.get_modelmeta().custom_metadata_map, "m")
    shape = tuple(session.get_outputs()[0].shape)
    io = [("images", True, (1, 3, 640, 640)), ("output0", False, shape)]
    engine = fakes.ENGINES[api](io, [(1, 3, 640, 640)] * 3, lambda x: {"output0": session.run(None, {"images": x})[0]},
                                lambda _: {"output0": shape})
    path = fakes.engine_file(str(tmp_path / "v8.engine"), device(*fakes.DEVICES[api]), engine, record.model_meta(),
                             extra={"objects": record.to_dict()})
    with YoloDetectorClosing(path) as det:
        found = det.detect(FRAME)
        assert det.class_names == Y.NAMES and det.info()["backend"] == "tensorrt"
    np.testing.assert_allclose(found.boxes, Y.FRAME_BOXES[Y.EXPECTED], atol=1e-3)


class TinyYolo(torch.nn.Module):
    """A small YOLO-style network: a strided conv backbone, one head per stride (8, 16, 32) predicting box
    offsets and class logits per grid cell, decoded in the graph to Ultralytics' v8 output [1, 4+nc, N]."""

    def __init__(self, nc=3):
        super().__init__()
        self.nc = nc
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.SiLU(), torch.nn.Conv2d(8, 8, 3, 2, 1),
                                        torch.nn.SiLU(), torch.nn.Conv2d(8, 16, 3, 2, 1), torch.nn.SiLU())
        self.down = torch.nn.ModuleList([torch.nn.Conv2d(16, 16, 3, 2, 1), torch.nn.Conv2d(16, 16, 3, 2, 1)])
        self.heads = torch.nn.ModuleList([torch.nn.Conv2d(16, 4 + nc, 1) for _ in range(3)])

    def forward(self, x):
        feats = [self.stem(x)]
        for d in self.down:
            feats.append(torch.nn.functional.silu(d(feats[-1])))
        out = []
        for f, head, stride in zip(feats, self.heads, (8, 16, 32)):
            p = head(f)
            h, w = p.shape[2], p.shape[3]
            ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                    indexing="ij")
            cx = (xs + 0.5 + torch.tanh(p[:, 0])) * stride
            cy = (ys + 0.5 + torch.tanh(p[:, 1])) * stride
            wh = torch.exp(p[:, 2:4].clamp(-4, 4)) * stride * 2
            box = torch.stack([cx, cy, wh[:, 0], wh[:, 1]], 1)
            out.append(torch.cat([box, torch.sigmoid(p[:, 4:])], 1).flatten(2))
        return torch.cat(out, 2)


def reference(raw, frame_wh, input_wh, conf, iou):
    """Ultralytics' postprocess written plainly: best class, score > conf, class-offset NMS (7680 per class),
    boxes back by the gain and padding, clipped. (boxes, scores, ids)."""
    x = raw[0].T.astype(np.float64)
    scores, ids = x[:, 4:].max(1), x[:, 4:].argmax(1)
    x, scores, ids = x[scores > conf], scores[scores > conf], ids[scores > conf]
    b = np.concatenate([x[:, :2] - x[:, 2:4] / 2, x[:, :2] + x[:, 2:4] / 2], 1)
    order = list(np.argsort(-scores, kind="stable"))
    shifted = b + ids[:, None] * 7680.0
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = []
        for j in order:
            lt, rb = np.maximum(shifted[i, :2], shifted[j, :2]), np.minimum(shifted[i, 2:], shifted[j, 2:])
            inter = np.prod(np.clip(rb - lt, 0, None))
            union = np.prod(b[i, 2:] - b[i, :2]) + np.prod(b[j, 2:] - b[j, :2]) - inter
            if inter / union <= iou:
                rest.append(j)
        order = rest
    gain = min(input_wh[1] / frame_wh[1], input_wh[0] / frame_wh[0])
    pad = (round((input_wh[0] - frame_wh[0] * gain) / 2 - 0.1), round((input_wh[1] - frame_wh[1] * gain) / 2 - 0.1))
    out = (b[keep] - np.array(pad * 2)) / gain
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, frame_wh[0])
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, frame_wh[1])
    return out, scores[keep], ids[keep]


@pytest.mark.parametrize("iou", [0.45, 0.1])
def test_a_small_yolo_network_in_the_v8_layout_runs_end_to_end(tmp_path, iou):
    """A trained-looking output is not needed: a seeded network gives thousands of candidates; the detector
    keeps exactly what Ultralytics' postprocess (written plainly above) keeps, on a real letterboxed frame."""
    import onnxruntime as ort

    torch.manual_seed(0)
    model = TinyYolo().eval()
    with torch.no_grad():
        for head in model.heads:
            head.bias[4:] -= 2.0  # a few dozen boxes above conf, some overlapping
    path = str(tmp_path / "tiny.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, 320, 320), path, opset_version=13, input_names=["images"],
                          output_names=["output0"], dynamo=False)
    Y.add_props(path, Y.ultralytics_props(Y.NAMES, (320, 320)))
    frame = np.random.RandomState(1).randint(0, 255, (540, 960, 3)).astype(np.uint8)
    lb = letterbox_of((960, 540), (320, 320))
    x = letterbox_frame(frame, lb)[None, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255
    raw = ort.InferenceSession(path).run(None, {"images": np.ascontiguousarray(x)})[0]
    assert raw.shape == (1, 7, 40 * 40 + 20 * 20 + 10 * 10)
    conf = float(np.sort(raw[0, 4:].max(0))[-120])  # an untrained net: ~119 candidates above it
    boxes, scores, ids = reference(raw, (960, 540), (320, 320), conf, iou)
    with YoloDetectorClosing(path, conf=conf, iou=iou) as det:
        found = det.detect(frame)
        assert det.layout == "v8" and det.info()["input_size"] == [320, 320]
    assert 5 < len(found) <= 119 and len(found) == len(boxes) and (iou > 0.4 or len(found) < 60)
    np.testing.assert_allclose(found.scores, scores, atol=1e-5)
    assert list(found.class_ids) == list(ids)
    np.testing.assert_allclose(found.boxes, boxes, atol=1e-3)  # 960x540 scales exactly: inverse == 1 / gain


def test_object_detector_meta_of_the_onnx_as_written(yolo_onnx):
    props = onnx.load(yolo_onnx["v5"]).metadata_props
    meta = object_detector_meta({p.key: p.value for p in props}, "m")
    assert meta.labels == Y.NAMES and meta.layout == "v8"  # an Ultralytics export says task: its layout is v8
