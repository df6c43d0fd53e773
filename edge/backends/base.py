"""The one interface every inference backend implements.

``infer`` serves classifiers (one output, (N, classes), checked); ``run`` serves any other model
(a detector: every output, in model order, unchecked). A model without classifier metadata is
loaded with ``kind="detector"``: its input comes from its ``edge.detector`` record instead (an SSD face
detector: ``detector_record``), or else from an object detector's metadata (Ultralytics' ``names``/``imgsz``,
or ``--detector-labels``/``--detector-input-size`` through the overrides: ``objects``, an ObjectDetectorMeta).
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edge.errors import InputError, UsageError
from edge.meta import ModelMeta


KINDS = ("classifier", "detector")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError("expected a model kind among {}, found '{}'".format(", ".join(KINDS), kind))
    return kind


class MetaOverrides(dict):
    """User-supplied metadata for a model (``--labels``, ``--input-size``, ``--channel-order``, ...): keys
    are ModelMeta field names; values replace what the model file says (the one place they are applied,
    for every backend and for ``edge export``).

    A new channel order brings the default mean/std for its channel count unless those are given too; a
    model without metadata needs at least labels and input size.
    """

    def apply(self, meta: Optional[ModelMeta], source: str) -> ModelMeta:
        changes = dict(self)
        order = changes.get("channel_order")
        if order is not None and (meta is None or order != meta.channel_order):
            n = 1 if order == "GRAY" else 3
            changes.setdefault("mean", (0.5,) * n)
            changes.setdefault("std", (0.5,) * n)
        if meta is None:
            if "labels" not in self or "input_size" not in self:
                raise InputError("{} carries no edge metadata; give at least --labels and --input-size".format(
                    source))
            return ModelMeta(arch="", **changes)
        return meta.replace(**changes) if changes else meta


class Backend:
    """Load a model, expose its metadata, run a preprocessed float32 NCHW batch.

    Subclasses implement ``load`` and ``_run``; ``infer`` validates the batch first.
    """

    name = "base"

    def __init__(self, meta: ModelMeta, path: str, static_batch: Optional[int] = None,
                 precision: str = "fp32", device: str = "cpu", max_batch: Optional[int] = None):
        self.meta = meta
        self.path = path
        self.static_batch = static_batch  # None: any batch size
        self.max_batch = static_batch or max_batch  # largest batch one call takes (None: no limit)
        self.precision = precision
        self.device = device
        self.kind = "classifier"
        self.detector_record = None  # type: Optional[str]  # the edge.detector JSON of a detector model
        self.objects = None  # an object detector's record (edge.meta.ObjectDetectorMeta), else None
        # ((min_h, min_w), (max_h, max_w)) when the model also takes inputs of other sizes than
        # meta.input_size (a detector whose height/width are dynamic); None: meta.input_size only
        self.input_hw_range = None  # type: Optional[Tuple[Tuple[int, int], Tuple[int, int]]]

    @classmethod
    def load(cls, path: str, overrides: Optional[MetaOverrides] = None, options: Optional[Dict] = None):
        raise NotImplementedError

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, C, H, W) → float32 logits (N, classes)."""
        self.check_batch(batch)
        if len(batch) == 0:
            return np.zeros((0, self.meta.num_classes), np.float32)
        out = self._run(np.ascontiguousarray(batch))
        if out.ndim != 2 or out.shape[1] != self.meta.num_classes:
            raise InputError("{}: model returned shape {}, expected (N, {}) for labels {}".format(
                self.path, tuple(out.shape), self.meta.num_classes, list(self.meta.labels)))
        check_rows(len(batch), out, self.path + ": ")
        return out

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run(self, batch: np.ndarray) -> List[np.ndarray]:
        """float32 (N, C, H, W), N ≥ 1 → every output of the model (float32, model order), shapes unchecked."""
        self.check_batch(batch)
        if len(batch) == 0:
            raise UsageError("expected a batch of at least one image, found an empty one")
        return [o if o.dtype == np.float32 else o.astype(np.float32)
                for o in self._run_all(np.ascontiguousarray(batch))]

    def _run_all(self, batch: np.ndarray) -> List[np.ndarray]:
        raise NotImplementedError

    def probe(self, rounds: int = 1) -> None:
        """Run zero batches through the model (its warm-up) and refuse, at load, one whose outputs are not
        finite or whose rows do not match the batch: its static batch, else batches of 1 and 2 (a
        detector: 1). InputError (exit 3) naming expected and found."""
        for n in self.probe_batches():
            x = np.zeros((n, self.meta.channels) + tuple(self.meta.input_size), np.float32)
            for _ in range(max(1, rounds)):
                self.check_finite(self.run(x) if self.kind == "detector" else [self.infer(x)], n)

    def check_finite(self, outputs: Sequence[np.ndarray], n: int) -> None:
        """InputError (exit 3) unless every output of a probe batch of ``n`` zero images is finite."""
        bad = [str(i) for i, o in enumerate(outputs) if not np.isfinite(o).all()]
        if bad:
            raise InputError("'{}': expected finite outputs, found NaN or inf{} for a probe batch of {} "
                             "zero image(s); are its weights NaN (a diverged training run)?".format(
                                 self.path, " in output " + ", ".join(bad) if len(outputs) > 1 else "", n))

    def probe_batches(self) -> List[int]:
        if self.static_batch:
            return [self.static_batch]
        if self.kind == "detector" or (self.max_batch or 2) < 2:
            return [1]
        return [1, 2]

    def check_batch(self, batch: np.ndarray) -> None:
        expected = (self.meta.channels,) + tuple(self.meta.input_size)
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
            raise UsageError("expected a float32 numpy batch, found {}".format(
                getattr(batch, "dtype", type(batch).__name__)))
        if batch.ndim == 4 and batch.shape[1] == expected[0] and self.accepts_hw(batch.shape[2:]):
            return
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise UsageError("expected a batch of shape (N, {}, {}, {}){}, found {}".format(
                expected[0], expected[1], expected[2], "" if self.input_hw_range is None else
                " or (N, {}, H, W) with (H, W) from {} to {}".format(expected[0], *self.input_hw_range),
                tuple(batch.shape)))

    def accepts_hw(self, hw: Sequence[int]) -> bool:
        """Whether the model takes an input of height/width ``hw`` (its own size, or one in its range)."""
        if tuple(hw) == tuple(self.meta.input_size):
            return True
        if self.input_hw_range is None:
            return False
        (h0, w0), (h1, w1) = self.input_hw_range
        return h0 <= hw[0] <= h1 and w0 <= hw[1] <= w1

    def info(self) -> Dict:
        return {"backend": self.name, "path": self.path, "device": self.device, "precision": self.precision,
                "static_batch": self.static_batch, "max_batch": self.max_batch, "labels": list(self.meta.labels),
                "input_size": list(self.meta.input_size), "kind": self.kind}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_rows(n: int, output: np.ndarray, where: str = "") -> None:
    """InputError unless ``output`` has one row per image of a batch of ``n`` (expected and found in it)."""
    if np.shape(output)[:1] != (n,):
        raise InputError("{}expected one output row per image ({} for a batch of {}), found shape {}".format(
            where, n, n, tuple(np.shape(output))))


def split_batches(n: int, size: int) -> Sequence[slice]:
    """Slices that cover ``n`` rows in chunks of ``size`` (the last may be short)."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def plan_batches(n: int, max_batch: Optional[int] = None, static: bool = False) -> List[Tuple[slice, int]]:
    """How to run ``n`` rows on a model that takes at most ``max_batch`` per call.

    Returns ``(rows, run_size)`` per call: ``rows`` slices the input; ``run_size`` is the batch the
    model runs — ``max_batch`` for a static-batch model (the last chunk is zero-padded up to it),
    the chunk's own length for a dynamic one. ``max_batch=None``: one call with everything.

    >>> plan_batches(5, 2, static=True)
    [(slice(0, 2, None), 2), (slice(2, 4, None), 2), (slice(4, 5, None), 2)]
    """
    if n <= 0:
        return []
    if not max_batch:
        return [(slice(0, n), n)]
    return [(s, max_batch if static else s.stop - s.start) for s in split_batches(n, max_batch)]


def run_planned(run: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, max_batch: Optional[int],
                static: bool) -> np.ndarray:
    """Run ``batch`` through ``run`` per ``plan_batches``, padding static chunks and dropping the padding."""
    return run_planned_many(lambda chunk: [run(chunk)], batch, max_batch, static)[0]


def run_planned_many(run: Callable[[np.ndarray], List[np.ndarray]], batch: np.ndarray, max_batch: Optional[int],
                     static: bool) -> List[np.ndarray]:
    """``run_planned`` for a model with several outputs: each output concatenated over the chunks."""
    plan = plan_batches(len(batch), max_batch, static)
    if len(plan) == 1 and plan[0][1] == len(batch):
        return list(run(batch))
    parts = []
    for rows, size in plan:
        chunk = batch[rows]
        n = len(chunk)
        if size > n:
            chunk = np.concatenate([chunk, np.zeros((size - n,) + chunk.shape[1:], chunk.dtype)])
        outputs = run(chunk)
        for o in outputs:
            check_rows(size, o)
        parts.append([o[:n] for o in outputs])
    return [np.concatenate(p) for p in zip(*parts)]
