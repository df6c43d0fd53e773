"""``edge eval``: accuracy, per-class precision/recall/F1 and the confusion matrix of any model file.

Runs through the device's inference path — ``edge.backends.load_backend`` and
``edge.preprocess.preprocess`` on BGR images read from disk — so a ``.pt`` checkpoint and its
``.onnx`` export are scored exactly as they will run.
"""
from typing import Dict, List, Sequence

import numpy as np

from edge.errors import InputError, UsageError
from edge.imagefolder import read_image

SPLIT_NAMES = ("test", "val", "train", "test_in", "all")


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> Dict:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix (rows = truth)."""
    k = len(labels)
    cm = np.zeros((k, k), np.int64)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    per_class = {}
    for i, name in enumerate(labels):
        tp, pred, true = cm[i, i], cm[:, i].sum(), cm[i, :].sum()
        p = tp / pred if pred else 0.0
        r = tp / true if true else 0.0
        per_class[name] = {"precision": float(p), "recall": float(r),
                           "f1": float(2 * p * r / (p + r)) if p + r else 0.0, "support": int(true)}
    n = int(cm.sum())
    return {"n": n, "accuracy": float(np.trace(cm) / n) if n else float("nan"),
            "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])) if k else float("nan"),
            "per_class": per_class, "labels": list(labels), "confusion": cm.tolist()}


def label_map(model_labels: Sequence[str], data_classes: Sequence[str], model: str, data: str) -> List[int]:
    """For each data class, the model's output index of the same name; different names are an error."""
    if sorted(model_labels) != sorted(data_classes):
        raise InputError("model '{}' predicts {} but the class folders of '{}' are {}".format(
            model, list(model_labels), data, list(data_classes)))
    return [list(model_labels).index(c) for c in data_classes]


def evaluate(model: str, data: str, split: str = "test", seed: int = 0, val: float = 0.15, test: float = 0.15,
             batch_size: int = 64, backend: str = "auto", progress: bool = True, trust: bool = False,
             overrides=None, by: Sequence[str] = ()) -> Dict:
    """Score ``model`` (.pt/.onnx/...) on one split of ``data`` (the split ``edge train`` made with this seed);
    ``overrides`` (MetaOverrides: labels, input size) for a model without edge metadata. With a
    manifest (``edge data synth``), ``subsets`` (masked / bare / negative accuracy) and the ``by``
    breakdowns (``models.breakdown.BY``) are added; ``test`` is then the held-out families' split."""
    from tqdm import tqdm

    from edge.backends import load_backend
    from edge.preprocess import preprocess
    from models.data import check_fractions, load_splits

    if split not in SPLIT_NAMES:
        raise UsageError("expected --split one of {}, found '{}'".format("/".join(SPLIT_NAMES), split))
    if batch_size < 1:
        raise UsageError("expected --batch-size ≥ 1, found {}".format(batch_size))
    fractions = None if split == "all" else check_fractions(val, test)
    folder, parts = load_splits(data, fractions, seed, need=())
    samples = parts[split]
    if not samples:
        raise InputError("the {} split of '{}' is empty (seed {}, fractions {})".format(split, data, seed, fractions))
    b = load_backend(model, backend, overrides, options={"trust": trust})
    try:
        to_model = label_map(b.meta.labels, folder.classes, model, data)
        from_model = {m: d for d, m in enumerate(to_model)}
        y_true, y_pred = [], []
        bar = tqdm(range(0, len(samples), batch_size), desc="eval", unit="batch", leave=False, disable=not progress)
        for i in bar:
            chunk = samples[i:i + batch_size]
            logits = b.infer(preprocess([read_image(s.path) for s in chunk], b.meta))
            y_pred += [from_model[int(j)] for j in logits.argmax(1)]
            y_true += [s.label for s in chunk]
        info = b.info()
    finally:
        b.close()
    report = classification_metrics(y_true, y_pred, folder.classes)
    from models.breakdown import breakdown
    from models.protocol import key, read_holdout, read_manifest

    manifest = read_manifest(data)
    if manifest is not None:
        rows = [manifest.get(key(s)) for s in samples]
        ok = [t == p for t, p in zip(y_true, y_pred)]
        report["subsets"] = breakdown(rows, ok, ["kind"])["kind"]
        report["holdout"] = list(read_holdout(data))
        if by:
            report["by"] = breakdown(rows, ok, by)
    report.update({"model": model, "data": data, "split": split, "seed": seed,
                   "fractions": list(fractions) if fractions else None, "backend": info["backend"],
                   "variant": b.meta.variant})
    return report


def format_report(r: Dict) -> str:
    """A plain-text report: headline, per-class table, confusion matrix."""
    lines = ["{} on {} ({} split, {} images, {}): accuracy {:.2%}, macro F1 {:.4f}".format(
        r["model"], r["data"], r["split"], r["n"], r["backend"], r["accuracy"], r["macro_f1"])]
    w = max(len(c) for c in r["labels"]) + 2
    lines.append("{:<{w}} {:>9} {:>7} {:>7} {:>8}".format("class", "precision", "recall", "F1", "support", w=w))
    for name, c in r["per_class"].items():
        lines.append("{:<{w}} {:>9.4f} {:>7.4f} {:>7.4f} {:>8}".format(
            name, c["precision"], c["recall"], c["f1"], c["support"], w=w))
    if r.get("subsets"):
        lines.append("held-out families: {}".format(", ".join(r.get("holdout") or []) or "none"))
        lines.append("  ".join("{} {:.2%} ({}/{})".format(k, t["accuracy"], t["correct"], t["n"])
                               for k, t in r["subsets"].items()))
    lines.append("confusion (rows = true, columns = predicted):")
    lines.append("{:<{w}} ".format("", w=w) + " ".join("{:>{v}}".format(c, v=max(len(c), 6)) for c in r["labels"]))
    for name, row in zip(r["labels"], r["confusion"]):
        lines.append("{:<{w}} ".format(name, w=w) + " ".join(
            "{:>{v}}".format(n, v=max(len(c), 6)) for n, c in zip(row, r["labels"])))
    if r.get("by"):
        from models.breakdown import format_breakdown

        lines += format_breakdown(r["by"])
    return "\n".join(lines)

