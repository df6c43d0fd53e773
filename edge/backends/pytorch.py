"""PyTorch backend: edge checkpoints (.pt) and TorchScript files (.ts), on CUDA when available.

A checkpoint is host-only: rebuilding its network takes the architectures in the host package
``models``, which the device side never imports on its own. Without it (and on a Jetson, under
``--backend auto``) a ``.pt`` is one clear error naming the fix: export it to ONNX on the host.

A TorchScript file may carry its ModelMeta JSON as the extra file ``edge.meta``
(``torch.jit.save(m, path, _extra_files={"edge.meta": meta.to_json()})``); without it, give
``--labels``/``--input-size``. A detector in TorchScript carries its ``edge.detector`` record the same
way (extra file ``edge.detector``) and loads with ``kind="detector"``.
"""
import os
from typing import Callable, Dict, List, Optional

import numpy as np

from edge.backends.base import Backend, MetaOverrides
from edge.errors import EdgeError, HardwareError, InputError, MissingDependency, require
from edge.meta import DETECTOR_KEY, ONNX_KEY, ModelMeta, detector_model_meta

# TorchScript archives carry edge metadata as an extra file of this name (``_extra_files``), if at all
TORCHSCRIPT_META = ONNX_KEY
HOST_PACKAGE = "models"  # the architectures that rebuild a checkpoint's network


class CheckpointIsHostOnly(MissingDependency):
    """A ``.pt`` checkpoint where the host package ``models`` is not used (exit code 4, like any
    missing dependency); the message names the fix."""

    def __init__(self, path: str, why: str):
        name = os.path.basename(path)
        EdgeError.__init__(self, "'{}' is an edge checkpoint, which only the host side reads ({}); export it to "
                                 "ONNX there (`edge export {}`) and run the .onnx here".format(name, why, name))
        self.module, self.package = HOST_PACKAGE, "edge-jetson[host]"


def is_checkpoint(path: str) -> bool:
    """Not TorchScript: an edge checkpoint (.pt/.pth), which needs ``models`` to rebuild its network."""
    return not path.endswith(".ts")


def host_package_installed() -> bool:
    """Whether ``models`` can be found (without importing it: that would import torch)."""
    import importlib.util

    return importlib.util.find_spec(HOST_PACKAGE) is not None


def checkpoint_reader(path: str) -> Callable:
    """``models.checkpoint.load_checkpoint``, or CheckpointIsHostOnly when ``models`` cannot be imported."""
    try:
        from models.checkpoint import load_checkpoint
    except ImportError as e:
        if not (getattr(e, "name", None) or HOST_PACKAGE).startswith(HOST_PACKAGE):
            raise  # torch or one of its parts: require() has reported torch itself already
        raise CheckpointIsHostOnly(path, "the package '{}' is not importable here".format(HOST_PACKAGE)) from None
    return load_checkpoint


class PyTorchBackend(Backend):
    name = "pytorch"

    def __init__(self, model, meta, path, device):
        super().__init__(meta, path, None, precision="fp32", device=device)
        self.model = model

    @classmethod
    def load(cls, path: str, overrides: Optional[MetaOverrides] = None, options: Optional[Dict] = None):
        options = options or {}
        if is_checkpoint(path) and options.get("kind") != "detector" and not host_package_installed():
            raise CheckpointIsHostOnly(path, "the package '{}' is not installed here".format(HOST_PACKAGE))
        torch = require("torch", "torch", "running .pt/.ts models")
        device = options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise InputError("expected a PyTorch device cpu or cuda, found '{}'".format(device))
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise HardwareError("--backend pytorch:{} needs a CUDA GPU; this torch {} sees none".format(
                device, torch.__version__))
        if options.get("threads"):
            torch.set_num_threads(int(options["threads"]))
        detector = options.get("kind") == "detector"
        if detector and is_checkpoint(path):
            raise InputError("'{}': a detector runs in PyTorch as TorchScript (.ts) carrying an '{}' extra file, "
                             "found a checkpoint".format(path, DETECTOR_KEY))
        record = None
        if path.endswith(".ts"):
            extra = {TORCHSCRIPT_META: "", DETECTOR_KEY: ""}
            try:
                model = torch.jit.load(path, map_location=device, _extra_files=extra)
            except Exception as e:
                raise InputError("expected a TorchScript file at '{}', found one torch cannot load ({})".format(
                    path, str(e).strip().splitlines()[0][:200])) from None
            text, record = (v.decode() if isinstance(v, bytes) else v
                            for v in (extra[TORCHSCRIPT_META], extra[DETECTOR_KEY]))
            if detector:
                if not record:
                    raise InputError("TorchScript '{}': expected an '{}' extra file (the detector record), found "
                                     "none".format(path, DETECTOR_KEY))
                meta = detector_model_meta(record, "TorchScript '{}'".format(path))
            else:
                meta = ModelMeta.from_json(text, "TorchScript '{}'".format(path)) if text else None
                meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        else:
            model, meta = checkpoint_reader(path)(path, trust=bool(options.get("trust")))
            meta = (overrides or MetaOverrides()).apply(meta, "'{}'".format(path))
        backend = cls(model.to(device).eval(), meta, path, device)
        if detector:
            backend.kind, backend.detector_record = "detector", record
        backend.probe()
        return backend

    def _run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

    def _run_all(self, batch: np.ndarray) -> List[np.ndarray]:
        import torch

        with torch.no_grad():
            out = self.model(torch.from_numpy(batch).to(self.device))
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.float().cpu().numpy() for o in outs]


BACKEND = PyTorchBackend
