"""``edge bench``: latency, throughput and accuracy of models × backends × batch sizes, side by side.

Every (model, backend) is loaded once; then timing runs in ``rounds`` rounds: in each round every
(model, backend, batch) gets one untimed call (to shed the previous backend's thread-pool state)
and then its share of the timed calls. So slow drift in machine load (shared CPUs) hits every
configuration alike, and the ratios between rows are fair even when absolute numbers wander.

Report schema (``SCHEMA`` = "edge.bench/1"; JSON; ``validate_report`` checks it)::

    {
      "schema": "edge.bench/1",
      "created": "2026-11-22T19:00:00Z",           # UTC
      "command": "edge bench a.pt a.onnx ...",
      "settings": {"warmup": 10, "runs": 50, "rounds": 5, "batches": [1, 8],
                   "backends": ["auto"], "data": null | "DIR", "threads": null | int},
      "environment": {"host", "os", "python", "machine", "cpu", "cpu_count", "load_avg": [1m, 5m, 15m],
                      "gpu": null | str, "jetson": null | str, "libraries": {name: version},
                      "onnxruntime_providers": [...], "telemetry": Telemetry.summary()},
      "models": [{"label", "path", "backend", "device", "precision", "static_batch", "max_batch",
                  "accuracy": null | float, "accuracy_n": int,
                  "overhead": null | {"<batch>": {"bare_ms", "wrapped_ms", "overhead_pct"}}}],
      "results": [{"label", "path", "backend", "device", "precision", "batch", "n",
                   "min_ms", "median_ms", "mean_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
                   "per_item_ms",          # median_ms / batch
                   "throughput",           # items per second at the median
                   "speedup",              # per-item time of the first model × backend at the same batch / this
                   "vs_baseline",          # per_item_ms / per-item time of the first row (first model, first batch)
                   "accuracy": null | float}],
      "baseline": {"label", "batch", "per_item_ms"},
      "samples": {"<label> @<batch>": [ms, ...]}   # every timed call, for the box plot
    }

``overhead`` (ONNX Runtime only) compares ``Backend.infer`` with a bare ``session.run`` on the same
input: ``runs`` × 4 alternated pairs; ``overhead_pct`` = median per-pair difference / bare median.
"""
import csv
import datetime
import io
import json
import os
import platform
import sys
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from edge.errors import InputError
from edge.files import jetson_model, write_atomic
from edge.timing import summarize

SCHEMA = "edge.bench/1"
RESULT_FIELDS = ("label", "path", "backend", "device", "precision", "batch", "n", "min_ms", "median_ms",
                 "mean_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "per_item_ms", "throughput", "speedup",
                 "vs_baseline", "accuracy")
TOP_KEYS = ("schema", "created", "command", "settings", "environment", "models", "results", "baseline",
            "samples")
MODEL_FIELDS = ("label", "path", "backend", "device", "precision", "static_batch", "max_batch", "accuracy",
                "accuracy_n", "overhead")
LIBRARIES = ("numpy", "cv2", "onnxruntime", "torch", "tensorrt", "pycuda", "jtop", "onnx")


def label_of(path: str, backend) -> str:
    return "{} [{}:{}]".format(os.path.basename(path), backend.name, backend.device)


def sample_key(label: str, batch: int) -> str:
    return "{} @{}".format(label, batch)


def make_inputs(meta, batch: int, images: Optional[np.ndarray] = None, seed: int = 0) -> np.ndarray:
    """A float32 batch: real preprocessed images cycled when given, else seeded N(0, 1) noise."""
    if images is not None and len(images):
        idx = np.arange(batch) % len(images)
        return np.ascontiguousarray(images[idx])
    rng = np.random.RandomState(seed)
    return rng.standard_normal((batch, meta.channels) + tuple(meta.input_size)).astype(np.float32)


def time_interleaved(calls: Sequence[Callable[[], Any]], warmup: int, runs: int, rounds: int,
                     clock=time.perf_counter, on_round: Optional[Callable[[int], None]] = None) -> List[List[float]]:
    """Milliseconds of ``runs`` timed calls of each callable, spread over ``rounds`` rounds (see module doc)."""
    for fn in calls:
        for _ in range(warmup):
            fn()
    rounds = max(1, min(rounds, runs))
    shares = [runs // rounds + (1 if r < runs % rounds else 0) for r in range(rounds)]
    out = [[] for _ in calls]
    for r, share in enumerate(shares):
        for i, fn in enumerate(calls):
            fn()  # untimed: re-warm after the previous configuration
            for _ in range(share):
                t0 = clock()
                fn()
                out[i].append((clock() - t0) * 1000.0)
        if on_round:
            on_round(r)
    return out


def wrapper_overhead(backend, x: np.ndarray, runs: int, clock=time.perf_counter) -> Dict[str, float]:
    """``backend.infer(x)`` vs the bare ``backend.bare_run(x)``: calls alternate (order flipping each
    pair); ``overhead_pct`` is the median of the per-pair differences over the bare median, so load
    drift on a shared machine cancels out instead of landing on one side."""
    bare, wrapped = [], []
    for _ in range(5):
        backend.bare_run(x)
        backend.infer(x)
    for i in range(runs):
        pair = ((backend.bare_run, bare), (backend.infer, wrapped))
        for fn, acc in (pair if i % 2 else pair[::-1]):
            t0 = clock()
            fn(x)
            acc.append((clock() - t0) * 1000.0)
    b, w = float(np.median(bare)), float(np.median(wrapped))
    diff = float(np.median(np.asarray(wrapped) - np.asarray(bare)))
    return {"bare_ms": b, "wrapped_ms": w, "overhead_pct": diff / b * 100.0}


def load_eval_set(data: str, limit: int = 0):
    """(classes, BGR images, label indices) of an ImageFolder, optionally the first ``limit`` per class."""
    from edge.imagefolder import read_image, scan

    folder = scan(data)
    samples = list(folder.samples)
    if limit:
        kept = {}  # label → how many taken so far
        samples = []
        for s in folder.samples:
            kept[s.label] = kept.get(s.label, 0) + 1
            if kept[s.label] <= limit:
                samples.append(s)
    return folder.classes, [read_image(s.path) for s in samples], np.array([s.label for s in samples])


def accuracy(backend, classes: Sequence[str], images: np.ndarray, labels: np.ndarray, batch: int = 32) -> float:
    """Top-1 accuracy of ``backend`` on preprocessed ``images``; folder classes are matched to labels by name."""
    names = list(backend.meta.labels)
    missing = [c for c in classes if c not in names]
    if missing:
        raise InputError("eval folder class '{}' is not among the model's labels {} ({})".format(
            missing[0], names, backend.path))
    target = np.array([names.index(classes[i]) for i in labels])
    pred = np.concatenate([backend.infer(images[i:i + batch]).argmax(axis=1) for i in range(0, len(images), batch)])
    return float((pred == target).mean())


def build_results(entries: List[Dict[str, Any]], samples: List[List[float]]) -> List[Dict[str, Any]]:
    """Result rows from (label, path, backend info, batch, accuracy) entries and their timings.

    ``speedup`` compares with the first configuration (first model, first backend) at the same
    batch; ``vs_baseline`` compares with row 0 (first configuration, first batch).
    """
    rows = []
    for e, ms in zip(entries, samples):
        s = summarize(ms)
        row = OrderedDict((k, e.get(k)) for k in ("label", "path", "backend", "device", "precision", "batch"))
        row.update(n=s["n"], min_ms=s["min"], median_ms=s["p50"], mean_ms=s["mean"], p90_ms=s["p90"],
                   p95_ms=s["p95"], p99_ms=s["p99"], max_ms=s["max"])
        row["per_item_ms"] = s["p50"] / e["batch"]
        row["throughput"] = 1000.0 * e["batch"] / s["p50"] if s["p50"] > 0 else None
        row["accuracy"] = e.get("accuracy")
        rows.append(row)
    for row in rows:
        first = next(r for r in rows if r["batch"] == row["batch"])
        row["speedup"] = first["per_item_ms"] / row["per_item_ms"] if row["per_item_ms"] else None
        row["vs_baseline"] = row["per_item_ms"] / rows[0]["per_item_ms"] if rows[0]["per_item_ms"] else None
    return [OrderedDict((k, r[k]) for k in RESULT_FIELDS) for r in rows]


def environment(telemetry: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Where the numbers come from: host, CPU/GPU, libraries used, load, Jetson telemetry."""
    libs = OrderedDict([("edge", __import__("edge").__version__)])
    for name in LIBRARIES:
        mod = sys.modules.get(name)
        if mod is not None:
            libs[name] = str(getattr(mod, "__version__", getattr(mod, "VERSION", "?")))
    ort = sys.modules.get("onnxruntime")
    return OrderedDict([
        ("host", platform.node()), ("os", platform.platform()), ("python", platform.python_version()),
        ("machine", platform.machine()), ("cpu", cpu_name()), ("cpu_count", os.cpu_count()),
        ("load_avg", [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None),
        ("gpu", gpu_name()), ("jetson", jetson_model()), ("libraries", libs),
        ("onnxruntime_providers", ort.get_available_providers() if ort else None),
        ("telemetry", telemetry or {"available": False, "reason": "not requested"}),
    ])


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name() -> Optional[str]:
    """The CUDA GPU torch or pycuda sees (only if already imported: never loads a GPU stack for this)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
        cuda = sys.modules.get("pycuda.driver")
        if cuda is not None:
            cuda.init()
            return cuda.Device(0).name()
    except Exception:  # a broken driver is not the benchmark's concern
        pass
    return None


def validate_report(report: Dict[str, Any]) -> None:
    """Raise ValueError naming the first way ``report`` departs from the schema in the module docstring."""
    def need(ok, what):
        if not ok:
            raise ValueError("bench report: " + what)

    need(isinstance(report, dict) and report.get("schema") == SCHEMA, "schema must be " + SCHEMA)
    for key in TOP_KEYS:
        need(key in report, "missing top-level key '{}'".format(key))
    need(report["results"], "no results")
    for m in report["models"]:
        need(set(MODEL_FIELDS) <= set(m), "model entry lacks {}".format(sorted(set(MODEL_FIELDS) - set(m))))
    for r in report["results"]:
        need(tuple(r) == RESULT_FIELDS, "result fields {} != {}".format(list(r), list(RESULT_FIELDS)))
        need(r["n"] == len(report["samples"][sample_key(r["label"], r["batch"])]), "sample count mismatch")
        need(0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"],
             "latency order broken in {}".format(r["label"]))
        need(abs(r["per_item_ms"] * r["batch"] - r["median_ms"]) < 1e-9 * max(1.0, r["median_ms"]),
             "per_item_ms != median_ms / batch")
    need(report["results"][0]["vs_baseline"] == 1.0, "first row must be the baseline")
    for key in ("host", "python", "cpu", "libraries", "telemetry"):
        need(key in report["environment"], "environment lacks '{}'".format(key))


def to_csv(results: List[Dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(RESULT_FIELDS), lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in RESULT_FIELDS})
    return buf.getvalue()


def write_report(report: Dict[str, Any], out_dir: str, plots: bool = True) -> List[str]:
    """bench.json, bench.csv and (``plots``) the three PNGs into ``out_dir``; returns the paths."""
    validate_report(report)
    os.makedirs(out_dir, exist_ok=True)
    paths = [write_atomic(os.path.join(out_dir, "bench.json"), json.dumps(report, indent=2) + "\n"),
             write_atomic(os.path.join(out_dir, "bench.csv"), to_csv(report["results"]))]
    if plots:
        from edge.bench.plots import write_plots

        paths += write_plots(report, out_dir)
    return paths


def utc_now() -> str:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    return now.isoformat() + "Z"


def _pairs(path: str, backends: Sequence[str]) -> List[tuple]:
    """(backend spec, whether it runs ``path``) for each requested backend."""
    from edge.backends import candidates, parse_backend

    return [(b, parse_backend(b)[0] in ("auto",) + tuple(candidates(path))) for b in backends]


def plan_runs(models: Sequence[str], backends: Sequence[str]) -> List[tuple]:
    """(path, backend spec) for every model × requested backend that can run it, in the given order."""
    from edge.backends import candidates
    from edge.errors import UsageError

    out = []
    for path in models:
        specs = [b for b, runs in _pairs(path, backends) if runs]
        if not specs:
            raise UsageError("none of the backends {} runs '{}' (it needs: {})".format(
                list(backends), os.path.basename(path), ", ".join(candidates(path))))
        out += [(path, spec) for spec in specs]
    return out


def skipped_runs(models: Sequence[str], backends: Sequence[str]) -> List[str]:
    """Why each model × backend pair that ``plan_runs`` leaves out is left out, one line each."""
    from edge.backends import candidates

    return ["skipped {} × {}: that backend does not run {} files (this one runs with: {})".format(
        os.path.basename(path), b, os.path.splitext(path)[1].lower() or "suffix-less", ", ".join(candidates(path)))
        for path in models for b, runs in _pairs(path, backends) if not runs]


def run_bench(models: Sequence[str], backends: Sequence[str] = ("auto",), batches: Sequence[int] = (1, 8),
              warmup: int = 10, runs: int = 50, rounds: int = 5, data: Optional[str] = None, limit: int = 0,
              threads: Optional[int] = None, overrides=None, options: Optional[Dict] = None,
              telemetry=None, command: str = "", progress: Optional[Callable[[str, int, int], None]] = None):
    """Load, time, score; returns the report (schema in the module docstring). Backends are closed at the end."""
    from edge.backends import load_backend
    from edge.preprocess import preprocess

    options = dict(options or {}, **({"threads": threads} if threads else {}))
    progress = progress or (lambda stage, done, total: None)
    eval_set = load_eval_set(data, limit) if data else None
    loaded, entries, calls, model_info = [], [], [], []
    try:
        plan = plan_runs(models, backends)
        for i, (path, spec) in enumerate(plan):
            progress("load", i, len(plan))
            backend = load_backend(path, spec, overrides, options)
            loaded.append(backend)
            label = label_of(path, backend)
            images = preprocess(eval_set[1], backend.meta) if eval_set else None
            acc = accuracy(backend, eval_set[0], images, eval_set[2], backend.max_batch or 32) if eval_set else None
            info = OrderedDict((k, v) for k, v in backend.info().items() if k in MODEL_FIELDS)
            info.update(label=label, path=path, accuracy=acc, accuracy_n=len(eval_set[2]) if eval_set else 0,
                        overhead=None)
            for b in batches:
                x = make_inputs(backend.meta, b, images)
                entries.append({"label": label, "path": path, "backend": backend.name, "device": backend.device,
                                "precision": backend.precision, "batch": b, "accuracy": acc})
                calls.append((lambda be, xx: lambda: be.infer(xx))(backend, x))
            # the bare call takes only what the session takes as is: its own batch size, float32 input
            bare = [b for b in batches if backend.static_batch in (None, b)]
            if hasattr(backend, "bare_run") and bare and getattr(backend, "input_dtype", np.float32) is np.float32:
                info["overhead"] = OrderedDict((str(b), wrapper_overhead(backend, make_inputs(backend.meta, b, images),
                                                                         runs * 4)) for b in bare)
            model_info.append(OrderedDict((k, info.get(k)) for k in MODEL_FIELDS))
        progress("load", len(plan), len(plan))
        r = max(1, min(rounds, runs))
        samples = time_interleaved(calls, warmup, runs, r, on_round=lambda k: progress("time", k + 1, r))
    finally:
        for backend in loaded:
            backend.close()
    results = build_results(entries, samples)
    return OrderedDict([
        ("schema", SCHEMA), ("created", utc_now()), ("command", command),
        ("settings", OrderedDict([("warmup", warmup), ("runs", runs), ("rounds", r), ("batches", list(batches)),
                                  ("backends", list(backends)), ("data", data), ("threads", threads)])),
        ("environment", environment(telemetry.summary() if telemetry is not None else None)),
        ("models", model_info), ("results", results),
        ("baseline", OrderedDict([("label", results[0]["label"]), ("batch", results[0]["batch"]),
                                  ("per_item_ms", results[0]["per_item_ms"])])),
        ("samples", OrderedDict((sample_key(e["label"], e["batch"]), s) for e, s in zip(entries, samples))),
    ])
