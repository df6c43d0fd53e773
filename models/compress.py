"""``edge compress``: the whole recipe of seed 004 in one command, and its comparison table.

    teacher ──train──▶ teacher.pt ──distill──▶ medium-kd.pt, small-kd.pt
                                   └─prune 0.3/0.5/0.7 + fine-tune──▶ teacher-pruned-{r}.pt
    every model ──edge eval (test split) + profile──▶ compress.json, compress.md, *.png

The table is built from a list of ``(name, model file)`` rows (``Row``), so any other model file —
an INT8 ONNX export, say — is one more row (``--row NAME=PATH``); ``.pt`` and ``.onnx`` files are
measured alike through ``edge.backends``.
"""
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from edge.errors import InputError, UsageError
from edge.files import atomic_path, sha256_file, write_atomic

MB = float(1 << 20)


class Row(NamedTuple):
    name: str
    path: str
    kind: str = ""  # teacher / student / pruned / other: which rows may become the default model


@dataclass(frozen=True)
class Recipe:
    teacher_epochs: int = 10
    student_epochs: int = 8
    finetune_epochs: int = 3
    students: Tuple[str, ...] = ("medium", "small")
    ratios: Tuple[float, ...] = (0.3, 0.5, 0.7)
    temperature: float = 4.0
    alpha: float = 0.7
    batch_size: int = 32
    lr: float = 3e-3
    finetune_lr: float = 1e-3  # after pruning: the weights are already trained
    patience: int = 4
    seed: int = 0
    val: float = 0.15
    test: float = 0.15
    threads: int = 0
    runs: int = 100  # timed forward passes per model for the latency column


def parse_rows(specs: Sequence[str]) -> List[Row]:
    rows = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError("expected --row NAME=PATH, found '{}'".format(spec))
        if not os.path.isfile(path):
            raise InputError("expected a model file for row '{}', found nothing at '{}'".format(name, path))
        rows.append(Row(name, path, "other"))
    return rows


def run_recipe(data: str, out: str, recipe: Recipe = Recipe(), reuse: bool = False, progress: bool = True,
               log=print) -> Tuple[List[Row], Dict[str, float]]:
    """Train, distil and prune into ``out``; returns the rows and the wall seconds of each step."""
    from models.prune import check_ratio, prune
    from models.registry import list_models
    from models.train import KDConfig, TrainConfig, distill, train

    for arch in recipe.students:
        if arch not in list_models():
            raise UsageError("unknown student architecture '{}' (known: {})".format(arch, ", ".join(list_models())))
    for r in recipe.ratios:
        check_ratio(r)
    os.makedirs(out, exist_ok=True)

    def cfg(epochs, lr=recipe.lr):
        return TrainConfig(epochs=epochs, batch_size=recipe.batch_size, lr=lr, patience=recipe.patience,
                           seed=recipe.seed, val=recipe.val, test=recipe.test, threads=recipe.threads,
                           progress=progress).check()

    rows, seconds = [], {}

    def step(name, path, kind, fn):
        if not (reuse and os.path.exists(path)):
            log("== {} → {}".format(name, path))
            t = time.time()
            fn()
            seconds[name] = round(time.time() - t, 1)
        else:
            log("== {}: reusing {}".format(name, path))
        rows.append(Row(name, path, kind))

    teacher = os.path.join(out, "teacher.pt")
    step("teacher", teacher, "teacher", lambda: train("teacher", data, teacher, cfg(recipe.teacher_epochs)))
    kd = KDConfig(recipe.temperature, recipe.alpha).check()
    for arch in recipe.students:
        path = os.path.join(out, "{}-kd.pt".format(arch))
        step("{} (KD)".format(arch), path, "student",
             lambda a=arch, p=path: distill(teacher, a, data, p, cfg(recipe.student_epochs), kd))
    for r in recipe.ratios:
        path = os.path.join(out, "teacher-pruned-{:g}.pt".format(r))
        step("pruned {:g} %".format(r * 100), path, "pruned",
             lambda r=r, p=path: prune(teacher, r, data, p, cfg(recipe.finetune_epochs, recipe.finetune_lr)))
    return rows, seconds


# ---------------------------------------------------------------- measuring rows

def measure(rows: Sequence[Row], data: str, recipe: Recipe, progress: bool = False, rounds: int = 5) -> List[Dict]:
    """Accuracy (``edge eval`` on the test split) and cost of each model file; .pt and .onnx alike.

    Latency is measured side by side: ``rounds`` rounds, each timing every model ``runs/rounds``
    times in turn, so load from other processes hits all rows alike; the median over all runs is kept.
    """
    import numpy as np

    from edge.backends import load_backend
    from edge.timing import summarize, time_calls
    from models.evaluate import evaluate

    reports = [evaluate(r.path, data, "test", recipe.seed, recipe.val, recipe.test, progress=progress) for r in rows]
    styled = bool(reports and reports[0].get("holdout"))
    inside = [evaluate(r.path, data, "test_in", recipe.seed, recipe.val, recipe.test, progress=progress)
              if styled else None for r in rows]
    backends = [load_backend(r.path) for r in rows]
    try:
        times = [[] for _ in rows]
        per_round = max(1, recipe.runs // rounds)
        for _ in range(rounds):
            for i, b in enumerate(backends):
                x = np.random.default_rng(0).standard_normal(
                    (1, b.meta.channels) + tuple(b.meta.input_size)).astype(np.float32)
                times[i] += time_calls(lambda: b.infer(x), warmup=3, runs=per_round)
        results = []
        for row, rep, b, t, ins in zip(rows, reports, backends, times, inside):
            lat = summarize(t)
            sub = rep.get("subsets") or {}
            extra = {} if not styled else {
                "heldout_mask_accuracy": sub.get("mask", {}).get("accuracy"),
                "bare_accuracy": sub.get("bare", {}).get("accuracy"),
                "negative_accuracy": sub.get("negative", {}).get("accuracy"),
                "indist_mask_accuracy": (ins.get("subsets") or {}).get("mask", {}).get("accuracy"),
                "subsets": sub, "holdout": rep.get("holdout")}
            results.append(dict({
                "name": row.name, "path": row.path, "kind": row.kind, "variant": b.meta.variant,
                "backend": b.info()["backend"], "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"],
                "test_images": rep["n"], "latency_ms": lat["p50"], "latency_p90_ms": lat["p90"],
                "latency_runs": len(t), "size_mb": os.path.getsize(row.path) / MB}, **_cost(row.path, b.meta), **extra))
    finally:
        for b in backends:
            b.close()
    return results


def _cost(path: str, meta) -> Dict:
    """Parameters (total / non-zero), widths and FLOPs; FLOPs only for PyTorch checkpoints."""
    if path.endswith(".onnx"):
        import numpy as np
        import onnx
        from onnx import numpy_helper

        arrays = [numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer]
        floats = [a for a in arrays if a.dtype.kind == "f" or a.dtype in (np.int8, np.uint8)]
        total = int(sum(a.size for a in floats))
        return {"params": total, "nonzero": int(sum(np.count_nonzero(a) for a in floats)),
                "widths": meta.arch_args.get("widths"), "mflops": None}
    from models.checkpoint import load_checkpoint
    from models.profile import count_flops, count_parameters

    model, meta = load_checkpoint(path)
    p = count_parameters(model)
    flops = count_flops(model, (1, meta.channels) + tuple(meta.input_size))
    return {"params": p["total"], "nonzero": p["nonzero"], "widths": meta.arch_args.get("widths"),
            "mflops": flops / 1e6}


# ---------------------------------------------------------------- reporting

COLUMNS = (  # header, key, format
    ("model", "name", "{}"), ("widths", "widths", "{}"), ("params", "params", "{:,}"),
    ("non-zero", "nonzero", "{:,}"), ("size MB", "size_mb", "{:.3f}"), ("MFLOPs", "mflops", "{:.1f}"),
    ("CPU ms (b=1, p50)", "latency_ms", "{:.2f}"), ("runtime", "backend", "{}"),
    ("test accuracy", "accuracy", "{:.2%}"), ("Δ vs teacher (points)", "delta", "{:+.2f}"),
)
STYLE_COLUMNS = (  # leave-style-out folders (models.protocol): the accuracy of each part of the test people
    ("held-out masks", "heldout_mask_accuracy", "{:.2%}"), ("bare", "bare_accuracy", "{:.2%}"),
    ("negatives", "negative_accuracy", "{:.2%}"), ("in-dist. masks", "indist_mask_accuracy", "{:.2%}"),
)


def markdown_table(results: List[Dict]) -> str:
    teacher = next((r["accuracy"] for r in results if r.get("kind") == "teacher"), None)
    columns = COLUMNS + (STYLE_COLUMNS if any(r.get("heldout_mask_accuracy") is not None for r in results) else ())
    head = "| " + " | ".join(c[0] for c in columns) + " |"
    sep = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|"
    lines = [head, sep]
    for r in results:
        r = dict(r, delta=None if teacher is None else (r["accuracy"] - teacher) * 100,
                 widths="-".join(map(str, r["widths"])) if r.get("widths") else None)
        cells = ["–" if r.get(key) is None else fmt.format(r[key]) for _, key, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bar_charts(results: List[Dict], out: str) -> List[str]:
    """One PNG per metric (latency, parameters, size, accuracy), like seed 000's comparison plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in results]
    charts = [("latency_ms", "CPU latency, batch 1 (ms, median)", "inference_time_comparison.png"),
              ("params", "parameters", "parameters_comparison.png"),
              ("size_mb", "file size (MB)", "size_comparison.png"),
              ("accuracy", "test accuracy (%)", "accuracy_comparison.png")]
    paths = []
    for key, label, fname in charts:
        vals = [(r[key] * 100 if key == "accuracy" else r[key]) or 0 for r in results]
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4))
        bars = ax.bar(names, vals, color=["#c0392b" if r.get("kind") == "teacher" else "#2e86c1" for r in results])
        ax.bar_label(bars, labels=["{:.3g}".format(v) for v in vals], fontsize=8)
        ax.set_ylabel(label)
        ax.set_title(label)
        if key == "accuracy":
            ax.set_ylim(max(0, min(vals) - 5), 100.5)
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        fig.tight_layout()
        path = os.path.join(out, fname)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(results: List[Dict], out: str, extra: Optional[Dict] = None) -> Dict[str, str]:
    """compress.json, compress.md and the PNGs in ``out``."""
    os.makedirs(out, exist_ok=True)
    doc = dict(extra or {}, rows=results)
    write_atomic(os.path.join(out, "compress.json"), json.dumps(doc, indent=2, default=str))
    md = markdown_table(results)
    write_atomic(os.path.join(out, "compress.md"), md + "\n")
    pngs = bar_charts(results, out)
    return {"json": os.path.join(out, "compress.json"), "markdown": os.path.join(out, "compress.md"),
            "charts": pngs, "table": md}


def choose_default(results: List[Dict], max_drop: float = 0.02) -> Optional[Dict]:
    """The smallest student or pruned model within ``max_drop`` of the teacher's accuracy; if none
    qualifies, the most accurate of them. Ties on size go to the more accurate."""
    teacher = next((r for r in results if r.get("kind") == "teacher"), None)
    pool = [r for r in results if r.get("kind") in ("student", "pruned") and r["path"].endswith(".pt")]
    if not pool:
        return None
    if teacher is not None:
        ok = [r for r in pool if r["accuracy"] >= teacher["accuracy"] - max_drop]
        if ok:
            return min(ok, key=lambda r: (r["params"], -r["accuracy"]))
    return max(pool, key=lambda r: (r["accuracy"], -r["params"]))


def install_default(choice: Dict, dest: str, command: str, data_summary: Dict) -> str:
    """Copy the chosen checkpoint to ``dest`` (.pt) and write ``dest``'s .json with metrics and the command."""
    import shutil

    with atomic_path(dest, mode=0o644) as tmp:  # a bundled model is for everyone, whatever the umask
        shutil.copyfile(choice["path"], tmp)
    info = {"model": os.path.basename(dest), "chosen_from": choice["path"], "variant": choice["variant"],
            "sha256": sha256_file(dest), "metrics": {k: choice[k] for k in (
                "accuracy", "macro_f1", "test_images", "params", "nonzero", "mflops", "latency_ms", "size_mb")},
            "test_parts": {k: choice[k] for k in ("heldout_mask_accuracy", "bare_accuracy", "negative_accuracy",
                                                  "indist_mask_accuracy", "holdout") if choice.get(k) is not None},
            "widths": choice["widths"], "data": data_summary, "command": command,
            "rule": "smallest distilled/pruned model within 2 points of the teacher's test accuracy"}
    write_atomic(os.path.splitext(dest)[0] + ".json", json.dumps(info, indent=2) + "\n")
    return dest


def recipe_dict(recipe: Recipe) -> Dict:
    return asdict(recipe)


__all__ = ["Recipe", "Row", "run_recipe", "measure", "write_report", "markdown_table", "bar_charts",
           "choose_default", "install_default", "parse_rows"]
