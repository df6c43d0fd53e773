"""Detector models through edge.backends: ``load_backend(kind="detector")`` + ``Backend.run`` (every output)
in ONNX Runtime, PyTorch (TorchScript) and TensorRT (engine doubles of the 8.2 binding API and the 8.5+/10.x
tensor API that compute with the real BlazeFace ONNX), and ``edge export DETECTOR.onnx --engine`` (build
double): the sidecar carries the detector record and the batch profile is 1/7/16."""
import json
import os
import shutil

import numpy as np
import pytest

from edge.backends import load_backend
from edge.detectors import blazeface as B
from edge.engine import make_fingerprint, read_sidecar
from edge.errors import InputError, UsageError
from test_backends import FakeCuda, FakeDtype, FakeMem, FakeTrt
from test_tensorrt_build import device  # noqa: F401  (fixture: TensorRT builder + pycuda doubles)
from hardware import needs_tensorrt_gpu  # noqa: E402

ort = pytest.importorskip("onnxruntime")
FULL = B.model_path("full")


def record_of(path):
    return ort.InferenceSession(path).get_modelmeta().custom_metadata_map[B.DETECTOR_KEY]


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
        proto.metadata_props.add(key=B.DETECTOR_KEY, value=record)
        onnx.save(proto, path)
        paths[name] = path
    paths["ts"] = str(out / "tiny.ts")
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 8, 8)), paths["ts"],
                   _extra_files={B.DETECTOR_KEY: record})
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


# ---------------------------------------------------------------- TensorRT engine doubles

class OrtEngine:
    """A TensorRT engine double with TensorRT's documented attributes of one API generation; executing it
    runs the real ONNX model in ONNX Runtime on the fake device memory. Outputs in ``order``."""

    has_implicit_batch_dimension = False
    num_optimization_profiles = 1
    INPUT, OUTPUT = "INPUT", "OUTPUT"  # FakeTrt.TensorIOMode

    def __init__(self, path, api, order=("classificators", "regressors"), batch=-1, profile=(1, 7, 16)):
        self.session = ort.InferenceSession(path)
        s = json.loads(record_of(path))["layout"]["input_size"]  # an engine built for the square input
        names = [o.name for o in self.session.get_outputs()]
        outs = self.session.run(None, {"input": np.zeros((1, 3, s, s), np.float32)})
        shapes = {n: tuple(o.shape[1:]) for n, o in zip(names, outs)}
        self.io = [("input", True, (batch, 3, s, s))] + [(n, False, (batch,) + shapes[n]) for n in order]
        self.profile, self._max = profile, profile[2]
        if api == "tensors":
            self.num_io_tensors = len(self.io)
        else:
            self.num_bindings = len(self.io)

    def _profile(self, shape):
        return [(b,) + tuple(shape[1:]) for b in self.profile]

    # 8.2 binding API
    def get_binding_name(self, i):
        return self.io[i][0]

    def binding_is_input(self, i):
        return self.io[i][1]

    def get_binding_shape(self, i):
        return self.io[i][2]

    def get_binding_dtype(self, i):
        return FakeDtype()

    def get_profile_shape(self, profile, binding):
        return self._profile(self.io[binding][2])

    # 8.5+/10.x tensor API
    def get_tensor_name(self, i):
        return self.io[i][0]

    def get_tensor_mode(self, name):
        return self.INPUT if dict((n, i) for n, i, _ in self.io)[name] else self.OUTPUT

    def get_tensor_shape(self, name):
        return dict((n, s) for n, _, s in self.io)[name]

    def get_tensor_dtype(self, name):
        return FakeDtype()

    def get_tensor_profile_shape(self, name, profile):
        return self._profile(self.get_tensor_shape(name))

    def create_execution_context(self):
        return OrtContext(self)


class OrtContext:
    def __init__(self, engine):
        self.engine, self.shape, self.addresses, self.calls = engine, None, {}, []

    def set_binding_shape(self, index, shape):
        self.shape = tuple(shape)
        return shape[0] <= self.engine._max

    def set_input_shape(self, name, shape):
        return self.set_binding_shape(0, shape)

    def set_tensor_address(self, name, address):
        self.addresses[name] = address

    def _execute(self, addresses):
        shape = self.shape or self.engine.io[0][2]
        x = FakeMem.by_addr[addresses["input"]].buf[:int(np.prod(shape))].reshape(shape)
        outs = dict(zip([o.name for o in self.engine.session.get_outputs()], self.engine.session.run(None, {
            "input": x})))
        for name, out in outs.items():
            FakeMem.by_addr[addresses[name]].buf[:out.size] = out.ravel()
        return True

    def execute_async_v2(self, bindings, stream_handle):
        self.calls.append(("v2", self.shape))
        return self._execute({n: bindings[i] for i, (n, _, _) in enumerate(self.engine.io)})

    def execute_async_v3(self, stream_handle):
        self.calls.append(("v3", self.shape))
        return self._execute(self.addresses)


@pytest.fixture
def built_engine(tmp_path, device, cli):  # noqa: F811
    """`edge export face_detection_full_range.onnx --engine` on a Jetson Nano double (TensorRT 8.2)."""
    onnx_path = str(tmp_path / "face_detection_full_range.onnx")
    shutil.copy(FULL, onnx_path)
    calls = device("8.2.1.8", "NVIDIA Tegra X1", "5.3", fast_int8=False)
    r = cli(["export", onnx_path, "--engine", "--json", "--timing-cache", str(tmp_path / "tc")])
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{\n"):])["engine"], calls


def test_export_engine_of_a_detector_writes_its_record(built_engine):
    report, calls = built_engine
    assert report["kind"] == "detector" and report["profile"] == [1, 7, 16]
    assert os.path.basename(report["engine"]) == "face_detection_full_range.trt8.2.1.nvidia-tegra-x1-sm53.fp16.engine"
    assert [c[2:] for c in calls if c[0] == "profile"][0][1][0] == 7  # opt batch: a frame and its 3x2 tiles
    meta, fp, sidecar = read_sidecar(report["engine"])
    assert sidecar["detector"] == record_of(FULL) and meta.input_size == (192, 192) and fp["precision"] == "fp16"


def test_export_refuses_int8_calibration_for_a_detector(tmp_path, device, cli):  # noqa: F811
    device("10.3.0", "Orin", "8.7")
    calib = tmp_path / "calib"
    calib.mkdir()
    shutil.copy(os.path.join(os.path.dirname(B.MODELS_DIR), "..", "docs", "img", "detectors_recall_by_width.png"),
                str(calib / "a.png"))
    r = cli(["export", FULL, "--engine", "--int8", "--calib", str(calib)])
    assert r.exit_code == 2 and "is a detector: INT8 calibration here works on classifier crops" in r.output


@pytest.mark.parametrize("api,v", [("bindings", "v2"), ("tensors", "v3")])
def test_blazeface_through_a_tensorrt_engine(built_engine, monkeypatch, face_photos, api, v):
    """The exported engine + sidecar, loaded by the TensorRT backend (engine double computing with ONNX
    Runtime, outputs in another order than the ONNX): same faces as ONNX Runtime, batch shape per call."""
    from edge.backends import tensorrt as trt_backend

    report, _ = built_engine
    engine = OrtEngine(FULL, api)
    monkeypatch.setattr(trt_backend, "require", lambda name, *a: {"tensorrt": FakeTrt(engine),
                                                                   "pycuda.driver": FakeCuda}[name])
    monkeypatch.setattr(trt_backend, "device_fingerprint", lambda: make_fingerprint(
        "8.2.1.8", "NVIDIA Tegra X1", "5.3", "", ""))
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


@pytest.mark.parametrize("api,v", [("bindings", "v2"), ("tensors", "v3")])
@pytest.mark.parametrize("batch", [-1, 4])
def test_tensorrt_run_copies_every_output_at_any_batch(tmp_path, monkeypatch, api, v, batch):
    """Backend.run on engine doubles: dynamic batch (shape set per call, split above the profile's max 8)
    and static batch 4 (split and zero-padded); every output copied back, in engine order."""
    from edge import engine as engine_mod
    from edge.backends import tensorrt as trt_backend
    from edge.backends.base import detector_model_meta

    record = record_of(FULL)
    path = str(tmp_path / "bf.engine")
    open(path, "wb").write(b"plan")
    fp = make_fingerprint("fake", "FakeGPU", "5.3", "fp16", "abc")
    engine_mod.write_sidecar(path, detector_model_meta(record, path), fp, extra={"detector": record})
    engine = OrtEngine(FULL, api, order=("regressors", "classificators"), batch=batch, profile=(1, 4, 8))
    monkeypatch.setattr(trt_backend, "require", lambda name, *a: {"tensorrt": FakeTrt(engine),
                                                                   "pycuda.driver": FakeCuda}[name])
    monkeypatch.setattr(trt_backend, "device_fingerprint", lambda: make_fingerprint("fake", "FakeGPU", "5.3", "", ""))
    x = np.random.RandomState(2).uniform(-1, 1, (9, 3, 192, 192)).astype(np.float32)
    ref = ort.InferenceSession(FULL).run(None, {"input": x})
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


def test_classifier_engine_is_not_a_detector(tmp_path, monkeypatch):
    from edge import engine as engine_mod
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
    from export.tensorrt_build import default_opt_batch, engine_model

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
    assert report["kind"] == "detector" and report["profile"] == [1, 7, 16]
    det, ref = B.BlazeFaceDetector.load(report["engine"]), B.BlazeFaceDetector.load("full")
    assert det.info()["backend"] == "tensorrt"
    for name, (img, _) in face_photos.items():
        got, want = det.detect(img), ref.detect(img)
        assert len(got) == len(want) == 1, name
        np.testing.assert_allclose(got.boxes, want.boxes, atol=atol)  # pixels
    det.close()
