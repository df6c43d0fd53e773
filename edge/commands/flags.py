"""typer options read from config dataclass fields: each default, flag and help is written once, in the
field (``edge.config.setting``).

    max_frames: int = option(RunConfig, "max_frames")          # --max-frames, default 0, the field's help
    labels: Optional[str] = option(RunConfig, "labels", parse=parse_labels)   # "a,b" → ("a", "b")
"""
from typing import Callable, Optional

import typer

from edge.config import default_of, field_of


def option(cls, key: str, parse: Optional[Callable[[str], object]] = None):
    """The typer.Option of dataclass ``cls``'s field at dotted ``key`` (its flags, default and help).

    ``parse``: the flag takes text, turned into the field's value by ``parse`` (unset: the field's default).
    """
    f = field_of(cls, key)
    meta = f.metadata
    if not meta.get("flags"):
        raise ValueError("config field '{}' has no flag (see edge.config.setting)".format(key))
    default = default_of(f)
    kw = dict(meta["cli"])
    if parse is None and isinstance(default, list):  # repeatable (--output A --output B): click gives a tuple
        return typer.Option(default, *meta["flags"], help=meta["help"],
                            callback=lambda values: list(values) if values is not None else default, **kw)
    if parse is None:
        return typer.Option(default, *meta["flags"], help=meta["help"], **kw)
    return typer.Option(None, *meta["flags"], help=meta["help"],
                        callback=lambda text: default if text is None else parse(text), **kw)
