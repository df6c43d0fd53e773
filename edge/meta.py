"""The metadata records that travel with every artifact: ``ModelMeta`` (a classifier) and
``DetectorMeta`` (an SSD face detector).

One ``ModelMeta`` rides inside each checkpoint (``ckpt["meta"]``), in ONNX ``metadata_props``
(key ``edge.meta``, JSON) and in the JSON sidecar beside a TensorRT engine. Preprocessing is
derived from it, never from constants in the caller:

    x = (pixel / 255 - mean) / std       per channel, channels in ``channel_order``,
                                          image resized to ``input_size`` (height, width), NCHW.

A detector model carries a ``DetectorMeta`` instead (key ``edge.detector``, JSON: anchor layout,
normalisation, thresholds); ``detector_model_meta`` reads the ``ModelMeta`` that feeds it. An object
detector (an Ultralytics or SSD export) has an ``ObjectDetectorMeta``, read by ``object_detector_meta``
from the ONNX's own ``metadata_props`` (Ultralytics' ``names``, ``imgsz``, ...) or from --detector-labels /
--detector-input-size; an engine's sidecar carries it as ``"objects"``.
"""
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

from edge.detectors.ssd.anchors import SsdLayout
from edge.errors import InputError

FORMAT_VERSION = 1
ONNX_KEY = "edge.meta"
DETECTOR_KEY = "edge.detector"
DETECTOR_FORMAT = 1
OBJECTS_KEY = "objects"  # an object detector's record in a TensorRT engine's sidecar (ObjectDetectorMeta.to_dict)
OBJECTS_FORMAT = 1
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
    def from_json(cls, text: Optional[str], source: str) -> "DetectorMeta":
        if text is None:  # a backend loaded an object detector (no record) where a face detector was asked for
            raise InputError("{}: expected a face detector's '{}' record, found an object detector (Ultralytics "
                             "metadata or none); run it as --detector PATH".format(source, DETECTOR_KEY))
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


class ObjectDetectorMeta(NamedTuple):
    """What a runtime must know to feed an object detector (an Ultralytics/SSD export) and read its outputs:
    the ONNX's ``metadata_props`` (``object_detector_meta``), carried by an engine's sidecar as ``"objects"``."""

    labels: Tuple[str, ...]  # class names, by class id
    input_size: Tuple[int, int]  # (height, width)
    layout: str = ""  # what the metadata says: v8, v5, end2end, or "" (the output shapes decide)
    stride: int = 32
    channel_order: str = "RGB"
    mean: Tuple[float, ...] = (0.0, 0.0, 0.0)  # Ultralytics: pixel / 255
    std: Tuple[float, ...] = (1.0, 1.0, 1.0)
    provenance: Dict[str, Any] = {}  # an Ultralytics export's description, author, version, date
    format: int = OBJECTS_FORMAT

    def model_meta(self) -> ModelMeta:
        """How to feed the model: its input size, channel order, mean/std; its labels."""
        return ModelMeta(arch="", labels=self.labels, input_size=self.input_size, channel_order=self.channel_order,
                         mean=self.mean, std=self.std, variant=str(self.provenance.get("description", "")))

    def to_dict(self) -> Dict[str, Any]:
        d = self._asdict()
        d.update(labels=list(self.labels), input_size=list(self.input_size), mean=list(self.mean),
                 std=list(self.std), provenance=dict(self.provenance))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str) -> "ObjectDetectorMeta":
        """The record from its dict (a sidecar's ``"objects"``); one InputError when it does not fit."""
        try:
            meta = cls(labels=tuple(str(v) for v in d["labels"]), input_size=tuple(int(v) for v in d["input_size"]),
                       layout=str(d.get("layout", "")), stride=int(d.get("stride", 32)),
                       channel_order=str(d.get("channel_order", "RGB")),
                       mean=tuple(float(v) for v in d.get("mean", (0.0,) * 3)),
                       std=tuple(float(v) for v in d.get("std", (1.0,) * 3)),
                       provenance=dict(d.get("provenance", {})), format=int(d.get("format", 1)))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError("{}: expected an object detector record ('{}': labels, input_size), found one that "
                             "does not parse ({}: {})".format(source, OBJECTS_KEY, type(e).__name__, e)) from None
        _check(meta.format <= OBJECTS_FORMAT, "format", "object detector format <= {}".format(OBJECTS_FORMAT),
               meta.format)
        _check(meta.layout in ("", "v8", "v5", "end2end", "ssd"), "layout", "v8, v5, end2end, ssd or empty",
               meta.layout)
        try:
            meta.model_meta()  # labels, input size, channel order and mean/std as a classifier's are checked
        except InputError as e:
            raise InputError("{}: {}".format(source, e)) from None
        return meta


def _literal(props: Mapping[str, str], key: str, source: str) -> Any:
    """A ``metadata_props`` value written by Python's ``str()`` (a dict, list, int, bool), read with
    ``ast.literal_eval`` (never eval); a plain string stays itself."""
    import ast

    text = props[key]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if key in ("names", "imgsz"):
            raise InputError("{}: expected metadata '{}' as a Python literal such as {}, found {!r}".format(
                source, key, "{0: 'person', 1: 'car'}" if key == "names" else "[640, 640]", text[:80])) from None
        return text


def ultralytics_names(names: Any, source: str) -> Tuple[str, ...]:
    """Ultralytics' ``names`` ({0: 'person', 1: 'bicycle'}, or a YOLOv5 list) → labels by class id 0…n-1."""
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    ok = isinstance(names, dict) and names and all(isinstance(k, int) and not isinstance(k, bool) for k in names)
    if not ok or sorted(names) != list(range(len(names))):
        raise InputError("{}: expected metadata 'names' as {{class id: name}} with ids 0…n-1, found {!r}".format(
            source, names if not isinstance(names, dict) else dict(list(names.items())[:4])))
    return tuple(str(names[i]) for i in range(len(names)))


def object_detector_meta(props: Mapping[str, str], source: str, overrides: Optional[Mapping[str, Any]] = None,
                         input_hw: Optional[Sequence] = None) -> ObjectDetectorMeta:
    """The record of an object detector ONNX from its ``metadata_props`` as Ultralytics writes them (``names``,
    ``imgsz``, ``stride``, ``task``, ``batch``, ``end2end``, ``args``) or none; ``overrides`` (MetaOverrides:
    ``labels``, ``input_size``, ``channel_order``, ``mean``, ``std``) replace what they say; ``input_hw``: the
    ONNX input's (height, width), ints where static, the input size when the metadata has none.
    One InputError naming what is missing."""
    overrides = dict(overrides or {})
    if ONNX_KEY in props:
        raise InputError("{}: expected a '{}' record in metadata_props (an SSD face detector) or an object "
                         "detector's metadata, found a classifier ('{}'); give it as --model".format(
                             source, DETECTOR_KEY, ONNX_KEY))
    task = str(props.get("task", "detect"))
    if task != "detect":
        raise InputError("{}: expected a detect model, found an Ultralytics '{}' model (task '{}'); edge runs "
                         "object detection (task=detect) exports".format(source, task, task))
    if "labels" in overrides:
        labels = tuple(overrides.pop("labels"))
    elif "names" in props:
        labels = ultralytics_names(_literal(props, "names", source), source)
    else:
        labels = ()
    size = overrides.pop("input_size", None)
    if size is None and "imgsz" in props:
        size = _literal(props, "imgsz", source)
        size = [size, size] if isinstance(size, int) else size
    static = [d for d in (input_hw or ()) if isinstance(d, int) and d > 0]
    if size is None and len(static) == 2:
        size = static
    if not labels or size is None:
        raise InputError("{}: expected a '{}' record in metadata_props (an SSD face detector: convert with "
                         "scripts/convert_blazeface.py) or an object detector's Ultralytics metadata (names, imgsz), "
                         "found {}; give an object detector without them --detector-labels{}".format(
                             source, DETECTOR_KEY, sorted(props) or "none",
                             "" if len(static) == 2 else " and --detector-input-size (its input size is dynamic)"))
    args = _literal(props, "args", source) if "args" in props else {}
    end2end = _literal(props, "end2end", source) if "end2end" in props else False
    nms_inside = end2end is True or (isinstance(args, dict) and args.get("nms") is True)
    layout = "end2end" if nms_inside else "v8" if "task" in props else "v5" if "names" in props else ""
    stride = _literal(props, "stride", source) if "stride" in props else 32
    provenance = {k: str(props[k]) for k in ("description", "author", "version", "date") if k in props}
    try:
        channels = {"channel_order", "mean", "std"} & set(overrides)
        d = dict(labels=labels, input_size=[int(v) for v in size], layout=layout,
                 stride=stride if isinstance(stride, int) else 32, provenance=provenance)
        d.update((k, overrides[k]) for k in channels)
        if d.get("channel_order") == "GRAY":
            raise InputError("expected a colour (RGB/BGR) input, found --channel-order GRAY")
        meta = ObjectDetectorMeta.from_dict(d, source)
    except (TypeError, ValueError) as e:
        raise InputError("{}: expected metadata 'imgsz' as [height, width], found {!r} ({})".format(
            source, size, e)) from None
    return meta


def _check(ok, key, expected, found):
    if not ok:
        raise InputError("metadata '{}': expected {}, found {!r}".format(key, expected, found))
