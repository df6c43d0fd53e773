"""The bundled models and sample, by name: what ``edge`` uses when given none.

* ``mask_default.onnx`` — the face-mask classifier ``edge run`` uses by default; ``mask_default.pt`` is the
  checkpoint it was exported from and ``mask_default.json`` its metrics and the exact command that produced
  it (docs/COMPRESSION.md).
* ``blazeface/`` — MediaPipe's BlazeFace face detectors converted to ONNX (see its NOTICE and
  scripts/convert_blazeface.py), with the tflite reference outputs the parity test compares against.
* ``edge/data/sample.mp4`` and ``sample.json`` — the sample video (scripts/make_sample_video.py) and its
  ground truth.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MASK_MODEL = os.path.join(HERE, "mask_default.onnx")
MASK_CHECKPOINT = os.path.join(HERE, "mask_default.pt")
MASK_INFO = os.path.join(HERE, "mask_default.json")
BLAZEFACE_DIR = os.path.join(HERE, "blazeface")
BLAZEFACE = {"full": "face_detection_full_range", "short": "face_detection_short_range"}  # alias → file stem
SAMPLE_VIDEO = os.path.join(os.path.dirname(HERE), "data", "sample.mp4")
SAMPLE_TRUTH = os.path.join(os.path.dirname(HERE), "data", "sample.json")
