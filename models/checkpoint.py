"""Checkpoints: the weights plus the ``ModelMeta`` that rebuilds the network, nothing executable.

Layout (loads with ``torch.load(weights_only=True)``)::

    {"format": "edge-checkpoint", "version": 1, "meta": ModelMeta.to_dict(), "state_dict": {...}}

A file that needs full unpickling (a pickled nn.Module, custom classes) is refused unless the
caller passes ``trust=True``: unpickling runs code chosen by whoever wrote the file.
"""
import inspect
import io
import os
import pickle
import types
import zipfile
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from edge.errors import InputError
from edge.files import atomic_path
from edge.meta import ModelMeta
from models.registry import create_model, list_models

FORMAT = "edge-checkpoint"
VERSION = 1


def save_checkpoint(model: nn.Module, path: str, meta: Optional[ModelMeta] = None) -> str:
    """Write ``model``'s weights and metadata atomically (no half-written file on failure)."""
    meta = meta or model.meta
    payload = {"format": FORMAT, "version": VERSION, "meta": meta.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def checkpoint_bytes(model: nn.Module, meta: Optional[ModelMeta] = None) -> int:
    """Size in bytes the checkpoint of ``model`` takes on disk."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, "meta": (meta or model.meta).to_dict(),
                "state_dict": model.state_dict()}, buf)
    return buf.tell()


def describe_file(path: str) -> str:
    """A few words on what a file looks like, for error messages."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive that is not a PyTorch checkpoint"  # torch.save writes a zip
    if head[:1] == b"\x80":
        return "a legacy pickle file"
    if head.startswith(b"\x08") and b"onnx" in head.lower():
        return "an ONNX model"
    try:
        if b"\x00" not in head:
            head.decode("utf-8")
            return "a text file"
    except UnicodeDecodeError:
        pass
    return "{} bytes of binary data".format(os.path.getsize(path))


def is_torchscript(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/", 2)[1:2] == ["code"] for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_checkpoint(path: str, trust: bool = False) -> Any:
    """``torch.load`` with weights only, turning every failure into one clear InputError."""
    if not os.path.exists(path):
        raise InputError("expected a checkpoint file, found nothing at '{}'".format(path))
    if os.path.isdir(path):
        raise InputError("expected a checkpoint file, found a directory: '{}'".format(path))
    if is_torchscript(path):
        raise InputError("'{}' is a TorchScript archive, not an edge checkpoint "
                         "(`edge export` takes TorchScript files)".format(path))
    kind = describe_file(path)
    if kind not in ("a zip archive that is not a PyTorch checkpoint", "a legacy pickle file"):
        raise InputError("expected a PyTorch checkpoint at '{}', found {}".format(path, kind))
    try:
        return _torch_load(path, trust)
    except pickle.UnpicklingError as e:
        if not trust and "weights only" in str(e).lower():
            raise InputError(
                "'{}' holds pickled Python objects, not a plain checkpoint; refusing to unpickle it "
                "(unpickling runs code from the file). Pass --trust only for a file you trust".format(path)
            ) from None
        raise InputError("expected a PyTorch checkpoint at '{}', found an unreadable pickle ({})".format(
            path, _first_line(e))) from None
    except Exception as e:  # torch raises many types for damaged files; all mean the same to a user
        raise InputError("expected a PyTorch checkpoint at '{}', found a corrupt or truncated file "
                         "({}: {})".format(path, type(e).__name__, _first_line(e))) from None


def _torch_load(path: str, trust: bool, has_weights_only: Optional[bool] = None) -> Any:
    """``torch.load`` that never unpickles code unless ``trust``, on any torch version.

    torch ≥ 1.13 has ``weights_only``. Older torch (1.10 on the Jetson Nano) has not: there the
    checkpoint goes through ``RestrictedUnpickler``, which resolves only the globals a tensor state
    dict needs and refuses everything else with the same "weights only" error as newer torch.
    """
    real = "weights_only" in inspect.signature(torch.load).parameters
    if has_weights_only is None:  # tests force False to exercise the old-torch path on new torch
        has_weights_only = real
    full = {"weights_only": False} if real else {}  # new torch refuses pickle_module with weights_only
    if trust:
        return torch.load(path, map_location="cpu", **full)
    if has_weights_only:
        return torch.load(path, map_location="cpu", weights_only=True)
    return torch.load(path, map_location="cpu", pickle_module=_RESTRICTED_PICKLE, **full)


_SAFE_GLOBALS = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                 ("torch._utils", "_rebuild_parameter"), ("torch", "Size"), ("torch", "device")}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves containers, tensors and typed storages only; anything else is refused."""

    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS or (module == "torch" and name.endswith("Storage")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError("weights only load refused global {}.{}".format(module, name))


_RESTRICTED_PICKLE = types.ModuleType("edge_restricted_pickle")
_RESTRICTED_PICKLE.Unpickler = RestrictedUnpickler
_RESTRICTED_PICKLE.load = lambda f, **kw: RestrictedUnpickler(f, **kw).load()
_RESTRICTED_PICKLE.__name__ = "edge_restricted_pickle"


def load_checkpoint(path: str, trust: bool = False) -> Tuple[nn.Module, ModelMeta]:
    """Rebuild the model a checkpoint describes (any widths) and load its weights, in eval mode."""
    payload = read_checkpoint(path, trust)
    if isinstance(payload, nn.Module):  # only reachable with trust=True
        meta = getattr(payload, "meta", None)
        if not isinstance(meta, ModelMeta):
            raise InputError("'{}' is a pickled module without edge metadata; "
                             "`edge export --arch/--input-size` can describe it".format(path))
        return payload.eval(), meta
    meta_dict, state = _split_payload(payload, path)
    meta = ModelMeta.from_dict(meta_dict, source="checkpoint '{}'".format(path))
    if meta.arch not in list_models():
        raise InputError("checkpoint '{}' is for architecture '{}', which this edge does not know "
                         "(known: {})".format(path, meta.arch, ", ".join(list_models())))
    try:
        model = create_model(meta.arch, labels=meta.labels, **_without(meta.arch_args, "labels"))
    except (TypeError, ValueError) as e:
        raise InputError("checkpoint '{}': cannot rebuild '{}' from its arch_args {} ({})".format(
            path, meta.arch, meta.arch_args, e)) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise InputError("checkpoint '{}': weights do not fit architecture '{}' {} ({})".format(
            path, meta.arch, meta.arch_args, _first_line(e))) from None
    model.meta = meta
    return model.eval(), meta


def _split_payload(payload: Any, path: str) -> Tuple[Dict, Dict]:
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        if payload.get("version", 0) > VERSION:
            raise InputError("checkpoint '{}' has format version {}; this edge reads up to {}".format(
                path, payload.get("version"), VERSION))
        return payload["meta"], payload["state_dict"]
    if isinstance(payload, dict) and payload and all(torch.is_tensor(v) for v in payload.values()):
        raise InputError("'{}' is a bare state dict with no model metadata; expected an edge checkpoint "
                         "(`edge export --arch NAME` can wrap a state dict)".format(path))
    raise InputError("expected an edge checkpoint in '{}', found a {} without the '{}' format tag".format(
        path, type(payload).__name__, FORMAT))


def _without(d: Dict, key: str) -> Dict:
    return {k: v for k, v in d.items() if k != key}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
