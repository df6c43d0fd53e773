"""Training data: an ImageFolder read into memory, a face-aware split, augmentation with numpy/cv2.

Images are resized to the model's input size exactly as the device does it (``edge.preprocess.resize_to_input``:
area interpolation for a shrink beyond 2×) and normalised by ``edge.preprocess.normalize`` from the model's
``ModelMeta``, so training sees what inference sees. Augmentation (training split only): horizontal
flip, random resized crop (scale 0.75–1), brightness/contrast/saturation jitter, sometimes grey; optionally a low-resolution look (``low_res``).
"""
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from edge.errors import InputError, UsageError
from edge.imagefolder import ImageFolder, Sample, read_image, scan, split
from edge.meta import ModelMeta
from edge.preprocess import normalize, resize_to_input

SPLITS = ("train", "val", "test")
EXTRA_SPLITS = ("test_in",)  # leave-style-out folders: the test people wearing training families


def check_fractions(val: float, test: float) -> Tuple[float, float, float]:
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise UsageError("expected --val and --test fractions in [0, 1) that sum below 1, found {} and {}".format(
            val, test))
    return (1.0 - val - test, val, test)


def load_splits(root: str, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0,
                need: Sequence[str] = SPLITS) -> Tuple[ImageFolder, Dict[str, List[Sample]]]:
    """Scan ``root`` and split it; each split in ``need`` must hold images of every class.

    A folder with a manifest and held-out families (``edge data synth``) is split leave-style-out
    (``models.protocol``): people disjoint, the held-out families only in ``test``, and a ``test_in``
    split of the test people wearing training families."""
    from models.protocol import read_holdout, read_manifest, split_styles

    folder = scan(root)
    if fractions is None:  # the whole folder is one evaluation set
        return folder, {"all": list(folder.samples)}
    people = split(folder, fractions, seed)
    manifest = read_manifest(root)
    holdout = read_holdout(root) if manifest is not None else ()
    parts = split_styles(folder, people, manifest, holdout) if holdout else dict(zip(SPLITS, people))
    for name in need:
        present = {s.label for s in parts[name]}
        if len(present) < len(folder.classes):
            missing = [c for i, c in enumerate(folder.classes) if i not in present]
            raise InputError("expected every class in the {} split of '{}', found no '{}' images there "
                             "({} groups per class are too few for fractions {})".format(
                                 name, root, missing[0], _min_groups(folder), [round(f, 3) for f in fractions]))
    return folder, parts


def _min_groups(folder: ImageFolder) -> int:
    return min(len({s.group for s in folder.samples if s.label == i}) for i in range(len(folder.classes)))


def describe(root: str, fractions: Sequence[float], seed: int) -> Dict:
    folder, parts = load_splits(root, fractions, seed, need=())
    return {"root": root, "classes": list(folder.classes), "counts": folder.counts(),
            "splits": {k: {"images": {c: sum(1 for s in v if s.label == i) for i, c in enumerate(folder.classes)},
                           "groups": len({s.group for s in v})} for k, v in parts.items()}}


def load_images(samples: Sequence[Sample], input_size: Sequence[int], progress: bool = False) -> np.ndarray:
    """N×H×W×3 uint8 BGR, each image resized to ``input_size`` (h, w) as ``edge.preprocess`` does."""
    from tqdm import tqdm

    h, w = input_size
    out = np.empty((len(samples), h, w, 3), np.uint8)
    for i, s in enumerate(tqdm(samples, desc="load", unit="img", disable=not progress, leave=False)):
        out[i] = resize_to_input(read_image(s.path), h, w)
    return out


@dataclass(frozen=True)
class Augment:
    """Random training-time changes; all probabilities/ranges are per image."""

    flip: float = 0.5  # probability of a horizontal flip
    scale: Tuple[float, float] = (0.75, 1.0)  # area fraction of the random resized crop
    ratio: Tuple[float, float] = (0.85, 1.18)  # aspect ratio range of that crop
    brightness: float = 0.25  # ± fraction
    contrast: float = 0.25
    saturation: float = 0.25
    grey: float = 0.2  # probability of turning the image grey (grey cameras; most LFW faces are grey)
    low_res: float = 0.0  # probability of a small-face look: shrink to 30–70 % of the side, then back (off:
    #                       see docs/COMPRESSION.md, "Small faces")

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        if rng.uniform() < self.flip:
            img = img[:, ::-1]
        area = h * w * rng.uniform(*self.scale)
        ar = np.exp(rng.uniform(*np.log(self.ratio)))
        ch, cw = min(h, int(round(np.sqrt(area / ar)))), min(w, int(round(np.sqrt(area * ar))))
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        img = cv2.resize(np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw]), (w, h), interpolation=cv2.INTER_LINEAR)
        if self.low_res > 0 and rng.uniform() < self.low_res:  # a distant face: few pixels, upscaled
            f = rng.uniform(0.3, 0.7)
            small = cv2.resize(img, (max(int(w * f), 8), max(int(h * f), 8)), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        x = img.astype(np.float32)
        x *= rng.uniform(1 - self.brightness, 1 + self.brightness)
        mean = x.mean()
        x = (x - mean) * rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
        grey = x @ np.array([0.114, 0.587, 0.299], np.float32)
        s = 0.0 if rng.uniform() < self.grey else rng.uniform(1 - self.saturation, 1 + self.saturation)
        x = grey[..., None] + (x - grey[..., None]) * s
        return np.clip(x, 0, 255).astype(np.uint8)


class ImageDataset(torch.utils.data.Dataset):
    """Images held in memory (uint8) → (normalised CHW float tensor, label); augmented if ``augment``."""

    def __init__(self, images: np.ndarray, labels: Sequence[int], meta: ModelMeta,
                 augment: Optional[Augment] = None, seed: int = 0):
        self.images = images
        self.labels = torch.as_tensor(np.asarray(labels, np.int64))
        self.meta = meta
        self.augment = augment
        self.rng = np.random.default_rng(seed)  # one stream, used in order (num_workers=0): reproducible

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        if self.augment is not None:
            img = self.augment(img, self.rng)
        return torch.from_numpy(normalize(img[None], self.meta)[0]), self.labels[i]

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The whole set, normalised, without augmentation (for evaluation)."""
        return torch.from_numpy(normalize(self.images, self.meta)), self.labels


class Splits(NamedTuple):
    folder: ImageFolder
    samples: Dict[str, List[Sample]]
    train: ImageDataset
    val: ImageDataset
    test: ImageDataset

    def summary(self) -> Dict:
        """Provenance record: the folder, its classes and counts, and the split sizes."""
        return {"path": self.folder.root, "classes": list(self.folder.classes), "counts": self.folder.counts(),
                "split_sizes": {k: len(v) for k, v in self.samples.items()}}


def build_splits(root: str, meta: ModelMeta, fractions: Sequence[float], seed: int,
                 augment: Optional[Augment] = Augment(), progress: bool = True) -> Splits:
    """Read and split ``root`` for a model with ``meta``; the data's classes must be the model's labels."""
    folder, parts = load_splits(root, fractions, seed)
    check_labels(meta, folder, root)
    sets = {}
    for k in SPLITS:
        imgs = load_images(parts[k], meta.input_size, progress)
        sets[k] = ImageDataset(imgs, [s.label for s in parts[k]], meta,
                               augment if k == "train" else None, seed)
    return Splits(folder, parts, sets["train"], sets["val"], sets["test"])


def check_labels(meta: ModelMeta, folder: ImageFolder, root: str) -> None:
    if tuple(meta.labels) != tuple(folder.classes):
        raise InputError("model labels {} do not match the class folders of '{}' {}".format(
            list(meta.labels), root, list(folder.classes)))
