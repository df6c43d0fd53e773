"""BlazeFace (MediaPipe) face detector: finds masked faces that the Haar cascade misses.

    >>> det = BlazeFaceDetector.load("full")           # models/blazeface/face_detection_full_range.onnx
    >>> dets = det.detect(frame_bgr)                   # Detections: xyxy boxes in frame pixels + scores

Each frame runs as one batch: the whole frame letterboxed into the model's square, plus (``grid``) a
cols x rows set of overlapping tiles so that small faces keep enough pixels (a 60 px face in a
1280x720 frame is 9 px in a 192 px letterbox, 24 px in a 3x2 tile). Per region: sigmoid scores,
anchor decoding, weighted NMS; faces cut by an inner tile edge are dropped (a neighbour or the full
pass sees them whole); then one weighted NMS over all regions in frame pixels. Candidates scoring
between ``candidate_threshold`` and ``score_threshold`` (masked faces often do) get a second pass on a
square 2.5x their size, where the face fills 40 % of the input; they stay if the model is then sure.

The ONNX file carries its own record (``metadata_props['edge.detector']``, JSON: anchor layout,
normalisation, thresholds); it is validated against the model's input and outputs at load time.
"""
import json
import os
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from edge.detectors import decode as D
from edge.detectors.anchors import SsdLayout, ssd_anchors
from edge.detectors.base import Detections, Detector
from edge.errors import InputError, UsageError

DETECTOR_KEY = "edge.detector"
FORMAT_VERSION = 1
MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "models", "blazeface")
ALIASES = {"full": "face_detection_full_range", "short": "face_detection_short_range"}
DEFAULT_GRID = (3, 2)  # measured in docs/DETECTORS.md: recall on 60–300 px faces at 1280x720
CONTAIN = 0.7  # across regions: a box 70 % inside a better one is part of the same face


class DetectorMeta(NamedTuple):
    """What a runtime must know to feed an SSD face detector and decode its outputs."""

    name: str
    layout: SsdLayout
    num_keypoints: int
    score_threshold: float
    iou_threshold: float
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    channel_order: str = "RGB"
    provenance: Dict[str, Any] = {}
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        d = self._asdict()
        d.update(layout=self.layout.to_dict(), mean=list(self.mean), std=list(self.std))
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> "DetectorMeta":
        try:
            d = json.loads(text)
            meta = cls(name=str(d["name"]), layout=SsdLayout.from_dict(d["layout"], source),
                       num_keypoints=int(d["num_keypoints"]), score_threshold=float(d["score_threshold"]),
                       iou_threshold=float(d["iou_threshold"]), mean=tuple(float(v) for v in d["mean"]),
                       std=tuple(float(v) for v in d["std"]), channel_order=str(d.get("channel_order", "RGB")),
                       provenance=dict(d.get("provenance", {})), format=int(d.get("format", 1)))
        except InputError:
            raise
        except (ValueError, KeyError, TypeError) as e:
            raise InputError("{}: expected a JSON detector record in '{}', found one that does not parse "
                             "({}: {})".format(source, DETECTOR_KEY, type(e).__name__, e)) from None
        if meta.format > FORMAT_VERSION or meta.channel_order not in ("RGB", "BGR") or len(meta.mean) != 3 \
                or len(meta.std) != 3 or min(meta.std) <= 0:
            raise InputError("{}: expected detector format <= {}, channel_order RGB/BGR and 3 mean/std "
                             "values, found {}".format(source, FORMAT_VERSION, text[:200]))
        return meta

    @property
    def row_width(self) -> int:
        return 4 + 2 * self.num_keypoints


def check_outputs(meta: DetectorMeta, regressors_shape: Sequence, scores_shape: Sequence, source: str) -> None:
    """One clear error when the model's outputs do not match its anchor layout."""
    n = meta.layout.num_anchors
    want_r, want_s = (n, meta.row_width), (n, 1)
    if tuple(regressors_shape[1:]) != want_r or tuple(scores_shape[1:]) != want_s:
        raise InputError("{}: expected outputs (N, {}, {}) and (N, {}, 1) for the anchor layout {} ({} anchors), "
                         "found {} and {}".format(source, n, meta.row_width, n, meta.layout.to_dict(), n,
                                                  list(regressors_shape), list(scores_shape)))


def split_outputs(meta: DetectorMeta, outputs: Sequence[np.ndarray], source: str) -> Tuple[int, int]:
    """Indices (regressors, scores) among a model's outputs, told apart by their last dimension
    (a TensorRT engine need not keep the ONNX output order); one clear error when they do not fit."""
    shapes = [tuple(o.shape) for o in outputs]
    if len(outputs) == 2:
        r, c = (1, 0) if shapes[0][-1:] == (1,) and shapes[1][-1:] != (1,) else (0, 1)
        check_outputs(meta, shapes[r], shapes[c], source)
        return r, c
    raise InputError("{}: expected two outputs (regressors, scores), found {} with shapes {}".format(
        source, len(outputs), [list(s) for s in shapes]))


def backend_options(options: Optional[Dict]) -> Tuple[str, Dict]:
    """(backend spec, backend options) from the detector's runtime options: ``backend`` (auto, onnxruntime,
    tensorrt, pytorch, with :device), ``threads``, and ``providers`` (an ONNX Runtime provider list)."""
    from edge.backends.onnxruntime import DEVICE_PROVIDERS

    options = dict(options or {})
    spec = options.pop("backend", "auto") or "auto"
    providers = options.pop("providers", None)
    if providers:
        by_provider = {v: k for k, v in DEVICE_PROVIDERS.items()}
        if providers[0] not in by_provider:
            raise UsageError("expected an ONNX Runtime provider among {}, found '{}'".format(
                ", ".join(by_provider), providers[0]))
        spec = "onnxruntime:" + by_provider[providers[0]]
    return spec, options


class SsdSession:
    """An SSD detector model through ``edge.backends`` (ONNX Runtime, a TensorRT engine, TorchScript):
    one NCHW float32 input, (regressors, scores) out. The model's ``edge.detector`` record (ONNX
    metadata_props, engine sidecar) is validated against its input and outputs at load time."""

    def __init__(self, path: str, options: Optional[Dict] = None):
        from edge.backends import load_backend

        spec, opts = backend_options(options)
        self.backend = load_backend(path, spec, options=opts, kind="detector")
        source = "'{}'".format(path)
        try:
            self.meta = DetectorMeta.from_json(self.backend.detector_record, source)
            s = self.meta.layout.input_size
            if tuple(self.backend.meta.input_size) != (s, s):
                raise InputError("{}: expected one input (N, 3, {s}, {s}), found {}".format(
                    source, list(self.backend.meta.input_size), s=s))
            outs = self.backend.run(np.zeros((1, 3, s, s), np.float32))
            self._order = split_outputs(self.meta, outs, source)
        except BaseException:
            self.backend.close()
            raise
        self.path = path
        self.device = self.backend.device
        self.static_batch = self.backend.static_batch

    def run(self, batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """float32 (N, 3, S, S) → (regressors (N, A, 4+2K), logits (N, A, 1))."""
        outs = self.backend.run(batch)
        return outs[self._order[0]], outs[self._order[1]]

    def info(self) -> Dict[str, Any]:
        return self.backend.info()

    def close(self) -> None:
        self.backend.close()


OrtSsdSession = SsdSession  # its former name (ONNX Runtime only)


def model_path(model: str) -> str:
    """'full' / 'short' / a bundled model name / a path → an existing .onnx path."""
    name = ALIASES.get(model, model)
    bundled = os.path.join(MODELS_DIR, name + ".onnx")
    if os.path.isfile(bundled):
        return bundled
    if os.path.isfile(model):
        return model
    raise UsageError("unknown BlazeFace model '{}' (expected full, short, {}, or a path to a .onnx model or a "
                     ".engine built from one)".format(model, ", ".join(sorted(ALIASES.values()))))


def parse_grid(grid: Any) -> Tuple[int, int]:
    """"3x2" / "3,2" / (3, 2) → (cols, rows); "1x1" (or "0x0") means the whole frame only."""
    try:
        if isinstance(grid, str):
            grid = grid.lower().replace(",", "x").split("x")
        cols, rows = (int(v) for v in grid)
    except (TypeError, ValueError):
        raise UsageError("expected a tile grid COLSxROWS such as 3x2 (1x1: no tiles), found '{}'".format(
            grid)) from None
    if cols < 0 or rows < 0 or cols * rows > 15:
        raise UsageError("expected a tile grid (cols, rows) ≥ 0 with at most 15 tiles (the frame and its tiles "
                         "run as one batch of ≤ 16), found {}x{}".format(cols, rows))
    return cols, rows


class BlazeFaceDetector(Detector):
    """MediaPipe BlazeFace through ONNX Runtime, on the whole frame plus an optional tile grid."""

    name = "blazeface"

    def __init__(self, model: str = "full", grid: Any = DEFAULT_GRID, overlap: float = 0.25,
                 score_threshold: Optional[float] = None, iou_threshold: Optional[float] = None,
                 candidate_threshold: float = 0.1, max_refine: int = 8, refine_context: float = 2.5,
                 backend: str = "auto", threads: int = 1, session: Optional[SsdSession] = None):
        """``model``: full, short, or a path (.onnx, .engine with its sidecar, .ts); ``grid``: tiles as
        (cols, rows) or "3x2" ("1x1": the whole frame only); ``backend``/``threads``: how the model runs."""
        grid = parse_grid(grid)
        if not 0 <= overlap < 1:
            raise UsageError("expected a tile overlap in [0, 1), found {}".format(overlap))
        self.session = session or SsdSession(model_path(model), {"backend": backend, "threads": threads})
        self.meta = self.session.meta
        self.grid = grid
        self.overlap = float(overlap)
        self.score_threshold = self.meta.score_threshold if score_threshold is None else float(score_threshold)
        self.iou_threshold = self.meta.iou_threshold if iou_threshold is None else float(iou_threshold)
        self.interpolation = None  # cv2.INTER_LINEAR
        self.candidate_threshold = min(float(candidate_threshold), self.score_threshold)
        self.max_refine = int(max_refine)  # 0: no second pass
        self.refine_context = float(refine_context)
        self.anchors = ssd_anchors(self.meta.layout)
        scale = np.asarray(self.meta.std, np.float32) * 255.0
        self._mul = (1.0 / scale).astype(np.float32)
        self._add = (-np.asarray(self.meta.mean, np.float32) / np.asarray(self.meta.std, np.float32)).astype(
            np.float32)

    @classmethod
    def load(cls, model: str = "full", options: Optional[Dict] = None, **kw) -> "BlazeFaceDetector":
        """``options``: ``backend`` (auto: by file type), ``threads`` (default 1: on this 2-core host, busy
        with other work, 2 threads took twice as long per batch as 1) and ``providers`` (ONNX Runtime)."""
        options = dict({"threads": 1}, **(options or {}))
        grid = parse_grid(kw.pop("grid", DEFAULT_GRID))  # bad arguments fail before the model loads
        return cls(model, grid=grid, session=SsdSession(model_path(model), options), **kw)

    def regions(self, frame_wh: Tuple[int, int]):
        """The frame, then the tiles (x, y, w, h)."""
        whole = [(0, 0, int(frame_wh[0]), int(frame_wh[1]))]
        cols, rows = self.grid
        if cols * rows <= 1:
            return whole
        return whole + D.tile_grid(frame_wh, cols, rows, self.overlap)

    def prepare(self, frame_bgr: np.ndarray, rois) -> Tuple[np.ndarray, list]:
        """The NCHW float32 batch of letterboxed regions, and their Letterbox records."""
        size = self.meta.layout.input_size
        boxes = [D.letterbox(r, size) for r in rois]
        imgs = np.stack([D.letterbox_image(frame_bgr, lb, self.interpolation) for lb in boxes])
        if self.meta.channel_order == "RGB":
            imgs = imgs[..., ::-1]
        x = imgs.astype(np.float32) * self._mul + self._add
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), boxes

    def decode(self, regressors: np.ndarray, logits: np.ndarray, lbs, frame_wh: Tuple[int, int],
               threshold: float, cut_tiles: bool = True) -> Detections:
        """Raw batch outputs → detections scoring >= ``threshold``, merged over regions, in frame pixels.

        ``cut_tiles``: region 0 is the whole frame, the others tiles whose edge-cut faces are dropped."""
        all_boxes, all_scores = [], []
        size = self.meta.layout.input_size
        for i, lb in enumerate(lbs):
            scores = D.sigmoid_scores(logits[i, :, 0])
            keep = np.flatnonzero(scores >= threshold)
            if not len(keep):
                continue
            boxes, _ = D.decode_boxes(regressors[i, keep], self.anchors[keep], size)
            valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            boxes, scores = D.nms(boxes[valid], scores[keep][valid], self.iou_threshold, weighted=True)
            boxes = lb.to_frame(boxes)
            if cut_tiles and i > 0:  # a tile: drop faces cut by an inner edge
                whole = ~D.touches_inner_edge(boxes, lb.roi, frame_wh, margin=2.0)
                boxes, scores = boxes[whole], scores[whole]
            all_boxes.append(boxes)
            all_scores.append(scores)
        if not all_boxes:
            return Detections.empty()
        boxes, scores = D.nms(np.concatenate(all_boxes), np.concatenate(all_scores), self.iou_threshold,
                              weighted=True, contain_threshold=CONTAIN)
        fw, fh = frame_wh
        return Detections(np.clip(boxes, 0, [fw, fh, fw, fh]).astype(np.float32), scores)

    def refine(self, frame_bgr: np.ndarray, cands: Detections) -> Detections:
        """Second pass: re-run the model on a square around each doubtful candidate (score below the
        threshold), where the face fills a third of the input; keep it if the model is now sure."""
        wh = (frame_bgr.shape[1], frame_bgr.shape[0])
        sure = cands.scores >= self.score_threshold
        doubt = np.flatnonzero(~sure)[:self.max_refine]
        if not len(doubt):
            return Detections(cands.boxes[sure], cands.scores[sure])
        rois = [D.square_around(cands.boxes[k], self.refine_context, wh) for k in doubt]
        batch, lbs = self.prepare(frame_bgr, rois)
        regressors, logits = self.session.run(batch)
        boxes, scores = [cands.boxes[sure]], [cands.scores[sure]]
        for j, k in enumerate(doubt):
            found = self.decode(regressors[j:j + 1], logits[j:j + 1], lbs[j:j + 1], wh, self.score_threshold,
                                cut_tiles=False)
            if len(found):
                o = D.iou(cands.boxes[k], found.boxes)
                best = int(np.argmax(o))
                if o[best] >= 0.3:
                    boxes.append(found.boxes[best:best + 1])
                    scores.append(found.scores[best:best + 1])
        boxes, scores = D.nms(np.concatenate(boxes), np.concatenate(scores), self.iou_threshold, weighted=False,
                              contain_threshold=CONTAIN)
        return Detections(boxes, scores)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise UsageError("expected a BGR uint8 frame (H, W, 3), found {} {}".format(
                frame_bgr.dtype, frame_bgr.shape))
        wh = (frame_bgr.shape[1], frame_bgr.shape[0])
        batch, lbs = self.prepare(frame_bgr, self.regions(wh))
        regressors, logits = self.session.run(batch)
        if not self.max_refine:
            return self.decode(regressors, logits, lbs, wh, self.score_threshold)
        return self.refine(frame_bgr, self.decode(regressors, logits, lbs, wh, self.candidate_threshold))

    def info(self) -> Mapping[str, Any]:
        return {"detector": self.name, "model": self.meta.name, "path": self.session.path,
                "backend": self.session.backend.name, "device": self.session.device,
                "precision": self.session.backend.precision, "grid": list(self.grid), "overlap": self.overlap,
                "score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold,
                "candidate_threshold": self.candidate_threshold, "max_refine": self.max_refine}

    def close(self) -> None:
        self.session.close()


def config_options(cfg) -> Dict[str, Any]:
    """Options from run-config fields (``edge run --blazeface-model/--blazeface-grid``; ``--threads``)."""
    return {"model": cfg.blazeface_model, "grid": cfg.blazeface_grid, "threads": cfg.threads}


DETECTOR = BlazeFaceDetector
