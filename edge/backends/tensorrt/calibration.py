"""Calibration images → preprocessed float32 NCHW batches, for ONNX Runtime's static quantization
(``CalibrationDataReader``) and TensorRT's entropy calibrator alike.

A calibration folder is an ImageFolder (one sub-folder per class) or a flat folder of images;
preprocessing is ``edge.preprocess`` with the model's own metadata, exactly as at run time.
Python 3.6 compatible: the TensorRT calibrator uses it on the Jetson.
"""
import os
from typing import Iterator, List

import numpy as np

from edge.errors import InputError
from edge.files import sha256_file
from edge.imagefolder import is_image, read_image
from edge.meta import ModelMeta
from edge.preprocess import preprocess


def calibration_paths(root: str, limit: int = 256) -> List[str]:
    """Up to ``limit`` image paths under ``root`` (recursively), spread evenly over the sorted list."""
    if not os.path.isdir(root):
        raise InputError("expected a folder of calibration images (--calib), found {} at '{}'".format(
            "a file" if os.path.exists(root) else "nothing", root))
    paths = sorted(os.path.join(r, n) for r, _, names in os.walk(root) for n in names if is_image(n))
    if not paths:
        raise InputError("expected calibration images in '{}', found none".format(root))
    if limit and len(paths) > limit:
        step = len(paths) / float(limit)
        paths = [paths[int(i * step)] for i in range(limit)]
    return paths


def calibration_set_sha(paths: List[str]) -> str:
    """sha256 over the calibration images' names and contents (a re-shot image with the same name and size
    is a different set)."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(os.path.basename(p).encode("utf-8") + b"\0" + sha256_file(p).encode("ascii"))
    return h.hexdigest()


def batches(paths: List[str], meta: ModelMeta, batch: int = 8, exact: bool = False) -> Iterator[np.ndarray]:
    """Preprocessed batches of ``batch`` images; ``exact`` drops a short last batch (TensorRT needs one size)."""
    for i in range(0, len(paths), batch):
        chunk = paths[i:i + batch]
        if exact and len(chunk) < batch:
            if i == 0:  # fewer images than one batch: repeat them rather than calibrate on nothing
                chunk = (chunk * batch)[:batch]
            else:
                return
        yield preprocess([read_image(p) for p in chunk], meta)


def ort_reader(paths: List[str], meta: ModelMeta, input_name: str, batch: int = 8, progress=None):
    """An ``onnxruntime.quantization.CalibrationDataReader`` over ``paths``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rewind()

        def get_next(self):
            x = next(self._it, None)
            if x is None:
                return None
            if progress is not None:
                progress(len(x))
            return {input_name: x}

        def rewind(self):
            self._it = batches(paths, meta, batch)

    return Reader()
