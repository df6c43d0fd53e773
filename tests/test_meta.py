import re

import pytest

from edge.backends.base import MetaOverrides
from edge.errors import InputError
from edge.meta import DetectorMeta, ModelMeta, detector_model_meta

META = ModelMeta(arch="maskcnn", labels=["with_mask", "without_mask"], input_size=[128, 128],
                 arch_args={"widths": [8, 16, 32]}, provenance={"acc": 0.98})


def test_round_trips():
    assert ModelMeta.from_dict(META.to_dict()) == META
    assert ModelMeta.from_json(META.to_json()) == META
    assert ModelMeta.from_onnx_props(META.to_onnx_props()) == META
    assert META.labels == ("with_mask", "without_mask") and META.input_size == (128, 128)


@pytest.mark.parametrize("change,message", [
    ({"labels": []}, "'labels': expected a non-empty list"),
    ({"labels": ["a", "a"]}, "'labels': expected unique names"),
    ({"input_size": [128]}, "'input_size': expected \\[height, width\\]"),
    ({"input_size": [128, -1]}, "'input_size'"),
    ({"channel_order": "RGBA"}, "'channel_order': expected one of RGB/BGR/GRAY"),
    ({"mean": [0.5]}, "'mean': expected 3 values for RGB"),
    ({"std": [0.5, 0.0, 0.5]}, "'std': expected 3 positive values"),
    ({"format": 99}, "'format'"),
    ({"colour": "RGB"}, "unknown metadata key 'colour'"),
])
def test_invalid_metadata_is_named(change, message):
    data = META.to_dict()
    data.update(change)
    with pytest.raises(InputError, match=message):
        ModelMeta.from_dict(data, source="x.onnx")


def test_missing_required_key_and_bad_json():
    data = META.to_dict()
    del data["labels"]
    with pytest.raises(InputError, match="lacks required key 'labels'"):
        ModelMeta.from_dict(data)
    with pytest.raises(InputError, match="unparsable"):
        ModelMeta.from_json("{not json")
    with pytest.raises(InputError, match="expected 'edge.meta' in metadata_props, found none"):
        ModelMeta.from_onnx_props({})


def test_gray_models_take_one_channel():
    meta = META.replace(channel_order="GRAY", mean=[0.5], std=[0.25])
    assert meta.channels == 1


BF = ('{"name": "full", "layout": {"input_size": 192, "strides": [4], "per_cell": [1], "input_multiple": 32}, '
      '"num_keypoints": 6, "score_threshold": 0.5, "iou_threshold": 0.3, "mean": [0.5, 0.5, 0.5], '
      '"std": [0.5, 0.5, 0.5], "channel_order": "BGR"}')


def test_detector_record_round_trips_and_feeds_its_model():
    d = DetectorMeta.from_json(BF, "bf.onnx")
    assert DetectorMeta.from_json(d.to_json(), "again") == d and d.row_width == 16 and d.layout.input_multiple == 32
    assert d.model_meta() == ModelMeta(arch="", labels=("face",), input_size=(192, 192), channel_order="BGR",
                                       variant="full")
    assert detector_model_meta(BF, "bf.onnx") == d.model_meta()


@pytest.mark.parametrize("record,message", [
    ("{not json", "bf.onnx: expected a JSON detector record in 'edge.detector', found one that does not parse"),
    ("{}", "KeyError: 'name'"),
    (BF.replace('"num_keypoints": 6, ', ""), "KeyError: 'num_keypoints'"),
    (BF.replace('"BGR"', '"GRAY"'), "expected detector format <= 1, channel_order RGB/BGR and 3 mean/std"),
    (BF.replace('"strides": [4]', '"strides": [5]'), "expected strides dividing input_size 192"),
])
def test_bad_detector_records_are_named(record, message):
    with pytest.raises(InputError, match=re.escape(message)):
        detector_model_meta(record, "bf.onnx")


@pytest.mark.parametrize("overrides,meta,expected", [
    ({}, META, META),
    ({"labels": ("a", "b", "c")}, META, META.replace(labels=("a", "b", "c"))),
    # a new channel order brings its own default mean/std; the same order keeps the model's
    ({"channel_order": "GRAY"}, META, META.replace(channel_order="GRAY", mean=(0.5,), std=(0.5,))),
    ({"channel_order": "RGB"}, META.replace(mean=(0.4, 0.4, 0.4)), META.replace(mean=(0.4, 0.4, 0.4))),
    ({"channel_order": "BGR", "mean": (0.1, 0.2, 0.3)}, META,
     META.replace(channel_order="BGR", mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5))),
    ({"labels": ("a",), "input_size": (96, 64)}, None, ModelMeta(arch="", labels=("a",), input_size=(96, 64))),
    ({"labels": ("a",), "input_size": (96, 64), "channel_order": "GRAY"}, None,
     ModelMeta(arch="", labels=("a",), input_size=(96, 64), channel_order="GRAY", mean=(0.5,), std=(0.5,))),
])
def test_meta_overrides(overrides, meta, expected):
    assert MetaOverrides(overrides).apply(meta, "'m.ts'") == expected


@pytest.mark.parametrize("overrides", [{}, {"labels": ("a",)}, {"input_size": (8, 8)}])
def test_a_model_without_metadata_needs_labels_and_input_size(overrides):
    with pytest.raises(InputError, match="'m.ts' carries no edge metadata; give at least --labels and --input-size"):
        MetaOverrides(overrides).apply(None, "'m.ts'")
