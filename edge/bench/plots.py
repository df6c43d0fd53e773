"""Benchmark plots (matplotlib, Agg: no display needed): latency comparison, speed-up over the first
model, latency distribution. Each is written atomically (``edge.files.atomic_path``)."""
import os
from typing import Any, Dict, List

import numpy as np

from edge.files import atomic_path

PLOTS = ("latency.png", "speedup.png", "latency_box.png")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    """Write ``fig`` as a PNG at ``path`` (atomically) and close it, also when writing fails."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return path


def _grouped(results: List[Dict[str, Any]], key: str):
    """(labels, batches, values[label][batch]) of one result column."""
    labels = list(dict.fromkeys(r["label"] for r in results))
    batches = sorted({r["batch"] for r in results})
    values = np.full((len(labels), len(batches)), np.nan)
    for r in results:
        if r[key] is not None:
            values[labels.index(r["label"]), batches.index(r["batch"])] = r[key]
    return labels, batches, values


def _bars(ax, labels, batches, values, fmt):
    width = 0.8 / len(labels)
    x = np.arange(len(batches))
    for i, label in enumerate(labels):
        bars = ax.bar(x + (i - (len(labels) - 1) / 2) * width, values[i], width, label=label)
        for b, v in zip(bars, values[i]):
            if np.isfinite(v):
                ax.annotate(fmt.format(v), (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels(["batch {}".format(b) for b in batches])
    ax.legend(fontsize=7)


def latency_plot(results, path: str) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _bars(ax, *_grouped(results, "per_item_ms"), fmt="{:.3g}")
    ax.set_ylabel("median latency per item (ms)")
    ax.set_title("Latency per item (median of timed calls; lower is better)")
    return _save(fig, path)


def speedup_plot(results, path: str) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _bars(ax, *_grouped(results, "speedup"), fmt="{:.2f}×")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("speed-up per item over the first model")
    ax.set_title("Speed-up over {} (same batch; higher is better)".format(results[0]["label"]))
    return _save(fig, path)


def box_plot(samples: Dict[str, List[float]], path: str) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(samples)), 4.5))
    ax.boxplot(list(samples.values()), showfliers=True)
    ax.set_xticks(range(1, len(samples) + 1))
    ax.set_xticklabels(list(samples), rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("latency per call (ms)")
    ax.set_yscale("log")
    ax.set_title("Latency distribution per call")
    return _save(fig, path)


def write_plots(report: Dict[str, Any], out_dir: str) -> List[str]:
    """The three plots of a bench report (edge.bench.latency schema) into ``out_dir``."""
    results = report["results"]
    return [latency_plot(results, os.path.join(out_dir, PLOTS[0])),
            speedup_plot(results, os.path.join(out_dir, PLOTS[1])),
            box_plot(report["samples"], os.path.join(out_dir, PLOTS[2]))]
