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

from edge.errors import InputError, UsageError

Profile = namedtuple("Profile", "min opt max")


def has_dynamic_hw(shape: Sequence) -> bool:
    """Whether an (N, C, H, W) input shape (an engine's at run time, or a parsed network's at build time) has a dynamic
    height or width (-1, or a symbolic name)."""
    return any(not isinstance(d, int) or d < 0 for d in tuple(shape)[2:4])


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
# An object detector (an Ultralytics export) runs once per frame, letterboxed to its input size (``imgsz``):
# batch 1, and a dynamic height/width (``yolo export dynamic=True``) tuned and capped at that size.
OBJECTS_MAX_BATCH = 1


def default_opt_batch(detector: bool, opt: Optional[int] = None, frame: bool = False) -> int:
    """The profile's opt batch: as given, else 1 for a detector with dynamic height/width (one frame pass),
    7 for a square detector (frame + 3x2 tiles), 4 for a classifier."""
    if opt is not None:
        return int(opt)
    if frame:
        return FRAME_OPT_BATCH
    return DETECTOR_OPT_BATCH if detector else CLASSIFIER_OPT_BATCH


def default_max_batch(max_batch: Optional[int] = None, frame: bool = False, objects: bool = False) -> int:
    """The profile's max batch: as given, else 1 for an object detector (one frame per call), 8 for a detector
    with dynamic height/width (its second-pass crops; activation memory grows with it), 16 otherwise."""
    if max_batch is not None:
        return int(max_batch)
    return OBJECTS_MAX_BATCH if objects else FRAME_MAX_BATCH if frame else MAX_BATCH


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


EnginePlan = namedtuple("EnginePlan", "batch shapes frame calibration_shape")


def shape_text(shape: Sequence[int]) -> str:
    """(1, 3, 128, 128) → "1x3x128x128"."""
    return "x".join(str(int(d)) for d in shape)


def engine_plan(in_shape: Sequence, meta, source: str, name: str, detector_record: Optional[str] = None,
                opt_batch: Optional[int] = None, max_batch: Optional[int] = None,
                opt_input: Optional[Tuple[int, int]] = None, max_input: Optional[Tuple[int, int]] = None,
                calib_batch: Optional[int] = None, objects=None) -> EnginePlan:
    """The optimization profile (batch, and (min, opt, max) input shapes) of a network whose input has
    ``in_shape`` (-1: dynamic), and with ``calib_batch`` the INT8 calibration profile's one shape: a static
    batch is the network's own (TensorRT refuses any other), a dynamic one ``calib_batch``. ``objects``: an
    object detector's record (ObjectDetectorMeta): one frame per call at its ``input_size``, a dynamic
    height/width ranging up to it (``opt_input``/``max_input`` widen it, multiples of its ``stride``)."""
    in_shape = tuple(in_shape)
    frame = has_dynamic_hw(in_shape)  # a detector that takes whole frames of any size as well as square crops
    multiple = input_multiple(detector_record)
    if objects is not None:
        size = tuple(int(v) for v in objects.input_size)
        if not frame and tuple(in_shape[2:4]) != size:
            raise InputError("'{}' takes input {} of shape {}, but its metadata gives input size {}: export it "
                             "again, or leave out --input-size".format(source, name, list(in_shape), hw_text(size)))
        if frame:
            opt_input = tuple(opt_input or size)
            max_input = tuple(max_input or (max(a, b) for a, b in zip(opt_input, size)))
        multiple = int(objects.stride or 0)
    elif frame and not detector_record:
        raise InputError("'{}' takes input {} of shape {} with a dynamic height/width; a classifier engine runs at "
                         "its fixed input size: export the ONNX with a fixed height and width".format(
                             source, name, list(in_shape)))
    if (opt_input or max_input) and not frame:
        raise UsageError("--opt-input/--max-input set the height/width range of a detector whose ONNX input has a "
                         "dynamic height/width; '{}' takes {}".format(source, list(in_shape)))
    one_frame = objects is not None
    prof = batch_profile(in_shape[0], default_opt_batch(bool(detector_record), opt_batch, frame or one_frame),
                         default_max_batch(max_batch, frame, one_frame))
    if frame:
        shapes = tuple(spatial_profile(in_shape, prof, meta.input_size, opt_input, max_input, multiple))
    else:
        shapes = profile_shapes(prof, in_shape[1:])
    cal = None
    if calib_batch is not None:
        n = in_shape[0] if isinstance(in_shape[0], int) and in_shape[0] > 0 else int(calib_batch)
        cal = (n, in_shape[1]) + tuple(meta.input_size) if frame else (n,) + in_shape[1:]
    return EnginePlan(prof, shapes, frame, cal)
