"""Markers for tests that need hardware this CI machine lacks; each skip names the hardware.

A test skips only where the package is absent (its top module cannot be found) or there is no GPU; a package
that is installed but broken (TensorRT without its libraries, a CUDA that will not start, an ONNX Runtime GPU
provider that falls back to the CPU on a machine with a GPU) fails the test with the error.
"""
import functools
import glob
import importlib
import importlib.util

import pytest

# NVIDIA's device nodes: a discrete GPU's driver, or a Jetson's integrated GPU
GPU_NODES = ("/dev/nvidia[0-9]*", "/dev/nvhost-ctrl-gpu", "/dev/nvgpu/igpu0/ctrl")


def have_nvidia_gpu() -> bool:
    """An NVIDIA GPU's device node exists (whatever the state of the libraries that drive it)."""
    return any(glob.glob(pattern) for pattern in GPU_NODES)


def missing_packages(*modules: str) -> list:
    """The top modules of ``modules`` that are not installed (no import is attempted)."""
    return [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is None]


def tensorrt_gpu() -> None:
    """Skip unless tensorrt and pycuda are installed and there is an NVIDIA GPU; a broken install raises."""
    missing = missing_packages("tensorrt", "pycuda")
    if missing:
        pytest.skip("needs {}, not installed here".format(" and ".join(missing)))
    if not have_nvidia_gpu():
        pytest.skip("needs an NVIDIA GPU (a Jetson, or a workstation with CUDA)")
    importlib.import_module("tensorrt")  # installed but unimportable: the test fails with the error
    cuda = importlib.import_module("pycuda.driver")
    cuda.init()
    assert cuda.Device.count() > 0, "CUDA sees no device although this machine has an NVIDIA GPU"


def needs_tensorrt_gpu(fn):
    """Mark a test ``gpu``; it skips where tensorrt/pycuda are absent or there is no GPU, and fails on a
    broken TensorRT or CUDA install."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        tensorrt_gpu()
        return fn(*args, **kwargs)
    return pytest.mark.gpu(run)


def onnxruntime_gpu(provider: str) -> None:
    """Skip unless ONNX Runtime offers ``provider`` (onnxruntime-gpu is installed) and there is an NVIDIA GPU."""
    import onnxruntime as ort

    if provider not in ort.get_available_providers():
        pytest.skip("needs onnxruntime-gpu ({} not available)".format(provider))
    if not have_nvidia_gpu():
        pytest.skip("needs an NVIDIA GPU ({} is installed)".format(provider))


def check_runs_on(device: str, provider: str) -> None:
    """After ``onnxruntime_gpu(provider)``: a session that fell back to the CPU (``device``: the provider it
    runs on) is a broken install, and fails the test."""
    assert device == provider, "{} is installed and this machine has an NVIDIA GPU, but the session runs on {} " \
                               "(a broken CUDA/cuDNN/TensorRT install?)".format(provider, device)
