"""PyTorch → one validated ONNX file: export, simplify, check, stamp metadata, parity gate, then publish.

Opset 13: TensorRT 8.2 (JetPack 4.6, the Jetson Nano's last release) parses opsets 7–13 fully and
ONNX Runtime reads every opset since 7; 13 is also what the TorchScript exporter (``dynamo=False``)
writes natively, so no op is down-converted. Newer opsets (≥ 14) would lock out the Nano.

Nothing is written at ``out`` unless every step passes: the work happens in a temp file beside it,
moved into place with ``os.replace`` (``edge.files.atomic_path``).
"""
import contextlib
import os
import sys
import tempfile
import time
import warnings
from typing import Dict, Optional

import numpy as np
import torch

from edge.backends.base import check_rows
from edge.errors import EdgeError, InputError, UsageError
from edge.files import atomic_path
from edge.meta import ModelMeta
from export import parity

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class ParityError(EdgeError):
    """The exported graph computes something else than the PyTorch model (exit 1)."""


def probe(model: torch.nn.Module, meta: ModelMeta, batch: int = 1) -> torch.Tensor:
    """Run the model once on a zero image batch; a forward that needs other inputs, logits of another shape
    or NaN/inf in them fail clearly (the checks the backends make when they load the ONNX)."""
    x = torch.zeros((batch, meta.channels) + tuple(meta.input_size))
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as e:
        raise InputError("expected a model whose forward takes one image batch of shape {}, found one that "
                         "fails on it ({}: {})".format(tuple(x.shape), type(e).__name__, _line(e))) from None
    if not torch.is_tensor(y) or y.ndim != 2 or y.shape != (batch, meta.num_classes):
        raise InputError("expected the model to return logits of shape ({}, {}) for labels {}, found {}".format(
            batch, meta.num_classes, list(meta.labels), tuple(y.shape) if torch.is_tensor(y) else type(y).__name__))
    if not bool(torch.isfinite(y).all()):
        raise InputError("expected finite logits, found NaN or inf for a batch of {} zero image(s); are the "
                         "model's weights NaN (a diverged training run)?".format(batch))
    return y


def _line(e: BaseException) -> str:
    lines = [s for s in str(e).strip().splitlines() if s.strip()]
    return lines[0][:240] if lines else type(e).__name__


@contextlib.contextmanager
def _quiet_native_output():
    """Silence C++ prints to fds 1/2 (the exporter dumps its whole IR graph on failure); errors are re-raised
    as one line by the caller."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def torch_export(model, meta: ModelMeta, path: str, batch: Optional[int] = None, opset: int = OPSET) -> None:
    """``torch.onnx.export`` (TorchScript exporter), dynamic batch unless ``batch`` is given."""
    x = torch.zeros((batch or 1, meta.channels) + tuple(meta.input_size))
    dynamic = None if batch else {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    try:
        with torch.no_grad(), warnings.catch_warnings(), _quiet_native_output():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), path, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True, dynamo=False)
    except OSError:  # a full disk, not the model: `edge export` names the file (edge.files.write_failed)
        raise
    except Exception as e:
        raise InputError("the model cannot be exported to ONNX opset {} ({}: {})".format(
            opset, type(e).__name__, _line(e))) from None


def finish(path: str, meta: ModelMeta, simplify: bool = True):
    """Simplify (onnxslim), stamp ``metadata_props``, full-check; returns the ModelProto written at ``path``."""
    import onnx

    model = onnx.load(path)
    simplified = False
    if simplify:
        import onnxslim

        try:
            with _quiet_native_output():
                model = onnxslim.slim(model)
            simplified = True
        except Exception:  # a simplifier bug must not block an export that is valid without it
            model = onnx.load(path)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta.to_onnx_props())
    model.producer_name = "edge"
    onnx.save(model, path)  # weights embedded: one file (models here are far below the 2 GB limit)
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as e:  # ValidationError, InferenceError (strict shape inference)
        raise InputError("the exported ONNX fails onnx.checker ({}: {})".format(type(e).__name__, _line(e))) from None
    return model, simplified


def describe(model) -> Dict:
    """Inputs/outputs with shapes (symbolic dims by name) and the opset."""
    def shape(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    return {"inputs": [{"name": v.name, "shape": shape(v)} for v in model.graph.input],
            "outputs": [{"name": v.name, "shape": shape(v)} for v in model.graph.output],
            "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))}


def ort_session(path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def ort_fn(session):
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def torch_fn(model):
    """The model as numpy → numpy; logits without one row per image are an InputError (the parity gate says at
    which batch)."""
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            y = model(torch.from_numpy(x)).float().numpy()
        check_rows(len(x), y)
        return y
    return run


def export_onnx(model, meta: ModelMeta, out: str, batch: Optional[int] = None, opset: int = OPSET,
                simplify: bool = True, parity_data: Optional[str] = None, atol: float = parity.DEFAULT_ATOL,
                rtol: float = parity.DEFAULT_RTOL) -> Dict:
    """Export ``model`` to ``out`` through the parity gate; returns the report for the summary."""
    if batch is not None and batch < 1:
        raise UsageError("expected --batch ≥ 1, found {}".format(batch))
    if atol < 0 or rtol < 0:
        raise UsageError("expected tolerances ≥ 0, found atol {} rtol {}".format(atol, rtol))
    t0 = time.time()
    model = model.eval()
    probe(model, meta, batch or 1)
    with atomic_path(out) as tmp:
        torch_export(model, meta, tmp, batch, opset)
        proto, simplified = finish(tmp, meta, simplify)
        images = parity.real_images(parity_data)
        sets = parity.input_sets(meta, images, batch)
        try:
            session = ort_session(tmp)
        except Exception as e:
            raise InputError("ONNX Runtime cannot load the exported model ({})".format(_line(e))) from None
        results = parity.run_parity(torch_fn(model), ort_fn(session), sets, atol, rtol)
        summary = parity.worst(results)
        if not summary["ok"]:
            bad = [n for n, r in results.items() if not r["ok"]]
            hint = (". Data-dependent Python control flow in forward() (frozen by tracing) is the usual cause"
                    if summary["max_abs"] > 1e-3 else "")
            raise ParityError("parity gate failed: ONNX Runtime differs from PyTorch by up to {:.3g} (abs) / {:.3g} "
                              "(rel) on {} (tolerance {} + {}·|y|); no file written{}".format(
                                  summary["max_abs"], summary["max_rel"], "; ".join(bad), atol, rtol, hint))
    report = describe(proto)
    report.update(path=out, size=os.path.getsize(out), parity=results, parity_worst=summary,
                  real_images=len(images), tolerance={"atol": atol, "rtol": rtol}, seconds=time.time() - t0,
                  meta=meta.to_dict(), simplified=simplified)
    return report
