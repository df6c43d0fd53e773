"""BlazeFace ONNX models (a package only so that its files ship with ``pip install``)."""
