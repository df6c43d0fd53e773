"""Face detectors by name: ``create_detector("haar", scale=0.5)`` → a ``Detector`` (see ``base``).

Each detector lives in its own module with a ``DETECTOR`` class (built with keyword options), its options
dataclass (``HaarOptions``: the run config's ``[haar]`` section, each field with its ``edge run`` flag:
``--detect-scale`` → ``haar.scale`` → Haar's ``scale``) and ``config_options(cfg)``: the keyword options from
a run config. Heavy imports stay inside. ``--detector PATH.onnx`` (or ``.engine``) selects the object
detector (``OBJECTS``: edge.detectors.yolo, its options the ``[objects]`` section) with that model.
"""
import importlib
import os
from collections import OrderedDict

from edge.detectors.base import Detections, Detector  # noqa: F401
from edge.errors import InputError, UsageError

DETECTORS = OrderedDict([
    ("haar", "edge.detectors.haar"),
    ("blazeface", "edge.detectors.blazeface"),
    ("yolo", "edge.detectors.yolo"),  # object detectors (Ultralytics/SSD exports): `--detector PATH`
])


OBJECTS = "yolo"  # what `--detector PATH` selects: a model file with one of MODEL_SUFFIXES
MODEL_SUFFIXES = (".onnx", ".engine")


def _module(name: str):
    """The module of a registry key ("haar", "yolo") or of a ``--detector`` value (a model path)."""
    return importlib.import_module(DETECTORS[name if name in DETECTORS else check_name(name)])


def detector_class(name: str):
    return _module(name).DETECTOR


def check_name(name: str) -> str:
    """The registry key of a ``--detector`` value: a name (haar, blazeface), or OBJECTS for the path of an
    object detector's .onnx/.engine (that it exists is a start-up check: ``check_model_file``)."""
    if is_object_detector(name):
        return OBJECTS
    if name not in DETECTORS or name == OBJECTS:
        raise UsageError("unknown detector '{}' (known: {}); an object detector is its model file, {}".format(
            name, ", ".join(k for k in DETECTORS if k != OBJECTS), " or ".join("PATH" + s for s in MODEL_SUFFIXES)))
    return name


def is_object_detector(name: str) -> bool:
    """``--detector name`` is the path of an object detector's model (the one rule: its suffix)."""
    return name.lower().endswith(MODEL_SUFFIXES)


def check_model_file(name: str) -> None:
    """For ``--detector PATH``: the model file is there (one InputError line otherwise)."""
    if is_object_detector(name) and not os.path.isfile(name):
        raise InputError("expected an object detector's model file (--detector), found {} at '{}'".format(
            "a directory" if os.path.isdir(name) else "nothing", name))


def config_options(name: str, cfg) -> dict:
    """The keyword options of detector ``name`` from ``cfg`` (a RunConfig): its section, e.g. ``cfg.haar``."""
    return _module(name).config_options(cfg)


def create_detector(name: str, **options) -> Detector:
    """The detector ``name`` built with its own keyword options (unknown options are a usage error)."""
    if name == OBJECTS and not options.get("model"):
        check_name(name)  # "yolo" alone names no model: the one message that says to pass its file
    cls = detector_class(name)
    try:
        return cls(**options)
    except TypeError as e:
        raise UsageError("detector '{}' does not take these options: {} ({})".format(
            name, ", ".join(sorted(options)), e)) from None
