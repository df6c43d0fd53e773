"""Training and knowledge distillation on CPU (or GPU): AdamW, cosine/step schedule, early stopping.

    train("teacher", "data/faces", "runs/teacher.pt", TrainConfig(epochs=12))
    distill("runs/teacher.pt", "small", "data/faces", "runs/small.pt", TrainConfig(), KDConfig(4.0, 0.7))

The best epoch (highest validation accuracy, ties → lower validation loss) is saved with its
metrics and provenance in ``meta.provenance``; one JSON line per epoch goes to ``<out>.jsonl``.
"""
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge.errors import InputError, UsageError
from edge.files import sha256_file
from models.checkpoint import load_checkpoint, save_checkpoint
from models.data import Augment, Splits, build_splits, check_labels
from models.registry import create_model, list_models

SCHEDULES = ("cosine", "step", "constant")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | step | constant (per epoch)
    step_size: int = 5  # step schedule: epochs between decays
    gamma: float = 0.3  # step schedule: decay factor
    patience: int = 5  # stop after this many epochs without a better val accuracy (0: never)
    val: float = 0.15  # fraction of faces for validation
    test: float = 0.15  # fraction of faces held out for testing
    seed: int = 0
    augment: bool = True
    threads: int = 0  # torch CPU threads (0: torch's default)
    progress: bool = True

    def check(self) -> "TrainConfig":
        bad = []
        if self.epochs < 1:
            bad.append("--epochs ≥ 1")
        if self.batch_size < 1:
            bad.append("--batch-size ≥ 1")
        if not self.lr > 0:
            bad.append("--lr > 0")
        if self.schedule not in SCHEDULES:
            bad.append("--schedule one of " + "/".join(SCHEDULES))
        if not (0 <= self.val < 1 and 0 <= self.test < 1 and self.val + self.test < 1) or self.val == 0:
            bad.append("0 < --val, 0 ≤ --test, --val + --test < 1")
        if bad:
            raise UsageError("expected " + ", ".join(bad) + "; found " + json.dumps(
                {k: v for k, v in asdict(self).items() if k != "progress"}))
        return self

    @property
    def fractions(self):
        return (1.0 - self.val - self.test, self.val, self.test)


@dataclass(frozen=True)
class KDConfig:
    temperature: float = 4.0
    alpha: float = 0.7  # weight of the soft (teacher) term; 1 - alpha weighs the hard-label CE

    def check(self) -> "KDConfig":
        if not self.temperature > 0 or not 0 <= self.alpha <= 1:
            raise UsageError("expected --temperature > 0 and 0 ≤ --alpha ≤ 1, found {} and {}".format(
                self.temperature, self.alpha))
        return self


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:
    """α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y), KL averaged over the batch (Hinton et al.)."""
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                    reduction="batchmean")
    return alpha * t * t * soft + (1 - alpha) * F.cross_entropy(student_logits, targets)


def seed_everything(seed: int, threads: int = 0) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


@torch.no_grad()
def evaluate_tensors(model: nn.Module, dataset, batch_size: int = 128) -> Dict[str, float]:
    """Loss and accuracy of ``model`` on an un-augmented in-memory set."""
    model.eval()
    x, y = dataset.tensors()
    if len(y) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "n": 0}
    logits = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    return {"loss": float(F.cross_entropy(logits, y)), "accuracy": float((logits.argmax(1) == y).float().mean()),
            "n": int(len(y))}


def make_scheduler(opt, cfg: TrainConfig):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)


def fit(model: nn.Module, splits: Splits, cfg: TrainConfig, desc: str,
        loss_fn: Optional[Callable] = None, log_path: Optional[str] = None) -> Dict:
    """Train ``model`` in place; it ends holding the best epoch's weights. Returns the history and metrics.

    ``loss_fn(logits, x, y)`` replaces cross-entropy (distillation passes one that runs the teacher).
    """
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(splits.train, batch_size=cfg.batch_size, shuffle=True,
                                         generator=gen, num_workers=0, drop_last=len(splits.train) > cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = make_scheduler(opt, cfg)
    loss_fn = loss_fn or (lambda logits, x, y: F.cross_entropy(logits, y))
    best = {"accuracy": -1.0, "loss": float("inf")}
    best_state, history, since_best = None, [], 0
    log = open(log_path, "w") if log_path else None
    start = time.time()
    try:
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            total, n = 0.0, 0
            bar = tqdm(loader, desc="{} {}/{}".format(desc, epoch, cfg.epochs), unit="batch", leave=False,
                       disable=not cfg.progress)
            for x, y in bar:
                opt.zero_grad()
                loss = loss_fn(model(x), x, y)
                loss.backward()
                opt.step()
                total += loss.item() * len(y)
                n += len(y)
                bar.set_postfix(loss="{:.4f}".format(total / n))
            lr = opt.param_groups[0]["lr"]
            sched.step()
            val = evaluate_tensors(model, splits.val)
            rec = {"epoch": epoch, "train_loss": total / max(n, 1), "val_loss": val["loss"],
                   "val_accuracy": val["accuracy"], "lr": lr, "seconds": round(time.time() - start, 2)}
            history.append(rec)
            if log:
                log.write(json.dumps(rec) + "\n")
                log.flush()
            better = val["accuracy"] > best["accuracy"] or (
                val["accuracy"] == best["accuracy"] and val["loss"] < best["loss"])
            if better:
                best = dict(val, epoch=epoch)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                since_best = 0
            else:
                since_best += 1
            if cfg.progress:
                tqdm.write("{} epoch {:>2}: train loss {:.4f}  val loss {:.4f}  val acc {:.2%}{}".format(
                    desc, epoch, rec["train_loss"], val["loss"], val["accuracy"], "  *" if better else ""))
            if cfg.patience and since_best >= cfg.patience:
                break
    finally:
        if log:
            log.close()
    model.load_state_dict(best_state)
    test = evaluate_tensors(model, splits.test)
    return {"best_epoch": best["epoch"], "epochs_run": len(history), "val_accuracy": best["accuracy"],
            "val_loss": best["loss"], "test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "train_seconds": round(time.time() - start, 1), "history": history}


def _provenance(command: str, splits: Splits, cfg: TrainConfig, result: Dict, **extra) -> Dict:
    opts = {k: v for k, v in asdict(cfg).items() if k not in ("progress",)}
    metrics = {k: v for k, v in result.items() if k != "history"}
    return dict({"command": command, "data": splits.summary(), "options": opts, "seed": cfg.seed,
                 "metrics": metrics, "torch": str(torch.__version__)}, **extra)


def _log_path(out: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    return os.path.splitext(out)[0] + ".jsonl"


def check_out(out: str) -> None:
    if os.path.isdir(out):
        raise UsageError("expected an output checkpoint file (.pt), found a directory: '{}'".format(out))
    if not out.endswith(".pt"):
        raise UsageError("expected an output path ending in .pt, found '{}'".format(out))


def check_arch(arch: str) -> None:
    if arch not in list_models():
        raise UsageError("unknown model architecture '{}' (known: {})".format(arch, ", ".join(list_models())))


def train(arch: str, data: str, out: str, cfg: TrainConfig = TrainConfig()) -> Dict:
    """Train a registered architecture from scratch on the classes of ``data``; returns the metrics."""
    cfg.check()
    check_arch(arch)
    check_out(out)
    from edge.imagefolder import scan

    seed_everything(cfg.seed, cfg.threads)
    classes = scan(data).classes
    model = create_model(arch, labels=classes)
    splits = build_splits(data, model.meta, cfg.fractions, cfg.seed, Augment() if cfg.augment else None,
                          cfg.progress)
    result = fit(model, splits, cfg, arch, log_path=_log_path(out))
    meta = model.meta.replace(provenance=_provenance("train", splits, cfg, result, arch=arch))
    save_checkpoint(model, out, meta)
    return result


def load_parent(path: str, data: str):
    """A checkpoint to distil from or prune, checked against the data's classes."""
    from edge.imagefolder import scan

    model, meta = load_checkpoint(path)
    check_labels(meta, scan(data), data)
    return model, meta


def distill(teacher_path: str, arch: str, data: str, out: str, cfg: TrainConfig = TrainConfig(),
            kd: KDConfig = KDConfig()) -> Dict:
    """Train ``arch`` from scratch to match the teacher's softened outputs (plus the hard labels)."""
    cfg.check()
    kd.check()
    check_arch(arch)
    check_out(out)
    teacher, tmeta = load_parent(teacher_path, data)
    seed_everything(cfg.seed, cfg.threads)
    student = create_model(arch, labels=tmeta.labels)
    if tuple(student.meta.input_size) != tuple(tmeta.input_size) or student.meta.channels != tmeta.channels:
        raise InputError("teacher '{}' takes {}×{} {} input but '{}' takes {}×{} {}".format(
            teacher_path, *tmeta.input_size, tmeta.channel_order, arch, *student.meta.input_size,
            student.meta.channel_order))
    student.meta = student.meta.replace(mean=tmeta.mean, std=tmeta.std)
    splits = build_splits(data, student.meta, cfg.fractions, cfg.seed, Augment() if cfg.augment else None,
                          cfg.progress)
    teacher.eval()

    def loss_fn(logits, x, y):
        with torch.no_grad():
            t = teacher(x)
        return kd_loss(logits, t, y, kd.temperature, kd.alpha)

    result = fit(student, splits, cfg, arch + " (KD)", loss_fn, log_path=_log_path(out))
    parent = {"path": teacher_path, "sha256": sha256_file(teacher_path), "variant": tmeta.variant}
    meta = student.meta.replace(variant=arch + "-kd", provenance=_provenance(
        "distill", splits, cfg, result, arch=arch, kd=asdict(kd), parent=parent))
    save_checkpoint(student, out, meta)
    return result

