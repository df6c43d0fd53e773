"""TensorRT optimization profiles for ``edge.backends.tensorrt.build``: pure functions, tested without a GPU.

A classifier gets a batch profile (opt 4: faces per frame). A detector ONNX with a fixed square input gets
one tuned for a frame plus its 3x2 tiles (opt 7, max 16). A detector whose input height and width are
dynamic (``["N", 3, "H", "W"]``: one pass over the whole resized frame, then square second-pass crops)
gets a profile over height and width too (``spatial_profile``).

Runs ON the device (Jetson Nano: Python 3.6): checked by ``vermin`` in CI.
"""
import json
from collections import namedtuple
from typing import Optional, Sequence, Tuple

from edge.errors import UsageError

Profile = namedtuple("Profile", "min opt max")


def batch_profile(dim0, opt: int = 4, max_batch: int = 16) -> Profile:
    """min/opt/max batch of the optimization profile; a static batch ``dim0`` fixes all three."""
    if isinstance(dim0, int) and dim0 > 0:
        return Profile(dim0, dim0, dim0)
    if not 1 <= opt <= max_batch:
        raise UsageError("expected 1 ≤ --opt-batch ≤ --max-batch, found opt {} max {}".format(opt, max_batch))
    return Profile(1, opt, max_batch)


CLASSIFIER_OPT_BATCH = 4  # faces per frame, typically
DETECTOR_OPT_BATCH = 7  # BlazeFace: the whole frame + 3x2 tiles, one batch per frame
MAX_BATCH = 16

# A detector with dynamic height/width runs one whole-frame pass (batch 1, the frame resized by its scale
# and padded to the detector's input multiple), then up to 8 square crops (192x192) in a second pass.
# TensorRT sizes an execution context's activation memory for the profile's MAX shape, and each of its
# dimensions counts: on a Jetson Nano (4 GB shared by CPU and GPU) keep the max batch and max height/width
# no larger than the frames the camera really sends (--max-input, --max-batch).
FRAME_MIN_INPUT = (32, 32)
FRAME_OPT_INPUT = (288, 512)  # 1280x720 at scale 0.4 → 512x288 (BlazeFace's default frame pass)
FRAME_MAX_INPUT = (448, 768)  # 1920x1080 at scale 0.4 → 768x432 → padded to 768x448
FRAME_OPT_BATCH = 1  # one frame pass per call
FRAME_MAX_BATCH = 8  # the second pass: up to 8 square crops


def default_opt_batch(detector: bool, opt: Optional[int] = None, frame: bool = False) -> int:
    """The profile's opt batch: as given, else 1 for a detector with dynamic height/width (one frame pass),
    7 for a square detector (frame + 3x2 tiles), 4 for a classifier."""
    if opt is not None:
        return int(opt)
    if frame:
        return FRAME_OPT_BATCH
    return DETECTOR_OPT_BATCH if detector else CLASSIFIER_OPT_BATCH


def default_max_batch(max_batch: Optional[int] = None, frame: bool = False) -> int:
    """The profile's max batch: as given, else 8 for a detector with dynamic height/width (its second-pass
    crops; activation memory grows with it), 16 otherwise."""
    if max_batch is not None:
        return int(max_batch)
    return FRAME_MAX_BATCH if frame else MAX_BATCH


def input_multiple(record: Optional[str]) -> int:
    """``layout.input_multiple`` of a detector record (what it pads frames to; 0 when absent)."""
    try:
        return int(json.loads(record or "{}").get("layout", {}).get("input_multiple") or 0)
    except (ValueError, TypeError, AttributeError):
        return 0


def hw_text(hw: Sequence[int]) -> str:
    """(h, w) → "HxW"."""
    return "{}x{}".format(*hw)


def spatial_profile(shape: Sequence, batch: Profile, square: Sequence[int], opt_hw: Optional[Sequence[int]] = None,
                    max_hw: Optional[Sequence[int]] = None, multiple: int = 0) -> Profile:
    """min/opt/max full input shapes for a detector whose input height and/or width are dynamic.

    ``shape``: the parsed network input (N, C, H, W) with -1 for a dynamic dimension (a fixed height or
    width stays as it is); ``batch``: its batch profile; ``square``: the record's square input size
    (warm-up and second-pass crops), which must lie inside the range. Height/width: min 32x32, opt
    ``opt_hw`` (default 288x512, a 720p frame at scale 0.4), max ``max_hw`` (default 448x768, a 1080p
    frame at 0.4); each dimension's max is independent, so the max shape also covers ``batch.max``
    square crops. ``multiple`` (the record's ``layout.input_multiple``): opt and max must be multiples.

    >>> spatial_profile((-1, 3, -1, -1), Profile(1, 1, 8), (192, 192))
    Profile(min=(1, 3, 32, 32), opt=(1, 3, 288, 512), max=(8, 3, 448, 768))
    """
    channels, dims = int(shape[1]), tuple(shape[2:4])
    fixed = [isinstance(d, int) and d > 0 for d in dims]

    def resolve(flag, given, default):
        value = tuple(int(v) for v in (given if given is not None else default))
        if len(value) != 2 or min(value) < 1:
            raise UsageError("expected {} HxW (e.g. 448x768), found {}".format(flag, given))
        for i, d in enumerate(dims):
            if fixed[i]:  # a fixed dimension stays fixed
                if given is not None and value[i] != d:
                    raise UsageError("expected {} with {} {} (fixed in the ONNX input), found {}".format(
                        flag, ("height", "width")[i], d, hw_text(value)))
                value = value[:i] + (int(d),) + value[i + 1:]
        if multiple and any(v % multiple for v, f in zip(value, fixed) if not f):
            raise UsageError("expected {} height and width that are multiples of {} (the detector pads frames "
                             "to multiples of {}), found {}".format(flag, multiple, multiple, hw_text(value)))
        return value

    lo = tuple(int(d) if f else m for d, f, m in zip(dims, fixed, FRAME_MIN_INPUT))
    hi = resolve("--max-input", max_hw, FRAME_MAX_INPUT)
    # the default opt stays inside a given max (a portrait camera's 768x448 takes opt 288x448)
    opt = resolve("--opt-input", opt_hw, FRAME_OPT_INPUT if opt_hw is not None or max_hw is None else
                  tuple(min(o, h) for o, h in zip(FRAME_OPT_INPUT, hi)))
    if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
        raise UsageError("expected --opt-input between {} and --max-input {} in height and width, found {}".format(
            hw_text(lo), hw_text(hi), hw_text(opt)))
    square = tuple(int(v) for v in square)
    if not all(a <= q <= c for a, q, c in zip(lo, square, hi)):
        raise UsageError("--max-input {} leaves out the detector's {} input (its second-pass crops): expected at "
                         "least {}".format(hw_text(hi), hw_text(square), hw_text(square)))
    return Profile(*((b, channels) + v for b, v in zip(batch, (lo, opt, hi))))


def profile_shapes(profile: Profile, chw: Sequence[int]) -> Tuple[Tuple[int, ...], ...]:
    """(min, opt, max) full input shapes for ``IOptimizationProfile.set_shape``."""
    return tuple((b,) + tuple(int(v) for v in chw) for b in profile)
