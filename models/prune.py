"""Structured channel pruning with torch-pruning (L2 magnitude importance, classifier kept), then fine-tuning.

Pruning a ratio r of the teacher's channels leaves round((1 − r)·w) channels per conv, e.g.
0.3 / 0.5 / 0.7 → 22-44-89 / 16-32-64 / 9-19-38 (45,195 / 23,938 / 8,556 parameters). The result is
an ordinary mask CNN of those widths, so its checkpoint reloads with ``load_checkpoint`` alone.
"""
import os
from dataclasses import asdict
from typing import Dict

import torch
from torch import nn

from edge.errors import InputError, UsageError
from edge.files import sha256_file
from models.checkpoint import save_checkpoint
from models.data import Augment, build_splits
from models.train import TrainConfig, _log_path, _provenance, check_out, fit, load_parent, seed_everything


def check_ratio(ratio: float) -> float:
    if not 0 < ratio < 1:
        raise UsageError("expected a pruning ratio strictly between 0 and 1, found {}".format(ratio))
    return ratio


def prune_channels(model: nn.Module, ratio: float) -> nn.Module:
    """Remove ``ratio`` of the channels of every conv (lowest L2 norm first), in place; returns the model."""
    from edge.errors import require

    tp = require("torch_pruning", "torch-pruning", "channel pruning")
    check_ratio(ratio)
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear):
        raise InputError("expected a model with a linear 'classifier' head to keep, found {}".format(
            type(classifier).__name__))
    meta = model.meta
    example = torch.zeros(1, meta.channels, *meta.input_size)
    model.eval()
    pruner = tp.pruner.MetaPruner(model, example, importance=tp.importance.MagnitudeImportance(p=2),
                                  pruning_ratio=ratio, ignored_layers=[classifier])
    pruner.step()
    widths = model.widths()
    model.meta = meta.replace(arch_args=dict(meta.arch_args, widths=widths),
                              variant="{}-pruned-{:g}".format(meta.variant or meta.arch, ratio))
    return model


def prune(model_path: str, ratio: float, data: str, out: str, cfg: TrainConfig = TrainConfig(epochs=5)) -> Dict:
    """Prune a checkpoint, fine-tune it on ``data`` (``cfg.epochs`` = 0 skips that) and save it."""
    check_ratio(ratio)
    if cfg.epochs > 0:
        cfg.check()
    check_out(out)
    model, meta = load_parent(model_path, data)
    if meta.arch != "maskcnn":
        raise InputError("'{}' is a '{}' model; edge prune handles the maskcnn family".format(model_path, meta.arch))
    seed_everything(cfg.seed, cfg.threads)
    before = model.widths()
    prune_channels(model, ratio)
    parent = {"path": model_path, "sha256": sha256_file(model_path), "variant": meta.variant,
              "widths": before}
    if cfg.epochs > 0:
        splits = build_splits(data, model.meta, cfg.fractions, cfg.seed, Augment() if cfg.augment else None,
                              cfg.progress)
        result = fit(model, splits, cfg, "prune {:g}".format(ratio), log_path=_log_path(out))
        prov = _provenance("prune", splits, cfg, result, ratio=ratio, parent=parent,
                           importance="L2 magnitude (torch-pruning MetaPruner)")
    else:
        prov = {"command": "prune", "ratio": ratio, "parent": parent, "options": asdict(cfg), "fine_tuned": False}
        result = {"epochs_run": 0}
    model.meta = model.meta.replace(provenance=prov)
    save_checkpoint(model, out, model.meta)
    result["widths"] = model.widths()
    result["parameters"] = sum(p.numel() for p in model.parameters())
    return result


def default_out(model_path: str, ratio: float) -> str:
    stem = os.path.splitext(model_path)[0]
    return "{}-pruned-{:g}.pt".format(stem, ratio)
