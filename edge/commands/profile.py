"""``edge profile MODEL``: parameters, FLOPs, size and CPU latency of a checkpoint, a named variant or an ONNX
model (edge.bench.onnx_profile: ONNX Runtime, no FLOPs)."""
import json
import os
from typing import List

import typer


def profile(
    model: str = typer.Argument(..., help="A checkpoint file (.pt), an ONNX model (.onnx: timed with ONNX "
                                          "Runtime on the CPU, FLOPs not counted) or a registered model name "
                                          "(teacher, medium, small) to profile untrained."),
    batch: List[int] = typer.Option([1, 8], "--batch", "-b", help="Batch size to time; repeat for several."),
    runs: int = typer.Option(50, help="Timed forward passes per batch size."),
    warmup: int = typer.Option(10, help="Untimed forward passes before timing."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    trust: bool = typer.Option(False, "--trust", help="Allow unpickling a file that is not a plain "
                                                      "checkpoint. Runs code from the file: only for files you trust."),
):
    """Count parameters (total, zero, non-zero), FLOPs (2 × MACs), size on disk and in memory (MB = 2^20
    bytes), and median CPU latency at each batch size.

    Example: edge profile teacher --batch 1 --batch 8
    Example: edge profile edge/zoo/mask_default.onnx      (parameters from its initializers, ONNX Runtime)
    """
    from edge.errors import UsageError, require

    if runs < 1 or warmup < 0 or any(b < 1 for b in batch):
        raise UsageError("expected --runs ≥ 1, --warmup ≥ 0 and every --batch ≥ 1, found runs={} "
                         "warmup={} batch={}".format(runs, warmup, list(batch)))
    if model.lower().endswith(".onnx"):
        from edge.bench.onnx_profile import profile_onnx

        require("onnxruntime", "onnxruntime", "edge profile of an ONNX model")
        report = profile_onnx(model, batch_sizes=batch, warmup=warmup, runs=runs)
        return typer.echo(json.dumps(report, indent=2)) if as_json else print_profile(report)
    require("torch", "torch", "edge profile")
    from models import list_models, create_model
    from models.checkpoint import load_checkpoint
    from models.profile import profile_model

    if model in list_models() and not os.path.exists(model):
        net = create_model(model)
        meta, path = net.meta, None
    elif os.path.exists(model) or os.sep in model or os.path.splitext(model)[1]:
        net, meta = load_checkpoint(model, trust=trust)
        path = model
    else:
        raise UsageError("expected a checkpoint file or a model name ({}), found neither: '{}'".format(
            ", ".join(list_models()), model))
    report = profile_model(net, meta, path, batch_sizes=batch, warmup=warmup, runs=runs)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_profile(report)


def print_profile(r, console=None) -> None:
    from rich.console import Console

    from edge.commands.tables import key_value_table

    p = r["parameters"]
    rows = [("parameters", "{:,}".format(p["total"])),
            ("  zero / non-zero", "? (external data)" if p["zero"] is None else "{:,} / {:,}".format(
                p["zero"], p["nonzero"])),
            ("FLOPs @ {}".format("×".join(map(str, r["input_shape"]))), "n/a (not counted for ONNX)"
             if r["flops"] is None else "{:,} ({:.3f} G)".format(r["flops"], r["flops"] / 1e9)),
            ("size on disk", "{:.3f} MB".format(r["size_mb"]["disk"])),
            ("size in memory", "{:.3f} MB".format(r["size_mb"]["memory"]))]
    rows += [("CPU latency, batch {}".format(b), "{:.2f} ms median (p90 {:.2f}, {} runs)".format(
        s["p50"], s["p90"], s["n"])) for b, s in r["latency_ms"].items()]
    title = "{} ({} {})".format(r["model"], r["arch"], r["arch_args"].get("widths", ""))
    caption = "{}, {} threads".format(r.get("runtime") or "torch " + r["torch"], r["threads"])
    (console or Console()).print(key_value_table(title, rows, justify="right", caption=caption))
