"""``edge bench-detectors``: face detectors timed side by side on the same video frames, with recall against
ground truth (see edge/bench/detectors.py)."""
import json
import sys
from typing import List

import typer


def bench_detectors(
    detector: List[str] = typer.Option(["haar", "blazeface"], "--detector", "-d",
                                       help="A detector to time, NAME[:option=value,...]; repeat for several "
                                            "(the first is the baseline of the ratio column). Options are the "
                                            "detector's own, on top of `edge run`'s defaults: haar:scale=1, "
                                            "blazeface:grid=1x1, blazeface:model=short or model=PATH.engine."),
    frames: str = typer.Option("", "--frames", help="Video file to detect on (default: the bundled 1280x720 "
                                                    "sample with its ground truth)."),
    truth: str = typer.Option("", "--truth", help="Ground-truth JSON (sample.json format) for recall and false "
                                                  "positives; default: the sample's, for the sample."),
    max_frames: int = typer.Option(60, "--max-frames", help="Frames to time on (0: the whole video)."),
    warmup: int = typer.Option(2, "--warmup", help="Untimed calls per detector on the first frame."),
    iou: float = typer.Option(0.4, "--iou", help="A true face is found when a box overlaps it by this IoU."),
    threads: int = typer.Option(1, "--threads", help="Inference threads for model-based detectors (ONNX Runtime)."),
    out: str = typer.Option("", "--out", "-o", help="Also write the report as JSON to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
):
    """Time face detectors on the same frames, interleaved, and score them against ground truth.

    Example: edge bench-detectors -d haar -d haar:scale=1 -d blazeface -d blazeface:grid=1x1
    Example: edge bench-detectors -d blazeface:model=face_detection_full_range.engine --frames cam.mp4
    """
    import os

    from edge.detectors import check_name, config_options, create_detector
    from edge.bench.detectors import bench_detectors as run_bench
    from edge.bench.detectors import load_truth, parse_spec, read_frames
    from edge.errors import UsageError
    from edge.files import check_writable, write_atomic
    from edge.run.config import RunConfig
    from edge.zoo import SAMPLE_VIDEO

    if max_frames < 0 or warmup < 0 or not 0 < iou <= 1 or threads < 0:
        raise UsageError("expected --max-frames ≥ 0, --warmup ≥ 0, --iou in (0, 1], --threads ≥ 0, found {}, {}, "
                         "{}, {}".format(max_frames, warmup, iou, threads))
    specs = [parse_spec(d) for d in detector]
    for s in specs:
        check_name(s.name)
    if out:
        check_writable(out, "--out")  # before the benchmark, not after it
    video = frames or SAMPLE_VIDEO
    truth = truth or (os.path.splitext(SAMPLE_VIDEO)[0] + ".json" if not frames else "")
    gt = load_truth(truth) if truth else None

    def create(spec):
        options = config_options(spec.name, RunConfig(detector=spec.name, threads=threads))
        options.update(spec.options)
        return create_detector(spec.name, **options)

    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("detecting", total=max_frames or None)
        report = run_bench(specs, read_frames(video, max_frames), create, gt, warmup, iou,
                           progress=lambda n: bar.update(task, completed=n))
    report.update(command=" ".join(["edge"] + sys.argv[1:]), video=video, truth=truth or None)
    if out:
        from edge.bench.latency import environment

        report["environment"] = environment()
        write_atomic(out, json.dumps(report, indent=2))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_report(report)


def print_report(report, console=None) -> None:
    """The detectors table (split over several when the terminal is narrow)."""
    from rich.console import Console

    from edge.commands.tables import fit_tables

    rows = report["detectors"]
    labels = sorted({k for r in rows for k in r.get("recall", {})})
    headers = ["detector", "runs on", "mean", "p50", "p95", "× first"] + ["recall " + x for x in labels] + (
        ["FP/100 frames"] if labels else [])
    cells = []
    for r in rows:
        info = r["info"]
        where = " ".join(str(info[k]) for k in ("model", "cascade", "device") if info.get(k))
        row = [r["label"], where] + ["{:.2f}".format(r["ms"][k]) for k in ("mean", "p50", "p95")]
        row.append("{:.3f}".format(r["ratio"]))
        row += ["{:.1%}".format(r["recall"][x]) if x in r.get("recall", {}) else "" for x in labels]
        if labels:
            row.append("{:.1f}".format(r["false_per_100_frames"]))
        cells.append(row)
    caption = "recall at IoU ≥ {} against {} ({} frames)".format(report["iou"], report.get("truth"),
                                                                 report["scored_frames"]) if labels else None
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    title = "edge bench-detectors: ms per frame over {} frames, interleaved".format(report["frames"])
    for table in fit_tables(title, headers, cells, console.width, keys=2, text=2, caption=caption):
        console.print(table)
