"""PyTorch backend: edge checkpoints (.pt) and TorchScript files (.ts), on CUDA when available.

A TorchScript file may carry its ModelMeta JSON as the extra file ``edge.meta``
(``torch.jit.save(m, path, _extra_files={"edge.meta": meta.to_json()})``); without it, give
``--labels``/``--input-size``.
"""
from typing import Dict, Optional

import numpy as np

from edge.backends.base import Backend, MetaOverrides
from edge.errors import HardwareError, InputError, require
from edge.meta import ONNX_KEY, ModelMeta

# TorchScript archives carry edge metadata as an extra file of this name (``_extra_files``), if at all
TORCHSCRIPT_META = ONNX_KEY


class PyTorchBackend(Backend):
    name = "pytorch"

    def __init__(self, model, meta, path, device):
        super().__init__(meta, path, None, precision="fp32", device=device)
        self.model = model

    @classmethod
    def load(cls, path: str, overrides: Optional[MetaOverrides] = None, options: Optional[Dict] = None):
        torch = require("torch", "torch", "running .pt/.ts models")
        options = options or {}
        device = options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise InputError("expected a PyTorch device cpu or cuda, found '{}'".format(device))
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise HardwareError("--backend pytorch:{} needs a CUDA GPU; this torch {} sees none".format(
                device, torch.__version__))
        if options.get("threads"):
            torch.set_num_threads(int(options["threads"]))
        if path.endswith(".ts"):
            extra = {TORCHSCRIPT_META: ""}
            try:
                model = torch.jit.load(path, map_location=device, _extra_files=extra)
            except Exception as e:
                raise InputError("expected a TorchScript file at '{}', found one torch cannot load ({})".format(
                    path, str(e).strip().splitlines()[0][:200])) from None
            text = extra[TORCHSCRIPT_META]
            text = text.decode() if isinstance(text, bytes) else text
            meta = ModelMeta.from_json(text, "TorchScript '{}'".format(path)) if text else None
            meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        else:
            from models.checkpoint import load_checkpoint

            model, meta = load_checkpoint(path, trust=bool(options.get("trust")))
            meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        backend = cls(model.to(device).eval(), meta, path, device)
        backend.infer(np.zeros((1, meta.channels) + tuple(meta.input_size), np.float32))  # warm up
        return backend

    def _run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()


BACKEND = PyTorchBackend
