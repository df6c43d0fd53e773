"""``edge data synth OUT``: a two-class face-mask dataset built from real face photos that ship in packages.

Sources (all real photographs of faces):

* scikit-image: ``data.astronaut()`` and the first 100 images of ``data.lfw_subset()`` (25×25 grey LFW faces);
* matplotlib: ``sample_data/grace_hopper.jpg``;
* sdists fetched with ``pip download --no-deps --no-binary :all:`` into a cache (never committed):
  ``face_recognition`` (``tests/test_images/``: Obama, Biden) and ``insightface``
  (``data/images/``: a group photo, Tom Hanks, and the ``mask_*.jpg`` textures).

Faces are found with OpenCV's Haar cascade (LFW images are already face crops), BlazeFace's 6
keypoints are found on each (``models.landmarks``), and every variant is turned (head roll), cropped
with a random margin and passed through camera effects (``models.variants``).
``without_mask/<face>__p<k>.jpg`` is the bare face or a hard negative (hand, phone, beard, scarf,
microphone, mask under the chin); ``with_mask/<face>__m<k>.jpg`` wears a mask of one family
(``models.masks.draw_mask``, placed by the keypoints). ``MANIFEST.csv`` records each image's person,
style and camera effects; ``<face>`` names the person, so a group-aware split keeps each person in
one split, and ``models.protocol`` holds whole mask families out of training.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from edge.errors import InputError, UsageError
from models.facemask import COLOURS_BGR, draw_mask
from models.variants import DEFAULT_HOLDOUT, MANIFEST_COLUMNS, camera, face_region, mask_family, negative_kind, pick_style

MANIFEST = "MANIFEST.csv"

HAAR = "haarcascade_frontalface_default.xml"
SDISTS = {"face_recognition": "1.3.0", "insightface": "2.1"}
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "edge", "sources")
# photo file → person (several photos of one person share a group)
FACE_RECOGNITION_PEOPLE = {"obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama",
                           "32bit.png": "obama", "biden.jpg": "biden"}
INSIGHTFACE_PEOPLE = {"t1.jpg": "t1", "Tom_Hanks_54745.png": "tom_hanks"}


class Face(NamedTuple):
    person: str  # group key: every crop of this person stays in one split
    image: np.ndarray  # BGR uint8 photo
    box: Tuple[int, int, int, int]  # x, y, w, h of the face
    grey: bool  # the photo is greyscale: its outputs stay greyscale
    source: str  # where the photo came from


# ---------------------------------------------------------------- sources

def detect_faces(img: np.ndarray, min_rel: float = 0.5) -> List[Tuple[int, int, int, int]]:
    """Haar boxes at least ``min_rel`` times the largest one's width (drops small false positives)."""
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, HAAR))
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    boxes = cascade.detectMultiScale(grey, 1.1, 5, minSize=(40, 40))
    if len(boxes) == 0:
        return []
    biggest = max(int(b[2]) for b in boxes)
    return [tuple(int(v) for v in b) for b in sorted(boxes.tolist()) if b[2] >= min_rel * biggest]


def package_photos() -> Iterator[Tuple[str, str, np.ndarray]]:
    """(person, source, BGR photo) from scikit-image and matplotlib (always installed on the host)."""
    import matplotlib.cbook
    from skimage import data

    yield "astronaut", "scikit-image data.astronaut", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    yield "grace_hopper", "matplotlib sample_data/grace_hopper.jpg", cv2.imread(str(path))


def lfw_faces(n: int = 100, size: int = 112) -> Iterator[Face]:
    """The first ``n`` (≤ 100) LFW faces of scikit-image, upscaled; the whole image is the face."""
    from skimage import data

    faces = data.lfw_subset()[:min(n, 100)]  # images 100+ are non-faces
    for i, f in enumerate(faces):
        img = cv2.resize((f * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
        box = (0, -int(0.05 * size), size, size)  # LFW crops start at the brow: shift so the mask sits below the eyes
        yield Face("lfw{:03d}".format(i), cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), box, True,
                   "scikit-image data.lfw_subset() (LFW faces, 25x25 grey)")


def fetch_sdists(cache: str, quiet: bool = True) -> Dict[str, str]:
    """Paths of the cached sdists, downloading missing ones with pip; missing ones are skipped on failure."""
    os.makedirs(cache, exist_ok=True)
    found = {}
    for name, version in SDISTS.items():
        path = os.path.join(cache, "{}-{}.tar.gz".format(name, version))
        if not os.path.exists(path):
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "-d", cache, "{}=={}".format(name, version)]
            try:
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None,
                               timeout=300, check=False)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if os.path.exists(path):
            found[name] = path
    return found


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Optional[np.ndarray]:
    buf = np.frombuffer(tar.extractfile(member).read(), np.uint8)
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def sdist_images(path: str, folder: str) -> Iterator[Tuple[str, np.ndarray]]:
    """(file name, BGR image) of the images under ``folder`` inside an sdist tarball."""
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if m.isfile() and "/{}/".format(folder) in m.name and m.name.lower().endswith((".jpg", ".png")):
                img = _read_member(tar, m)
                if img is not None:
                    yield os.path.basename(m.name), img


def collect_faces(cache: Optional[str] = DEFAULT_CACHE, fetch: bool = True,
                  lfw: int = 100) -> Tuple[List[Face], List[np.ndarray]]:
    """All source faces and the mask textures (BGR) found; works offline with the installed packages."""
    faces = list(lfw_faces(lfw))
    photos = [(p, s, img, 0) for p, s, img in package_photos()]
    textures = []
    sdists = fetch_sdists(cache) if (fetch and cache) else {}
    if "face_recognition" in sdists:
        for name, img in sdist_images(sdists["face_recognition"], "test_images"):
            if name in FACE_RECOGNITION_PEOPLE:
                photos.append((FACE_RECOGNITION_PEOPLE[name], "face_recognition sdist tests/test_images/" + name,
                               img, 0))
    if "insightface" in sdists:
        for name, img in sdist_images(sdists["insightface"], "images"):
            if name.startswith("mask_"):
                textures.append(img)
            elif name in INSIGHTFACE_PEOPLE:
                photos.append((INSIGHTFACE_PEOPLE[name], "insightface sdist data/images/" + name, img,
                               1 if name == "t1.jpg" else 0))
    for person, source, img, many in photos:
        boxes = detect_faces(img)
        if not many:
            boxes = sorted(boxes, key=lambda b: -b[2])[:1]
        for k, box in enumerate(boxes):
            faces.append(Face(person + ("-{}".format(k) if many else ""), img, box, False, source))
    return faces, textures


# ---------------------------------------------------------------- textures and crops

def procedural_texture(kind: str, rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A fabric-like BGR texture: ``stripes``, ``dots``, ``plaid`` or ``noise``."""
    base = np.array(COLOURS_BGR[rng.integers(len(COLOURS_BGR))], np.float32)
    other = rng.integers(0, 256, 3).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = rng.uniform(6, 16)
    if kind == "stripes":
        sel = (np.sin((xx * rng.uniform(-1, 1) + yy) * 2 * np.pi / period) > 0)
    elif kind == "dots":
        sel = ((xx % period - period / 2) ** 2 + (yy % period - period / 2) ** 2) < (period / 4) ** 2
    elif kind == "plaid":
        sel = ((xx % period) < period / 3) ^ ((yy % period) < period / 3)
    else:  # noise: a mottled cloth
        n = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 2)
        sel = n > 0
    img = np.where(sel[..., None], other, base)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


TEXTURE_KINDS = ("stripes", "dots", "plaid", "noise")


def random_mask(img: np.ndarray, box: Sequence[int], rng: np.random.Generator,
                textures: Sequence[np.ndarray]) -> np.ndarray:
    """``img`` with a mask of random shape (box proportions), colour or texture drawn on the face."""
    x, y, w, h = box
    # shape variety: a wider/narrower, higher/lower, slightly shifted mask
    sw, sh = rng.uniform(0.9, 1.12), rng.uniform(0.92, 1.1)
    shape_box = (int(x + w * (1 - sw) / 2 + rng.uniform(-0.04, 0.04) * w), int(y + rng.uniform(-0.04, 0.05) * h),
                 max(int(w * sw), 2), max(int(h * sh), 2))
    pick = rng.uniform()
    if pick < 0.45:
        colour = tuple(int(v) for v in COLOURS_BGR[rng.integers(len(COLOURS_BGR))])
        return draw_mask(img, shape_box, rng, colour=colour)
    if pick < 0.6:
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        return draw_mask(img, shape_box, rng, colour=colour)
    if textures and pick < 0.8:
        return draw_mask(img, shape_box, rng, texture=textures[rng.integers(len(textures))])
    kind = TEXTURE_KINDS[rng.integers(len(TEXTURE_KINDS))]
    return draw_mask(img, shape_box, rng, texture=procedural_texture(kind, rng))


def crop_face(img: np.ndarray, box: Sequence[int], rng: np.random.Generator, size: int) -> np.ndarray:
    """A square crop around ``box`` with a random margin (10–35 %) and shift, padded at borders, resized."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * rng.uniform(0.10, 0.35))
    cx = x + w / 2 + rng.uniform(-0.06, 0.06) * w
    cy = y + h / 2 + rng.uniform(-0.04, 0.08) * h
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    pad = max(0, -x0, -y0, x0 + s - img.shape[1], y0 + s - img.shape[0])
    if pad:
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = img[y0:y0 + s, x0:x0 + s]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_CUBIC)


# ---------------------------------------------------------------- writer

def synthesize(out: str, per_face: int = 8, size: int = 128, seed: int = 0, cache: Optional[str] = DEFAULT_CACHE,
               fetch: bool = True, lfw: int = 100, force: bool = False, progress: bool = True,
               colour_factor: int = 3, holdout: Sequence[str] = DEFAULT_HOLDOUT) -> Dict:
    """Write ``out/with_mask`` and ``out/without_mask`` plus ``out/SOURCES.json``; returns the manifest.

    Colour faces are rare next to the 100 grey LFW faces, so each gets ``colour_factor`` × ``per_face``
    variants per class.

    The folder appears complete or not at all (written to a temporary sibling, then renamed).
    """
    if per_face < 1 or size < 16 or not 0 <= lfw <= 100 or colour_factor < 1:
        raise UsageError("expected --per-face ≥ 1, --size ≥ 16, 0 ≤ --lfw ≤ 100 and --colour-factor ≥ 1, found "
                         "{}, {}, {}, {}".format(per_face, size, lfw, colour_factor))
    from models.masks import FAMILIES, NEGATIVES

    unknown = [h for h in holdout if h not in FAMILIES]
    if unknown or len(set(holdout)) >= len(FAMILIES):
        raise UsageError("expected --holdout mask families from {} (not all of them), found {}".format(
            ", ".join(FAMILIES), ", ".join(holdout)))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and not force:
        raise InputError("'{}' already exists and is not empty; choose a new folder or pass --force to "
                         "replace it".format(out))
    faces, textures = collect_faces(cache, fetch, lfw)
    if not faces:
        raise InputError("found no faces in the package photos (is scikit-image installed?)")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".synth-")
    try:
        counts = _write_all(tmp, faces, textures, per_face, colour_factor, size, seed, progress, tuple(holdout))
        manifest = {
            "generator": "edge data synth", "seed": seed, "per_face": per_face, "colour_factor": colour_factor,
            "size": size,
            "counts": counts, "people": len({f.person for f in faces}), "faces": len(faces),
            "mask_textures": {"insightface": len(textures), "procedural": list(TEXTURE_KINDS)},
            "sources": sorted({f.source for f in faces}),
            "families": list(FAMILIES), "negatives": list(NEGATIVES),
            "holdout": list(holdout), "manifest": MANIFEST,
            "protocol": "leave-style-out: test people wear only the held-out families; train/val people only "
                        "the others (models/protocol.py)",
            "note": "real face photos; the with_mask class is synthetic (masks drawn at BlazeFace keypoints), "
                    "not photographed masks; LFW faces are 25x25 grey originals, upscaled",
        }
        with open(os.path.join(tmp, "SOURCES.json"), "w") as f:
            json.dump(manifest, f, indent=2)
        if os.path.exists(out):
            shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return manifest


def _write_all(root, faces, textures, per_face, colour_factor, size, seed, progress, holdout=DEFAULT_HOLDOUT):
    """Every image, and MANIFEST.csv: one row per image (person, style, colour, camera effects)."""
    import csv

    from tqdm import tqdm

    from models.landmarks import face_keypoints
    from models.masks import draw_mask, draw_negative

    counts = {"with_mask": 0, "without_mask": 0}
    for cls in counts:
        os.makedirs(os.path.join(root, cls))
    rng = np.random.default_rng(seed)
    seen, rows = {}, []
    for face in tqdm(faces, desc="synth", unit="face", disable=not progress):
        n = per_face if face.grey else per_face * colour_factor
        n_mask = n + n // 2  # a third wear held-out families: training keeps about n masked per n bare
        k0 = seen.get(face.person, 0)  # several photos of one person: keep variant names unique
        seen[face.person] = k0 + n_mask
        kp, kp_source, _ = face_keypoints(face.image, face.box)
        src_px = 25.0 if face.grey else float(face.box[2])  # LFW faces are 25 px originals, upscaled
        for k in range(k0, k0 + n_mask):
            for cls, tag in (("without_mask", "p"), ("with_mask", "m"))[0 if k - k0 < n else 1:]:
                roll = float(rng.uniform(-25, 25)) if rng.uniform() < 0.5 else 0.0
                region, box, kpr = face_region(face.image, face.box, kp, roll)
                if cls == "with_mask":
                    fam = mask_family(face.person, k, holdout)
                    tex = textures[rng.integers(len(textures))] if textures and rng.uniform() < 0.1 else None
                    style = pick_style(rng)
                    if tex is not None:
                        style["texture"] = tex
                    region, info = draw_mask(region, kpr, fam, rng, **style)
                else:
                    neg = negative_kind(face.person, k, rng)
                    info = {"kind": "bare", "family": "bare"}
                    if neg is not None:
                        region, info = draw_negative(region, kpr, neg, rng)
                crop = crop_face(region, box, rng, size)
                crop, cam = camera(crop, rng, min(src_px, size / 1.45))
                if face.grey:
                    crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
                name = "{}__{}{:02d}.jpg".format(face.person, tag, k)
                cv2.imwrite(os.path.join(root, cls, name), crop, [cv2.IMWRITE_JPEG_QUALITY, cam["jpeg"]])
                counts[cls] += 1
                rows.append(dict({c: info.get(c, "") for c in MANIFEST_COLUMNS}, **cam, file=cls + "/" + name,
                                 label=cls, person=face.person, roll=round(roll, 1), grey=int(face.grey),
                                 kp_source=kp_source, source=face.source, yaw=info.get("yaw", "")))
    with open(os.path.join(root, MANIFEST), "w", newline="") as f:
        w = csv.DictWriter(f, MANIFEST_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return counts
