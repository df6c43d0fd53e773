"""``edge data synth OUT`` (build a real-face mask dataset) and ``edge data info DIR`` (classes, splits)."""
import json

import typer

data_app = typer.Typer(help="Datasets: synthesize a face-mask set from real faces, inspect a folder.",
                       no_args_is_help=True)


@data_app.command("synth")
def synth(
    out: str = typer.Argument(..., help="Folder to create (with_mask/, without_mask/, SOURCES.json)."),
    per_face: int = typer.Option(8, "--per-face", help="Bare images per face (masked: 1.5x, a third of them in "
                                                       "held-out families)."),
    size: int = typer.Option(128, "--size", help="Side of the square crops in pixels."),
    colour_factor: int = typer.Option(3, "--colour-factor",
                                      help="Colour faces (rare next to the grey LFW ones) get this many times "
                                           "--per-face images."),
    lfw: int = typer.Option(100, "--lfw", help="How many of scikit-image's 100 LFW faces to use (0-100)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same images."),
    cache: str = typer.Option("~/.cache/edge/sources", "--cache",
                              help="Where the face_recognition/insightface sdists are cached."),
    fetch: bool = typer.Option(True, "--fetch/--no-fetch",
                               help="Download the sdists with pip if they are not cached (offline: --no-fetch)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists and is not empty."),
    holdout: str = typer.Option("kn95,patterned,gaiter", "--holdout",
                                help="Mask families only the test people wear (leave-style-out; comma list of "
                                     "surgical, kn95, n95, n95_valve, cloth, patterned, bandana, gaiter)."),
):
    """Build a two-class face-mask dataset from real face photos shipped in packages (scikit-image,
    matplotlib, the face_recognition and insightface sdists); masks of eight families and hard negatives
    are drawn at BlazeFace's keypoints; MANIFEST.csv records every image's person, style and camera
    effects, and --holdout families appear only on test people (docs/DATA.md).

    Example: edge data synth data/faces --holdout kn95,patterned,gaiter
    """
    import os

    from edge.errors import require

    require("cv2", "opencv-python-headless", "edge data synth")
    require("skimage", "scikit-image", "the package face photos")
    from models.synth import synthesize

    m = synthesize(out, per_face=per_face, size=size, seed=seed, cache=os.path.expanduser(cache),
                   fetch=fetch, lfw=lfw, force=force, colour_factor=colour_factor,
                   holdout=tuple(h.strip() for h in holdout.split(",") if h.strip()))
    typer.echo("wrote {}: {} faces of {} people, {}".format(
        out, m["faces"], m["people"], ", ".join("{} {}".format(k, v) for k, v in sorted(m["counts"].items()))))


@data_app.command("info")
def info(
    data: str = typer.Argument(..., help="ImageFolder-style folder: one sub-folder per class."),
    seed: int = typer.Option(0, "--seed", help="Split seed (as given to edge train)."),
    val: float = typer.Option(0.15, "--val", help="Fraction of faces/groups for validation."),
    test: float = typer.Option(0.15, "--test", help="Fraction of faces/groups held out for testing."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Classes, image counts and the train/val/test split edge train would use.

    Example: edge data info data/faces
    """
    from models.data import describe

    d = describe(data, (1 - val - test, val, test), seed)
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    typer.echo("{}: {} classes".format(data, len(d["classes"])))
    for split, counts in d["splits"].items():
        typer.echo("  {:<6} {:>5} images, {:>4} groups  {}".format(
            split, sum(counts["images"].values()), counts["groups"],
            "  ".join("{} {}".format(k, v) for k, v in counts["images"].items())))
