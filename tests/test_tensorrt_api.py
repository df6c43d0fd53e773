"""Every TensorRT name edge's TensorRT code and its TensorRT 10.x double use exists in TensorRT 10.x's real API
(the ``tensorrt-stubs`` type stubs, extracted in tests/tensorrt_10_api.json: see tests/trt_api.py), or, for the
TensorRT 8.2 (JetPack 4.6) path, in the 8.2 binding API listed below. Catches a misspelt call without a GPU."""
import os

import pytest

import fakes
import trt_api

CODE = [os.path.join("edge", "backends", "tensorrt", name + ".py")
        for name in ("runtime", "build", "calibration", "profile", "sidecar")]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# TensorRT 8.2's binding API (docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-821/api/python_api), which
# TensorRT 10.0 removed: {(class, name): parameter names of a method, or None for a property}. 8.2 ONLY.
TRT_8_2_ONLY = {
    ("ICudaEngine", "num_bindings"): None,
    ("ICudaEngine", "binding_is_input"): ["index", "name"],
    ("ICudaEngine", "get_binding_name"): ["index"],
    ("ICudaEngine", "get_binding_shape"): ["binding"],
    ("ICudaEngine", "get_binding_dtype"): ["binding"],
    ("ICudaEngine", "get_profile_shape"): ["binding", "profile_index"],
    ("IExecutionContext", "set_binding_shape"): ["binding", "shape"],
    ("IExecutionContext", "get_binding_shape"): ["binding"],
    ("IExecutionContext", "execute_async_v2"): ["bindings", "input_consumed", "stream_handle"],
    ("IBuilderConfig", "max_workspace_size"): None,
    ("Builder", "build_engine"): ["config", "network"],
}


@pytest.fixture(scope="module")
def api():
    return trt_api.load_api()


def _problems(api, use):
    """What is wrong with one use: a name in neither API, or keyword arguments its method does not take."""
    members = api.get(use.owner)
    if members is not None and use.name in members:
        params = members[use.name]
    elif (use.owner, use.name) in TRT_8_2_ONLY:
        params = TRT_8_2_ONLY[(use.owner, use.name)]
    else:
        where = "the tensorrt module" if use.owner == trt_api.MODULE else use.owner
        return ["{} has no {} in TensorRT 10.x (nor in 8.2's binding API)".format(where, use.name)]
    bad = [k for k in use.keywords if params is not None and k not in params]
    return ["{}.{}() takes no keyword {}".format(use.owner, use.name, k) for k in bad]


def test_every_tensorrt_name_the_code_uses_exists(api):
    found, problems = 0, []
    for path in CODE:
        for use in trt_api.uses(os.path.join(ROOT, path)):
            found += 1
            problems += ["{}:{}: {}".format(path, use.line, p) for p in _problems(api, use)]
    assert problems == []
    assert found > 80  # the checker reads the code (runtime.py and build.py call TensorRT ~90 times)


def test_the_8_2_list_holds_only_what_tensorrt_10_removed(api):
    """An entry of TRT_8_2_ONLY that TensorRT 10.x still has would let a 10.x call through unchecked."""
    assert [k for k in TRT_8_2_ONLY if k[1] in api.get(k[0], {})] == []
    used = {(u.owner, u.name) for path in CODE for u in trt_api.uses(os.path.join(ROOT, path))}
    assert set(TRT_8_2_ONLY) <= used  # and every entry is one the 8.2 path really calls


def test_a_misspelt_call_is_caught(api, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def run(trt, context, engine, stream):\n"
                   "    context.execute_async_v3(stream=stream.handle)\n"  # the keyword is stream_handle
                   "    engine.get_tensor_shapes('input')\n"
                   "    return trt.MemoryPool.WORKSPACE, getattr(engine, 'num_io_tensor', 0)\n")
    problems = [p for use in trt_api.uses(str(bad)) for p in _problems(api, use)]
    assert sorted(problems) == ["ICudaEngine has no get_tensor_shapes in TensorRT 10.x (nor in 8.2's binding API)",
                                "ICudaEngine has no num_io_tensor in TensorRT 10.x (nor in 8.2's binding API)",
                                "IExecutionContext.execute_async_v3() takes no keyword stream",
                                "MemoryPool has no WORKSPACE in TensorRT 10.x (nor in 8.2's binding API)",
                                "the tensorrt module has no MemoryPool in TensorRT 10.x (nor in 8.2's binding API)"]


# the doubles' classes (tests/fakes.py) and the TensorRT classes they stand for; helpers that are no API
DOUBLES = {"Builder": "Builder", "BuilderConfig": "IBuilderConfig", "Network": "INetworkDefinition",
           "OptimizationProfile": "IOptimizationProfile", "TimingCache": "ITimingCache", "OnnxParser": "OnnxParser",
           "ParserError": "ParserError", "Runtime": "Runtime", "ILogger": "ILogger", "Logger": "Logger",
           "IInt8EntropyCalibrator2": "IInt8EntropyCalibrator2", "TensorEngine": "ICudaEngine",
           "TensorContext": "IExecutionContext", "BindingEngine": "ICudaEngine", "BindingContext": "IExecutionContext",
           "Engine": "ICudaEngine"}
HELPERS = {"api", "in_profile", "Severity"}


def _double_classes(version):
    device = fakes.Device(version, "GPU", "8.7")
    trt = fakes.tensorrt_module(device)
    builder = trt.Builder(None)
    network = builder.create_network(0)
    classes = [trt.Builder, type(builder.create_builder_config()), type(network), type(trt.OnnxParser(network, None)),
               type(builder.create_optimization_profile()), trt.Runtime, trt.ILogger, trt.Logger,
               trt.IInt8EntropyCalibrator2, fakes.Engine]
    config = builder.create_builder_config()
    classes.append(type(config.create_timing_cache(b"")))
    engine = fakes.channel_means_engine(device.api)
    classes += [type(engine), type(engine.create_execution_context())]
    return trt, classes


@pytest.mark.parametrize("version", [fakes.ORIN[0], fakes.NANO[0]])
def test_the_doubles_offer_only_the_real_api(api, version):
    trt, classes = _double_classes(version)
    problems = []
    for cls in classes:
        real = DOUBLES[cls.__name__]
        for name in (n for n in vars(cls) if not n.startswith("_") and n not in HELPERS):
            if name not in api[real] and not (version == fakes.NANO[0] and (real, name) in TRT_8_2_ONLY):
                problems.append("{} ({}): {}".format(cls.__name__, real, name))
    module = [n for n in vars(trt) if not n.startswith("_") and n not in api[trt_api.MODULE]]
    assert problems == [] and module == []
    for enum, member in (("NetworkDefinitionCreationFlag", "EXPLICIT_BATCH"), ("BuilderFlag", "FP16"),
                         ("BuilderFlag", "INT8"), ("MemoryPoolType", "WORKSPACE"), ("DataType", "FLOAT")):
        assert hasattr(getattr(trt, enum), member) and member in api[enum]


PYI = '''
class ILogger:
    """
    Example::

        class MyLogger(trt.ILogger):
            def log(self, severity, msg): ...
    """
    class Severity:
        ERROR: typing.ClassVar[ILogger.Severity]  # value = <Severity.ERROR: 1>
    def __init__(self) -> None:
        ...
    def log(self, severity: ILogger.Severity, msg: str) -> None:
        ...
class Logger(ILogger):
    min_severity: ILogger.Severity
    @typing.overload
    def __init__(self, min_severity: ILogger.Severity = ...) -> None:
        ...
    def __eq__(self, other: typing.Any) -> bool:
        ...
'''


def test_extract_reads_a_pybind_stub():
    api = trt_api.extract(PYI, "__all__: list = ['ILogger', 'Logger']\n__version__: str = '10.13.0.35'\n")
    assert api["ILogger"] == {"Severity": None, "__init__": [], "log": ["msg", "severity"]}
    assert api["Logger"] == {"Severity": None, "__init__": ["min_severity"], "log": ["msg", "severity"],
                             "min_severity": None}  # ILogger's members inherited, dunders but __init__ left out
    assert api["ILogger.Severity"] == {"ERROR": None} and "MyLogger" not in str(api)  # docstrings are no code
    assert api[""] == {"ILogger": None, "Logger": None, "__version__": None}
