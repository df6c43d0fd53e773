"""The ``edge`` command line.

COMMANDS lists every command, in ``edge --help`` order: its name → "module:attribute" under
``edge/commands/``, a function (one command) or a typer app (a group of sub-commands). Command modules
import only typer and light config dataclasses (numpy at most) at top level, so ``edge --help`` works on
a machine without torch, tensorrt, pycuda or jtop. Help is click's plain layout (the same with typer 0.4 and today's), at most 80 columns; a usage
error (bad option, missing argument, bad value) is one line ``edge: error: …``, exit code 2.
"""
import importlib
import sys
import textwrap

import typer
from typer.core import TyperGroup

try:  # recent typer carries its own copy of click: its exceptions are the ones raised
    from typer._click.exceptions import UsageError
except ImportError:
    from click.exceptions import UsageError

from edge import __version__
from edge.errors import EdgeError

COMMANDS = (
    ("run", "run:run"),
    ("profile", "profile:profile"),
    ("train", "train:train"),
    ("distill", "train:distill"),
    ("prune", "train:prune"),
    ("eval", "train:evaluate"),
    ("compress", "train:compress"),
    ("export", "export:export"),
    ("quantize", "quantize:quantize"),
    ("bench", "bench:bench"),
    ("bench-detectors", "bench_detectors:bench_detectors"),
    ("doctor", "doctor:doctor"),
    ("data", "data:data_app"),
    ("service", "service:service_app"),
    ("config", "config:config_app"),
)
HELP_WIDTH = 80


def usage_line(e: UsageError) -> str:
    """A click usage error as one line: the message, click's "did you mean", where to look."""
    possible = sorted(getattr(e, "possibilities", None) or ())  # a misspelt option's close matches
    message = " ".join((e.message if possible else e.format_message()).split()).rstrip(".")
    message = message.replace(". Did you mean", "; did you mean")  # a misspelt command (typer ≥ 0.13)
    if possible:
        names = possible[0] if len(possible) == 1 else "{} or {}".format(", ".join(possible[:-1]), possible[-1])
        message += "; did you mean {}?".format(names)
    if e.ctx is not None:
        message += " (see '{} --help')".format(e.ctx.command_path)
    return "edge: error: " + message[:1].lower() + message[1:]


def keep_examples(help_text):
    """Help paragraphs of ``Example:`` lines keep their lines (click would join them), each wrapped to
    fit HELP_WIDTH with its continuation indented."""
    if not help_text:
        return help_text
    out = []
    for para in help_text.split("\n\n"):
        lines = para.strip("\n").splitlines()
        if lines and all(line.startswith("Example") for line in lines):
            wrapped = [w for line in lines for w in textwrap.wrap(
                line, HELP_WIDTH - 4, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False)]
            para = "\b\n" + "\n".join(wrapped)
        out.append(para)
    return "\n\n".join(out)


def _commands(group):
    """Every command and sub-command under ``group``."""
    for command in group.commands.values():
        yield command
        yield from _commands(command) if hasattr(command, "commands") else ()


class _EdgeGroup(TyperGroup):
    """Commands in COMMANDS order, their examples kept as lines; an EdgeError or a click usage error
    becomes one line on stderr and its exit code, without a traceback or a box."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for command in _commands(self):
            command.help = keep_examples(command.help)

    def list_commands(self, ctx):
        return list(self.commands)

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as e:  # an option of `edge` itself
            _usage_exit(e)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgeError as e:
            typer.echo("edge: error: {}".format(e), err=True)
            ctx.exit(e.exit_code)
        except UsageError as e:  # a command, its options or arguments
            _usage_exit(e)


def _usage_exit(e: UsageError):
    """Print ``e`` as one line and exit with its code (2)."""
    if type(e).__name__ == "NoArgsIsHelpError":  # click ≥ 8.2: a bare `edge` / `edge data` shows the help
        raise e
    typer.echo(usage_line(e), err=True)
    raise typer.Exit(e.exit_code)


app = typer.Typer(
    cls=_EdgeGroup,
    help="Run compressed image models in real time on NVIDIA Jetson (and any laptop).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": HELP_WIDTH},
)
app.rich_markup_mode = None  # click's plain help: typer's Rich panels cut option names at 80 columns
if getattr(typer.core, "rich", None) is not None:  # typer 0.6-0.11 (Python 3.6's newest) ignores that line
    typer.core.rich = None


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


def _register(name: str, target: str) -> None:
    module, _, attr = target.partition(":")
    obj = getattr(importlib.import_module("edge.commands." + module), attr)
    if isinstance(obj, typer.Typer):
        app.add_typer(obj, name=name)
    else:
        app.command(name, epilog=getattr(obj, "epilog", None))(obj)


for _name, _target in COMMANDS:
    _register(_name, _target)


def main():
    app(prog_name="edge")


if __name__ == "__main__":
    main()
