"""Shared ``--backend/--labels/--input-size/--mean/--std/--channel-order`` options of the commands that
load models (run, export, quantize, bench, eval), their one parser each, and their mapping onto
``MetaOverrides``: ``--labels a,b,c`` (or a text file), ``--input-size 128`` or ``96x64``.

    def run(model: str = typer.Argument(...), backend: List[str] = model_options.backend_option(),
            labels: Optional[str] = model_options.labels_option(), ...):
        overrides = model_options.overrides(labels, input_size, mean, std, channel_order)
"""
import os
from typing import List, Optional, Tuple

import typer

from edge.errors import UsageError


def backend_option(multiple: bool = True):
    return typer.Option(["auto"] if multiple else "auto", "--backend", help=(
        "Backend: auto (by file type: .engine/.plan → tensorrt, .onnx → onnxruntime with TensorRT EP, "
        "CUDA EP, then CPU, .pt/.ts → pytorch), tensorrt, onnxruntime, pytorch; add :cpu, :cuda or "
        ":tensorrt to force a device, e.g. onnxruntime:cpu." + (" Repeat to compare several." if multiple else "")))


def labels_option():
    return typer.Option(None, "--labels", help="Class labels in output order, comma-separated or a text file "
                                               "with one per line, for a model without edge metadata; e.g. "
                                               "--labels with_mask,without_mask.")


def input_size_option():
    return typer.Option(None, "--input-size", help="Model input size as N (square) or HxW, for a model "
                                                   "without edge metadata; e.g. --input-size 128 or 96x128.")


def mean_option():
    return typer.Option(None, "--mean", help="Per-channel mean in [0, 1] units (x = (pixel/255 - mean)/std), "
                                             "comma-separated; default 0.5 per channel.")


def std_option():
    return typer.Option(None, "--std", help="Per-channel std in [0, 1] units, comma-separated; "
                                            "default 0.5 per channel.")


def channel_order_option():
    return typer.Option(None, "--channel-order", help="Colour order the model expects: RGB (default), BGR "
                                                      "or GRAY.")


def parse_floats(text: str, flag: str) -> Tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError("expected {} as comma-separated numbers, found '{}'".format(flag, text)) from None
    if not values:
        raise UsageError("expected {} as comma-separated numbers, found '{}'".format(flag, text))
    return values


def parse_size(text: str, flag: str = "--input-size") -> Tuple[int, int]:
    """"96" → (96, 96); "96x128" → (height 96, width 128). The one parser of every size flag."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise UsageError("expected {} as N or HxW with positive integers (e.g. 128 or 96x64), found '{}'".format(
            flag, text))
    return size


def parse_labels(text: str, flag: str = "--labels") -> Tuple[str, ...]:
    """'cat,dog' → ('cat', 'dog'); a path to a text file → one label per line. The one labels parser."""
    if os.path.isfile(text):
        with open(text, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    else:
        names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise UsageError("expected {} as comma-separated names or a text file with one per line, found "
                         "'{}'".format(flag, text))
    return tuple(names)


def overrides(labels: Optional[str] = None, input_size: Optional[str] = None, mean: Optional[str] = None,
              std: Optional[str] = None, channel_order: Optional[str] = None):
    """MetaOverrides from the flags that were given (the others keep the model's own metadata)."""
    from edge.backends.base import MetaOverrides
    from edge.meta import CHANNEL_ORDERS

    out = MetaOverrides()
    if labels is not None:
        out["labels"] = parse_labels(labels)
    if input_size is not None:
        out["input_size"] = parse_size(input_size)
    if channel_order is not None:
        order = channel_order.upper()
        if order not in CHANNEL_ORDERS:
            raise UsageError("expected --channel-order among {}, found '{}'".format(", ".join(CHANNEL_ORDERS),
                                                                                   channel_order))
        out["channel_order"] = order
    channels = 1 if out.get("channel_order") == "GRAY" else 3
    for key, text in (("mean", mean), ("std", std)):
        if text is not None:
            values = parse_floats(text, "--" + key)
            out[key] = values * channels if len(values) == 1 else values
        elif channels == 1:
            out[key] = (0.5,)  # GRAY has one channel: the 3-value defaults would not fit
    return out


def backends_list(values: List[str]) -> List[str]:
    """Repeatable --backend values, also accepting commas: ["auto"] or ["pytorch", "onnxruntime:cpu"]."""
    out = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return out or ["auto"]
