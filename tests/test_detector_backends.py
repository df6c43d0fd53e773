"""Detector models through edge.backends: ``load_backend(kind="detector")`` + ``Backend.run`` (every output)
in ONNX Runtime, PyTorch (TorchScript) and TensorRT (engine doubles of the 8.2 binding API and the 8.5+/10.x
tensor API that compute with the real BlazeFace ONNX), and ``edge export DETECTOR.onnx --engine`` (build
double, its parser reading the ONNX's input): the sidecar carries the detector record; the bundled
N x 3 x H x W BlazeFace gets batch 1/1/8 over heights/widths, a copy fixed at 192x192 batch 1/7/16."""
import json
import os
import shutil

import numpy as np
import pytest

from edge.backends import load_backend
from edge.detectors import blazeface as B
from edge.backends.tensorrt.sidecar import read_sidecar
from edge.errors import InputError, UsageError
from edge.meta import DETECTOR_KEY, detector_model_meta
import fakes  # noqa: E402
from hardware import needs_tensorrt_gpu  # noqa: E402

ort = pytest.importorskip("onnxruntime")
FULL = B.model_path("full")


def record_of(path):
    return ort.InferenceSession(path).get_modelmeta().custom_metadata_map[DETECTOR_KEY]


def test_onnx_detector_runs_every_output_in_model_order():
    x = np.random.RandomState(0).uniform(-1, 1, (3, 3, 192, 192)).astype(np.float32)
    with load_backend(FULL, "onnxruntime:cpu", kind="detector") as b:
        assert b.kind == "detector" and b.meta.input_size == (192, 192) and b.detector_record == record_of(FULL)
        regressors, scores = b.run(x)
        with pytest.raises(InputError, match=r"expected \(N, 1\) for labels \['face'\]"):
            b.infer(x)  # infer stays the classifier call, with its shape check
        with pytest.raises(UsageError, match=r"expected a batch of shape \(N, 3, 192, 192\) or \(N, 3, H, W\)"):
            b.run(x[:, :2])
        assert b.input_hw_range == ((1, 1), (1 << 16, 1 << 16))  # symbolic height and width
        wide = np.random.RandomState(1).uniform(-1, 1, (1, 3, 256, 448)).astype(np.float32)
        r_wide, s_wide = b.run(wide)  # a whole 1280x720 frame at scale 0.35: 112 x 64 anchors
        assert r_wide.shape == (1, 112 * 64, 16) and s_wide.shape == (1, 112 * 64, 1)
        np.testing.assert_allclose(r_wide, ort.InferenceSession(FULL).run(None, {"input": wide})[0], atol=1e-5)
    ref = ort.InferenceSession(FULL).run(None, {"input": x})
    assert regressors.shape == (3, 2304, 16) and scores.shape == (3, 2304, 1)
    np.testing.assert_allclose(regressors, ref[0], atol=1e-5)
    np.testing.assert_allclose(scores, ref[1], atol=1e-5)


def test_kind_errors(seeded_onnx):
    with pytest.raises(InputError, match="expected a 'edge.detector' record in metadata_props"):
        load_backend(seeded_onnx, kind="detector")
    with pytest.raises(UsageError, match="expected a model kind among classifier, detector, found 'ssd'"):
        load_backend(FULL, kind="ssd")


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory):
    """A two-output model (channel means, first pixels) as ONNX with a static batch of 2, dynamic ONNX and
    TorchScript, each with an edge.detector record; and the torch module itself."""
    torch = pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")

    class Tiny(torch.nn.Module):
        def forward(self, x):
            return x.mean((2, 3)), x.flatten(1)[:, :5].reshape(-1, 5, 1)

    record = json.dumps({"name": "tiny", "layout": {"input_size": 8, "strides": [8], "per_cell": [1]},
                         "mean": [0, 0, 0], "std": [1, 1, 1], "num_keypoints": 0, "score_threshold": 0.5,
                         "iou_threshold": 0.3})
    out, model = tmp_path_factory.mktemp("tiny"), Tiny().eval()
    paths = {}
    for name, axes in (("static", None), ("dynamic", {"x": {0: "n"}})):
        path = str(out / (name + ".onnx"))
        torch.onnx.export(model, torch.zeros(2, 3, 8, 8), path, dynamo=False, input_names=["x"],
                          output_names=["means", "pixels"], dynamic_axes=axes)
        proto = onnx.load(path)
        proto.metadata_props.add(key=DETECTOR_KEY, value=record)
        onnx.save(proto, path)
        paths[name] = path
    paths["ts"] = str(out / "tiny.ts")
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 8, 8)), paths["ts"],
                   _extra_files={DETECTOR_KEY: record})
    return paths, model


@pytest.mark.parametrize("kind,spec", [("static", "onnxruntime"), ("dynamic", "onnxruntime"), ("ts", "pytorch")])
def test_every_backend_runs_a_two_output_model(tiny_detector, kind, spec):
    import torch

    paths, model = tiny_detector
    x = np.random.RandomState(1).standard_normal((5, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in model(torch.from_numpy(x))]
    with load_backend(paths[kind], spec, kind="detector") as b:
        assert b.static_batch == (2 if kind == "static" else None) and b.name == spec
        for n in (1, 2, 3, 5):  # the static model pads 5 rows to 3 calls of 2
            outs = b.run(x[:n])
            assert [o.shape for o in outs] == [(n, 3), (n, 5, 1)]
            for o, r in zip(outs, ref):
                np.testing.assert_allclose(o, r[:n], atol=1e-5)


def test_torchscript_detector_needs_its_record(tiny_detector, tmp_path):
    import torch

    paths, model = tiny_detector
    bare = str(tmp_path / "bare.ts")
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 8, 8)), bare)
    with pytest.raises(InputError, match="expected an 'edge.detector' extra file"):
        load_backend(bare, kind="detector")


# ---------------------------------------------------------------- TensorRT, on the doubles of tests/fakes.py

def export_engine(tmp_path, device, cli, onnx, api="bindings", args=()):
    """`edge export face_detection_full_range.onnx --engine` (a copy of ``onnx``) on the device double of
    ``api`` (8.2 Jetson Nano, 10.x Orin): (JSON report, the device)."""
    onnx_path = str(tmp_path / "face_detection_full_range.onnx")
    shutil.copy(onnx, onnx_path)
    gpu = device(*fakes.DEVICES[api], fast_int8=False)
    r = cli(["export", onnx_path, "--engine", "--json", "--timing-cache", str(tmp_path / "tc")] + list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{\n"):])["engine"], gpu


def built_plan(report):
    with open(report["engine"], "rb") as f:
        return f.read()


@pytest.mark.parametrize("square,profile,shapes", [
    # the bundled ONNX, input ["N", 3, "H", "W"]: whole frames up to 448x768 (and 192 px crops), batch 1/1/8
    (False, [1, 1, 8], [[1, 3, 32, 32], [1, 3, 288, 512], [8, 3, 448, 768]]),
    # a copy fixed at 192x192: a frame and its 3x2 tiles in one batch (opt 7), at most 16
    (True, [1, 7, 16], [[1, 3, 192, 192], [7, 3, 192, 192], [16, 3, 192, 192]]),
])
def test_export_engine_of_a_detector_writes_its_record(tmp_path, device, cli, square_blazeface, square, profile,
                                                       shapes):
    report, gpu = export_engine(tmp_path, device, cli, square_blazeface if square else FULL)
    assert report["kind"] == "detector" and report["profile"] == profile
    assert report["input_shapes"] == dict(zip(("min", "opt", "max"), shapes))
    assert os.path.basename(report["engine"]) == "face_detection_full_range.trt8.2.1.nvidia-tegra-x1-sm53.fp16.engine"
    assert [c for c in gpu.calls if c[0] == "profile"] == [("profile", "input") + tuple(tuple(s) for s in shapes)]
    meta, fp, sidecar = read_sidecar(report["engine"])
    assert sidecar["detector"] == record_of(FULL) and meta.input_size == (192, 192) and fp["precision"] == "fp16"
    assert sidecar["build"]["input_shapes"] == report["input_shapes"]


def test_export_refuses_int8_calibration_for_a_detector(tmp_path, device, cli):
    device("10.3.0", "Orin", "8.7")
    calib = tmp_path / "calib"
    calib.mkdir()
    shutil.copy(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "img",
                             "detectors_recall_by_width.png"),
                str(calib / "a.png"))
    r = cli(["export", FULL, "--engine", "--int8", "--calib", str(calib)])
    assert r.exit_code == 2 and "is a detector: INT8 calibration here works on classifier crops" in r.output


@pytest.mark.parametrize("api,v", [("bindings", "v2"), ("tensors", "v3")])
def test_blazeface_through_a_tensorrt_engine(tmp_path, device, cli, square_blazeface, face_photos, api, v):
    """The engine exported from the 192x192 BlazeFace, loaded by the TensorRT backend (engine double with the
    build's profile computing with ONNX Runtime, outputs in another order than the ONNX): same faces as
    ONNX Runtime, the frame and its tiles as one batch."""
    report, gpu = export_engine(tmp_path, device, cli, square_blazeface, api)
    engine = fakes.onnx_engine(square_blazeface, api, profile=report["profile"])
    assert [list(s) for s in engine.profile] == [report["input_shapes"][k] for k in ("min", "opt", "max")]
    gpu.plans[built_plan(report)] = engine  # the engine this build describes
    det = B.BlazeFaceDetector.load(report["engine"])
    ref = B.BlazeFaceDetector.load("full", grid="3x2")
    assert det.info()["backend"] == "tensorrt" and det.info()["precision"] == "fp16"
    assert det.mode == "tiles" and det.grid == (3, 2)  # an engine built for the square: auto means tiles
    for name, (img, _) in face_photos.items():
        got, want = det.detect(img), ref.detect(img)
        assert len(got) == len(want) == 1, name
        np.testing.assert_allclose(got.boxes, want.boxes, atol=0.05)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)
    calls = det.session.backend._context.calls
    assert {c[0] for c in calls} == {v} and (v, (7, 3, 192, 192)) in calls  # whole frame + 3x2 tiles
    with pytest.raises(UsageError, match="expected a batch of at least one image"):
        det.session.backend.run(np.zeros((0, 3, 192, 192), np.float32))
    det.close()


def detector_engine_file(tmp_path, device, engine):
    """An engine file + sidecar with BlazeFace's record that deserializes to ``engine`` on a device double of
    its API generation."""
    record = record_of(FULL)
    path = str(tmp_path / "bf.engine")
    return fakes.engine_file(path, device(*fakes.DEVICES[engine.api]), engine, detector_model_meta(record, path),
                             extra={"detector": record})


@pytest.mark.parametrize("api,v", [("bindings", "v2"), ("tensors", "v3")])
@pytest.mark.parametrize("batch", [-1, 4])
def test_tensorrt_run_copies_every_output_at_any_batch(tmp_path, device, square_blazeface, api, v, batch):
    """Backend.run on engines of the 192x192 BlazeFace: dynamic batch (shape set per call, split above the
    profile's max 8) and static batch 4 (split and zero-padded); every output copied back, in engine order."""
    engine = fakes.onnx_engine(square_blazeface, api, order=("regressors", "classificators"), batch=batch,
                               profile=(1, 4, 8))
    path = detector_engine_file(tmp_path, device, engine)
    x = np.random.RandomState(2).uniform(-1, 1, (9, 3, 192, 192)).astype(np.float32)
    ref = ort.InferenceSession(square_blazeface).run(None, {"input": x})
    with load_backend(path, kind="detector", options={"warmup": 0}) as b:
        assert b.kind == "detector" and b.static_batch == (4 if batch > 0 else None)
        assert b.info()["outputs"] == ["regressors", "classificators"]
        for n in (1, 5, 9):
            outs = b.run(x[:n])
            assert [o.shape for o in outs] == [(n, 2304, 16), (n, 2304, 1)]
            for o, r in zip(outs, ref):
                np.testing.assert_allclose(o, r[:n], atol=1e-4)
        calls = b._context.calls
    assert {c[0] for c in calls} == {v}
    if batch < 0:  # 9 rows: 8 + 1, the input shape set for each
        assert calls[-2:] == [(v, (8, 3, 192, 192)), (v, (1, 3, 192, 192))]
    else:  # 9 rows: 3 calls of the static 4 (the last padded), no shape set
        assert len(calls) == 1 + 2 + 3 and all(c[1] is None for c in calls)


@pytest.fixture(scope="module")
def dynamic_full():
    """The bundled full-range BlazeFace ONNX: input (N, 3, H, W), outputs (N, A, 16) and (N, A, 1), symbolic —
    the network is fully convolutional, so ONNX Runtime runs it at any multiple of 32."""
    shape = ort.InferenceSession(FULL).get_inputs()[0].shape
    assert shape[1] == 3 and all(isinstance(d, str) for d in shape[2:]), shape
    return FULL


FRAME_HW = ((32, 32), (288, 512), (448, 768))  # the build's default min/opt/max (height, width)


@pytest.mark.parametrize("api,v", [("bindings", "v2"), ("tensors", "v3")])
def test_tensorrt_detector_with_dynamic_height_width(dynamic_full, tmp_path, device, api, v):
    """A whole-frame pass (1x3x256x448) and second-pass crops (3x3x192x192) through one engine whose input
    height/width are dynamic: the full shape set per call, outputs (N, anchors, ...) read back at the size
    TensorRT gives for that shape, buffers sized once for the profile's max shape."""
    engine = fakes.onnx_engine(dynamic_full, api, order=("regressors", "classificators"), profile=(1, 1, 8),
                               hw=FRAME_HW)
    path = detector_engine_file(tmp_path, device, engine)
    session = ort.InferenceSession(dynamic_full)
    rng = np.random.RandomState(3)
    frame = rng.uniform(-1, 1, (1, 3, 256, 448)).astype(np.float32)
    crops = rng.uniform(-1, 1, (3, 3, 192, 192)).astype(np.float32)
    many = rng.uniform(-1, 1, (9, 3, 64, 96)).astype(np.float32)  # above the profile's max batch 8: split
    with load_backend(path, kind="detector", options={"warmup": 1}) as b:
        assert b.input_hw_range == ((32, 32), (448, 768)) and (b.static_batch, b.max_batch) == (None, 8)
        assert b._host["regressors"].size == 8 * (448 // 4) * (768 // 4) * 16  # anchors at the max input shape
        assert b._host["input"].size == 8 * 3 * 448 * 768
        got = {}
        for name, x in (("frame", frame), ("crops", crops), ("many", many)):
            got[name] = b.run(x)
            anchors = (x.shape[2] // 4) * (x.shape[3] // 4)
            assert [o.shape for o in got[name]] == [(len(x), anchors, 16), (len(x), anchors, 1)], name
        again = b.run(frame)
        calls = b._context.calls
    for name, x in (("frame", frame), ("crops", crops), ("many", many)):
        ref = session.run(["regressors", "classificators"], {"input": x})
        for o, r in zip(got[name], ref):  # the frame's arrays survive the later calls: they are copies
            np.testing.assert_allclose(o, r, atol=1e-4, err_msg=name)
    for o, r in zip(again, got["frame"]):
        np.testing.assert_array_equal(o, r)
    assert calls == [(v, (1, 3, 192, 192)),  # warm-up at the record's square size
                     (v, (1, 3, 256, 448)), (v, (3, 3, 192, 192)), (v, (8, 3, 64, 96)), (v, (1, 3, 64, 96)),
                     (v, (1, 3, 256, 448))]


@pytest.mark.parametrize("api", ["bindings", "tensors"])
def test_tensorrt_detector_shapes_outside_the_profile(dynamic_full, tmp_path, device, api):
    engine = fakes.onnx_engine(dynamic_full, api, profile=(1, 1, 8), hw=FRAME_HW)
    path = detector_engine_file(tmp_path, device, engine)
    with load_backend(path, kind="detector", options={"warmup": 0}) as b:
        for hw in ((480, 768), (448, 800), (16, 192)):
            with pytest.raises(UsageError, match=r"expected a batch of shape \(N, 3, 192, 192\) or \(N, 3, H, W\) "
                                                 r"with \(H, W\) from \(32, 32\) to \(448, 768\), "
                                                 r"found \(1, 3, {}, {}\)".format(*hw)):
                b.run(np.zeros((1, 3) + hw, np.float32))
        engine.in_profile = lambda shape: False  # TensorRT itself refuses (set_*_shape returns False)
        with pytest.raises(InputError, match=r"engine '.*bf.engine' refuses input shape \[1, 3, 64, 64\] \(its "
                                             r"optimization profile takes \[1, 3, 32, 32\] to \[8, 3, 448, 768\]\)"):
            b.run(np.zeros((1, 3, 64, 64), np.float32))
    # a profile that leaves out the record's 192x192 (warm-up, second-pass crops) is refused at load
    small = fakes.onnx_engine(dynamic_full, api, profile=(1, 1, 8), hw=((32, 32), (128, 128), (160, 320)))
    path = detector_engine_file(tmp_path, device, small)
    with pytest.raises(InputError, match=r"takes inputs from 32x32 to 160x320 \(its optimization profile\), which "
                                         r"leaves out the detector's 192x192 input"):
        load_backend(path, kind="detector")


@pytest.mark.parametrize("in_shape,out_shape,detector,message", [
    ((-1, 3, 4, 4), (-1, 2), False, None),
    ((-1, 3, -1, -1), (-1, 2), False, r"of shape \[-1, 3, -1, -1\], expected \(N, 3, 4, 4\) from its metadata "
                                      r"\(only the batch dimension may be dynamic\)"),
    ((-1, 3, -1, -1), (-1, -1, 16), True, None),
    ((-1, 3, 4, -1), (-1, -1, 16), True, None),
    ((1, 3, -1, -1), (1, -1, 1), True, None),
    ((-1, -1, -1, -1), (-1, -1, 16), True, r"may be dynamic, and a detector's height and width\)"),
    ((-1, 3, 8, -1), (-1, -1, 16), True, r"expected \(N, 3, 4, 4\)"),
    ((-1, 3, 4, 4), (-1, -1, 16), True, r"output out has dynamic dimensions beyond the batch \[-1, -1, 16\]"),
    ((-1, 3, 4, 4), (-1, -1), False, r"such as \(N, classes\) \(or a detector engine whose input height/width"),
])
def test_check_io_lets_only_detectors_have_dynamic_height_width(in_shape, out_shape, detector, message):
    from edge.backends.tensorrt.runtime import IOSpec, check_io
    from edge.meta import ModelMeta

    specs = [IOSpec("in", 0, True, in_shape, None), IOSpec("out", 1, False, out_shape, None)]
    meta = ModelMeta(arch="", labels=("a", "b"), input_size=(4, 4))
    if message is None:
        assert check_io(specs, meta, "e.engine", detector) == (specs[0], specs[1:])
    else:
        with pytest.raises(InputError, match=message):
            check_io(specs, meta, "e.engine", detector)


@pytest.mark.parametrize("shape,profile,expected", [
    ((-1, 3, 192, 192), [(1, 3, 192, 192), (7, 3, 192, 192), (16, 3, 192, 192)], None),
    ((-1, 3, -1, -1), [(1, 3, 32, 32), (1, 3, 288, 512), (8, 3, 448, 768)], ((32, 32), (448, 768))),
    ((1, 3, -1, 192), [(1, 3, 64, 192), (1, 3, 256, 192), (1, 3, 512, 192)], ((64, 192), (512, 192))),
])
def test_hw_range_from_the_profile(shape, profile, expected):
    from edge.backends.tensorrt.runtime import IOSpec, hw_range

    assert hw_range(IOSpec("input", 0, True, shape, None), profile, (192, 192), "e.engine") == expected


@pytest.mark.parametrize("api", ["bindings", "tensors"])
def test_export_and_load_an_engine_with_dynamic_height_width(dynamic_full, tmp_path, device, cli, api, face_photos):
    """`edge export face_detection_full_range.onnx --engine --opt-input --max-input` on a Nano / Orin double
    (the parser reads the ONNX's (-1, 3, -1, -1)): the profile spans batch 1/1/8 and the given heights/widths;
    the TensorRT backend then takes frames anywhere in that range (engine double with the profile the build
    recorded)."""
    report, gpu = export_engine(tmp_path, device, cli, dynamic_full, api,
                                ["--opt-input", "288x512", "--max-input", "512x896"])
    shapes = [[1, 3, 32, 32], [1, 3, 288, 512], [8, 3, 512, 896]]
    assert report["profile"] == [1, 1, 8] and report["input_shapes"] == dict(zip(("min", "opt", "max"), shapes))
    assert ("profile", "input") + tuple(tuple(s) for s in shapes) in gpu.calls
    _, _, sidecar = read_sidecar(report["engine"])
    assert sidecar["build"]["input_shapes"] == report["input_shapes"]

    gpu.plans[built_plan(report)] = fakes.onnx_engine(dynamic_full, api, profile=[s[0] for s in shapes],
                                                      hw=[tuple(s[2:]) for s in shapes])
    with load_backend(report["engine"], kind="detector", options={"warmup": 1}) as b:
        assert b.input_hw_range == ((32, 32), (512, 896))
        scores, regressors = b.run(np.zeros((1, 3, 512, 896), np.float32))  # the engine's output order
    assert regressors.shape == (1, 128 * 224, 16) and scores.shape == (1, 128 * 224, 1)
    det, ref = B.BlazeFaceDetector.load(report["engine"]), B.BlazeFaceDetector.load("full")
    assert det.mode == "frame" and det.session.flexible  # auto: the engine takes whole frames
    for name, (img, _) in face_photos.items():
        got, want = det.detect(img), ref.detect(img)
        assert len(got) == len(want) == 1, name
        np.testing.assert_allclose(got.boxes, want.boxes, atol=0.05)
    shapes_run = {c[1] for c in det.session.backend._context.calls}
    assert (1, 3, 128, 128) in shapes_run and (1, 3, 224, 224) in shapes_run, shapes_run  # coarse, 0.4 passes
    det.close()


@pytest.mark.parametrize("args,message", [
    (["--max-input", "448x"], "edge: error: expected --max-input as N or HxW with positive integers (e.g. 128 or "
                              "96x64), found '448x'"),
    (["--opt-input", "0x448"], "expected --opt-input as N or HxW with positive integers (e.g. 128 or 96x64), found "
                               "'0x448'"),
])
def test_export_input_size_options_are_checked_first(tmp_path, cli, args, message):
    r = cli(["export", FULL, "--engine"] + args)
    assert r.exit_code == 2 and message in r.output and not list(tmp_path.iterdir())


def test_classifier_engine_is_not_a_detector(tmp_path):
    from edge.backends.tensorrt import sidecar as engine_mod
    from edge.meta import ModelMeta

    path = str(tmp_path / "m.engine")
    open(path, "wb").write(b"plan")
    engine_mod.write_sidecar(path, ModelMeta(arch="", labels=("a", "b"), input_size=(4, 4)), {})
    with pytest.raises(InputError, match="expected a detector record .* found a classifier engine"):
        B.BlazeFaceDetector.load(path)


@pytest.mark.parametrize("props,kind,opt", [
    ({}, None, 4),
    ({"edge.detector": "{}"}, "bad", None),
])
def test_engine_model_and_default_opt_batch(props, kind, opt):
    from edge.backends.tensorrt.build import engine_model
    from edge.backends.tensorrt.profile import default_opt_batch

    if kind == "bad":
        with pytest.raises(InputError, match="expected a JSON detector record"):
            engine_model(props, "x.onnx")
        return
    assert engine_model(props, "x.onnx") == (None, None) and default_opt_batch(False) == opt
    assert default_opt_batch(True) == 7 and default_opt_batch(True, 3) == 3


# ---------------------------------------------------------------- real TensorRT, on a machine with an NVIDIA GPU



@needs_tensorrt_gpu
@pytest.mark.parametrize("precision,atol", [("--fp32", 0.5), ("--fp16", 3.0)])
def test_real_blazeface_engine_finds_the_same_faces(tmp_path, cli, face_photos, precision, atol):
    onnx_path = str(tmp_path / "face_detection_full_range.onnx")
    shutil.copy(FULL, onnx_path)
    r = cli(["export", onnx_path, "--engine", precision, "--json", "--timing-cache", str(tmp_path / "tc")])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("{\n"):])["engine"]
    assert report["kind"] == "detector" and report["profile"] == [1, 1, 8]  # dynamic H/W: frame mode
    det, ref = B.BlazeFaceDetector.load(report["engine"]), B.BlazeFaceDetector.load("full")
    assert det.info()["backend"] == "tensorrt" and det.mode == "frame"
    for name, (img, _) in face_photos.items():
        got, want = det.detect(img), ref.detect(img)
        assert len(got) == len(want) == 1, name
        np.testing.assert_allclose(got.boxes, want.boxes, atol=atol)  # pixels
    det.close()


@needs_tensorrt_gpu
def test_real_engine_with_dynamic_height_width_matches_onnx_runtime(tmp_path, cli, dynamic_full):
    """Real TensorRT: the profile over height/width, the shape set per call and the output shapes read back."""
    onnx_path = str(tmp_path / "full_dynamic.onnx")
    shutil.copy(dynamic_full, onnx_path)
    r = cli(["export", onnx_path, "--engine", "--fp32", "--json", "--timing-cache", str(tmp_path / "tc")])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("{\n"):])["engine"]
    assert report["input_shapes"]["max"] == [8, 3, 448, 768]
    session = ort.InferenceSession(dynamic_full)
    rng = np.random.RandomState(4)
    with load_backend(report["engine"], kind="detector") as b:
        assert b.input_hw_range == ((32, 32), (448, 768))
        for shape in ((1, 3, 256, 448), (3, 3, 192, 192), (1, 3, 448, 768), (1, 3, 256, 448)):
            x = rng.uniform(-1, 1, shape).astype(np.float32)
            ref = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": x})))
            for name, out in zip(b.info()["outputs"], b.run(x)):
                assert out.shape == ref[name].shape, (shape, name)
                np.testing.assert_allclose(out, ref[name], atol=0.5, rtol=1e-2, err_msg=str(shape))  # TF32 on Ampere+
