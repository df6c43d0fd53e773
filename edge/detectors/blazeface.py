"""BlazeFace (MediaPipe) face detector: finds masked faces that the Haar cascade misses.

    >>> det = BlazeFaceDetector.load("full")           # edge/zoo/blazeface/face_detection_full_range.onnx
    >>> dets = det.detect(frame_bgr)                   # Detections: xyxy boxes in frame pixels + scores

Small faces need pixels: a 60 px face in a 1280x720 frame is 9 px in the model's 192 px square. The
networks are fully convolutional, so by default ("frame" mode) the whole frame runs at its own aspect
ratio twice: with its longer side at 128 px (big faces) and resized by ``scale`` (0.4: a 512x288
input where that face is 24 px), one network pass each. A model that takes only its square
(an engine built for it) runs "tiles" mode instead: the square on the whole frame plus a ``grid`` of
overlapping tiles, one batch (a 60 px face is 24 px in a 3x2 tile); faces cut by an inner tile edge
are dropped (a neighbour or the whole-frame region sees them whole). Per region: sigmoid scores,
anchor decoding, weighted NMS; then one weighted NMS over all regions in frame pixels. Candidates scoring
between ``candidate_threshold`` and ``score_threshold`` (masked faces often do) get a second pass on a
square 2.5x their size, where the face fills 40 % of the input; they stay if the model is then sure.
In frame mode, sure faces that were small in the scaled frame take their (tighter) box from such a pass.

The ONNX file carries its own record (``metadata_props['edge.detector']``, JSON: anchor layout,
normalisation, thresholds); it is validated against the model's input and outputs at load time.
"""
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from edge.config import check_fields, setting
from edge.detectors.boxes import iou, nms
from edge.detectors.ssd import decode as D
from edge.detectors.ssd.anchors import ssd_anchors
from edge.detectors.base import Detections, Detector
from edge.errors import InputError, UsageError
from edge.meta import DetectorMeta
from edge.preprocess import normalize
from edge.zoo import BLAZEFACE as ALIASES
from edge.zoo import BLAZEFACE_DIR

DEFAULT_GRID = (3, 2)  # tiles mode (a model that takes only its square): recall on 60–300 px faces at 1280x720
DEFAULT_SCALE = 0.4  # frame mode: a 60 px face is 24 px in the input (0.35 misses more small masked faces)
MODES = ("auto", "frame")
COARSE_SIDE = 128  # frame mode's first pass: the whole frame with its longer side at this (big faces)
REFINE_SIDE = 128  # frame mode's second-pass crops (tiles mode: the model's square)
SMALL_FACE = 24.0  # frame mode: a sure face narrower than this in the scaled frame gets a second pass
CONTAIN = 0.7  # across regions: a box 70 % inside a better one is part of the same face


def check_outputs(meta: DetectorMeta, regressors_shape: Sequence, scores_shape: Sequence, source: str,
                  input_wh: Optional[Tuple[int, int]] = None) -> None:
    """One clear error when the model's outputs do not match its anchor layout (for an input of
    ``input_wh``; default the square)."""
    n = meta.layout.anchors_in(input_wh)
    want_r, want_s = (n, meta.row_width), (n, 1)
    if tuple(regressors_shape[1:]) != want_r or tuple(scores_shape[1:]) != want_s:
        raise InputError("{}: expected outputs (N, {}, {}) and (N, {}, 1) for the anchor layout {} ({} anchors{}), "
                         "found {} and {}".format(source, n, meta.row_width, n, meta.layout.to_dict(), n,
                                                  "" if input_wh is None else " for a {}x{} input".format(*input_wh),
                                                  list(regressors_shape), list(scores_shape)))


def split_outputs(meta: DetectorMeta, outputs: Sequence[np.ndarray], source: str,
                  input_wh: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
    """Indices (regressors, scores) among a model's outputs, told apart by their last dimension
    (a TensorRT engine need not keep the ONNX output order); one clear error when they do not fit."""
    shapes = [tuple(o.shape) for o in outputs]
    if len(outputs) == 2:
        r, c = (1, 0) if shapes[0][-1:] == (1,) and shapes[1][-1:] != (1,) else (0, 1)
        check_outputs(meta, shapes[r], shapes[c], source, input_wh)
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
    metadata_props, engine sidecar) is validated against its input and outputs at load time.
    ``flexible``: the model also takes inputs of other sizes (multiples of ``layout.input_multiple``)."""

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
            m = self.meta.layout.input_multiple
            self.flexible = bool(m) and self.backend.accepts_hw((s, s + m))
            if self.flexible:  # the record says any multiple of m: check one that is not the square
                probe = (s + m, s)
                try:
                    outs = self.backend.run(np.zeros((1, 3, s, s + m), np.float32))
                except InputError:
                    raise
                except Exception as e:  # the runtime's own error type
                    raise InputError("{}: expected a model that takes a {}x{} input (layout input_multiple {}), "
                                     "found one that fails on it ({})".format(
                                         source, probe[0], probe[1], m, str(e).strip().splitlines()[0][:160])) from None
                split_outputs(self.meta, outs, source, probe)
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



MASKED = "face_detection_full_range_masked"  # the full-range model fine-tuned on masked faces (NOTICE)
MODELS = dict(ALIASES, masked=MASKED)  # alias → bundled file stem


def model_path(model: str) -> str:
    """'full' / 'short' / 'masked' / a bundled model name / a path → an existing .onnx path."""
    name = MODELS.get(model, model)
    bundled = os.path.join(BLAZEFACE_DIR, name + ".onnx")
    if os.path.isfile(bundled):
        return bundled
    if os.path.isfile(model):
        return model
    raise UsageError("unknown BlazeFace model '{}' (expected full, short, {}, or a path to a .onnx model or a "
                     ".engine built from one)".format(model, ", ".join(sorted(MODELS.values()))))


def parse_grid(grid: Any) -> Union[str, Tuple[int, int]]:
    """"auto" / "frame" / "3x2" / "3,2" / (3, 2) → "auto", "frame" or (cols, rows); "1x1" (or "0x0") is the
    model's square on the whole frame alone."""
    if isinstance(grid, str) and grid.strip().lower() in MODES:
        return grid.strip().lower()
    try:
        if isinstance(grid, str):
            grid = grid.lower().replace(",", "x").split("x")
        cols, rows = (int(v) for v in grid)
    except (TypeError, ValueError):
        raise UsageError("expected auto, frame, or a tile grid COLSxROWS such as 3x2 (1x1: no tiles), found "
                         "'{}'".format(grid)) from None
    if cols < 0 or rows < 0 or cols * rows > 15:
        raise UsageError("expected a tile grid (cols, rows) ≥ 0 with at most 15 tiles (the frame and its tiles "
                         "run as one batch of ≤ 16), found {}x{}".format(cols, rows))
    return cols, rows


class BlazeFaceDetector(Detector):
    """MediaPipe BlazeFace on the whole frame at its own aspect ratio ("frame" mode), or on the model's
    square plus a tile grid ("tiles" mode, for a model that takes only its square)."""

    name = "blazeface"

    def __init__(self, model: str = "masked", grid: Any = "auto", scale: float = DEFAULT_SCALE, overlap: float = 0.25,
                 score_threshold: Optional[float] = None, iou_threshold: Optional[float] = None,
                 candidate_threshold: float = 0.1, max_refine: int = 8, refine_context: float = 2.5,
                 backend: str = "auto", threads: int = 1, session: Optional[SsdSession] = None):
        """``model``: masked (the default: full range fine-tuned on masked faces), full, short, or a path (.onnx, .engine with its sidecar, .ts); ``grid``: "auto" (frame
        mode when the model takes any input size, else 3x2 tiles), "frame", or tiles as (cols, rows) /
        "3x2" ("1x1": the square alone); ``scale``: frame mode's resize of the frame (small faces must be
        ~20 px after it); ``backend``/``threads``: how the model runs."""
        grid = parse_grid(grid)
        if not 0 <= overlap < 1 or not 0 < scale <= 1:
            raise UsageError("expected a tile overlap in [0, 1) and a scale in (0, 1], found {} and {}".format(
                overlap, scale))
        self.session = session or SsdSession(model_path(model), {"backend": backend, "threads": threads})
        self.meta = self.session.meta
        if grid == "frame" and not self.session.flexible:
            raise UsageError("'{}' takes only its {s}x{s} input, not a whole frame; use a tile grid such as "
                             "3x2".format(self.session.path, s=self.meta.layout.input_size))
        self.grid = None if grid == "frame" or (grid == "auto" and self.session.flexible) else (
            DEFAULT_GRID if grid == "auto" else grid)  # None: frame mode
        self.scale = float(scale)
        self.overlap = float(overlap)
        self.score_threshold = self.meta.score_threshold if score_threshold is None else float(score_threshold)
        self.iou_threshold = self.meta.iou_threshold if iou_threshold is None else float(iou_threshold)
        self.interpolation = None  # cv2.INTER_LINEAR
        self.candidate_threshold = min(float(candidate_threshold), self.score_threshold)
        self.max_refine = int(max_refine)  # 0: no second pass
        self.refine_context = float(refine_context)
        self._anchors = {}  # input (w, h) → anchor centres
        # frame mode (measured in docs/DETECTORS.md): the coarse pass at 128 px still finds 650 px faces;
        # second-pass crops at 128 px; faces under 24 px in the scaled frame get their box from a crop
        square, m = self.meta.layout.input_size, self.meta.layout.input_multiple
        frame_mode = self.grid is None
        self.coarse_side = COARSE_SIDE
        self.refine_side = REFINE_SIDE if frame_mode and REFINE_SIDE % m == 0 else square
        self.small_face = SMALL_FACE if frame_mode else 0.0

    @classmethod
    def load(cls, model: str = "masked", options: Optional[Dict] = None, **kw) -> "BlazeFaceDetector":
        """``options``: ``backend`` (auto: by file type), ``threads`` (default 1: `edge run` shares the cores
        with capture and the classifier; alone on an idle 2-core machine 2 threads are ~1.45x faster) and
        ``providers`` (ONNX Runtime)."""
        options = dict({"threads": 1}, **(options or {}))
        grid = parse_grid(kw.pop("grid", "auto"))  # bad arguments fail before the model loads
        return cls(model, grid=grid, session=SsdSession(model_path(model), options), **kw)

    @property
    def mode(self) -> str:
        return "frame" if self.grid is None else "tiles"

    def passes(self, frame_wh: Tuple[int, int]) -> List[Tuple[Tuple[int, int], list]]:
        """The network passes for a frame: (input (w, h), regions (x, y, w, h)) each.

        Frame mode: the whole frame with its longer side at ``coarse_side`` (big faces), then the whole
        frame at ``scale`` (small faces), each at the frame's aspect ratio. Tiles mode: the
        model's square on the whole frame and on each tile, as one batch."""
        whole = (0, 0, int(frame_wh[0]), int(frame_wh[1]))
        layout = self.meta.layout
        if self.grid is None:
            fit = self.coarse_side / float(max(frame_wh))
            out = [(layout.input_for(frame_wh, fit), [whole])]
            return out + ([(layout.input_for(frame_wh, self.scale), [whole])] if self.scale > fit else [])
        square = (layout.input_size, layout.input_size)
        cols, rows = self.grid
        tiles = D.tile_grid(frame_wh, cols, rows, self.overlap) if cols * rows > 1 else []
        return [(square, [whole] + tiles)]

    def prepare(self, frame_bgr: np.ndarray, rois, size: Union[int, Tuple[int, int]]) -> Tuple[np.ndarray, list]:
        """The NCHW float32 batch of regions fitted into ``size`` (square side or (w, h)), and their Letterboxes."""
        boxes = [D.letterbox(r, size) for r in rois]
        imgs = np.stack([D.letterbox_image(frame_bgr, lb, self.interpolation) for lb in boxes])
        return normalize(imgs, self.meta), boxes  # the classifier's rule: channel order, mean/std

    def anchors(self, input_wh: Tuple[int, int]) -> np.ndarray:
        if input_wh not in self._anchors:
            self._anchors[input_wh] = ssd_anchors(self.meta.layout, input_wh)
        return self._anchors[input_wh]

    def region_faces(self, regressors: np.ndarray, logits: np.ndarray, lb: D.Letterbox,
                     threshold: float) -> Tuple[np.ndarray, np.ndarray]:
        """One region's outputs (A, 4+2K), (A, 1) → (boxes in frame pixels, scores) ≥ ``threshold``, after
        weighted NMS."""
        scores = D.sigmoid_scores(logits[:, 0])
        keep = np.flatnonzero(scores >= threshold)
        if not len(keep):
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        boxes, _ = D.decode_boxes(regressors[keep], self.anchors(lb.wh)[keep], lb.wh)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = nms(boxes[valid], scores[keep][valid], self.iou_threshold, weighted=True)
        return lb.to_frame(boxes), scores

    def run_passes(self, frame_bgr: np.ndarray, threshold: float) -> Detections:
        """Every pass of ``passes``, faces merged over regions (tiles drop faces cut by an inner edge)."""
        wh = (frame_bgr.shape[1], frame_bgr.shape[0])
        all_boxes, all_scores = [], []
        for size, rois in self.passes(wh):
            if not self.session.backend.accepts_hw(size[::-1]):
                raise UsageError("'{}' takes inputs from {} to {} (height, width); a {}x{} frame at scale {} needs "
                                 "{}x{}: lower --blazeface-scale or rebuild the engine with a larger --max-input".format(
                                     self.session.path, *self.session.backend.input_hw_range, wh[0], wh[1],
                                     self.scale, size[1], size[0]))
            batch, lbs = self.prepare(frame_bgr, rois, size)
            regressors, logits = self.session.run(batch)
            for i, lb in enumerate(lbs):
                boxes, scores = self.region_faces(regressors[i], logits[i], lb, threshold)
                if lb.roi[2:] != wh:  # a tile: drop faces cut by an inner edge
                    whole = ~D.touches_inner_edge(boxes, lb.roi, wh, margin=2.0)
                    boxes, scores = boxes[whole], scores[whole]
                all_boxes.append(boxes)
                all_scores.append(scores)
        return self.merge(all_boxes, all_scores, wh, weighted=True)

    def merge(self, boxes: list, scores: list, frame_wh: Tuple[int, int], weighted: bool) -> Detections:
        """One NMS over faces found by several regions or passes, clipped to the frame."""
        boxes, scores = nms(np.concatenate(boxes), np.concatenate(scores), self.iou_threshold,
                              weighted=weighted, contain_threshold=CONTAIN)
        fw, fh = frame_wh
        return Detections(np.clip(boxes, 0, [fw, fh, fw, fh]).astype(np.float32), scores)

    def refine(self, frame_bgr: np.ndarray, cands: Detections) -> Detections:
        """Second pass on a square around each doubtful candidate, where the face fills 40 % of the input:
        one scoring below the threshold stays if the model is now sure; a sure one that was small in the
        frame pass (under ``small_face`` input pixels: its box is loose) takes the box found there."""
        wh = (frame_bgr.shape[1], frame_bgr.shape[0])
        sure = cands.scores >= self.score_threshold
        small = sure & ((cands.boxes[:, 2] - cands.boxes[:, 0]) * self.scale < self.small_face) if \
            self.grid is None else np.zeros(len(cands), bool)
        check = np.flatnonzero(~sure | small)[:self.max_refine]
        keep = sure.copy()
        keep[check] = False
        if not len(check):
            return Detections(cands.boxes[keep], cands.scores[keep])
        rois = [D.square_around(cands.boxes[k], self.refine_context, wh) for k in check]
        batch, lbs = self.prepare(frame_bgr, rois, self.refine_side)
        regressors, logits = self.session.run(batch)
        boxes, scores = [cands.boxes[keep]], [cands.scores[keep]]
        for j, k in enumerate(check):
            found, conf = self.region_faces(regressors[j], logits[j], lbs[j], self.score_threshold)
            o = iou(cands.boxes[k], found) if len(found) else np.zeros(1, np.float32)
            best = int(np.argmax(o))
            if o[best] >= 0.3:
                boxes.append(found[best:best + 1])
                scores.append(np.maximum(conf[best:best + 1], cands.scores[k]))
            elif sure[k]:
                boxes.append(cands.boxes[k:k + 1])
                scores.append(cands.scores[k:k + 1])
        return self.merge(boxes, scores, wh, weighted=False)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise UsageError("expected a BGR uint8 frame (H, W, 3), found {} {}".format(
                frame_bgr.dtype, frame_bgr.shape))
        if not self.max_refine:
            return self.run_passes(frame_bgr, self.score_threshold)
        return self.refine(frame_bgr, self.run_passes(frame_bgr, self.candidate_threshold))

    def keypoints(self, frame_bgr: np.ndarray, box: Sequence[float], min_score: float = 0.3) -> Optional[np.ndarray]:
        """The face's 6 keypoints (float32 (6, 2) frame pixels: right eye, left eye, nose tip, mouth, right
        ear, left ear, as BlazeFace orders them) from the model's square on 2x the face ``box`` (xyxy): the
        score-weighted mean over the anchors that see the face (IoU ≥ 0.5 with the best one), or None when
        no anchor scores ``min_score``."""
        wh = (frame_bgr.shape[1], frame_bgr.shape[0])
        roi = D.square_around(box, 2.0, wh)
        batch, (lb,) = self.prepare(frame_bgr, [roi], self.meta.layout.input_size)
        regressors, logits = self.session.run(batch)
        scores = D.sigmoid_scores(logits[0, :, 0])
        keep = np.flatnonzero(scores >= min_score)
        if not len(keep):
            return None
        boxes, kps = D.decode_boxes(regressors[0][keep], self.anchors(lb.wh)[keep], lb.wh)
        boxes = lb.to_frame(boxes)
        best = int(np.argmax(iou(np.asarray(box, np.float32), boxes) * scores[keep]))
        near = iou(boxes[best], boxes) >= 0.5
        w = scores[keep][near]
        pts = lb.to_frame(kps[near].reshape(-1, 2)).reshape(-1, self.meta.num_keypoints, 2)
        return (pts * w[:, None, None]).sum(axis=0).astype(np.float32) / np.float32(w.sum())

    def info(self) -> Mapping[str, Any]:
        return {"detector": self.name, "model": self.meta.name, "path": self.session.path,
                "backend": self.session.backend.name, "device": self.session.device,
                "precision": self.session.backend.precision, "mode": self.mode,
                "grid": None if self.grid is None else list(self.grid), "scale": self.scale,
                "overlap": self.overlap, "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold, "candidate_threshold": self.candidate_threshold,
                "max_refine": self.max_refine, "refine_side": self.refine_side, "small_face": self.small_face}

    def close(self) -> None:
        self.session.close()


@dataclass
class BlazeFaceOptions:
    """``[blazeface]`` of a run config: BlazeFaceDetector's keyword options (``edge run --blazeface-*``)."""

    model: str = setting("masked", "--blazeface-model", "BlazeFace model: masked (default: full range fine-tuned "
                                                        "on masked faces), full (MediaPipe's 192 px, as "
                                                        "published), short (128 px), or a .onnx path or a "
                                                        "TensorRT .engine built from one (`edge export --engine`).")
    grid: str = setting("auto", "--blazeface-grid", "BlazeFace strategy for small faces: frame (the whole frame at "
                                                    "--blazeface-scale, one pass, plus a 128 px pass for big "
                                                    "faces), COLSxROWS (the model's square on the whole frame plus "
                                                    "that many tiles, one batch; 1x1: no tiles), or auto: frame "
                                                    "when the model takes any input size, else 3x2.")
    scale: float = setting(DEFAULT_SCALE, "--blazeface-scale", "BlazeFace frame mode: resize the frame by this "
                                                               "(0–1]; faces narrower than ~20 px after it are "
                                                               "missed (50 px at 0.4); 0.35 is 15 % cheaper but "
                                                               "misses more small masked faces.")

    def __post_init__(self):
        check_fields(self, [(0 < self.scale <= 1, "scale", "a number in (0, 1]")],
                     section=BlazeFaceDetector.name + ".")


def config_options(cfg) -> Dict[str, Any]:
    """The keyword options from a run config: its ``[blazeface]`` section, and ``threads`` (``--threads``)."""
    return dict(asdict(cfg.blazeface), threads=cfg.threads)


DETECTOR = BlazeFaceDetector
