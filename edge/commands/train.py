"""Host-side model commands: ``edge train``, ``distill``, ``prune``, ``eval`` and ``compress``.

Each flag maps one-to-one to a field of ``models.train.TrainConfig`` / ``KDConfig`` /
``models.compress.Recipe``; torch and friends are imported inside the commands.
"""
import json
import sys
from typing import List, Optional

import typer

from edge.commands import model_options

# -- options shared by the training commands (one place, one help text) --------------------------
EPOCHS_HELP = "Maximum epochs (early stopping may end sooner)."


def _opt_data():
    return typer.Option(..., "--data", "-d", help="ImageFolder-style folder: one sub-folder per class "
                                                  "(e.g. from `edge data synth`).")


def _train_options(epochs: int):
    return dict(
        epochs=typer.Option(epochs, "--epochs", help=EPOCHS_HELP),
        batch_size=typer.Option(32, "--batch-size", help="Images per training step."),
        lr=typer.Option(3e-3, "--lr", help="AdamW peak learning rate."),
        weight_decay=typer.Option(1e-4, "--weight-decay", help="AdamW weight decay."),
        schedule=typer.Option("cosine", "--schedule", help="Learning-rate schedule: cosine, step or constant."),
        step_size=typer.Option(5, "--step-size", help="step schedule: epochs between decays."),
        gamma=typer.Option(0.3, "--gamma", help="step schedule: decay factor."),
        patience=typer.Option(5, "--patience", help="Stop after this many epochs without a better "
                                                    "validation accuracy (0: never)."),
        val=typer.Option(0.15, "--val", help="Fraction of faces (groups) for validation."),
        test=typer.Option(0.15, "--test", help="Fraction of faces (groups) held out for testing."),
        seed=typer.Option(0, "--seed", help="Seed for the split, initialisation, shuffling, augmentation."),
        augment=typer.Option(True, "--augment/--no-augment", help="Flip, random crop, colour jitter."),
        threads=typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
        progress=typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    )


_T = _train_options(12)
_F = _train_options(5)


def _config(**kw):
    from models.train import TrainConfig

    return TrainConfig(**kw)


def _need_torch(what):
    from edge.errors import require

    require("torch", "torch", what)
    require("tqdm", "tqdm", "progress bars")


def _print_result(out: str, r) -> None:
    typer.echo("saved {} (best epoch {} of {}): val accuracy {:.2%}, test accuracy {:.2%}".format(
        out, r["best_epoch"], r["epochs_run"], r["val_accuracy"], r["test_accuracy"]))


def train(
    arch: str = typer.Option("teacher", "--arch", "-a", help="Architecture to train (teacher, medium, small, ...)."),
    data: str = _opt_data(),
    out: str = typer.Option("runs/train/model.pt", "--out", "-o", help="Checkpoint to write (best epoch)."),
    epochs: int = _T["epochs"], batch_size: int = _T["batch_size"], lr: float = _T["lr"],
    weight_decay: float = _T["weight_decay"], schedule: str = _T["schedule"], step_size: int = _T["step_size"],
    gamma: float = _T["gamma"], patience: int = _T["patience"], val: float = _T["val"], test: float = _T["test"],
    seed: int = _T["seed"], augment: bool = _T["augment"], threads: int = _T["threads"],
    progress: bool = _T["progress"],
):
    """Train a model from scratch: AdamW, cosine/step schedule, early stopping on validation accuracy.
    The best epoch is saved with its metrics and provenance; a JSON line per epoch goes to OUT's .jsonl.

    Example: edge train --arch teacher --data data/faces --out runs/teacher.pt
    """
    _need_torch("edge train")
    from models.train import train as run

    cfg = _config(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, schedule=schedule,
                  step_size=step_size, gamma=gamma, patience=patience, val=val, test=test, seed=seed,
                  augment=augment, threads=threads, progress=progress)
    _print_result(out, run(arch, data, out, cfg))


def distill(
    teacher: str = typer.Option(..., "--teacher", "-t", help="Trained teacher checkpoint (.pt)."),
    arch: str = typer.Option("small", "--arch", "-a", help="Student architecture (small, medium, ...)."),
    data: str = _opt_data(),
    out: str = typer.Option("runs/distill/student.pt", "--out", "-o", help="Student checkpoint to write."),
    temperature: float = typer.Option(4.0, "--temperature", "-T", help="Softening temperature T of both outputs."),
    alpha: float = typer.Option(0.7, "--alpha", help="Weight of the soft-target term; 1-alpha weighs the "
                                                    "cross-entropy on hard labels."),
    epochs: int = _T["epochs"], batch_size: int = _T["batch_size"], lr: float = _T["lr"],
    weight_decay: float = _T["weight_decay"], schedule: str = _T["schedule"], step_size: int = _T["step_size"],
    gamma: float = _T["gamma"], patience: int = _T["patience"], val: float = _T["val"], test: float = _T["test"],
    seed: int = _T["seed"], augment: bool = _T["augment"], threads: int = _T["threads"],
    progress: bool = _T["progress"],
):
    """Knowledge distillation: train a student on loss = alpha·T²·KL(teacher ‖ student at T) +
    (1-alpha)·CE(student, labels).

    Example: edge distill --teacher runs/teacher.pt --arch small --data data/faces --out runs/small.pt
    """
    _need_torch("edge distill")
    from models.train import KDConfig
    from models.train import distill as run

    cfg = _config(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, schedule=schedule,
                  step_size=step_size, gamma=gamma, patience=patience, val=val, test=test, seed=seed,
                  augment=augment, threads=threads, progress=progress)
    _print_result(out, run(teacher, arch, data, out, cfg, KDConfig(temperature, alpha)))


def prune(
    model: str = typer.Argument(..., help="Checkpoint to prune (.pt, maskcnn family)."),
    ratio: float = typer.Option(..., "--ratio", "-r", help="Fraction of channels to remove per conv, in (0, 1)."),
    data: str = _opt_data(),
    out: str = typer.Option("", "--out", "-o", help="Checkpoint to write (default: MODEL-pruned-RATIO.pt)."),
    epochs: int = _F["epochs"], batch_size: int = _F["batch_size"], lr: float = typer.Option(
        1e-3, "--lr", help="AdamW peak learning rate for fine-tuning."),
    weight_decay: float = _F["weight_decay"], schedule: str = _F["schedule"], step_size: int = _F["step_size"],
    gamma: float = _F["gamma"], patience: int = _F["patience"], val: float = _F["val"], test: float = _F["test"],
    seed: int = _F["seed"], augment: bool = _F["augment"], threads: int = _F["threads"],
    progress: bool = _F["progress"],
):
    """Structured channel pruning (torch-pruning, L2 magnitude, classifier kept), then fine-tuning
    (--epochs 0: none). The pruned checkpoint reloads on its own.

    Example: edge prune runs/teacher.pt --ratio 0.5 --data data/faces
    """
    _need_torch("edge prune")
    from models.prune import check_ratio, default_out
    from models.prune import prune as run

    check_ratio(ratio)
    out = out or default_out(model, ratio)
    cfg = _config(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, schedule=schedule,
                  step_size=step_size, gamma=gamma, patience=patience, val=val, test=test, seed=seed,
                  augment=augment, threads=threads, progress=progress)
    r = run(model, ratio, data, out, cfg)
    typer.echo("saved {}: widths {}, {:,} parameters{}".format(
        out, "-".join(map(str, r["widths"])), r["parameters"],
        ", test accuracy {:.2%}".format(r["test_accuracy"]) if "test_accuracy" in r else " (not fine-tuned)"))


def evaluate(
    model: str = typer.Argument(..., help="Model file: checkpoint (.pt) or ONNX (.onnx)."),
    data: str = _opt_data(),
    split: str = typer.Option("test", "--split", help="test, val or train (the split edge train made with "
                                                      "--seed/--val/--test), test_in (test people in training "
                                                      "mask families), or all (the whole folder)."),
    by: str = typer.Option("", "--by", help="Accuracy per manifest field, comma list: family, kind, "
                                            "colour_group, skin, pattern, nose, face_size, blur, brightness, "
                                            "jpeg, roll, or all (folders from edge data synth)."),
    seed: int = typer.Option(0, "--seed", help="Split seed used in training."),
    val: float = typer.Option(0.15, "--val", help="Validation fraction used in training."),
    test: float = typer.Option(0.15, "--test", help="Test fraction used in training."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per inference call."),
    backend: str = model_options.backend_option(multiple=False),
    labels: Optional[str] = model_options.labels_option(),
    input_size: Optional[str] = model_options.input_size_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    trust: bool = typer.Option(False, "--trust", help="Allow unpickling a .pt that is not a plain "
                                                      "checkpoint (runs code from the file)."),
):
    """Accuracy, per-class precision/recall/F1 and the confusion matrix, through the same backend and
    preprocessing the device uses.

    Example: edge eval runs/small.pt --data data/faces --split test
    """
    from models.breakdown import parse_by
    from models.evaluate import evaluate as run, format_report

    overrides = model_options.overrides(labels, input_size)
    r = run(model, data, split, seed, val, test, batch_size, backend, progress=not as_json, trust=trust,
            overrides=overrides, by=parse_by(by))
    typer.echo(json.dumps(r, indent=2) if as_json else format_report(r))


def compress(
    data: str = _opt_data(),
    out: str = typer.Option("runs/compress", "--out", "-o", help="Folder for checkpoints, table and charts."),
    teacher_epochs: int = typer.Option(10, "--teacher-epochs", help="Maximum epochs for the teacher."),
    student_epochs: int = typer.Option(8, "--student-epochs", help="Maximum epochs for each distilled student."),
    finetune_epochs: int = typer.Option(3, "--finetune-epochs", help="Fine-tuning epochs after each pruning."),
    students: List[str] = typer.Option(["medium", "small"], "--student", help="Student architecture; repeat."),
    ratios: List[float] = typer.Option([0.3, 0.5, 0.7], "--ratio", help="Pruning ratio of the teacher; repeat."),
    temperature: float = typer.Option(4.0, "--temperature", "-T", help="Distillation temperature."),
    alpha: float = typer.Option(0.7, "--alpha", help="Distillation soft-target weight."),
    batch_size: int = typer.Option(32, "--batch-size", help="Images per training step."),
    lr: float = typer.Option(3e-3, "--lr", help="AdamW peak learning rate (teacher, students)."),
    finetune_lr: float = typer.Option(1e-3, "--finetune-lr", help="AdamW peak learning rate after pruning."),
    patience: int = typer.Option(4, "--patience", help="Early-stopping patience in epochs (0: never)."),
    seed: int = typer.Option(0, "--seed", help="Seed for split, training and augmentation."),
    val: float = typer.Option(0.15, "--val", help="Fraction of faces for validation."),
    test: float = typer.Option(0.15, "--test", help="Fraction of faces held out for the table's accuracy."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default)."),
    runs: int = typer.Option(100, "--runs", help="Timed forward passes per model for the latency column."),
    reuse: bool = typer.Option(False, "--reuse", help="Keep checkpoints already in OUT instead of retraining."),
    rows: List[str] = typer.Option([], "--row", help="Extra model to measure, NAME=PATH (.pt or .onnx); repeat."),
    default_model: str = typer.Option("", "--default-model", help="Also copy the smallest model within 2 points "
                                                                  "of the teacher here (+ a .json of metrics)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
):
    """The whole compression recipe: train the teacher, distil the students, prune the teacher and
    fine-tune, evaluate everything on the held-out test split, and write compress.json, compress.md
    (params, non-zero, size, FLOPs, CPU latency, accuracy) and bar charts to OUT.

    Example: edge compress --data data/faces --out runs/compress
    """
    _need_torch("edge compress")
    import os
    import time

    from models.compress import (Recipe, choose_default, install_default, measure, parse_rows, recipe_dict,
                                 run_recipe, write_report)
    from models.data import describe

    recipe = Recipe(teacher_epochs=teacher_epochs, student_epochs=student_epochs, finetune_epochs=finetune_epochs,
                    students=tuple(students), ratios=tuple(ratios), temperature=temperature, alpha=alpha,
                    batch_size=batch_size, lr=lr, finetune_lr=finetune_lr, patience=patience, seed=seed, val=val,
                    test=test, threads=threads, runs=runs)
    extra = parse_rows(rows)
    summary = describe(data, (1 - val - test, val, test), seed)
    start, cpu0 = time.time(), time.process_time()
    done, seconds = run_recipe(data, out, recipe, reuse=reuse, progress=progress, log=typer.echo)
    train_s = time.time() - start
    results = measure(done + extra, data, recipe)
    command = "edge " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["compress"] else "edge compress"
    timing = {"train_seconds": round(train_s, 1), "step_seconds": seconds,
              "total_seconds": round(time.time() - start, 1),
              "process_cpu_seconds": round(time.process_time() - cpu0, 1), "cpu_count": os.cpu_count(),
              "load_average_1m_at_end": round(os.getloadavg()[0], 2)}
    report = write_report(results, out, dict({"recipe": recipe_dict(recipe), "data": summary, "command": command},
                                             **timing))
    typer.echo(report["table"])
    typer.echo("training {:.0f} s, total {:.0f} s wall ({:.0f} s CPU, load {:.1f}); wrote {}, {} and {} charts".format(
        train_s, timing["total_seconds"], timing["process_cpu_seconds"], timing["load_average_1m_at_end"],
        report["json"], report["markdown"], len(report["charts"])))
    if default_model:
        choice = choose_default(results)
        if choice is not None:
            install_default(choice, default_model, command, summary)
            typer.echo("default model: {} ({}, {:.2%}) → {}".format(
                choice["name"], choice["variant"], choice["accuracy"], default_model))
