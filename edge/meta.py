"""The metadata records that travel with every artifact: ``ModelMeta`` (a classifier) and
``DetectorMeta`` (an SSD face detector).

One ``ModelMeta`` rides inside each checkpoint (``ckpt["meta"]``), in ONNX ``metadata_props``
(key ``edge.meta``, JSON) and in the JSON sidecar beside a TensorRT engine. Preprocessing is
derived from it, never from constants in the caller:

    x = (pixel / 255 - mean) / std       per channel, channels in ``channel_order``,
                                          image resized to ``input_size`` (height, width), NCHW.

A detector model carries a ``DetectorMeta`` instead (key ``edge.detector``, JSON: anchor layout,
normalisation, thresholds); ``detector_model_meta`` reads the ``ModelMeta`` that feeds it.
"""
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, Mapping, NamedTuple, Tuple

from edge.detectors.ssd.anchors import SsdLayout
from edge.errors import InputError

FORMAT_VERSION = 1
ONNX_KEY = "edge.meta"
DETECTOR_KEY = "edge.detector"
DETECTOR_FORMAT = 1
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


class DetectorMeta(NamedTuple):
    """What a runtime must know to feed an SSD face detector and decode its outputs."""

    name: str
    layout: SsdLayout
    num_keypoints: int
    score_threshold: float
    iou_threshold: float
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    channel_order: str = "RGB"
    provenance: Dict[str, Any] = {}
    format: int = DETECTOR_FORMAT

    @property
    def row_width(self) -> int:
        return 4 + 2 * self.num_keypoints

    def model_meta(self) -> ModelMeta:
        """How to feed the model: its square input, channel order and mean/std (one label, "face")."""
        s = self.layout.input_size
        return ModelMeta(arch="", labels=("face",), input_size=(s, s), channel_order=self.channel_order,
                         mean=self.mean, std=self.std, variant=self.name)

    def to_json(self) -> str:
        d = self._asdict()
        d.update(layout=self.layout.to_dict(), mean=list(self.mean), std=list(self.std))
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> "DetectorMeta":
        try:
            d = json.loads(text)
            meta = cls(name=str(d["name"]), layout=SsdLayout.from_dict(d["layout"], source),
                       num_keypoints=int(d["num_keypoints"]), score_threshold=float(d["score_threshold"]),
                       iou_threshold=float(d["iou_threshold"]), mean=tuple(float(v) for v in d["mean"]),
                       std=tuple(float(v) for v in d["std"]), channel_order=str(d.get("channel_order", "RGB")),
                       provenance=dict(d.get("provenance", {})), format=int(d.get("format", 1)))
        except InputError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError("{}: expected a JSON detector record in '{}', found one that does not parse "
                             "({}: {})".format(source, DETECTOR_KEY, type(e).__name__, e)) from None
        if meta.format > DETECTOR_FORMAT or meta.channel_order not in ("RGB", "BGR") or len(meta.mean) != 3 \
                or len(meta.std) != 3 or min(meta.std) <= 0:
            raise InputError("{}: expected detector format <= {}, channel_order RGB/BGR and 3 mean/std "
                             "values, found {}".format(source, DETECTOR_FORMAT, text[:200]))
        return meta


def detector_model_meta(record: str, source: str) -> ModelMeta:
    """The ModelMeta that feeds a detector, from its ``edge.detector`` JSON ``record``."""
    return DetectorMeta.from_json(record, source).model_meta()


def _check(ok, key, expected, found):
    if not ok:
        raise InputError("metadata '{}': expected {}, found {!r}".format(key, expected, found))
