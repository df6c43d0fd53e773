"""The ``edge`` command line.

Each command lives in its own module under ``edge/commands/`` with a ``register(app)`` function;
COMMANDS lists them explicitly. Command modules import only typer at top level, so ``edge --help``
works on a machine without torch, tensorrt, pycuda or jtop.
"""
import importlib
import sys

import click
import typer
from typer.core import TyperGroup

from edge import __version__
from edge.errors import EdgeError

COMMANDS = ("run", "profile", "data", "train", "export", "quantize", "bench", "bench_detectors",
            "doctor", "service", "config")


class _EdgeGroup(TyperGroup):
    """Turns an EdgeError into one line on stderr and its exit code, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgeError as e:
            click.echo("edge: error: {}".format(e), err=True)
            ctx.exit(e.exit_code)


app = typer.Typer(
    cls=_EdgeGroup,
    help="Run compressed image models in real time on NVIDIA Jetson (and any laptop).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool):
    if value:
        typer.echo("edge {} (Python {})".format(__version__, sys.version.split()[0]))
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True,
        help="Print the edge version and exit.",
    ),
):
    """Run compressed image models in real time on NVIDIA Jetson (and any laptop)."""


for _name in COMMANDS:
    importlib.import_module("edge.commands." + _name).register(app)


def main():
    app(prog_name="edge")


if __name__ == "__main__":
    main()
