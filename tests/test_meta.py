import pytest

from edge.errors import InputError
from edge.meta import ModelMeta

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
