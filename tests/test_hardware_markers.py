"""tests/hardware.py: a GPU test skips only where its package is absent or there is no GPU; a broken install
(the package is there but does not import or start) fails it."""
import sys

import pytest

import hardware


def _package(root, name, body):
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(body)
    return pkg


NAMES = ("tensorrt", "pycuda", "pycuda.driver")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder first on sys.path, where a test installs its own tensorrt / pycuda (gone again afterwards)."""
    saved = {n: sys.modules.pop(n) for n in NAMES if n in sys.modules}
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in NAMES:
        sys.modules.pop(name, None)
    sys.modules.update(saved)


def _outcome(fn):
    try:
        fn()
    except pytest.skip.Exception as e:
        return "skip: " + str(e)
    except Exception as e:
        return "fail: {}: {}".format(type(e).__name__, e)
    return "ran"


def _test_body():
    """What a decorated test does once the marker lets it run."""


def test_a_broken_tensorrt_fails_the_test(site, monkeypatch):
    _package(site, "tensorrt", "raise ImportError('libnvinfer.so.8: cannot open shared object file')\n")
    _package(site, "pycuda", "")
    (site / "pycuda" / "driver.py").write_text("def init():\n    pass\n")
    monkeypatch.setattr(hardware, "have_nvidia_gpu", lambda: True)
    assert _outcome(hardware.needs_tensorrt_gpu(_test_body)) == \
        "fail: ImportError: libnvinfer.so.8: cannot open shared object file"


def test_a_cuda_that_will_not_start_fails_the_test(site, monkeypatch):
    _package(site, "tensorrt", "__version__ = '8.2.1.8'\n")
    _package(site, "pycuda", "")
    (site / "pycuda" / "driver.py").write_text("def init():\n    raise RuntimeError('cuInit failed: unknown error')\n")
    monkeypatch.setattr(hardware, "have_nvidia_gpu", lambda: True)
    assert _outcome(hardware.needs_tensorrt_gpu(_test_body)) == "fail: RuntimeError: cuInit failed: unknown error"


def test_absent_packages_or_no_gpu_skip(site, monkeypatch):
    monkeypatch.setattr(hardware.importlib.util, "find_spec",
                        lambda name: None if name in ("tensorrt", "pycuda") else object())
    assert _outcome(hardware.needs_tensorrt_gpu(_test_body)) == "skip: needs tensorrt and pycuda, not installed here"
    monkeypatch.undo()
    monkeypatch.syspath_prepend(str(site))
    _package(site, "tensorrt", "raise ImportError('never imported: there is no GPU')\n")
    _package(site, "pycuda", "")
    monkeypatch.setattr(hardware, "have_nvidia_gpu", lambda: False)
    assert _outcome(hardware.needs_tensorrt_gpu(_test_body)) == \
        "skip: needs an NVIDIA GPU (a Jetson, or a workstation with CUDA)"


def test_onnxruntime_gpu_falling_back_to_the_cpu_fails_where_there_is_a_gpu(monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(hardware, "have_nvidia_gpu", lambda: True)
    hardware.onnxruntime_gpu("CUDAExecutionProvider")  # installed, GPU there: the test runs
    assert _outcome(lambda: hardware.check_runs_on("CPUExecutionProvider", "CUDAExecutionProvider")).startswith(
        "fail: AssertionError: CUDAExecutionProvider is installed and this machine has an NVIDIA GPU, but the "
        "session runs on CPUExecutionProvider")
    assert _outcome(lambda: hardware.onnxruntime_gpu("TensorrtExecutionProvider")) == \
        "skip: needs onnxruntime-gpu (TensorrtExecutionProvider not available)"
    monkeypatch.setattr(hardware, "have_nvidia_gpu", lambda: False)
    assert _outcome(lambda: hardware.onnxruntime_gpu("CUDAExecutionProvider")) == \
        "skip: needs an NVIDIA GPU (CUDAExecutionProvider is installed)"
