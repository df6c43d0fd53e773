"""``edge quantize MODEL --calib DIR``: static INT8 QDQ ONNX with ONNX Runtime, accuracy next to FP32."""
import json
import os
import tempfile
from typing import Optional

import typer

from edge.commands import model_options

EPILOG = """Examples:

\b
  edge quantize runs/small.onnx --calib data/train --data data/test
  edge quantize runs/teacher.pt --calib data/train --method entropy \\
      -o t.int8.onnx
"""


def quantize(
    model: str = typer.Argument(..., help="An FP32 ONNX from `edge export`, or a checkpoint / TorchScript file "
                                          "(exported to FP32 ONNX first, through the parity gate)."),
    calib: str = typer.Option(..., "--calib", help="Folder of calibration images (ImageFolder or flat); "
                                                   "a few hundred real images like the ones the model will see."),
    data: Optional[str] = typer.Option(None, "--data", help="Labelled ImageFolder (class folders named after "
                                                            "the model's labels): report FP32 vs INT8 accuracy."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="INT8 ONNX to write (default: MODEL with "
                                                                      "the suffix .int8.onnx)."),
    calib_size: int = typer.Option(256, "--calib-size", help="Most calibration images to use."),
    method: str = typer.Option("minmax", "--method", help="Calibration method: minmax, entropy or percentile."),
    per_channel: bool = typer.Option(True, "--per-channel/--per-tensor", help="Weight scales per output "
                                                                              "channel (better accuracy) or per "
                                                                              "tensor."),
    parity_data: Optional[str] = typer.Option(None, "--parity-data", help="Folder of images for the INT8-vs-FP32 "
                                                                          "comparison (default: sample photos)."),
    labels: Optional[str] = model_options.labels_option(),
    input_size: Optional[str] = model_options.input_size_option(),
    trust: bool = typer.Option(False, "--trust", help="Allow unpickling a MODEL that is not a plain checkpoint. "
                                                      "Runs code from the file: only for files you trust."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
):
    """Quantize a model to static INT8 in QDQ format with ONNX Runtime's quantize_static.

    Activations and weights are symmetric INT8 (as TensorRT requires), calibrated on real images preprocessed exactly as at run time; with --data, FP32 and INT8 accuracy are reported side by side.
    """
    from edge.commands import export as ex
    from edge.files import check_writable

    stem = os.path.splitext(model)[0]
    out = output or (stem[:-5] if stem.endswith(".fp32") else stem) + ".int8.onnx"
    check_writable(out, "--output")  # before the export and the calibration, not after them
    with tempfile.TemporaryDirectory(prefix="edge-quantize-") as work:
        if model.lower().endswith(".onnx"):
            fp32 = model
        else:
            fp32 = os.path.join(work, os.path.basename(stem) + ".onnx")
            ex.export_checkpoint(model, fp32, trust, None, model_options.overrides(labels, input_size), None, 13,
                                 True, parity_data, 1e-4, 1e-3)
        report = ex.quantize_report(fp32, out, calib, calib_size, data, parity_data, method, per_channel)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        ex.print_int8(report)


quantize.epilog = EPILOG
