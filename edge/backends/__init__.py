"""Inference backends: one file each, an explicit registry keyed by file type.

    >>> b = load_backend("model.onnx")           # picks the fastest backend installed for the file
    >>> logits = b.infer(batch)                   # float32 NCHW → (N, classes) float32
    >>> b.meta.labels

A detector model (no classifier metadata; an ``edge.detector`` record instead) loads with
``load_backend(path, kind="detector")`` and runs with ``b.run(batch)`` → every output, in model order.

``auto`` order by file type: ``.engine``/``.plan`` → tensorrt; ``.onnx`` → onnxruntime
(TensorRT EP, CUDA EP, CPU); ``.pt``/``.ts`` → pytorch. Backend modules import their runtime
(tensorrt, onnxruntime, torch) inside ``load``, so this package imports anywhere. A ``.pt``/``.pth``
checkpoint is host-only (``edge.backends.pytorch``): on a Jetson ``auto`` refuses it, naming the fix.

A backend spec may name a device after a colon: ``onnxruntime:cpu``, ``onnxruntime:cuda``,
``onnxruntime:tensorrt`` (force one execution provider), ``pytorch:cpu``, ``pytorch:cuda``.
"""
import importlib
import os
from collections import OrderedDict
from typing import Dict, Optional, Tuple

from edge.backends.base import KINDS, Backend, MetaOverrides, check_kind  # noqa: F401
from edge.errors import InputError, UsageError

# backend name → module under edge.backends that defines ``BACKEND`` (a Backend subclass)
BACKENDS = OrderedDict([
    ("tensorrt", "edge.backends.tensorrt.runtime"),
    ("onnxruntime", "edge.backends.onnxruntime"),
    ("pytorch", "edge.backends.pytorch"),
])

# file suffix → backends that can run it, best first
BY_SUFFIX = {
    ".engine": ("tensorrt",),
    ".plan": ("tensorrt",),
    ".onnx": ("onnxruntime",),
    ".pt": ("pytorch",),
    ".pth": ("pytorch",),
    ".ts": ("pytorch",),
}


def backend_class(name: str):
    if name not in BACKENDS:
        raise UsageError("unknown backend '{}' (known: auto, {})".format(name, ", ".join(BACKENDS)))
    return importlib.import_module(BACKENDS[name]).BACKEND


def candidates(path: str):
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in BY_SUFFIX:
        raise InputError("expected a model file ending in {}, found '{}'".format(
            "/".join(sorted(BY_SUFFIX)), os.path.basename(path)))
    return BY_SUFFIX[suffix]


def _refuse_checkpoint_on_device(path: str) -> None:
    """The device side does not pick the host-only checkpoint reader by itself."""
    from edge.backends.pytorch import CheckpointIsHostOnly, is_checkpoint
    from edge.files import is_jetson

    if is_checkpoint(path) and is_jetson():
        raise CheckpointIsHostOnly(path, "this is a Jetson; `--backend pytorch` forces the host reader")


def parse_backend(spec: str) -> Tuple[str, str]:
    """``"onnxruntime:cpu"`` → ("onnxruntime", "cpu"); ``"auto"`` → ("auto", "")."""
    name, _, device = spec.strip().partition(":")
    if name != "auto" and name not in BACKENDS:
        raise UsageError("unknown backend '{}' (known: auto, {}; add :cpu/:cuda/:tensorrt to force a "
                         "device)".format(spec, ", ".join(BACKENDS)))
    return name, device


def check_model_path(path: str, backend: str = "auto") -> Tuple[str, str]:
    """(backend name, device) once ``path`` is a file that ``backend`` can run; else one clear error."""
    name, device = parse_backend(backend)
    if not os.path.isfile(path):
        raise InputError("expected a model file, found {} at '{}'".format(
            "a directory" if os.path.isdir(path) else "nothing", path))
    if name != "auto" and name not in candidates(path):
        raise UsageError("backend '{}' cannot run '{}' (it runs: {})".format(
            name, os.path.basename(path), ", ".join(candidates(path))))
    return name, device


def load_backend(path: str, backend: str = "auto", overrides: Optional[MetaOverrides] = None,
                 options: Optional[Dict] = None, kind: str = "classifier") -> Backend:
    """Load ``path`` with the named backend, or with the first for its file type (``auto``).

    ``kind``: "classifier" (ModelMeta, ``infer``) or "detector" (``edge.detector`` record, ``run``)."""
    name, device = check_model_path(path, backend)
    options = dict(options or {})
    if device:
        options["device"] = device
    if check_kind(kind) != "classifier":
        options["kind"] = kind
    if name == "auto":
        name = candidates(path)[0]
        if name == "pytorch":
            _refuse_checkpoint_on_device(path)
    return backend_class(name).load(path, overrides=overrides, options=options)
