"""Face detectors by name: ``create_detector("haar", scale=0.5)`` → a ``Detector`` (see ``base``).

Each detector lives in its own module with a ``DETECTOR`` class (built with keyword options), its options
dataclass (``HaarOptions``: the run config's ``[haar]`` section, each field with its ``edge run`` flag:
``--detect-scale`` → ``haar.scale`` → Haar's ``scale``) and ``config_options(cfg)``: the keyword options from
a run config. Heavy imports stay inside.
"""
import importlib
from collections import OrderedDict

from edge.detectors.base import Detections, Detector  # noqa: F401
from edge.errors import UsageError

DETECTORS = OrderedDict([
    ("haar", "edge.detectors.haar"),
    ("blazeface", "edge.detectors.blazeface"),
])


def detector_class(name: str):
    return importlib.import_module(DETECTORS[check_name(name)]).DETECTOR


def check_name(name: str) -> str:
    if name not in DETECTORS:
        raise UsageError("unknown detector '{}' (known: {})".format(name, ", ".join(DETECTORS)))
    return name


def config_options(name: str, cfg) -> dict:
    """The keyword options of detector ``name`` from ``cfg`` (a RunConfig): its section, e.g. ``cfg.haar``."""
    return importlib.import_module(DETECTORS[check_name(name)]).config_options(cfg)


def create_detector(name: str, **options) -> Detector:
    """The detector ``name`` built with its own keyword options (unknown options are a usage error)."""
    cls = detector_class(name)
    try:
        return cls(**options)
    except TypeError as e:
        raise UsageError("detector '{}' does not take these options: {} ({})".format(
            name, ", ".join(sorted(options)), e)) from None
