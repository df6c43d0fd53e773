"""edge: real-time image-model inference on NVIDIA Jetson (device side).

Everything under ``edge/`` runs on Python 3.6 (JetPack 4.6) up to current Python;
heavy libraries (torch, tensorrt, pycuda, jtop) are imported inside the code that needs them.
"""

__version__ = "0.1.0"
