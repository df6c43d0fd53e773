"""MediaPipe BlazeFace face detectors converted to ONNX (see NOTICE and scripts/convert_blazeface.py).

This folder is a package only so that its .onnx files ship with ``pip install``."""
