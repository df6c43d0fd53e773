"""Parity gate: the exported ONNX (in ONNX Runtime) against the PyTorch model, on real and random inputs.

Real inputs are photos: the images of ``--parity-data DIR`` if given, else the face and regions of
the photos that ship with matplotlib (Grace Hopper) and scikit-image (the astronaut), each crop
resized and normalised by ``edge.preprocess`` exactly as at run time. Random inputs are seeded
normal noise. Each set runs at batch 1 and a larger batch (dynamic batch) or the static batch.
"""
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from edge.errors import InputError
from edge.imagefolder import is_image, read_image
from edge.meta import ModelMeta
from edge.preprocess import preprocess

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3
LARGE_BATCH = 7  # odd on purpose: catches code that assumes a power-of-two or the traced batch


def sample_photos() -> List[np.ndarray]:
    """BGR photos shipped inside installed packages (empty when neither package is installed)."""
    import cv2

    photos = []
    try:
        import matplotlib.cbook

        img = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
        if img is not None:
            photos.append(img)
    except Exception:  # matplotlib missing or built without sample data
        pass
    try:
        from skimage import data

        photos.append(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    except Exception:
        pass
    return photos


def crops_of(photo: np.ndarray) -> List[np.ndarray]:
    """Haar face crops of a photo plus its centre and four quadrants (real image statistics)."""
    import cv2

    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    faces = cascade.detectMultiScale(grey, 1.1, 5, minSize=(40, 40)) if not cascade.empty() else []
    h, w = photo.shape[:2]
    out = [photo[y:y + fh, x:x + fw] for x, y, fw, fh in faces]
    out.append(photo[h // 4:3 * h // 4, w // 4:3 * w // 4])
    out += [photo[y:y + h // 2, x:x + w // 2] for y in (0, h // 2) for x in (0, w // 2)]
    return out


def real_images(data_dir: Optional[str] = None, limit: int = 16) -> List[np.ndarray]:
    """BGR images for the parity gate: up to ``limit`` from ``data_dir`` (recursively), else sample photos."""
    if data_dir:
        if not os.path.isdir(data_dir):
            raise InputError("expected a folder of images for --parity-data, found nothing at '{}'".format(data_dir))
        paths = sorted(os.path.join(r, n) for r, _, names in os.walk(data_dir) for n in names if is_image(n))
        if not paths:
            raise InputError("expected images in '{}', found none".format(data_dir))
        step = max(1, len(paths) // limit)
        return [read_image(p) for p in paths[::step][:limit]]
    crops = [c for p in sample_photos() for c in crops_of(p)]
    return crops[:limit]


def input_sets(meta: ModelMeta, images: Sequence[np.ndarray], static_batch: Optional[int] = None,
               seed: int = 0) -> Dict[str, np.ndarray]:
    """{name: float32 NCHW batch}: real and random, at batch 1 and LARGE_BATCH (or the static batch)."""
    sizes = [static_batch] if static_batch else [1, LARGE_BATCH]
    shape = (meta.channels,) + tuple(meta.input_size)
    rng = np.random.default_rng(seed)
    out = {}
    real = preprocess(list(images), meta) if len(images) else np.zeros((0,) + shape, np.float32)
    for n in sizes:
        if len(real):
            out["real, batch {}".format(n)] = np.ascontiguousarray(np.resize(real, (n,) + shape))
        out["random, batch {}".format(n)] = rng.standard_normal((n,) + shape).astype(np.float32)
    return out


def compare(reference: np.ndarray, candidate: np.ndarray, atol: float = DEFAULT_ATOL,
            rtol: float = DEFAULT_RTOL) -> Dict:
    """max abs / rel error and whether every element is within ``atol + rtol·|reference|``."""
    reference = np.asarray(reference, np.float64)
    candidate = np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape:
        return {"ok": False, "max_abs": float("inf"), "max_rel": float("inf"),
                "detail": "shape {} vs {}".format(candidate.shape, reference.shape)}
    diff = np.abs(reference - candidate)
    rel = diff / np.maximum(np.abs(reference), 1e-12)
    ok = bool(np.all(diff <= atol + rtol * np.abs(reference)))
    agree = float(np.mean(reference.argmax(1) == candidate.argmax(1))) if reference.ndim == 2 else 1.0
    return {"ok": ok, "max_abs": float(diff.max()) if diff.size else 0.0,
            "max_rel": float(rel.max()) if rel.size else 0.0, "top1_agreement": agree}


def run_parity(torch_fn, onnx_fn, sets: Dict[str, np.ndarray], atol: float = DEFAULT_ATOL,
               rtol: float = DEFAULT_RTOL) -> Dict[str, Dict]:
    """Compare ``onnx_fn(batch)`` to ``torch_fn(batch)`` on every input set; a run that fails is an InputError."""
    out = {}
    for name, x in sets.items():
        for who, fn in (("PyTorch", torch_fn), ("ONNX Runtime", onnx_fn)):
            try:
                y = fn(x)
            except Exception as e:
                lines = [s for s in str(e).splitlines() if s.strip()]
                raise InputError("{} fails on the parity input '{}' ({}: {}); a model that only works at one "
                                 "batch size needs --batch N".format(who, name, type(e).__name__,
                                                                      lines[0][:200] if lines else "")) from None
            if who == "PyTorch":
                ref = y
        out[name] = compare(ref, y, atol, rtol)
    return out


def worst(results: Dict[str, Dict]) -> Dict:
    return {"ok": all(r["ok"] for r in results.values()),
            "max_abs": max(r["max_abs"] for r in results.values()),
            "max_rel": max(r["max_rel"] for r in results.values())}
