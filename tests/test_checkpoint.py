import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from edge.errors import InputError  # noqa: E402
from models import create_model  # noqa: E402
from models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


def test_round_trip_keeps_weights_metadata_and_widths(tmp_path):
    torch.manual_seed(1)
    model = create_model("maskcnn", widths=(22, 44, 89), labels=["masked", "bare", "other"]).eval()
    meta = model.meta.replace(variant="teacher-pruned-0.3", provenance={"data": "synth", "acc": 0.97})
    path = save_checkpoint(model, str(tmp_path / "m.pt"), meta)

    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta
    assert loaded.widths() == [22, 44, 89]
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    # The file is plain data: the strictest loader reads it.
    assert torch.load(path, weights_only=True)["meta"]["variant"] == "teacher-pruned-0.3"


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    path.write_bytes(b"previous")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError):
        save_checkpoint(create_model("small"), str(path))
    assert path.read_bytes() == b"previous"
    assert os.listdir(str(tmp_path)) == ["m.pt"]


class _Payload:
    """Unpickling this object creates a file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _bad_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a model\n")
    good = save_checkpoint(create_model("small"), str(tmp_path / "good.pt"))
    data = open(good, "rb").read()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    bare = tmp_path / "bare.pt"
    torch.save(create_model("small").state_dict(), str(bare))
    unknown = tmp_path / "unknown.pt"
    ck = torch.load(good, weights_only=True)
    ck["meta"]["arch"] = "resnet9"
    torch.save(ck, str(unknown))
    mismatch = tmp_path / "mismatch.pt"
    ck = torch.load(good, weights_only=True)
    ck["meta"]["arch_args"]["widths"] = [8, 16, 33]
    torch.save(ck, str(mismatch))
    return [
        (str(tmp_path / "missing.pt"), "found nothing"),
        (str(tmp_path), "found a directory"),
        (str(text), "found a text file"),
        (str(truncated), "corrupt or truncated"),
        (str(bare), "bare state dict with no model metadata"),
        (str(unknown), "architecture 'resnet9', which this edge does not know"),
        (str(mismatch), "weights do not fit"),
    ]


def test_bad_files_fail_with_one_clear_line(tmp_path):
    for path, expected in _bad_files(tmp_path):
        with pytest.raises(InputError, match=expected) as err:
            load_checkpoint(path)
        assert "\n" not in str(err.value)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "edge-checkpoint", "payload": _Payload(str(marker))}, str(evil),
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    assert not marker.exists()
    with pytest.raises(InputError, match="refusing to unpickle.*--trust"):
        load_checkpoint(str(evil))
    assert not marker.exists()


def test_trust_loads_a_pickled_module_with_metadata(tmp_path):
    model = create_model("maskcnn", widths=(9, 19, 38)).eval()
    path = tmp_path / "module.pt"
    torch.save(model, str(path))
    with pytest.raises(InputError, match="refusing"):
        load_checkpoint(str(path))
    loaded, meta = load_checkpoint(str(path), trust=True)
    assert meta.arch_args["widths"] == [9, 19, 38]
