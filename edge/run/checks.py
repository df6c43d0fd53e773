"""The settings ``edge run`` refuses before it opens anything, checked the same way by ``edge config show``:

    cfg = load_run_config("/etc/edge/config.toml", {"max_frames": 100})   # ConfigError: every problem at once

The file strictly (unknown keys with "did you mean", types, bounds), the flags on top, then STARTUP_CHECKS:
the model, detector and source files are there, --log and --save can be written, --serve is allowed (a token for
anything but localhost). ``edge run`` also binds the --serve port and releases it (``bind``): a port in use
is a fact of the moment, not of the config, so ``edge config show`` (maybe beside the running service)
does not. The daemon repeats the path and serve checks when it starts.
"""
from typing import Any, Mapping, Optional

from edge.config import load_checked
from edge.run.config import RunConfig


def check_model(cfg: RunConfig) -> None:
    """The model file exists, has a suffix a backend reads and the backend asked for reads it (unless
    --model none)."""
    from edge.backends import check_model_path

    if cfg.classifies:
        check_model_path(cfg.model_path(), cfg.backend)


def check_detector(cfg: RunConfig) -> None:
    """--detector PATH: the object detector's model file exists."""
    from edge.detectors import check_model_file

    check_model_file(cfg.detector)


def check_source(cfg: RunConfig) -> None:
    """A file or folder source exists; a URI has a known scheme."""
    from edge.sources.uri import parse_uri

    parse_uri(cfg.source_uri())


def check_outputs(cfg: RunConfig) -> None:
    """--log can be appended to (and rotated); every --output and --save parses and can be written."""
    from edge.outputs import check_outputs as check_output_uris
    from edge.service.daemon import check_log_path

    check_log_path(cfg.log, rotating=cfg.log_max_mb > 0)
    check_output_uris(cfg)


def check_serve(cfg: RunConfig) -> None:
    """--serve is HOST:PORT, and anything but localhost has a --serve-token of 16 characters or more."""
    from edge.service.serve import check_serve as check_address

    if cfg.serve.address:
        check_address(cfg.serve.address, cfg.serve.token)


def check_serve_port(cfg: RunConfig) -> None:
    """check_serve, and the port can be bound now."""
    from edge.service.serve import check_bind

    if cfg.serve.address:
        check_bind(cfg.serve.address, cfg.serve.token)


STARTUP_CHECKS = (check_model, check_detector, check_source, check_outputs, check_serve)


def load_run_config(path: Optional[str] = None, cli_values: Optional[Mapping[str, Any]] = None,
                    startup: bool = True, bind: bool = False) -> RunConfig:
    """The run config from ``path`` with ``cli_values`` on top; with ``startup`` STARTUP_CHECKS too (``bind``:
    with check_serve_port for check_serve). One ConfigError (one line) lists every problem."""
    checks = STARTUP_CHECKS[:-1] + ((check_serve_port,) if bind else (check_serve,)) if startup else ()
    return load_checked(RunConfig, path, cli_values, checks)
