"""The model-metadata record that travels with every artifact.

One ``ModelMeta`` rides inside each checkpoint (``ckpt["meta"]``), in ONNX ``metadata_props``
(key ``edge.meta``, JSON) and in the JSON sidecar beside a TensorRT engine. Preprocessing is
derived from it, never from constants in the caller:

    x = (pixel / 255 - mean) / std       per channel, channels in ``channel_order``,
                                          image resized to ``input_size`` (height, width), NCHW.
"""
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, Mapping, Tuple

from edge.errors import InputError

FORMAT_VERSION = 1
ONNX_KEY = "edge.meta"
CHANNEL_ORDERS = ("RGB", "BGR", "GRAY")


@dataclass(frozen=True)
class ModelMeta:
    """What a runtime must know to feed a model and read its output."""

    arch: str  # registry name of the architecture family ("maskcnn"); "" for foreign models
    labels: Tuple[str, ...]
    input_size: Tuple[int, int]  # (height, width)
    arch_args: Dict[str, Any] = field(default_factory=dict)  # kwargs that rebuild the network
    channel_order: str = "RGB"
    mean: Tuple[float, ...] = (0.5, 0.5, 0.5)
    std: Tuple[float, ...] = (0.5, 0.5, 0.5)
    variant: str = ""  # a human name: "teacher", "small", "teacher-pruned-0.5"
    provenance: Dict[str, Any] = field(default_factory=dict)  # data, recipe, metrics, parents
    format: int = FORMAT_VERSION

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "labels", tuple(self.labels))
        set_(self, "input_size", tuple(self.input_size))
        set_(self, "mean", tuple(float(v) for v in self.mean))
        set_(self, "std", tuple(float(v) for v in self.std))
        set_(self, "arch_args", dict(self.arch_args))
        set_(self, "provenance", dict(self.provenance))
        _check(isinstance(self.arch, str), "arch", "a string", self.arch)
        _check(
            len(self.labels) >= 1 and all(isinstance(x, str) and x for x in self.labels),
            "labels", "a non-empty list of non-empty strings", list(self.labels),
        )
        _check(len(set(self.labels)) == len(self.labels), "labels", "unique names", list(self.labels))
        _check(
            len(self.input_size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in self.input_size),
            "input_size", "[height, width] of positive integers", list(self.input_size),
        )
        _check(self.channel_order in CHANNEL_ORDERS, "channel_order",
               "one of " + "/".join(CHANNEL_ORDERS), self.channel_order)
        n = self.channels
        _check(len(self.mean) == n, "mean", "{} values for {}".format(n, self.channel_order), list(self.mean))
        _check(len(self.std) == n and all(s > 0 for s in self.std), "std",
               "{} positive values for {}".format(n, self.channel_order), list(self.std))
        _check(self.format <= FORMAT_VERSION, "format",
               "version {} or older (upgrade edge to read newer files)".format(FORMAT_VERSION), self.format)

    @property
    def channels(self) -> int:
        return 1 if self.channel_order == "GRAY" else 3

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def replace(self, **changes) -> "ModelMeta":
        return replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-able types only, so it survives ``torch.load(weights_only=True)``."""
        d = asdict(self)
        for key in ("labels", "input_size", "mean", "std"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model metadata") -> "ModelMeta":
        if not isinstance(data, Mapping):
            raise InputError("{}: expected a metadata mapping, found {}".format(source, type(data).__name__))
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InputError("{}: unknown metadata key '{}' (known: {})".format(
                source, unknown[0], ", ".join(known)))
        missing = [k for k in ("arch", "labels", "input_size") if k not in data]
        if missing:
            raise InputError("{}: metadata lacks required key '{}'".format(source, missing[0]))
        try:
            return cls(**dict(data))
        except InputError as e:
            raise InputError("{}: {}".format(source, e)) from None
        except (TypeError, ValueError) as e:
            raise InputError("{}: malformed metadata ({})".format(source, e)) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "model metadata") -> "ModelMeta":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise InputError("{}: expected JSON metadata, found unparsable text ({})".format(source, e)) from None
        return cls.from_dict(data, source)

    def to_onnx_props(self) -> Dict[str, str]:
        """Key/value pairs for ONNX ``metadata_props``."""
        return {ONNX_KEY: self.to_json()}

    @classmethod
    def from_onnx_props(cls, props: Mapping[str, str], source: str = "ONNX model") -> "ModelMeta":
        if ONNX_KEY not in props:
            raise InputError("{}: expected '{}' in metadata_props, found {}".format(
                source, ONNX_KEY, sorted(props) or "none"))
        return cls.from_json(props[ONNX_KEY], source)


def _check(ok, key, expected, found):
    if not ok:
        raise InputError("metadata '{}': expected {}, found {!r}".format(key, expected, found))
