"""The effective config as TOML (``edge config show``): nested dataclasses → [sections], secrets as "***".

    print(show_config(cfg))     # loads back with edge.config.load_config to an equal dataclass
"""
import dataclasses
import json
import math
from typing import Any, Mapping


def _toml_key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "-_" for c in k) else json.dumps(k)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("{} = {}".format(_toml_key(k), _toml_value(x)) for k, x in v.items()) + "}"
    raise TypeError("cannot write {!r} as TOML".format(v))


def to_toml(data: Mapping[str, Any], _section: str = "") -> str:
    """TOML text of a dict (nested dicts of dicts → [sections]); None values are written as comments."""
    lines, tables = [], []
    for k, v in data.items():
        if _is_section(v):
            tables.append((k, v))
        elif v is None:
            lines.append("# {} = (not set)".format(_toml_key(k)))
        else:
            lines.append("{} = {}".format(_toml_key(k), _toml_value(v)))
    out = "\n".join(lines)
    for k, v in tables:
        name = "{}.{}".format(_section, _toml_key(k)) if _section else _toml_key(k)
        out += ("\n\n" if out else "") + "[{}]\n".format(name) + to_toml(v, name)
    return out


def _is_section(d: Mapping) -> bool:
    return isinstance(d, _Section)


class _Section(dict):
    """A dict that came from a nested dataclass (written as a [section], not an inline table)."""


def _as_sections(obj):
    if dataclasses.is_dataclass(obj):
        return _Section((f.name, _as_sections(getattr(obj, f.name))) for f in dataclasses.fields(obj))
    if isinstance(obj, (list, tuple)):
        return [_as_sections(x) for x in obj]
    return obj


def show_config(cfg, secrets: bool = False) -> str:
    """The effective config as TOML (loads back with ``load_config`` to an equal dataclass); a ``secret``
    field that is set is written as "***" unless ``secrets``."""
    return to_toml(_as_sections(cfg if secrets else _redacted(cfg))).rstrip("\n") + "\n"


def _redacted(obj):
    """A copy of dataclass ``obj`` (sections included) with every set ``secret`` field replaced by "***"."""
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            changes[f.name] = _redacted(value)
        elif f.metadata.get("secret") and value:
            changes[f.name] = "***"
    out = object.__new__(type(obj))  # a copy for printing only: no field checks (a token of 3 characters)
    out.__dict__.update(obj.__dict__, **changes)
    return out
