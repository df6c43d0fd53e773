"""What `edge export` accepts, turned into (nn.Module in eval mode, ModelMeta):

* an edge checkpoint (``models.checkpoint``: weights + metadata, read with ``weights_only=True``);
* a TorchScript file (``torch.jit.save``; metadata from ``--labels``/``--input-size`` or an
  ``edge.meta`` extra file);
* a bare state dict, with ``--arch NAME`` (+ ``--labels``);
* a fully pickled ``nn.Module`` — only with ``--trust`` (unpickling runs code from the file).

The source's sha256 and the exporter's versions go into ``meta.provenance["export"]``.
"""
import os
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

import edge
from edge.backends.base import MetaOverrides
from edge.files import sha256_file
from edge.errors import InputError
from edge.meta import ModelMeta
from models.checkpoint import _first_line, is_torchscript, load_checkpoint, read_checkpoint
from models.registry import create_model, list_models


def exporter_versions() -> Dict[str, str]:
    import onnx

    return {"edge": edge.__version__, "torch": torch.__version__.split("+")[0], "onnx": onnx.__version__}


def _override(meta: Optional[ModelMeta], labels, input_size, channel_order, source: str) -> ModelMeta:
    """The flags given (not None) over ``meta`` (MetaOverrides.apply); a model without metadata is named
    after its file."""
    overrides = MetaOverrides((k, v) for k, v in (("labels", labels), ("input_size", input_size),
                                                  ("channel_order", channel_order)) if v is not None)
    if meta is None and "labels" in overrides and "input_size" in overrides:
        overrides["variant"] = os.path.splitext(os.path.basename(source.strip("'")))[0]
    return overrides.apply(meta, source)


def load_source(path: str, trust: bool = False, arch: Optional[str] = None,
                labels: Optional[Sequence[str]] = None, input_size: Optional[Tuple[int, int]] = None,
                channel_order: Optional[str] = None) -> Tuple[nn.Module, ModelMeta]:
    """(model in eval mode, meta with export provenance) of any file `edge export` accepts."""
    where = "'{}'".format(path)
    if is_torchscript(path):
        extra = {"edge.meta": ""}
        try:
            model = torch.jit.load(path, map_location="cpu", _extra_files=extra)
        except Exception as e:
            raise InputError("expected a TorchScript file at {}, found one torch cannot load ({})".format(
                where, _first_line(e))) from None
        stored = ModelMeta.from_json(extra["edge.meta"], path) if extra["edge.meta"] else None
        meta = _override(stored, labels, input_size, channel_order, where)
    else:
        payload = read_checkpoint(path, trust)  # InputError for text, truncated, malicious (untrusted) files
        if isinstance(payload, dict) and payload and all(torch.is_tensor(v) for v in payload.values()):
            model, meta = _from_state_dict(payload, path, arch, labels, input_size, channel_order)
        elif isinstance(payload, nn.Module):  # only reachable with --trust
            stored = getattr(payload, "meta", None)
            meta = _override(stored if isinstance(stored, ModelMeta) else None, labels, input_size,
                             channel_order, where)
            model = payload
        else:
            model, meta = load_checkpoint(path, trust)
            meta = _override(meta, labels, input_size, channel_order, where)
    provenance = dict(meta.provenance)
    provenance["export"] = {"source": os.path.basename(path), "source_sha256": sha256_file(path),
                            "exporter": exporter_versions()}
    return model.eval(), meta.replace(provenance=provenance)


def _from_state_dict(state, path, arch, labels, input_size, channel_order):
    if not arch:
        raise InputError("'{}' is a bare state dict with no model metadata; expected --arch NAME to say which "
                         "architecture it is (known: {})".format(path, ", ".join(list_models())))
    kwargs = {"labels": labels} if labels else {}
    model = create_model(arch, **kwargs)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise InputError("'{}': weights do not fit architecture '{}' ({})".format(path, arch, _first_line(e))) from None
    meta = _override(model.meta, None, input_size, channel_order, "'{}'".format(path))
    return model, meta
