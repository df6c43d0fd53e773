"""TensorRT, all of it on the device: the runtime backend (``runtime``), the engine's sidecar and
fingerprint (``sidecar``), the engine builder (``build``) with its optimization profiles (``profile``)
and INT8 calibration (``calibration``), and an ONNX reader that needs no ``onnx`` package
(``onnx_props``). TensorRT and pycuda are imported inside the functions that need them."""
