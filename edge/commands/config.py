"""``edge config show``: the effective config (file + defaults) as TOML, checked strictly and, for the run
config, with the start-up checks of ``edge run`` (edge.run.checks)."""
import importlib
from typing import Optional

import typer

config_app = typer.Typer(help="Config files: check one and print the effective settings.", no_args_is_help=True)

# The dataclass `edge config show` reads by default: the run config (`edge run --config FILE`).
DEFAULT_SCHEMA = "edge.run.config:RunConfig"


def load_schema(spec: str):
    """"package.module:Class" → the dataclass; UsageError when it is not one."""
    import dataclasses

    from edge.errors import UsageError

    mod, _, name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError, ValueError):
        raise UsageError("expected --schema MODULE:CLASS naming a dataclass, found '{}'".format(spec)) from None
    if not dataclasses.is_dataclass(cls):
        raise UsageError("expected --schema to name a dataclass, found {} '{}'".format(type(cls).__name__, spec))
    return cls


@config_app.command("show")
def show(
    config: Optional[str] = typer.Option(None, "--config", "-c", help="A .toml/.yaml config file; without it, "
                                                                      "the defaults are shown."),
    schema: str = typer.Option(DEFAULT_SCHEMA, "--schema", help="MODULE:CLASS of the config dataclass "
                                                                "(advanced; the default is the run config)."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print secrets such as the serve token "
                                                                    "(shown as \"***\" otherwise)."),
):
    """Check a config file strictly, as `edge run` does before it starts (unknown keys, wrong types and
    values, a missing model, source or log folder, a non-localhost serve without token: all reported at
    once, one line), and print the effective config, defaults filled in, as TOML.

    Example: edge config show --config /etc/edge/config.toml
    """
    from edge.config import load_checked, show_config
    from edge.run.checks import load_run_config
    from edge.run.config import RunConfig

    cls = load_schema(schema)
    cfg = load_run_config(config) if cls is RunConfig else load_checked(cls, config)
    typer.echo(show_config(cfg, secrets=show_secrets), nl=False)
