"""TensorRT engine building: the pure decisions (version dispatch, precision, profiles, workspace, cache
paths, naming, stale engines), the ONNX reader the device uses, the build sequence for TensorRT 8.2 and
10.x against a recording double of the documented API, and — on a GPU machine — a real build."""
import json
import os
import shutil

import numpy as np
import pytest

from edge.backends.tensorrt.sidecar import make_fingerprint, read_sidecar, write_sidecar
from edge.errors import InputError, UsageError
from edge.meta import DETECTOR_KEY, ModelMeta, detector_model_meta
from edge.backends.tensorrt import build as tb
from edge.backends.tensorrt import profile as tp
from hardware import needs_tensorrt_gpu  # noqa: E402

NANO = dict(tensorrt="8.2.1.8", gpu="NVIDIA Tegra X1", compute_capability="5.3")
ORIN = dict(tensorrt="10.3.0.30", gpu="Orin", compute_capability="8.7")


@pytest.mark.parametrize("version,generation,workspace,build,flag", [
    ("8.2.1.8", "legacy", "max_workspace_size", "build_engine", True),   # Jetson Nano, JetPack 4.6
    ("8.4.1", "legacy", "max_workspace_size", "build_engine", True),
    ("8.5.2.2", "pool", "set_memory_pool_limit", "build_serialized_network", True),  # JetPack 5.1
    ("8.6.1", "pool", "set_memory_pool_limit", "build_serialized_network", True),
    ("10.3.0.30", "v10", "set_memory_pool_limit", "build_serialized_network", False),  # JetPack 6
    ("10.13", "v10", "set_memory_pool_limit", "build_serialized_network", False),
])
def test_api_plan_by_version(version, generation, workspace, build, flag):
    assert tb.api_plan(version) == tb.ApiPlan(generation, workspace, build, flag)


@pytest.mark.parametrize("version,error", [("7.1.3", UsageError), ("not a version", InputError)])
def test_api_plan_refuses(version, error):
    with pytest.raises(error):
        tb.api_plan(version)


@pytest.mark.parametrize("requested,fp16,int8,qdq,calib,expect,note", [
    ("auto", True, False, False, False, ("fp16", True, False, False), None),        # Nano default
    ("auto", False, False, False, False, ("fp32", False, False, False), None),
    ("fp32", True, True, False, False, ("fp32", False, False, False), None),
    ("fp16", False, False, False, False, ("fp32", False, False, False), "no fast FP16"),
    ("int8", True, False, False, True, ("fp16", True, False, False), "no fast INT8"),  # Nano: never silent
    ("int8", False, False, False, True, ("fp32", False, False, False), "building FP32 instead of INT8"),
    ("int8", True, True, False, True, ("int8", True, True, True), None),             # Orin: calibrate
    ("auto", True, True, True, False, ("int8", True, True, False), None),           # QDQ: explicit
    ("fp16", True, True, True, False, ("int8", True, True, False), "INT8-quantized (QDQ)"),
])
def test_choose_precision(requested, fp16, int8, qdq, calib, expect, note):
    p = tb.choose_precision(requested, fp16, int8, qdq, calib, "GPU")
    assert (p.name, p.fp16, p.int8, p.calibrate) == expect
    assert (note is None and p.notes == []) or (note is not None and note in " ".join(p.notes))


@pytest.mark.parametrize("args,message", [
    (("int8", True, True, False, False), "needs calibration images"),
    (("auto", True, False, True, False), "has no fast INT8, and this ONNX is INT8-quantized"),
    (("bf16", True, True, False, False), "expected precision"),
])
def test_choose_precision_refuses(args, message):
    with pytest.raises(UsageError, match=message):
        tb.choose_precision(*args)


@pytest.mark.parametrize("dim0,opt,mx,expect", [
    (-1, 4, 16, (1, 4, 16)), ("batch", 8, 8, (1, 8, 8)), (3, 4, 16, (3, 3, 3)), (1, 4, 16, (1, 1, 1))])
def test_batch_profile(dim0, opt, mx, expect):
    assert tuple(tp.batch_profile(dim0, opt, mx)) == expect


def test_batch_profile_refuses_opt_above_max_and_shapes():
    with pytest.raises(UsageError):
        tp.batch_profile(-1, 32, 16)
    assert tp.profile_shapes(tp.Profile(1, 4, 16), (3, 128, 128)) == ((1, 3, 128, 128), (4, 3, 128, 128),
                                                                      (16, 3, 128, 128))


FRAME = (-1, 3, -1, -1)  # a detector ONNX with symbolic ["N", 3, "H", "W"], as TensorRT's parser reports it


@pytest.mark.parametrize("shape,batch,square,opt,mx,multiple,expect", [
    # defaults: min 32x32, opt 288x512 (720p at 0.4), max 448x768 (1080p at 0.4) and 8 crops
    (FRAME, (1, 1, 8), (192, 192), None, None, 0, ((1, 3, 32, 32), (1, 3, 288, 512), (8, 3, 448, 768))),
    (FRAME, (1, 1, 8), (192, 192), None, None, 32, ((1, 3, 32, 32), (1, 3, 288, 512), (8, 3, 448, 768))),
    (FRAME, (1, 2, 4), (192, 192), (288, 512), (768, 1344), 32,
     ((1, 3, 32, 32), (2, 3, 288, 512), (4, 3, 768, 1344))),
    (FRAME, (1, 1, 8), (192, 192), None, (768, 448), 32,  # a portrait camera: 1080x1920 at 0.4 (opt within)
     ((1, 3, 32, 32), (1, 3, 288, 448), (8, 3, 768, 448))),
    (FRAME, (1, 1, 1), (128, 128), (240, 432), (240, 432), 16,  # short range, one fixed frame size
     ((1, 3, 32, 32), (1, 3, 240, 432), (1, 3, 240, 432))),
    ((-1, 3, 192, -1), (1, 1, 8), (192, 192), None, (192, 1024), 0,  # only the width dynamic
     ((1, 3, 192, 32), (1, 3, 192, 512), (8, 3, 192, 1024))),
    ((2, 3, -1, -1), (2, 2, 2), (192, 192), (192, 192), None, 0,  # a static batch stays static
     ((2, 3, 32, 32), (2, 3, 192, 192), (2, 3, 448, 768))),
])
def test_spatial_profile(shape, batch, square, opt, mx, multiple, expect):
    assert tuple(tp.spatial_profile(shape, tp.Profile(*batch), square, opt, mx, multiple)) == expect


@pytest.mark.parametrize("shape,opt,mx,multiple,message", [
    (FRAME, (512, 896), None, 0, r"expected --opt-input between 32x32 and --max-input 448x768 in height and width, "
                                 r"found 512x896"),
    (FRAME, (16, 448), None, 0, r"expected --opt-input between 32x32 .* found 16x448"),
    (FRAME, (128, 128), (160, 320), 32, r"--max-input 160x320 leaves out the detector's 192x192 input \(its "
                                        r"second-pass crops\): expected at least 192x192"),
    (FRAME, None, (450, 768), 32, r"expected --max-input height and width that are multiples of 32 \(the detector "
                                  r"pads frames to multiples of 32\), found 450x768"),
    (FRAME, (250, 448), None, 32, r"--opt-input height and width that are multiples of 32"),
    ((-1, 3, 192, -1), None, (448, 768), 0, r"expected --max-input with height 192 \(fixed in the ONNX input\), "
                                            r"found 448x768"),
    (FRAME, None, (0, 768), 0, r"expected --max-input HxW"),
])
def test_spatial_profile_refuses(shape, opt, mx, multiple, message):
    with pytest.raises(UsageError, match=message):
        tp.spatial_profile(shape, tp.Profile(1, 1, 8), (192, 192), opt, mx, multiple)


@pytest.mark.parametrize("detector,frame,opt,mx,expect", [
    (False, False, None, None, (4, 16)), (True, False, None, None, (7, 16)), (True, True, None, None, (1, 8)),
    (True, True, 2, 4, (2, 4)), (False, False, 3, 32, (3, 32)),
])
def test_default_batches(detector, frame, opt, mx, expect):
    assert (tp.default_opt_batch(detector, opt, frame), tp.default_max_batch(mx, frame)) == expect


@pytest.mark.parametrize("shape,dynamic", [
    ((-1, 3, 128, 128), False), ((4, 3, 192, 192), False), (FRAME, True), ((-1, 3, 192, -1), True),
    ((-1, 3, -1, 192), True)])
def test_has_dynamic_hw(shape, dynamic):
    assert tp.has_dynamic_hw(shape) is dynamic


@pytest.mark.parametrize("record,multiple", [
    ('{"layout": {"input_size": 192, "input_multiple": 32}}', 32), ('{"layout": {"input_size": 192}}', 0),
    ('{"layout": {"input_multiple": 0}}', 0), (None, 0), ("not json", 0), ('[1]', 0)])
def test_input_multiple(record, multiple):
    assert tp.input_multiple(record) == multiple


@pytest.mark.parametrize("total,requested,mib", [
    (4 * 10 ** 9, None, 4 * 10 ** 9 // 16 // 2 ** 20), (int(3.9 * 2 ** 30), None, 249),  # 4 GB Nano
    (8 * 2 ** 30, None, 512), (80 * 2 ** 30, None, 1024), (1 * 2 ** 30, None, 128), (None, None, 256),
    (80 * 2 ** 30, 64, 64)])
def test_workspace_bytes(total, requested, mib):
    assert tb.workspace_bytes(total, requested) // tb.MiB == mib


def test_workspace_refuses_tiny():
    with pytest.raises(UsageError):
        tb.workspace_bytes(None, 1)


def test_engine_and_cache_names_are_keyed_by_version_gpu_precision(tmp_path):
    onnx = str(tmp_path / "mask.onnx")
    nano = tb.engine_path(onnx, "8.2.1.8", "NVIDIA Tegra X1", "5.3", "fp16")
    assert nano == str(tmp_path / "mask.trt8.2.1.nvidia-tegra-x1-sm53.fp16.engine")
    names = {tb.engine_path(onnx, v, g, c, p) for v, g, c in [("8.2.1", "NVIDIA Tegra X1", "5.3"),
                                                               ("10.3.0", "Orin", "8.7")] for p in tb.PRECISIONS}
    assert len(names) == 6 and all(n.endswith(".engine") for n in names)
    assert tb.engine_path(onnx, "8.2.1", "X", "5.3", "fp32", out_dir="/e").startswith("/e/mask.trt8.2.1.x-sm53")
    tc = tb.timing_cache_path("8.2.1.8", "NVIDIA Tegra X1", "5.3", str(tmp_path))
    assert tc == str(tmp_path / "timing.trt8.2.1.nvidia-tegra-x1-sm53.cache")
    assert tb.timing_cache_path("10.3", "Orin", "8.7").startswith(os.path.expanduser("~"))
    a = tb.calibration_cache_path(onnx, "a" * 64, "c" * 64)
    assert a != tb.calibration_cache_path(onnx, "b" * 64, "c" * 64) != tb.calibration_cache_path(onnx, "a" * 64,
                                                                                               "d" * 64)


def test_stale_engine_detection_for_another_gpu_or_tensorrt(tmp_path):
    here = make_fingerprint(precision="fp16", onnx_sha256="abc", **NANO)
    assert tb.engine_action(None, here) == ("build", [])
    assert tb.engine_action(dict(here), here) == ("reuse", [])
    assert tb.engine_action(dict(here), here, force=True) == ("rebuild", ["--force"])
    orin = make_fingerprint(precision="fp16", onnx_sha256="abc", **ORIN)
    action, reasons = tb.engine_action(orin, here)
    assert action == "rebuild"
    assert reasons == ["tensorrt 10.3.0.30 (engine) vs 8.2.1.8 (here)", "gpu Orin (engine) vs NVIDIA Tegra X1 (here)",
                       "compute_capability 8.7 (engine) vs 5.3 (here)"]
    # a runtime refuses it with one line naming the differences (sidecar on disk)
    engine = str(tmp_path / "m.engine")
    open(engine, "wb").write(b"plan")
    meta = ModelMeta(arch="", labels=("a", "b"), input_size=(8, 8))
    write_sidecar(engine, meta, orin)
    with pytest.raises(InputError, match=r"built elsewhere \(tensorrt 10.3.0.30 \(engine\) vs 8.2.1.8 \(here\); "
                                         r"gpu Orin"):
        tb.check_existing(engine, make_fingerprint(NANO["tensorrt"], NANO["gpu"], NANO["compute_capability"], "", ""))
    tb.check_existing(engine, make_fingerprint(precision="", onnx_sha256="", **ORIN))  # same device: fine


def test_onnx_reader_matches_onnx_package(tmp_path, cli, teacher_ckpt):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from edge.backends.tensorrt.onnx_props import read_onnx

    assert cli(["export", teacher_ckpt]).exit_code == 0
    path = str(tmp_path / "teacher.onnx")
    model = onnx.load(path)
    props, ops = read_onnx(path)
    assert props == {p.key: p.value for p in model.metadata_props}
    assert ops == {n.op_type for n in model.graph.node}
    for bad in (b"hello, world\n", b"", open(path, "rb").read()[:100]):
        p = tmp_path / "bad.onnx"
        p.write_bytes(bad)
        with pytest.raises(InputError, match="expected an ONNX model"):
            read_onnx(str(p))


# ---------------------------------------------------------------- the build sequence, against a recording double
# (tests/fakes.py: the builder API of one TensorRT generation; its parser reads the real ONNX's input)

def _onnx(tmp_path, source=None):
    """A copy of a real ONNX named mask.onnx (default: the bundled mask classifier, input [batch, 3, 128, 128])."""
    from edge.zoo import MASK_MODEL

    path = str(tmp_path / "mask.onnx")
    shutil.copy(source or MASK_MODEL, path)
    return path


META = ModelMeta(arch="maskcnn", labels=("with_mask", "without_mask"), input_size=(128, 128))


def test_build_sequence_tensorrt_8_2_on_a_nano(tmp_path, device):
    calls = device("8.2.1.8", "NVIDIA Tegra X1", "5.3", fast_int8=False).calls
    notes = []
    onnx, tc = _onnx(tmp_path), str(tmp_path / "tc")
    r = tb.build_engine(onnx, META, "auto", timing_cache=tc, echo=notes.append)
    assert os.path.basename(r["engine"]) == "mask.trt8.2.1.nvidia-tegra-x1-sm53.fp16.engine"
    assert open(r["engine"], "rb").read() == b"plan-8.2.1.8"
    names = [c[0] for c in calls]
    assert ("create_network", 1) in calls and ("parse", os.path.getsize(onnx)) in calls  # EXPLICIT_BATCH flag
    assert ("max_workspace_size", 256 * tb.MiB) in calls and "build_engine" in names
    assert ("flag", "FP16") in calls and ("flag", "INT8") not in calls
    # the ONNX's input [batch, 3, 128, 128]: batch 1/4/16 at its fixed 128x128
    assert [c for c in calls if c[0] == "profile"] == [
        ("profile", "input", (1, 3, 128, 128), (4, 3, 128, 128), (16, 3, 128, 128))]
    # no timing cache file yet: the build starts from an empty cache and saves what TensorRT serialized
    assert ("timing_cache_in", b"") in calls and ("set_timing_cache", False) in calls
    assert open(tc, "rb").read() == b"timing-cache"
    meta, fp, side = read_sidecar(r["engine"])
    assert meta == META and fp["precision"] == "fp16" and fp["gpu"] == "NVIDIA Tegra X1"
    assert side["build"]["api"] == "legacy" and side["build"]["profile"] == [1, 4, 16]
    # second run: up to date, reused; nothing is parsed or built, and the timing cache is neither read nor rewritten
    n, inode = len(calls), os.stat(tc).st_ino
    again = tb.build_engine(onnx, META, "auto", timing_cache=tc, echo=notes.append)
    assert again["action"] == "reuse" and "reusing it" in notes[-1]
    assert [c for c in calls[n:] if c[0] != "logger"] == [] and os.stat(tc).st_ino == inode
    # a rebuild (--force) hands the saved timing cache to TensorRT, then saves the new one in its place
    forced = tb.build_engine(onnx, META, "auto", timing_cache=tc, echo=notes.append, force=True)
    assert forced["action"] == "rebuild" and "rebuilding" in notes[-2] and "--force" in notes[-2]
    assert [c for c in calls[n:] if c[0] == "timing_cache_in"] == [("timing_cache_in", b"timing-cache")]
    assert os.stat(tc).st_ino != inode and open(tc, "rb").read() == b"timing-cache"


def test_build_of_a_file_that_is_not_onnx_names_the_parser_error(tmp_path, device):
    calls = device("8.2.1.8", "NVIDIA Tegra X1", "5.3").calls
    path = tmp_path / "mask.onnx"
    path.write_bytes(b"\x08\x07" + b"not an ONNX model")
    with pytest.raises(InputError, match=r"TensorRT 8.2.1.8 cannot parse '.*mask.onnx': failed to parse the ONNX"):
        tb.build_engine(str(path), META, "auto", timing_cache=str(tmp_path / "tc"), echo=print)
    assert "build_engine" not in [c[0] for c in calls] and not os.path.exists(str(tmp_path / "tc"))


def _full():
    """(path, detector record) of the bundled full-range BlazeFace: input ["N", 3, "H", "W"], 192 px square."""
    from edge.backends.tensorrt.onnx_props import read_onnx
    from edge.detectors.blazeface import model_path

    path = model_path("full")
    return path, read_onnx(path)[0][DETECTOR_KEY]


FULL, DET_RECORD = _full()


@pytest.mark.parametrize("version,generation", [("8.2.1.8", "legacy"), ("10.3.0.30", "v10")])
@pytest.mark.parametrize("kwargs,profile,shapes", [
    ({}, [1, 1, 8], [[1, 3, 32, 32], [1, 3, 288, 512], [8, 3, 448, 768]]),
    ({"opt_input": (288, 512), "max_input": (512, 896), "max_batch": 4}, [1, 1, 4],
     [[1, 3, 32, 32], [1, 3, 288, 512], [4, 3, 512, 896]]),
])
def test_build_sequence_for_a_detector_with_dynamic_height_width(tmp_path, device, version, generation, kwargs,
                                                                 profile, shapes):
    """The bundled BlazeFace (parsed input (-1, 3, -1, -1)) gets a profile over batch, height and width;
    the sidecar records it (batch profile and full input shapes)."""
    calls = device(version, "NVIDIA Tegra X1", "5.3").calls
    meta = detector_model_meta(DET_RECORD, "test")
    notes = []
    r = tb.build_engine(_onnx(tmp_path, FULL), meta, "fp16", timing_cache=str(tmp_path / "tc"), echo=notes.append,
                        detector_record=DET_RECORD, **kwargs)
    assert [c for c in calls if c[0] == "profile"] == [("profile", "input") + tuple(tuple(s) for s in shapes)]
    assert r["profile"] == profile and r["input_shapes"] == dict(zip(("min", "opt", "max"), shapes))
    assert "input {}/{}/{}".format(*("{}x{}".format(*s[2:]) for s in shapes)) in notes[-1]
    _, _, side = read_sidecar(r["engine"])
    assert side["build"]["profile"] == profile and side["build"]["api"] == generation
    assert side["build"]["input_shapes"] == r["input_shapes"] and side["detector"] == DET_RECORD


@pytest.mark.parametrize("square,record,kwargs,error,message", [
    (False, None, {}, InputError, r"takes input input of shape \[-1, 3, -1, -1\] with a dynamic "
                                  r"height/width; a classifier engine runs at its fixed input size"),
    (True, DET_RECORD, {"max_input": (448, 768)}, UsageError,
     r"--opt-input/--max-input set the height/width range of a detector whose ONNX input has a dynamic "
     r"height/width; '.*mask.onnx' takes \[-1, 3, 192, 192\]"),
    (False, DET_RECORD, {"max_input": (450, 768)}, UsageError, r"multiples of 32"),
])
def test_build_refuses_dynamic_height_width_it_cannot_use(tmp_path, device, square_blazeface, square, record, kwargs,
                                                          error, message):
    """BlazeFace (["N", 3, "H", "W"]) as a classifier or with a bad --max-input; its 192x192 copy with --max-input."""
    device("10.3.0.30", "Orin", "8.7")
    with pytest.raises(error, match=message):
        tb.build_engine(_onnx(tmp_path, square_blazeface if square else FULL), META, "fp16",
                        timing_cache=str(tmp_path / "tc"), echo=print, detector_record=record, **kwargs)
    assert not [p for p in os.listdir(str(tmp_path)) if p.endswith(".engine")]


def test_int8_on_a_nano_falls_back_to_fp16_and_says_so(tmp_path, device):
    calls = device("8.2.1.8", "NVIDIA Tegra X1", "5.3", fast_int8=False).calls
    notes = []
    r = tb.build_engine(_onnx(tmp_path), META, "int8", calib_batches=lambda n: [], timing_cache=str(tmp_path / "tc"),
                        echo=notes.append)
    assert r["fingerprint"]["precision"] == "fp16" and r["engine"].endswith(".fp16.engine")
    assert any("has no fast INT8" in n for n in notes) and ("flag", "INT8") not in calls


def test_build_sequence_tensorrt_10_with_int8_calibration(tmp_path, device, face_crops):
    from edge.backends.tensorrt import calibration

    calls = device("10.3.0.30", "Orin", "8.7", total=8 * 2 ** 30).calls
    for i, crop in enumerate(face_crops[:10]):
        import cv2
        cv2.imwrite(str(tmp_path / "{}.png".format(i)), crop)
    paths = calibration.calibration_paths(str(tmp_path))
    r = tb.build_engine(_onnx(tmp_path), META, "int8",
                        calib_batches=lambda n: calibration.batches(paths, META, batch=n, exact=True),
                        timing_cache=str(tmp_path / "tc"), calib_sha=calibration.calibration_set_sha(paths),
                        calib_batch=4, echo=print)
    assert ("create_network", 0) in calls  # TensorRT 10: always explicit batch
    assert ("set_memory_pool_limit", "WORKSPACE", 512 * tb.MiB) in calls and "build_serialized_network" in [
        c[0] for c in calls]
    assert ("flag", "INT8") in calls and ("calibration_profile", ((4, 3, 128, 128),) * 3) in calls
    assert ("calibrated_batches", 2, 4) in calls  # 10 images → 2 full batches of 4
    assert open(r["calibration_cache"], "rb").read() == b"calibration-table"
    assert r["engine"].endswith("mask.trt10.3.0.orin-sm87.int8.engine")
    # the stale engine from another device is rebuilt, with the reason said
    side = json.load(open(r["engine"] + ".json"))
    side["fingerprint"]["tensorrt"] = "10.0.1"
    json.dump(side, open(r["engine"] + ".json", "w"))
    notes = []
    again = tb.build_engine(_onnx(tmp_path), META, "int8", calib_batches=lambda n: [], echo=notes.append,
                            timing_cache=str(tmp_path / "tc"), calib_sha=calibration.calibration_set_sha(paths),
                            calib_batch=4)
    assert again["action"] == "rebuild" and "tensorrt 10.0.1 (engine) vs 10.3.0.30 (here)" in notes[-2]
    assert ("calibrated_batches", 2, 4) in calls and calls.count(("calibrated_batches", 2, 4)) == 1  # cache reused


def test_calibration_batches_have_one_size(tmp_path, face_crops):
    import cv2
    from edge.backends.tensorrt import calibration

    for i, crop in enumerate(face_crops[:11]):
        cv2.imwrite(str(tmp_path / "{:02d}.jpg".format(i)), crop)
    paths = calibration.calibration_paths(str(tmp_path), limit=10)
    assert len(paths) == 10
    sizes = [b.shape for b in calibration.batches(paths, META, batch=4, exact=True)]
    assert sizes == [(4, 3, 128, 128)] * 2
    assert [b.shape[0] for b in calibration.batches(paths[:3], META, batch=4, exact=True)] == [4]
    assert [b.shape[0] for b in calibration.batches(paths, META, batch=4)] == [4, 4, 2]
    assert all(b.dtype == np.float32 for b in calibration.batches(paths, META))


# ---------------------------------------------------------------- real hardware



@needs_tensorrt_gpu
def test_real_engine_builds_deserializes_and_is_reused(tmp_path, cli, teacher_ckpt, face_crops):
    import tensorrt as trt

    assert cli(["export", teacher_ckpt]).exit_code == 0
    onnx = str(tmp_path / "teacher.onnx")
    result = cli(["export", onnx, "--engine", "--fp32", "--json", "--timing-cache", str(tmp_path / "tc")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])["engine"]
    engine = report["engine"]
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    with open(engine, "rb") as f:
        plan = runtime.deserialize_cuda_engine(f.read())
    assert plan is not None
    assert os.path.isfile(str(tmp_path / "tc"))
    again = cli(["export", onnx, "--engine", "--fp32", "--json", "--timing-cache", str(tmp_path / "tc")])
    assert json.loads(again.output[again.output.index("{"):])["engine"]["action"] == "reuse"


def test_cli_engine_int8_on_a_nano_says_it_builds_fp16(tmp_path, cli, device, teacher_ckpt, face_crops):
    """The command's glue (ONNX metadata without the onnx package, calibration set, notes) on a Nano double."""
    pytest.importorskip("torch")
    import cv2

    assert cli(["export", teacher_ckpt]).exit_code == 0
    calib = tmp_path / "calib"
    calib.mkdir()
    for i, crop in enumerate(face_crops[:4]):
        cv2.imwrite(str(calib / "{}.png".format(i)), crop)
    device("8.2.1.8", "NVIDIA Tegra X1", "5.3", fast_int8=False)
    result = cli(["export", str(tmp_path / "teacher.onnx"), "--engine", "--int8", "--calib", str(calib),
                  "--timing-cache", str(tmp_path / "tc"), "--json"])
    assert result.exit_code == 0, result.output
    assert "NVIDIA Tegra X1 has no fast INT8 (e.g. the Nano's Maxwell GPU): building FP16 instead of INT8" in \
        result.output
    report = json.loads(result.output[result.output.index("{\n"):])["engine"]
    assert report["fingerprint"]["precision"] == "fp16" and report["api"] == "legacy"
    meta, _, _ = read_sidecar(report["engine"])
    assert meta.labels == ("with_mask", "without_mask") and meta.provenance["export"]["source"] == "teacher.pt"


# ---------------------------------------------------------------- issue 14: static-batch INT8, what keys a reuse

@pytest.fixture
def static_batch_onnx(tmp_path):
    """The bundled mask classifier with its batch fixed at 2 (``edge export --batch 2``): input [2, 3, 128, 128]."""
    onnx = pytest.importorskip("onnx")
    from edge.zoo import MASK_MODEL

    proto = onnx.load(MASK_MODEL)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    path = str(tmp_path / "static" / "mask.onnx")
    os.makedirs(os.path.dirname(path))
    onnx.save(proto, path)
    return path


def _calib_folder(folder, face_crops, n=5):
    import cv2

    os.makedirs(str(folder), exist_ok=True)
    for i, crop in enumerate(face_crops[:n]):
        cv2.imwrite(str(folder / "{}.png".format(i)), crop)
    return str(folder)


def test_int8_calibration_of_a_static_batch_onnx_uses_its_batch(tmp_path, cli, device, static_batch_onnx, face_crops):
    """`edge export X --batch 2 ... --engine --int8 --calib D`: TensorRT refuses a calibration profile whose batch
    (8) contradicts the network's fixed batch (2); the profile and the calibrator's batches take the ONNX's."""
    calls = device("10.3.0.30", "Orin", "8.7").calls
    calib = _calib_folder(tmp_path / "calib", face_crops)
    result = cli(["export", static_batch_onnx, "--engine", "--int8", "--calib", calib, "--timing-cache",
                  str(tmp_path / "tc"), "--json"])
    assert result.exit_code == 0, result.output
    assert ("calibration_profile", ((2, 3, 128, 128),) * 3) in calls
    assert ("profile", "input", (2, 3, 128, 128), (2, 3, 128, 128), (2, 3, 128, 128)) in calls
    assert ("calibrated_batches", 2, 2) in calls  # 5 images → 2 full batches of 2
    assert "calibrating in batches of 2 (the ONNX's static batch), not 8" in result.output


def test_calibration_set_sha_covers_contents(tmp_path):
    from edge.backends.tensorrt.calibration import calibration_set_sha

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"\x01" * 64)
    b.write_bytes(b"\x02" * 64)
    before = calibration_set_sha([str(a), str(b)])
    assert calibration_set_sha([str(b), str(a)]) == before  # order does not matter
    b.write_bytes(b"\x03" * 64)  # same names, same sizes, new pixels
    assert calibration_set_sha([str(a), str(b)]) != before


def _build(tmp_path, notes, **kwargs):
    return tb.build_engine(_onnx(tmp_path), META, kwargs.pop("precision", "fp16"), timing_cache=str(tmp_path / "tc"),
                           echo=notes.append, **kwargs)


@pytest.mark.parametrize("change,key,reason", [
    ({"max_batch": 8}, "profile", "profile min 1x3x128x128 opt 4x3x128x128 max 16x3x128x128 (engine) vs min "
                                  "1x3x128x128 opt 4x3x128x128 max 8x3x128x128 (here)"),
    ({"opt_batch": 2}, "profile", "opt 2x3x128x128"),
    ({"workspace_mb": 64}, "workspace_mib", "workspace_mib 512 (engine) vs 64 (here)"),
])
def test_engine_is_rebuilt_when_its_build_options_change(tmp_path, device, change, key, reason):
    device("10.3.0.30", "Orin", "8.7", total=8 * 2 ** 30)
    notes = []
    first = _build(tmp_path, notes)
    assert first["action"] == "build" and first["fingerprint"]["workspace_mib"] == "512"
    assert _build(tmp_path, notes)["action"] == "reuse"
    again = _build(tmp_path, notes, **change)
    assert again["action"] == "rebuild" and again["fingerprint"][key] != first["fingerprint"][key]
    assert reason in notes[-2] and notes[-2].startswith("rebuilding ")
    assert _build(tmp_path, notes, **change)["action"] == "reuse"


def test_detector_engine_is_rebuilt_for_a_new_max_input(tmp_path, device):
    device("10.3.0.30", "Orin", "8.7")
    meta, notes = detector_model_meta(DET_RECORD, "test"), []
    onnx = _onnx(tmp_path, FULL)

    def build(**kwargs):
        return tb.build_engine(onnx, meta, "fp16", timing_cache=str(tmp_path / "tc"), echo=notes.append,
                               detector_record=DET_RECORD, **kwargs)

    assert build()["action"] == "build" and build()["action"] == "reuse"
    again = build(max_input=(512, 896))
    assert again["action"] == "rebuild" and "max 8x3x512x896 (here)" in notes[-2]
    assert build(max_input=(512, 896), opt_input=(256, 448))["action"] == "rebuild" and "opt 1x3x256x448" in notes[-2]


def test_int8_engine_is_rebuilt_for_new_calibration_images(tmp_path, device, face_crops):
    from edge.backends.tensorrt import calibration

    calls = device("10.3.0.30", "Orin", "8.7").calls
    notes = []
    folder = _calib_folder(tmp_path / "calib", face_crops, 8)
    paths = calibration.calibration_paths(folder)

    def build():
        return _build(tmp_path, notes, precision="int8", calib_batch=4,
                      calib_sha=calibration.calibration_set_sha(paths), calib_batches=lambda n: calibration.batches(paths, META, batch=n, exact=True))

    first = build()
    assert first["fingerprint"]["calibration"].endswith("batch 4") and build()["action"] == "reuse"
    with open(paths[0], "ab") as f:
        f.write(b"\0")  # the same file names, other contents
    again = build()
    assert again["action"] == "rebuild" and notes[-2].startswith("rebuilding ") and "calibration images" in notes[-2]
    assert calls.count(("calibrated_batches", 2, 4)) == 2  # a new calibration cache for the new set


def test_engine_from_before_the_build_keys_is_rebuilt_once(tmp_path, device):
    device("8.2.1.8", "NVIDIA Tegra X1", "5.3")
    notes = []
    r = _build(tmp_path, notes)
    side = json.load(open(r["engine"] + ".json"))
    side["fingerprint"] = {k: side["fingerprint"][k] for k in ("tensorrt", "gpu", "compute_capability", "precision",
                                                              "onnx_sha256")}
    json.dump(side, open(r["engine"] + ".json", "w"))
    assert _build(tmp_path, notes)["action"] == "rebuild" and "profile unknown (engine)" in notes[-2]
    assert _build(tmp_path, notes)["action"] == "reuse"
