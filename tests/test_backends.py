"""Backends: same answers as PyTorch on real faces, any batch size, metadata overrides, bad inputs."""
import logging

import numpy as np
import pytest

from edge.backends import MetaOverrides, load_backend, parse_backend
from edge.backends.base import plan_batches, run_planned
from edge.errors import HardwareError, InputError, MissingDependency, UsageError
from edge.meta import ModelMeta
from edge.preprocess import preprocess
import fakes  # noqa: E402
from hardware import needs_tensorrt_gpu  # noqa: E402

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def reference(exported_models, face_crops):
    """(preprocessed real face crops, PyTorch logits computed straight from the model)."""
    from models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(exported_models["pt"])
    x = preprocess(face_crops, meta)
    with torch.no_grad():
        return x, model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("kind,spec", [("pt", "pytorch"), ("pt", "auto"), ("onnx", "onnxruntime:cpu"),
                                       ("onnx", "auto"), ("onnx_b4", "onnxruntime")])
def test_every_backend_gives_pytorch_top1_on_real_faces(exported_models, reference, kind, spec):
    x, ref = reference
    with load_backend(exported_models[kind], spec) as backend:
        out = backend.infer(x)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.allclose(out, ref, atol=1e-4)
    assert (out.argmax(1) == ref.argmax(1)).all()
    assert len(set(ref.argmax(1))) == 2, "the faces should exercise both classes"


@pytest.mark.parametrize("kind", ["pt", "onnx", "onnx_b4"])
def test_batch_sizes_1_to_9(exported_models, reference, kind):
    x, ref = reference
    with load_backend(exported_models[kind]) as backend:
        assert backend.static_batch == (4 if kind == "onnx_b4" else None)
        for n in range(1, 10):
            assert np.allclose(backend.infer(x[:n]), ref[:n], atol=1e-4), n
        assert backend.infer(x[:0]).shape == (0, 2)


@pytest.mark.parametrize("n,max_batch,static,expected", [
    (0, 4, True, []),
    (3, None, False, [((0, 3), 3)]),
    (3, 4, True, [((0, 3), 4)]),
    (9, 4, True, [((0, 4), 4), ((4, 8), 4), ((8, 9), 4)]),
    (9, 4, False, [((0, 4), 4), ((4, 8), 4), ((8, 9), 1)]),
    (8, 8, False, [((0, 8), 8)]),
])
def test_plan_batches(n, max_batch, static, expected):
    assert [((s.start, s.stop), size) for s, size in plan_batches(n, max_batch, static)] == expected


def test_run_planned_pads_static_chunks_and_drops_padding():
    seen = []

    def run(chunk):
        seen.append(len(chunk))
        return chunk.reshape(len(chunk), -1).sum(1, keepdims=True)

    x = np.arange(5 * 2, dtype=np.float32).reshape(5, 2)
    assert run_planned(run, x, 2, static=True)[:, 0].tolist() == [1, 5, 9, 13, 17]
    assert seen == [2, 2, 2]


def test_metadata_less_onnx_needs_and_takes_overrides(exported_models, reference):
    path = exported_models["onnx_nometa"]
    with pytest.raises(InputError, match="carries no edge metadata; give at least --labels and --input-size"):
        load_backend(path)
    x, ref = reference
    with load_backend(path, overrides=MetaOverrides(labels=("yes", "no"), input_size=(128, 128))) as b:
        assert b.meta.labels == ("yes", "no") and b.meta.arch == ""
        assert np.allclose(b.infer(x[:3]), ref[:3], atol=1e-4)
    with pytest.raises(InputError, match=r"takes input of shape \['batch', 3, 128, 128\].*\(N, 3, 96, 96\)"):
        load_backend(path, overrides=MetaOverrides(labels=("a", "b"), input_size=(96, 96)))


def test_wrong_batch_shape_or_dtype_is_a_usage_error(exported_models):
    with load_backend(exported_models["onnx"]) as b:
        with pytest.raises(UsageError, match=r"expected a batch of shape \(N, 3, 128, 128\), found \(2, 3, 64, 64\)"):
            b.infer(np.zeros((2, 3, 64, 64), np.float32))
        with pytest.raises(UsageError, match="expected a float32 numpy batch, found float64"):
            b.infer(np.zeros((2, 3, 128, 128)))
        with pytest.raises(UsageError, match="found uint8"):
            b.infer(np.zeros((2, 3, 128, 128), np.uint8))


@pytest.mark.parametrize("name,content,error,message", [
    ("missing.onnx", None, InputError, "expected a model file, found nothing at"),
    ("broken.onnx", b"\x08\x07garbage" * 20, InputError, "expected a valid ONNX model at"),
    ("model.h5", b"x", InputError, "expected a model file ending in"),
    ("broken.pt", b"hello\n", InputError, "found a text file"),
    ("model.engine", b"plan", InputError, "expected the engine's sidecar"),
])
def test_bad_model_files(tmp_path, name, content, error, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        load_backend(str(path))


def test_onnx_with_two_inputs_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 2])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", [a, b], [y])
    path = str(tmp_path / "two.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with pytest.raises(InputError, match=r"has 2 inputs \(a, b\); edge runs image models with exactly one"):
        load_backend(path)


def test_backend_specs(exported_models):
    assert parse_backend("onnxruntime:cpu") == ("onnxruntime", "cpu") and parse_backend("auto") == ("auto", "")
    with pytest.raises(UsageError, match="unknown backend 'openvino'"):
        load_backend(exported_models["onnx"], "openvino")
    with pytest.raises(UsageError, match="backend 'pytorch' cannot run 'teacher.onnx' \\(it runs: onnxruntime\\)"):
        load_backend(exported_models["onnx"], "pytorch")


def test_backend_not_installed_names_its_package(exported_models, monkeypatch, tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(MissingDependency, match="pip install onnxruntime-gpu"):
            load_backend(exported_models["onnx"], "onnxruntime:cuda")
    if not torch.cuda.is_available():
        with pytest.raises(HardwareError, match="needs a CUDA GPU"):
            load_backend(exported_models["pt"], "pytorch:cuda")
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MissingDependency, match=r"'onnxruntime' is needed for running .onnx models.*"
                                                r"`pip install onnxruntime`"):
        load_backend(exported_models["onnx"])


def test_provider_config_prefers_tensorrt_with_engine_cache():
    from edge.backends.onnxruntime import provider_config

    every = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt, cuda, cpu = provider_config(every, trt_cache="/c", fp16=True)
    assert trt == ("TensorrtExecutionProvider", {"trt_engine_cache_enable": True, "trt_engine_cache_path": "/c",
                                                 "trt_fp16_enable": True})
    assert (cuda, cpu) == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert provider_config(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert provider_config(every, device="cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert provider_config(every, device="cpu") == ["CPUExecutionProvider"]


def test_old_torch_checkpoint_load_uses_restricted_unpickler(exported_models, tmp_path):
    """torch < 1.13 (Jetson Nano: 1.10) has no weights_only: the restricted unpickler stands in."""
    import pickle

    from models import create_model
    from models.checkpoint import _torch_load

    a = _torch_load(exported_models["pt"], trust=False, has_weights_only=False)
    b = _torch_load(exported_models["pt"], trust=False, has_weights_only=True)
    assert a["meta"] == b["meta"] and all(torch.equal(a["state_dict"][k], v) for k, v in b["state_dict"].items())
    path = str(tmp_path / "module.pt")
    torch.save(create_model("small"), path)
    with pytest.raises(pickle.UnpicklingError, match="refused global models.maskcnn.MaskCNN"):
        _torch_load(path, trust=False, has_weights_only=False)


# --- TensorRT: the GPU-free bookkeeping against engine doubles with TensorRT's documented API (tests/fakes.py) ---

@pytest.fixture
def fake_engine_file(tmp_path, device):
    """make(engine, built_on=None) → the backend loading an engine file that deserializes to ``engine``
    (None: to nothing) on a device double of the engine's API generation (8.2 Nano, 10.x Orin)."""
    meta = ModelMeta(arch="", labels=("a", "b"), input_size=(4, 4))

    def make(engine, built_on=None, options=None, more_gpus=()):
        here = device(*fakes.DEVICES[engine.api if engine is not None else "bindings"], more_gpus=more_gpus)
        make.device = here
        return load_backend(fakes.engine_file(str(tmp_path / "m.engine"), here, engine, meta, built_on=built_on),
                            options=options)
    return make


@pytest.mark.parametrize("engine_api,api", [("bindings", "v2"), ("tensors", "v3")])
@pytest.mark.parametrize("batch", [-1, 4])
def test_tensorrt_backend_on_fake_engines_any_batch(fake_engine_file, engine_api, api, batch):
    engine = fakes.channel_means_engine(engine_api, batch=batch, shape=(3, 4, 4), profile_max=8)
    backend = fake_engine_file(engine)
    assert backend.precision == "fp16" and backend.max_batch == (8 if batch < 0 else 4)
    assert backend.static_batch == (None if batch < 0 else 4)
    x = np.random.RandomState(0).standard_normal((9, 3, 4, 4)).astype(np.float32)
    for n in range(1, 10):
        out = backend.infer(x[:n])
        assert np.allclose(out, x[:n].reshape(n, 3, -1).mean(-1)[:, :2], atol=1e-6), n
    calls = backend._context.calls
    assert {c[0] for c in calls} == {api}
    if batch < 0:  # dynamic: shape set per call, 9 rows split as 8 + 1
        assert calls[-2:] == [(api, (8, 3, 4, 4)), (api, (1, 3, 4, 4))]
    else:  # static: every call runs the full batch of 4 (padded)
        assert all(c[1] is None for c in calls)
    backend.close()


@pytest.mark.parametrize("engine_api", ["bindings", "tensors"])
def test_tensorrt_engine_with_nan_outputs_is_refused_at_load(fake_engine_file, engine_api):
    """The same load-time check as ONNX Runtime and PyTorch: a NaN-producing engine never labels a face."""
    shape = (3, 4, 4)
    profile = [(b,) + shape for b in (1, 4, 8)]
    engine = fakes.ENGINES[engine_api]([("input", True, (-1,) + shape), ("logits", False, (-1, 2))], profile,
                                       lambda x: {"logits": np.full((len(x), 2), np.nan, np.float32)},
                                       lambda s: {"logits": (s[0], 2)})
    with pytest.raises(InputError, match="expected finite outputs, found NaN or inf for a probe batch of 4"):
        fake_engine_file(engine)
    assert [e for e in fake_engine_file.device.cuda_events if e[0] == "leak"] == []  # closed on the way out


@pytest.mark.parametrize("engine_api", ["bindings", "tensors"])
def test_tensorrt_close_frees_everything_before_detaching_its_context(fake_engine_file, engine_api):
    """Device buffers, page-locked host buffers and the stream are freed while the context is attached: pycuda
    silently skips a free after ``detach()`` (a leak per load/close, e.g. `edge bench` over several engines)."""
    import gc

    backend = fake_engine_file(fakes.channel_means_engine(engine_api, shape=(3, 4, 4)))
    backend.infer(np.zeros((3, 3, 4, 4), np.float32))
    events = fake_engine_file.device.cuda_events
    start = len(events)
    backend.close()
    del backend
    gc.collect()
    closing = events[start:]
    assert [e for e in closing if e[0] == "leak"] == [], closing
    frees = [e for e in closing if e[0] == "free"]
    assert sorted(frees) == sorted([("free", "device")] * 2 + [("free", "host")] * 2 + [("free", "stream")])
    assert closing[-1] == "detach" and closing.index("detach") > max(closing.index(f) for f in frees)


def test_tensorrt_fingerprint_checks_the_gpu_the_engine_opens_on(fake_engine_file):
    """options["gpu"] picks the device for both the fingerprint check and the CUDA context."""
    version = fakes.ORIN[0]
    second = fakes.Device(version, "NVIDIA A2", "8.6")  # GPU 1 of a two-GPU machine, GPU 0 an Orin
    engine = fakes.channel_means_engine("tensors", shape=(3, 4, 4))
    backend = fake_engine_file(engine, built_on=second, options={"gpu": 1}, more_gpus=[("NVIDIA A2", "8.6")])
    assert backend.infer(np.ones((1, 3, 4, 4), np.float32)).shape == (1, 2)
    backend.close()
    with pytest.raises(InputError, match=r"gpu NVIDIA A2 \(engine\) vs Orin \(here\)"):
        fake_engine_file(engine, built_on=second, options={"gpu": 0}, more_gpus=[("NVIDIA A2", "8.6")])


def test_tensorrt_stale_engine_is_refused(fake_engine_file):
    with pytest.raises(InputError, match=r"built elsewhere \(tensorrt 8.2.1.8 \(engine\) vs 10.3.0.30 \(here\); "
                                         r"gpu NVIDIA Tegra X1 \(engine\) vs Orin \(here\); compute_capability"):
        fake_engine_file(fakes.channel_means_engine("tensors", shape=(3, 4, 4)), built_on=fakes.Device(*fakes.NANO))


@pytest.mark.parametrize("api,shape,message", [
    ("bindings", (3, 8, 8), r"takes input input of shape \[-1, 3, 8, 8\], expected \(N, 3, 4, 4\)"),
    ("tensors", (1, 4, 4), r"expected \(N, 3, 4, 4\)"),
    # a classifier with dynamic height/width (only detector engines may have them)
    ("bindings", (3, -1, -1), r"shape \[-1, 3, -1, -1\], expected \(N, 3, 4, 4\) from its metadata \(only the "
                              r"batch dimension may be dynamic\)"),
    ("tensors", (3, 4, -1), r"only the batch dimension may be dynamic\)$"),
])
def test_tensorrt_engine_that_does_not_fit_its_metadata(fake_engine_file, api, shape, message):
    with pytest.raises(InputError, match=message):
        fake_engine_file(fakes.channel_means_engine(api, shape=shape))


def test_tensorrt_not_installed_names_the_package(tmp_path, monkeypatch):
    import edge.files
    from edge.backends.tensorrt import sidecar as engine_mod

    monkeypatch.setattr(edge.files, "is_jetson", lambda: True)  # the hint fits the machine: JetPack's package

    path = str(tmp_path / "m.plan")
    open(path, "wb").write(b"plan")
    engine_mod.write_sidecar(path, ModelMeta(arch="", labels=("a", "b"), input_size=(4, 4)), {})
    try:
        import tensorrt  # noqa: F401
        pytest.skip("tensorrt is installed here")
    except ImportError:
        pass
    with pytest.raises(MissingDependency, match="'tensorrt' is needed for TensorRT engines.*python3-libnvinfer"):
        load_backend(path)


@pytest.mark.parametrize("name,level", [("INTERNAL_ERROR", logging.CRITICAL), ("ERROR", logging.ERROR),
                                        ("WARNING", logging.WARNING), ("INFO", logging.INFO),
                                        ("VERBOSE", logging.DEBUG)])
def test_tensorrt_severity_maps_to_logging(name, level):
    from edge.backends.tensorrt.runtime import severity_level

    class Severity:
        def __init__(self, n):
            self.name = n

    assert severity_level(Severity(name)) == level
    assert severity_level("Severity." + name) == level  # pybind enums also print as Severity.NAME


def test_tensorrt_logger_routes_into_python_logging(caplog):
    from edge.backends.tensorrt import runtime as trt_backend

    trt_backend._LOGGER.clear()
    logger = trt_backend.trt_logger(fakes.tensorrt_module(fakes.Device(*fakes.NANO)))
    with caplog.at_level(logging.DEBUG, logger="edge.tensorrt"):
        logger.log("Severity.WARNING", "engine built with an older TensorRT")
    assert caplog.records[-1].levelno == logging.WARNING and "older TensorRT" in caplog.records[-1].message
    trt_backend._LOGGER.clear()


# --- real TensorRT, on a machine with an NVIDIA GPU ---



@needs_tensorrt_gpu
def test_real_tensorrt_engine_matches_pytorch(exported_models, reference, tmp_path):
    import tensorrt as trt

    from edge.backends.tensorrt import sidecar as engine_mod
    from edge.backends.tensorrt.runtime import trt_logger

    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(open(exported_models["onnx"], "rb").read())
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 128, 128), (4, 3, 128, 128), (8, 3, 128, 128))
    config.add_optimization_profile(profile)
    if hasattr(builder, "build_serialized_network"):
        blob = bytes(builder.build_serialized_network(network, config))
    else:
        blob = bytes(builder.build_engine(network, config).serialize())
    path = str(tmp_path / "teacher.engine")
    open(path, "wb").write(blob)
    import onnx

    meta = ModelMeta.from_onnx_props({p.key: p.value for p in onnx.load(exported_models["onnx"]).metadata_props})
    engine_mod.write_sidecar(path, meta, engine_mod.device_fingerprint("fp32"))
    x, ref = reference
    with load_backend(path) as backend:
        for n in (1, 5, 9, len(x)):
            assert np.allclose(backend.infer(x[:n]), ref[:n], atol=1e-3)


@pytest.mark.parametrize("with_meta", [True, False])
def test_torchscript_with_and_without_embedded_metadata(exported_models, reference, tmp_path, with_meta):
    from models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(exported_models["pt"])
    path = str(tmp_path / "teacher.ts")
    x, ref = reference
    torch.jit.save(torch.jit.trace(model, torch.from_numpy(x[:1])), path,
                   _extra_files={"edge.meta": meta.to_json()} if with_meta else {})
    overrides = None if with_meta else MetaOverrides(labels=meta.labels, input_size=meta.input_size)
    with load_backend(path, overrides=overrides) as b:
        assert b.meta.labels == meta.labels
        assert np.allclose(b.infer(x[:5]), ref[:5], atol=1e-4)
    if not with_meta:
        with pytest.raises(InputError, match="carries no edge metadata"):
            load_backend(path)


@pytest.mark.parametrize("implicit,message", [
    (None, "TensorRT 8.2.1.8 cannot deserialize '.*m.engine' \\(corrupt, or built by another TensorRT version"),
    (True, "is an implicit-batch engine; rebuild it from ONNX"),
])
def test_tensorrt_corrupt_or_implicit_batch_engine(fake_engine_file, implicit, message):
    engine = None
    if implicit:  # an 8.2 engine from an implicit-batch network (UFF, Caffe)
        engine = fakes.channel_means_engine("bindings", shape=(3, 4, 4))
        engine.has_implicit_batch_dimension = True
    with pytest.raises(InputError, match=message):
        fake_engine_file(engine)
