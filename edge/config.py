"""Strict, typed config files: TOML (or YAML) → a dataclass, CLI flags on top, effective config as TOML.

    cfg = load_config("/etc/edge/config.toml", RunConfig)      # unknown key / wrong type → ConfigError
    cfg = merge_cli(cfg, {"max_frames": 100, "serve.address": "127.0.0.1:8080"})  # explicit flags only
    cfg = load_checked(RunConfig, path, {"max_frames": 100}, checks)  # both, then checks: every problem at once
    print(show_config(cfg))                                     # secrets as "***"

Every problem of a file is reported at once (``edge.errors.ConfigError``, one line), a misspelt key or
section with "did you mean".

Supported field types: str, int, float (an int is accepted), bool, Optional[X], List[X], Tuple[X, ...],
Dict[str, X] and nested dataclasses (a ``[section]`` in TOML). A field without a default is required.

A field's default, command-line flag and help are written once, with ``setting`` (``edge.commands.flags``
builds the typer options from it):

    scale: float = setting(0.4, "--detect-scale", "Detect on the frame scaled by this (0–1].")
"""
import dataclasses
import difflib
import json
import os
import typing
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from edge.errors import ConfigError, EdgeError, InputError, UsageError
from edge.toml_out import show_config, to_toml  # noqa: F401  (the TOML side of a config, re-exported)

_NONE = type(None)


def _origin(tp):
    """list / tuple / dict / Union / None for a typing construct on Python 3.6 (typing.List) and 3.7+ (list)."""
    o = getattr(tp, "__origin__", None)
    if o is None:
        return None
    if o is typing.Union:
        return typing.Union
    for plain, generic in ((list, typing.List), (tuple, typing.Tuple), (dict, typing.Dict)):
        if o is plain or o is generic:
            return plain
    return o


def describe_type(tp) -> str:
    """A short, user-facing name of a field type ("an integer", "a list of strings", ...)."""
    if dataclasses.is_dataclass(tp):
        return "a table [section]"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    o, args = _origin(tp), getattr(tp, "__args__", ()) or ()
    if o is typing.Union:
        inner = [a for a in args if a is not _NONE]
        return " or ".join(describe_type(a) for a in inner)
    if o in (list, tuple):
        return "a list of {}".format(describe_type(args[0]).split(" ", 1)[-1] + "s") if args else "a list"
    if o is dict:
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _found(value) -> str:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}
    kind = next((n for t, n in kinds.items() if type(value) is t), type(value).__name__)
    shown = json.dumps(value) if isinstance(value, (str, int, float, bool)) else None
    return "{} {}".format(kind, shown) if shown and len(shown) <= 40 else kind


def _convert(value, tp, key: str, where: str, problems: Optional[list] = None):
    """``value`` checked against type ``tp`` (and converted: list → tuple, table → dataclass). A section's
    problems go to ``problems`` when given (the section then keeps what could be built)."""
    def bad():
        return UsageError("{}'{}' expected {}, found {}".format(where, key, describe_type(tp), _found(value)))

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        if problems is None:
            return from_dict(tp, value, where=where, prefix=key + ".")
        return _build(tp, value, key + ".", problems)
    o, args = _origin(tp), getattr(tp, "__args__", ()) or ()
    if o is typing.Union:
        if value is None and _NONE in args:
            return None
        inner = [a for a in args if a is not _NONE]
        if len(inner) == 1:
            try:
                return _convert(value, inner[0], key, where)
            except UsageError:
                raise bad() from None
        for a in inner:
            try:
                return _convert(value, a, key, where)
            except UsageError:
                pass
        raise bad()
    if o in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad()
        item = args[0] if args else Any
        items = [_convert(v, item, "{}[{}]".format(key, i), where) if item is not Any else v
                 for i, v in enumerate(value)]
        return tuple(items) if o is tuple else items
    if o is dict:
        if not isinstance(value, dict):
            raise bad()
        vt = args[1] if len(args) == 2 else Any
        return {str(k): (v if vt is Any else _convert(v, vt, "{}.{}".format(key, k), where))
                for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if type(value) is not bool:
            raise bad()
        return value
    if tp is int:
        if type(value) is not int:
            raise bad()
        return value
    if tp is float:
        if type(value) not in (int, float):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    raise UsageError("{}'{}' has a field type the config loader does not support: {}".format(where, key, tp))


def _hints(cls) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


# --- fields with their flag and help ---------------------------------------------------------------

def setting(default, flags: Union[str, Sequence[str], None], help: str, secret: bool = False, **cli):
    """A dataclass field with its default, its command-line flag(s) and help, written once.

    ``flags``: "--detect-scale", several spellings ("--camera", "-c"), "--threaded/--no-threaded", or None
    for a config-file-only key. ``secret``: ``show_config`` prints "***" for it. ``cli``: more typer.Option
    arguments (e.g. ``envvar``).
    """
    flags = (flags,) if isinstance(flags, str) else tuple(flags or ())
    meta = {"flags": flags, "help": help, "cli": cli, "secret": secret}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_of(cls, key: str) -> dataclasses.Field:
    """The field of dataclass ``cls`` at dotted ``key`` ("haar.scale": field ``scale`` of section ``haar``)."""
    head, _, rest = key.partition(".")
    f = {f.name: f for f in dataclasses.fields(cls)}[head]
    return field_of(_hints(cls)[head], rest) if rest else f


def default_of(f: dataclasses.Field):
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def long_flag(flags: Sequence[str]) -> str:
    """("-c", "--camera") → "--camera"; "--threaded/--no-threaded" → "--threaded"."""
    return next(f for f in flags if f.startswith("--")).split("/")[0]


def param_name(flags: Sequence[str]) -> str:
    """The Python name click gives a flag: "--detect-scale" → "detect_scale"."""
    return long_flag(flags)[2:].replace("-", "_")


def flag_keys(cls, _prefix: str = "") -> Dict[str, str]:
    """{flag's parameter name: dotted config key} of every field of ``cls`` (sections included) that has a
    flag, e.g. {"detect_scale": "haar.scale", "max_frames": "max_frames"}."""
    out = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(flag_keys(hints[f.name], _prefix + f.name + "."))
        elif f.metadata.get("flags"):
            out[param_name(f.metadata["flags"])] = _prefix + f.name
    return out


def check_fields(obj, checks, section: str = "", where: str = "run config") -> None:
    """ConfigError listing every ``(ok, key, expected)`` of ``checks`` that fails, each naming the config key
    (in ``section``) and its flag; ``key`` is a field of ``obj``, or several joined by "/"."""
    problems = []
    for ok, key, expected in checks:
        if not ok:
            names = key.split("/")
            found = tuple(getattr(obj, n) for n in names) if len(names) > 1 else getattr(obj, key)
            flags = {f.name: f.metadata.get("flags") for f in dataclasses.fields(obj)}.get(key)
            flag = " ({})".format(long_flag(flags)) if flags else ""
            problems.append("'{}{}'{}: expected {}, found {!r}".format(section, key, flag, expected, found))
    if problems:
        raise ConfigError(problems, where=where + " ")


def from_dict(cls, data: Mapping[str, Any], where: str = "", prefix: str = ""):
    """Build dataclass ``cls`` from ``data``; unknown keys, wrong types, missing keys and failed field checks
    raise one ConfigError listing them all.

    ``where`` prefixes messages (e.g. "config.toml: "), ``prefix`` is the dotted section path.
    """
    problems = []  # type: List[Any]
    obj = _build(cls, data, prefix, problems)
    if problems:
        raise ConfigError(problems, where)
    return obj


def unknown_key(cls, key: str, prefix: str = "") -> str:
    """The message for a key ``cls`` does not have: where it moved, or the keys it has and the closest."""
    fields = [f.name for f in dataclasses.fields(cls)]
    moved = flag_keys(cls).get(key, "")
    if "." in moved:  # a flag's name, whose key lives in a section (an old flat key: detect_scale)
        section, _, name = (prefix + moved).rpartition(".")
        return "key '{}{}' moved to [{}] {}".format(prefix, key, section, name)
    text = "unknown key '{}{}' (expected one of: {})".format(prefix, key, ", ".join(prefix + n for n in fields))
    if moved:  # a flag's name for a key of another name: camera → source
        return text + "; did you mean '{}{}' (the --{} flag's key)?".format(prefix, moved, key.replace("_", "-"))
    close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
    if close:
        hints = _hints(cls)
        name = prefix + close[0]
        return text + "; did you mean {}?".format(
            "[{}]".format(name) if dataclasses.is_dataclass(hints[close[0]]) else "'{}'".format(name))
    return text


def _build(cls, data: Mapping[str, Any], prefix: str, problems: list):
    """``cls`` from ``data``, every problem appended to ``problems``. With problems, what can still be built is
    returned for further checks: bad keys keep their defaults, and when the field checks (``__post_init__``)
    fail the object is assembled without them; None when a required key is missing."""
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems.extend(unknown_key(cls, k, prefix) for k in data if k not in fields)
    kwargs, missing = {}, False
    for name, f in fields.items():
        if name in data:
            try:
                value = _convert(data[name], hints[name], prefix + name, "", problems)
            except UsageError as e:
                problems.append(e)
                continue
            if value is not None or data[name] is None:
                kwargs[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore
            problems.append("missing required key '{}{}' ({})".format(prefix, name, describe_type(hints[name])))
            missing = True
    if missing:
        return None
    try:
        return cls(**kwargs)
    except EdgeError as e:  # the field checks: ConfigError (check_fields) or another one-line error
        problems.append(e)
        obj = object.__new__(cls)  # unchecked, only for the checks that follow (see load_checked)
        for name, f in fields.items():
            obj.__dict__[name] = kwargs[name] if name in kwargs else default_of(f)
        return obj


def read_file(path: str) -> Dict[str, Any]:
    """The top-level table of a .toml / .yaml / .yml file: InputError when it cannot be read, UsageError (a
    config error, exit 2) when it is not valid TOML/YAML text or not a table."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".toml", ".yaml", ".yml"):
        raise UsageError("expected a config file ending in .toml, .yaml or .yml, found '{}'".format(path))
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InputError("cannot read config file {}: {}".format(path, e.strerror or e)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("{}: expected a UTF-8 text file, found binary data".format(path)) from None
    if ext == ".toml":
        toml = _toml_module()
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as e:
            raise UsageError("{}: not valid TOML: {}".format(path, " ".join(str(e).split()))) from None
    else:
        from edge.errors import require

        yaml = require("yaml", "PyYAML", "YAML config files")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise UsageError("{}: not valid YAML: {}".format(path, " ".join(str(e).split()))) from None
        data = {} if data is None else data
    if not isinstance(data, dict):
        raise UsageError("{}: expected a table of keys at the top level, found {}".format(
            path, type(data).__name__))
    return data


def _toml_module():
    try:
        import tomllib  # novermin  (Python 3.11+; tomli below)
        return tomllib
    except ImportError:
        from edge.errors import require

        return require("tomli", "tomli", "TOML config files")


def load_config(path: str, cls):
    """Read ``path`` (TOML or YAML) into dataclass ``cls``, strictly (errors name the file and key)."""
    return from_dict(cls, read_file(path), where="{}: ".format(path))


def load_checked(cls, path: Optional[str] = None, cli_values: Optional[Mapping[str, Any]] = None,
                 checks: Sequence = ()):
    """``cls`` from the file at ``path`` (if any) with ``cli_values`` (as for ``merge_cli``) on top, then each
    of ``checks`` (a function of the config that raises an EdgeError): every problem in one ConfigError.

    What ``edge run`` and ``edge config show`` both do, so that a config one accepts the other runs."""
    data = _with_values(read_file(path) if path else {}, cli_values or {})
    problems = []  # type: List[Any]
    cfg = _build(cls, data, "", problems)
    for check in checks if cfg is not None else ():
        try:
            check(cfg)
        except EdgeError as e:
            problems.append(e)
    if problems:
        raise ConfigError(problems, where="{}: ".format(path) if path else "")
    return cfg


def _with_values(data: Mapping[str, Any], values: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of the table ``data`` with the dotted keys of ``values`` set ("serve.address" in [serve])."""
    out = dict(data)
    for key, value in values.items():
        table = out
        *sections, name = key.split(".")
        for section in sections:
            inner = table.get(section, {})
            if not isinstance(inner, dict):  # a wrong type in the file: reported as it is
                break
            table[section] = table = dict(inner)
        else:
            table[name] = value
    return out


def merge_cli(config, cli_values: Mapping[str, Any], _prefix: str = ""):
    """A copy of ``config`` with explicitly given CLI values on top.

    Keys are field names, dotted for nested sections ("serve.address"). Pass only the flags the user
    actually gave (see ``explicit_params``): defaults of unset flags must not override the file.
    """
    nested = {}  # type: Dict[str, Dict[str, Any]]
    direct = {}
    fields = {f.name for f in dataclasses.fields(config)}
    hints = _hints(type(config))
    for key, value in cli_values.items():
        head, _, rest = key.partition(".")
        if head not in fields:
            raise UsageError("unknown config key '{}{}' (expected one of: {})".format(
                _prefix, key, ", ".join(_prefix + f for f in sorted(fields))))
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = _convert(value, hints[head], _prefix + head, "command line: ")
    for head, values in nested.items():
        direct[head] = merge_cli(getattr(config, head), values, _prefix + head + ".")
    return dataclasses.replace(config, **direct)


def explicit_params(ctx) -> List[str]:
    """Names of the click parameters the user gave on the command line or through the environment."""
    # Compared by name: newer typer vendors its own click, whose ParameterSource is a different enum.
    given = ("COMMANDLINE", "ENVIRONMENT")
    return [n for n in ctx.params if getattr(ctx.get_parameter_source(n), "name", None) in given]


def cli_overrides(ctx, rename: Optional[Mapping[str, str]] = None, exclude=("config",)) -> Dict[str, Any]:
    """{config key: value} of the flags given explicitly, for ``merge_cli``.

    A flag maps to the field of the same name unless ``rename`` says otherwise
    (e.g. ``{"serve_token": "serve.token"}``); ``exclude`` lists flags that are not config fields.
    """
    rename = rename or {}
    return {rename.get(n, n): ctx.params[n] for n in explicit_params(ctx) if n not in exclude}
