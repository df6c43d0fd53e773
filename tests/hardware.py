"""Markers for tests that need hardware this CI machine lacks; each skip names the hardware."""
import pytest


def have_tensorrt_gpu() -> bool:
    """TensorRT and pycuda import and CUDA sees a device (a Jetson, or a workstation GPU)."""
    try:
        import pycuda.driver as cuda
        import tensorrt  # noqa: F401

        cuda.init()
        return cuda.Device.count() > 0
    except Exception:
        return False


def needs_tensorrt_gpu(fn):
    """Mark a test ``gpu`` and skip it unless TensorRT can run here."""
    return pytest.mark.gpu(pytest.mark.skipif(
        not have_tensorrt_gpu(),
        reason="needs an NVIDIA GPU (a Jetson, or a workstation with CUDA) with tensorrt and pycuda installed")(fn))
