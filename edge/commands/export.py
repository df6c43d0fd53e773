"""``edge export MODEL``: checkpoint → validated ONNX (→ INT8 QDQ ONNX) (→ TensorRT engine on the device)."""
import json
import os
from typing import Dict, Optional

import typer

from edge.commands import model_options

EPILOG = """Examples:

\b
  edge export runs/teacher.pt            # → runs/teacher.onnx
  edge export user.ts --input-size 96x64 --labels cat,dog,bird -o user.onnx
  edge export weights.pth --arch small --labels with_mask,without_mask
  edge export runs/small.pt --int8 --calib data/train --data data/test
  edge export small.onnx --engine        # on the Jetson: FP16 engine
  edge export small.onnx --engine --int8 --calib data/calib
  # the face detector, FP16:
  edge export edge/zoo/blazeface/face_detection_full_range.onnx --engine
  # an Ultralytics export (yolo export format=onnx opset=13; no nms=True on
  # TensorRT 8.2), FP16:
  edge export yolov8n.onnx --engine
"""


def export(
    model: str = typer.Argument(..., help="An edge checkpoint (.pt), a TorchScript file, a bare state dict "
                                          "(with --arch), a pickled nn.Module (with --trust), or an .onnx file "
                                          "(to quantize it or build its --engine)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="ONNX file to write (default: MODEL with "
                                                                      "the suffix .onnx)."),
    trust: bool = typer.Option(False, "--trust", help="Allow unpickling a file that is not a plain checkpoint "
                                                      "(a pickled nn.Module). Runs code from the file: only for "
                                                      "files you trust."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Architecture of a bare state dict (a registered "
                                                            "name: teacher, medium, small, maskcnn)."),
    labels: Optional[str] = model_options.labels_option(),
    input_size: Optional[str] = model_options.input_size_option(),
    channel_order: Optional[str] = model_options.channel_order_option(),
    batch: Optional[int] = typer.Option(None, "--batch", help="Static batch size; default: a dynamic batch axis."),
    opset: int = typer.Option(13, "--opset", help="ONNX opset; 13 is the newest TensorRT 8.2 (Jetson Nano, "
                                                  "JetPack 4.6) parses fully."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Simplify the graph with onnxslim."),
    parity_data: Optional[str] = typer.Option(None, "--parity-data", help="Folder of images for the parity "
                                                                          "gate (default: the sample photos "
                                                                          "shipped with matplotlib/scikit-image)."),
    atol: float = typer.Option(1e-4, "--atol", help="Parity gate: absolute tolerance on the logits."),
    rtol: float = typer.Option(1e-3, "--rtol", help="Parity gate: relative tolerance on the logits."),
    int8: bool = typer.Option(False, "--int8", help="Without --engine: also write an INT8 QDQ ONNX "
                                                    "(<output>.int8.onnx) calibrated on --calib. With --engine: "
                                                    "an INT8 engine (TensorRT entropy calibration on --calib)."),
    calib: Optional[str] = typer.Option(None, "--calib", help="Folder of calibration images (ImageFolder or "
                                                              "flat), for --int8."),
    calib_size: int = typer.Option(256, "--calib-size", help="Most calibration images to use."),
    data: Optional[str] = typer.Option(None, "--data", help="Labelled ImageFolder: report FP32 and INT8 "
                                                            "accuracy side by side (with --int8)."),
    engine: bool = typer.Option(False, "--engine", help="Build a TensorRT engine (needs tensorrt + pycuda: "
                                                        "run it on the Jetson or a GPU workstation)."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 engine (the default where the GPU has fast FP16)."),
    fp32: bool = typer.Option(False, "--fp32", help="FP32 engine."),
    engine_out: Optional[str] = typer.Option(None, "--engine-out", help="Engine file (default: beside the ONNX, "
                                                                        "named by TensorRT version, GPU and "
                                                                        "precision)."),
    opt_batch: Optional[int] = typer.Option(None, "--opt-batch", help="Engine optimization profile: batch to tune "
                                                                      "for (default 4 for a classifier, 7 for a "
                                                                      "detector: a frame and its 3x2 tiles; 1 for "
                                                                      "a detector with dynamic height/width and "
                                                                      "for an object detector)."),
    max_batch: Optional[int] = typer.Option(None, "--max-batch", help="Engine optimization profile: largest batch "
                                                                      "(default 16; 8 for a detector with dynamic "
                                                                      "height/width; 1 for an object detector)."),
    opt_input: Optional[str] = typer.Option(None, "--opt-input", help="Engine profile of a detector ONNX with "
                                                                      "dynamic height/width: network input HxW "
                                                                      "to tune for, i.e. the scaled frame padded "
                                                                      "(default 288x512: 1280x720 at scale 0.4; "
                                                                      "an object detector: its input size)."),
    max_input: Optional[str] = typer.Option(None, "--max-input", help="Engine profile of a detector ONNX with "
                                                                      "dynamic height/width: largest network "
                                                                      "input HxW (default 448x768: 1920x1080 at "
                                                                      "scale 0.4; it sizes GPU memory; e.g. "
                                                                      "768x448 for a portrait camera; an object "
                                                                      "detector: its input size)."),
    workspace: Optional[int] = typer.Option(None, "--workspace", help="Builder workspace in MiB (default: 1/16 "
                                                                      "of GPU memory, 256 on a 4 GB Nano)."),
    timing_cache: Optional[str] = typer.Option(None, "--timing-cache", help="TensorRT timing cache file, reused "
                                                                            "across builds (default: "
                                                                            "~/.cache/edge/tensorrt/...)."),
    trt_log: str = typer.Option("warning", "--trt-log", help="TensorRT log level: error, warning, info, verbose."),
    force: bool = typer.Option(False, "--force", help="Rebuild the engine even if an up-to-date one exists; "
                                                      "without -o, overwrite an existing ONNX beside MODEL."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
):
    """Export a model to a validated ONNX file, optionally INT8-quantized, optionally to a TensorRT engine.

    Parity gate: ONNX Runtime must match PyTorch on real photos and random inputs at batch 1 and 7, else nothing is written and the exit code is 1.

    Metadata (labels, input size, channel order, mean/std, source sha256, exporter versions) goes into the ONNX metadata_props and the engine's JSON sidecar.

    Opset 13 is the newest that TensorRT 8.2 (Jetson Nano, JetPack 4.6) parses. See docs/EXPORT.md for the host → device workflow.
    """
    from edge.errors import UsageError

    if sum([fp16, fp32, int8 and engine]) > 1:
        raise UsageError("expected at most one of --fp16, --fp32, --int8 for the engine")
    if int8 and not calib and not (engine and model.lower().endswith(".onnx") and _is_qdq(model)):
        raise UsageError("--int8 needs calibration images: --calib DIR (an ImageFolder or a folder of images)")
    flags = model_options.overrides(labels, input_size, channel_order=channel_order)
    opt_hw, max_hw = (model_options.parse_size(text, flag) if text else None
                      for text, flag in ((opt_input, "--opt-input"), (max_input, "--max-input")))
    _check_early(calib if int8 else None, calib_size, data if int8 and not engine else None, engine)
    report = {}  # type: Dict
    is_onnx = model.lower().endswith(".onnx")
    if is_onnx:
        if not os.path.isfile(model):
            from edge.errors import InputError
            raise InputError("expected an ONNX file, found nothing at '{}'".format(model))
        if not (int8 or engine):
            raise UsageError("'{}' is already ONNX: add --int8 --calib DIR to quantize it or --engine to build "
                             "a TensorRT engine".format(model))
    onnx_path, int8_path = _check_outputs(model, output, int8 and not engine,
                                          (engine_out or "") if engine else None, force)
    if not is_onnx:
        report["onnx"] = export_checkpoint(model, onnx_path, trust, arch, flags, batch, opset, simplify,
                                           parity_data, atol, rtol)
        _show(report["onnx"], as_json, print_onnx)
    if int8 and not engine:
        report["int8"] = quantize_report(onnx_path, int8_path, calib, calib_size, data, parity_data)
        _show(report["int8"], as_json, print_int8)
    if engine:
        precision = "int8" if int8 else "fp16" if fp16 else "fp32" if fp32 else "auto"
        report["engine"] = build(onnx_path, precision, calib, calib_size, engine_out, opt_batch, max_batch,
                                 workspace, timing_cache, trt_log, force, flags, opt_hw, max_hw)
        _show(report["engine"], as_json, print_engine)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))


export.epilog = EPILOG


def _check_early(calib, calib_size, data, engine) -> None:
    """Fail before any file is written when a folder or TensorRT that a later step needs is missing."""
    from edge.errors import InputError, require_tensorrt
    from edge.backends.tensorrt.calibration import calibration_paths

    if calib:
        calibration_paths(calib, calib_size)
    if data and not os.path.isdir(data):
        raise InputError("expected a labelled ImageFolder for --data, found nothing at '{}'".format(data))
    if engine:
        require_tensorrt()


def _check_outputs(model: str, output: Optional[str], int8: bool, engine_out: Optional[str], force: bool):
    """(the ONNX, the INT8 ONNX) this export works on, once each file it writes is known to be writable
    (``engine_out``: "" for the engine's default file beside the ONNX, None for no engine); without -o an
    existing file (the bundled model's ONNX too) is overwritten only with --force."""
    from edge.errors import UsageError
    from edge.files import check_writable
    from edge.zoo import MASK_MODEL  # the zoo's folder: a bundled model is named as one

    is_onnx = model.lower().endswith(".onnx")
    onnx_path = model if is_onnx else output or os.path.splitext(model)[0] + ".onnx"
    int8_path = output if is_onnx and output else os.path.splitext(onnx_path)[0] + ".int8.onnx"
    writes = ([] if is_onnx else [onnx_path]) + ([int8_path] if int8 else [])
    for path in writes:
        if output is None and os.path.exists(path) and not force:
            zoo = os.path.dirname(os.path.abspath(MASK_MODEL))
            bundled = os.path.commonpath([zoo, os.path.abspath(path)]) == zoo
            raise UsageError("'{}' exists{}: pass -o PATH to write elsewhere, or --force to overwrite it".format(
                path, " (a bundled model)" if bundled else ""))
        check_writable(path, "--output")
    if engine_out is not None:
        check_writable(engine_out or onnx_path, "--engine-out")
    return onnx_path, int8_path


def _is_qdq(path: str) -> bool:
    from edge.backends.tensorrt.onnx_props import read_onnx

    return os.path.isfile(path) and "QuantizeLinear" in read_onnx(path)[1]


def _show(part, as_json, printer):
    if not as_json:
        printer(part)


def export_checkpoint(model, out, trust, arch, flags, batch, opset, simplify, parity_data, atol, rtol) -> Dict:
    """The parity-gated ONNX of a checkpoint; ``flags``: MetaOverrides of --labels, --input-size,
    --channel-order (``model_options.overrides``)."""
    from edge.errors import require
    from edge.files import write_failed

    require("torch", "torch", "edge export")
    require("onnx", "onnx", "edge export")
    require("onnxruntime", "onnxruntime", "the export parity gate")
    from export.onnx_export import export_onnx
    from export.source import load_source

    net, meta = load_source(model, trust=trust, arch=arch, labels=flags.get("labels"),
                            input_size=flags.get("input_size"), channel_order=flags.get("channel_order"))
    try:
        return export_onnx(net, meta, out, batch=batch, opset=opset, simplify=simplify, parity_data=parity_data,
                           atol=atol, rtol=rtol)
    except OSError as e:  # the write of ``out`` (a full disk): the model itself was read before
        raise write_failed("the ONNX", out, e) from None


def quantize_report(fp32_path, out, calib, calib_size, data, parity_data, method="minmax",
                    per_channel=True) -> Dict:
    """INT8 QDQ ONNX + its distance from FP32 (+ accuracy on ``data``); shared with `edge quantize`."""
    from edge.errors import require
    from edge.files import write_failed

    require("onnxruntime", "onnxruntime", "INT8 quantization")
    require("onnx", "onnx", "INT8 quantization")
    from rich.console import Console
    from rich.progress import Progress

    from export import quantize as q

    if data:
        q.check_data(data, q.onnx_meta(fp32_path))
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("calibrating", total=None)
        try:
            report = q.quantize_onnx(fp32_path, out, calib, limit=calib_size, method=method,
                                     per_channel=per_channel, progress=lambda n: bar.advance(task, n))
        except OSError as e:  # a full disk
            raise write_failed("the INT8 ONNX", out, e) from None
    report["vs_fp32"] = q.compare_int8(fp32_path, out, parity_data)
    if data:
        acc = q.evaluate({"fp32": fp32_path, "int8": out}, data)
        report["accuracy"] = {k: (v["accuracy"] if isinstance(v, dict) else v) for k, v in acc.items()}
    return report


def build(onnx_path, precision, calib, calib_size, engine_out, opt_batch, max_batch, workspace, timing_cache,
          trt_log, force, flags, opt_input=None, max_input=None) -> Dict:
    """TensorRT engine from ``onnx_path`` (runs where tensorrt + pycuda are installed); a classifier or object
    detector ONNX without metadata is described by the --labels and --input-size in ``flags``."""
    from edge.backends.base import MetaOverrides
    from edge.backends.tensorrt import calibration
    from edge.backends.tensorrt.onnx_model import engine_objects
    from edge.backends.tensorrt.onnx_props import onnx_graph
    from edge.backends.tensorrt.build import build_engine, engine_model

    graph = onnx_graph(onnx_path)
    ops = graph.ops
    meta, record = engine_model(graph.props, onnx_path)
    given = MetaOverrides((k, v) for k, v in flags.items() if k in ("labels", "input_size"))
    objects = engine_objects(graph, onnx_path, given) if record is None and meta is None else None
    if objects is not None:
        meta = objects.model_meta()
    elif record is None:
        meta = given.apply(meta, "'{}'".format(onnx_path))
    if (record is not None or objects is not None) and precision == "int8" and "QuantizeLinear" not in ops:
        from edge.errors import UsageError

        raise UsageError("'{}' is a detector: INT8 calibration here works on classifier crops; build it FP16 (the "
                         "default where the GPU has it) or --fp32".format(onnx_path))
    paths = calibration.calibration_paths(calib, calib_size) if (calib and precision == "int8") else None
    calib_batch = 8  # for a dynamic batch; an ONNX with a static batch calibrates at its own
    batches = (lambda n: calibration.batches(paths, meta, batch=n, exact=True)) if paths else None
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("building the TensorRT engine (minutes on a Jetson Nano)…"):
        return build_engine(onnx_path, meta, precision, batches, engine_out, opt_batch, max_batch, workspace,
                            timing_cache, trt_log, force, calibration.calibration_set_sha(paths) if paths else "",
                            "QuantizeLinear" in ops, calib_batch, echo=lambda s: console.print(s, markup=False),
                            detector_record=record, opt_input=opt_input, max_input=max_input, objects=objects)


def _print(title: str, rows, console=None) -> None:
    from rich.console import Console

    from edge.commands.tables import key_value_table

    (console or Console()).print(key_value_table(title, rows))


def print_onnx(r: Dict, console=None) -> None:
    rows = [(io[:-1], "{} {}".format(v["name"], "×".join(str(d) for d in v["shape"])))
            for io in ("inputs", "outputs") for v in r[io]]
    rows += [("opset", str(r["opset"])),
             ("size", "{:,} bytes ({:.3f} MB)".format(r["size"], r["size"] / 2.0 ** 20)),
             ("labels", ", ".join(r["meta"]["labels"]))]
    rows += [("parity, " + name, "max abs {:.2e}  rel {:.2e}  {}".format(p["max_abs"], p["max_rel"],
                                                                        "ok" if p["ok"] else "FAIL"))
             for name, p in r["parity"].items()]
    rows += [("tolerance", "{atol} + {rtol}·|y| ({n} real images)".format(n=r["real_images"], **r["tolerance"])),
             ("time", "{:.1f} s".format(r["seconds"]))]
    _print("ONNX export: {}".format(r["path"]), rows, console)


def print_int8(r: Dict, console=None) -> None:
    rows = [("size", "{:,} bytes (FP32 {:,})".format(r["size"], r["fp32_size"])),
            ("calibration", "{} images, {}".format(r["calibration_images"], r["method"])),
            ("Q/DQ nodes", str(r["qdq_nodes"]))]
    rows += [("vs FP32, " + name, "max abs {:.3g}  rel {:.3g}  top-1 agreement {:.1%}".format(
        p["max_abs"], p["max_rel"], p["top1_agreement"])) for name, p in r["vs_fp32"].items()]
    acc = r.get("accuracy")
    if acc:
        rows.append(("accuracy ({} images)".format(acc["images"]), "FP32 {:.2%} → INT8 {:.2%} (Δ {:+.2f} pp, "
                     "agreement {:.1%})".format(acc["fp32"], acc["int8"], acc["delta_pp"], acc["agreement"])))
    rows.append(("time", "{:.1f} s".format(r["seconds"])))
    _print("INT8 QDQ ONNX: {}".format(r["path"]), rows, console)


def print_engine(r: Dict, console=None) -> None:
    rows = [("action", r["action"])] + ([("kind", r["kind"])] if r.get("kind") else [])
    rows += [(k, str(v)) for k, v in sorted(r["fingerprint"].items())]
    rows += [(k, str(r[k])) for k in ("profile", "api", "size", "timing_cache", "calibration_cache")
             if r.get(k) is not None]
    if r.get("input_shapes"):
        rows.append(("input shapes", "  ".join("{} {}".format(k, "x".join(str(d) for d in r["input_shapes"][k]))
                                               for k in ("min", "opt", "max"))))
    if r.get("seconds") is not None:
        rows.append(("build time", "{:.1f} s".format(r["seconds"])))
    rows += [("note", note) for note in r.get("notes", [])]
    _print("TensorRT engine: {}".format(r["engine"]), rows, console)
