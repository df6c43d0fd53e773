"""``edge bench MODEL [MODEL ...]``: latency/throughput (and accuracy) of models × backends × batch sizes."""
import os
import sys
from typing import List, Optional

import typer

from edge.commands import model_options


def bench(
    models: List[str] = typer.Argument(..., metavar="MODEL...", help="Model files to compare (.pt, .ts, .onnx, .engine/.plan); the "
                                                 "first is the baseline for speed-ups."),
    backend: List[str] = model_options.backend_option(),
    batch: List[int] = typer.Option([1, 8], "--batch", "-b", help="Batch size to time; repeat for several."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed calls per model × backend × batch before timing."),
    runs: int = typer.Option(50, "--runs", help="Timed calls per model × backend × batch."),
    rounds: int = typer.Option(5, "--rounds", help="Rounds the timed calls are spread over, all configurations "
                                                   "in each round, so machine-load drift hits all alike."),
    data: Optional[str] = typer.Option(None, "--data", help="Eval set, one sub-folder per class named like the "
                                                            "model's labels: adds an accuracy column."),
    limit: int = typer.Option(0, "--limit", help="With --data, use at most this many images per class (0: all)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for ONNX Runtime and PyTorch "
                                                                  "(default: their own choice)."),
    out: str = typer.Option(os.path.join("runs", "bench"), "--out", "-o", help="Folder for bench.json, bench.csv "
                                                                               "and the PNG plots."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write latency.png, speedup.png and "
                                                                "latency_box.png."),
    telemetry: bool = typer.Option(True, "--telemetry/--no-telemetry", help="Record Jetson power, temperatures "
                                                                            "and clocks with jtop (when present)."),
    labels: Optional[str] = model_options.labels_option(),
    input_size: Optional[str] = model_options.input_size_option(),
    mean: Optional[str] = model_options.mean_option(),
    std: Optional[str] = model_options.std_option(),
    channel_order: Optional[str] = model_options.channel_order_option(),
    fp16: bool = typer.Option(False, "--fp16", help="Let ONNX Runtime's TensorRT EP build FP16 engines (TensorRT "
                                                    "engine files carry their own precision)."),
    trust: bool = typer.Option(False, "--trust", help="Allow unpickling a .pt file that is not a plain "
                                                      "checkpoint. Runs code from the file: only for files you trust."),
):
    """Time every model with every requested backend at every batch size, side by side in one run, and
    write a table, JSON, CSV and plots (latency, speed-up over the first model, latency distribution).

    Example: edge bench teacher.pt teacher.onnx --batch 1 --batch 8 --data faces/test

    Face detectors (Haar, BlazeFace) are timed on video frames by `edge bench-detectors`.
    """
    from edge.errors import UsageError, require
    from edge.files import check_writable, write_failed

    if runs < 1 or warmup < 0 or rounds < 1 or limit < 0 or not batch or any(b < 1 for b in batch):
        raise UsageError("expected --runs ≥ 1, --warmup ≥ 0, --rounds ≥ 1, --limit ≥ 0 and every --batch ≥ 1, "
                         "found runs={} warmup={} rounds={} limit={} batch={}".format(
                             runs, warmup, rounds, limit, list(batch)))
    if threads is not None and threads < 1:
        raise UsageError("expected --threads ≥ 1, found {}".format(threads))
    if plots:  # fail before the benchmark, not after it
        require("matplotlib", "matplotlib (on a Jetson: apt install python3-matplotlib)", "bench plots (or --no-plots)")
    check_writable(out, "--out", folder=True)
    from rich.console import Console
    from rich.progress import Progress

    from edge.bench.latency import plan_runs, run_bench, skipped_runs, write_report
    from edge.service.telemetry import Telemetry

    overrides = model_options.overrides(labels, input_size, mean, std, channel_order)
    backends = model_options.backends_list(backend)
    plan_runs(models, backends)  # a model no backend runs: the error is the only line
    for line in skipped_runs(models, backends):
        typer.echo(line, err=True)
    console = Console(stderr=True)
    monitor = Telemetry() if telemetry else None
    tasks = {}
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:  # no bar in a log
        def progress(stage, done, total):
            if stage not in tasks:
                tasks[stage] = bar.add_task({"load": "loading models", "time": "timing"}[stage], total=total)
            bar.update(tasks[stage], completed=done)

        if monitor is not None:
            _start_quietly(monitor)
        try:
            report = run_bench(models, backends, list(batch), warmup, runs, rounds,
                               data, limit, threads, overrides, {"trust": trust, "fp16": fp16}, monitor,
                               command=" ".join(["edge"] + sys.argv[1:]), progress=progress)
        finally:
            if monitor is not None:
                monitor.stop()
    try:
        paths = write_report(report, out, plots=plots)
    except OSError as e:  # a disk that filled up while the benchmark ran
        raise write_failed("--out", out, e) from None
    print_report(report)
    typer.echo("wrote " + ", ".join(paths))


def _start_quietly(monitor) -> None:
    """Start jtop telemetry without its "not available" log line (an error must be the only line; the
    report's caption says why there is no telemetry)."""
    import logging

    log = logging.getLogger("edge.service.telemetry")
    disabled, log.disabled = log.disabled, True
    try:
        monitor.start()
    finally:
        log.disabled = disabled


def print_report(report, console=None) -> None:
    """The results table (split over several when the terminal is narrow), then the wrapper overheads."""
    from rich.console import Console

    from edge.commands.tables import fit_tables

    with_acc = any(r["accuracy"] is not None for r in report["results"])
    headers = ["model", "batch", "min", "median", "mean", "p90", "p95", "p99", "per item", "items/s", "speed-up",
               "vs first"] + (["accuracy"] if with_acc else [])
    rows = []
    for r in report["results"]:
        cells = [r["label"], str(r["batch"])] + ["{:.3f}".format(r[k]) for k in (
            "min_ms", "median_ms", "mean_ms", "p90_ms", "p95_ms", "p99_ms", "per_item_ms")]
        cells += ["{:.1f}".format(r["throughput"]), "{:.2f}×".format(r["speedup"]), "{:.3f}".format(r["vs_baseline"])]
        if with_acc:
            cells.append("" if r["accuracy"] is None else "{:.2%}".format(r["accuracy"]))
        rows.append(cells)
    env = report["environment"]
    tele = env["telemetry"]
    caption = "{} · {} · {} cores · load {} · {}".format(
        env["host"], env["cpu"], env["cpu_count"], env["load_avg"],
        "jtop: {} {} mW mean".format(tele.get("nvpmodel"), (tele.get("power_mw") or {}).get("mean"))
        if tele.get("available") else "telemetry: " + tele.get("reason", "n/a"))
    console = console or Console(width=None if sys.stdout.isatty() else 200)
    title = "edge bench: latency in ms ({} timed calls each, {} warm-up)".format(
        report["settings"]["runs"], report["settings"]["warmup"])
    for table in fit_tables(title, headers, rows, console.width, keys=2, caption=caption):
        console.print(table)
    for m in report["models"]:
        if m["overhead"]:
            console.print("{}: wrapper overhead over bare session.run: {}".format(m["label"], ", ".join(
                "batch {} {:+.2f}%".format(b, o["overhead_pct"]) for b, o in m["overhead"].items())), markup=False)
