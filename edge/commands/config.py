"""``edge config show``: the effective config (file + defaults) as TOML, checked strictly."""
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
):
    """Check a config file strictly (unknown keys and wrong types fail, naming the key) and print the
    effective config, defaults filled in, as TOML.

    Example: edge config show --config /etc/edge/config.toml
    """
    from edge.config import load_config, show_config

    cls = load_schema(schema)
    cfg = load_config(config, cls) if config else cls()
    typer.echo(show_config(cfg), nl=False)
