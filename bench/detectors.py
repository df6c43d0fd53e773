#!/usr/bin/env python
"""Haar vs BlazeFace, side by side on a 1280x720 video of real moving faces, some with drawn masks.

    python bench/detectors.py                                  # 120 frames, the default line-up
    python bench/detectors.py --frames 60 --only haar blazeface:full:3x2 --save-video /tmp/faces.mp4
    python bench/detectors.py --families --only haar blazeface:full:auto blazeface:masked:auto mediapipe

``--families`` (issue 13): every models/masks family (and the light-pink dotted cloth) on 12 real faces,
40-300 px, 3 a frame on 8 real backgrounds, with bare faces and hard negatives; the held-out families x
held-out people figure first (HELD_PEOPLE, every other family); ``mediapipe`` is MediaPipe's own detector
in its side venv (bench/mediapipe_peer.py); ``--split tune`` scores the tuning people and families only.

The video is synthesised, deterministically: real portraits that ship in packages (scikit-image
astronaut, matplotlib grace_hopper, the face_recognition sdist's test photos, fetched once with
``pip download --no-deps --no-binary :all: face_recognition``) are cut out around their face, scaled
so the face is 60–300 px wide, masked (``models.facemask.draw_mask``, plain colours and insightface's
mask textures when that sdist is fetched) on alternate tracks, and moved over real backgrounds. Ground
truth: each portrait's face box, checked by eye (``SOURCES``), carried through the same transform.

Per detector: recall at IoU >= 0.4 for masked and unmasked faces (and by face width), false positives
per 100 frames, time per frame (edge.timing.summarize). ``--range 01`` feeds BlazeFace [0, 1] input
instead of its [-1, 1] to show why the normalisation matters.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edge.bench.detectors import match  # noqa: E402  (the one matcher: edge bench-detectors scores with it too)
from edge.detectors.base import Detections  # noqa: E402

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "edge", "bench")
FRAME_WH = (1280, 720)
# face box (x, y, w, h) in each source photo: Haar's box on the unmasked photo, checked by eye
# (brow to chin, ear to ear); ``crop`` is the cut-out around it, in face widths.
SOURCES = {
    "astronaut": {"box": (177, 66, 95, 95), "crop": 1.6},
    "grace_hopper": {"box": (155, 105, 222, 222), "crop": 1.5},
    "obama": {"box": (342, 95, 300, 300), "crop": 1.6},
    "obama2": {"box": (139, 243, 343, 343), "crop": 1.35},
    "obama3": {"box": (630, 255, 331, 331), "crop": 1.6},
    "biden": {"box": (433, 211, 314, 314), "crop": 1.6},
}
HAAR = "haarcascade_frontalface_default.xml"
# whole frame as MediaPipe publishes it; tiles mode (the model's square + tiles, then the second pass: for
# square-only models); frame mode (the whole frame at its aspect ratio) at scale 0.4 without the second pass,
# at 0.35, and the default ("auto": frame mode at 0.4 for the bundled models)
DEFAULT_LINEUP = ["haar", "blazeface:short:0x0::0", "blazeface:full:0x0:0.6:0", "blazeface:full:2x1",
                  "blazeface:full:3x2", "blazeface:full:frame@0.4::0", "blazeface:full:frame@0.35",
                  "blazeface:full:auto"]


def sdist(name, cache=CACHE):
    """Unpacked sdist folder of ``name`` in the cache (fetched with pip once), or None without network."""
    os.makedirs(cache, exist_ok=True)
    found = glob.glob(os.path.join(cache, name + "-*", ""))
    if found:
        return found[0]
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                        "-d", cache, name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tars = glob.glob(os.path.join(cache, name + "-*.tar.gz"))
    if r.returncode or not tars:
        return None
    with tarfile.open(tars[0]) as t:
        t.extractall(cache)
    return glob.glob(os.path.join(cache, name + "-*", ""))[0]


def load_sources(cache=CACHE):
    """{name: (BGR photo, face box)} for every source available, and the mask textures found."""
    import cv2
    import matplotlib.cbook
    from skimage import data

    photos = {"astronaut": cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
              "grace_hopper": cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))}
    fr = sdist("face_recognition", cache)
    if fr:
        for n in ("obama", "obama2", "obama3", "biden"):
            photos[n] = cv2.imread(os.path.join(fr, "tests", "test_images", n + ".jpg"))
    ins = sdist("insightface", cache)
    textures = [cv2.imread(p) for p in sorted(glob.glob(os.path.join(ins, "insightface", "data", "images",
                                                                   "mask_*.jpg")))] if ins else []
    return {n: (img, SOURCES[n]["box"], SOURCES[n]["crop"]) for n, img in photos.items()}, textures


def backgrounds(extra=False):
    """Real backgrounds at 1280x720: coffee, rocket, brick, grass (``extra``: and a cat, a motorcycle, a
    clock, a page of text, for false positives)."""
    import cv2
    from skimage import data

    out = []
    more = (data.chelsea(), data.stereo_motorcycle()[0], data.clock(), data.page()) if extra else ()
    for img in (data.coffee(), data.rocket(), data.brick(), data.grass()) + more:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        out.append(cv2.resize(img, FRAME_WH, interpolation=cv2.INTER_LINEAR))
    return out


def sprite(photo, box, crop, face_w, masked, mask_seed, texture):
    """(BGR patch, alpha, face box in the patch) of the face scaled to ``face_w`` px, mask drawn if asked."""
    import cv2

    from models.facemask import COLOURS_BGR, draw_mask

    x, y, w, h = box
    if masked:
        rng = np.random.default_rng(mask_seed)
        photo = draw_mask(photo, box, rng, colour=COLOURS_BGR[mask_seed % len(COLOURS_BGR)], texture=texture)
    side = int(w * crop)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    pad = side
    big = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    cut = big[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    k = face_w / float(w)
    n = max(8, int(round(side * k)))
    patch = cv2.resize(cut, (n, n), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n - 0.5
    alpha = np.clip((0.5 - np.sqrt(xx ** 2 + yy ** 2)) / 0.08, 0, 1)[..., None]  # soft disc
    fb = ((x - x0) * k, (y - y0) * k, w * k, h * k)
    return patch, alpha, fb


def paste(frame, patch, alpha, fb, top_left):
    """Blend a ``sprite`` into ``frame`` (in place) with its top-left corner at ``top_left``, clipped at the
    frame border; the face's xyxy box in the frame (float32), or None when the sprite lies outside."""
    px, py = top_left
    n = patch.shape[0]
    x0, y0, x1, y1 = max(px, 0), max(py, 0), min(px + n, frame.shape[1]), min(py + n, frame.shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    a = alpha[y0 - py:y1 - py, x0 - px:x1 - px]
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (a * patch[y0 - py:y1 - py, x0 - px:x1 - px] + (1 - a) * roi).astype(np.uint8)
    return np.array([px + fb[0], py + fb[1], px + fb[0] + fb[2], py + fb[1] + fb[3]], np.float32)


def make_frames(sources, textures, n_frames, seed=0, tracks=4):
    """Yield (BGR 1280x720 frame, [(xyxy ground-truth box, masked)]) for ``n_frames`` frames.

    ``tracks`` faces, one per vertical lane; each sweeps 60→300→60 px wide at its own phase, bobs up
    and down, and alternates masked/unmasked every quarter of the video (so each identity is seen both
    ways)."""
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    bgs = backgrounds()
    lane = FRAME_WH[0] / float(tracks)
    phases = rng.uniform(0, 1, tracks)
    for t in range(n_frames):
        frame = bgs[(t * len(bgs)) // n_frames].copy()
        truth = []
        for i in range(tracks):
            u = t / float(max(n_frames, 1))
            face_w = 60 + 240 * (0.5 - 0.5 * np.cos(2 * np.pi * (u * 1.5 + phases[i])))
            name = names[(i + (t * 4) // max(n_frames, 1)) % len(names)]
            masked = (i + (t * 4) // max(n_frames, 1)) % 2 == 0
            photo, box, crop = sources[name]
            texture = textures[i % len(textures)] if textures and i % 2 else None
            patch, alpha, fb = sprite(photo, box, crop, face_w, masked, 100 + i, texture)
            cx = lane * (i + 0.5) + 0.15 * lane * np.sin(2 * np.pi * (u * 2 + phases[i]))
            cy = FRAME_WH[1] / 2.0 + (FRAME_WH[1] / 2.0 - face_w / 2.0 - 10) * np.sin(2 * np.pi * (u + phases[i]))
            cx = float(np.clip(cx, face_w / 2 + 10, FRAME_WH[0] - face_w / 2 - 10))  # face box in frame
            fx, fy = cx - fb[2] / 2, cy - fb[3] / 2  # face top-left in the frame
            gt = paste(frame, patch, alpha, fb, (int(round(fx - fb[0])), int(round(fy - fb[1]))))
            if gt is not None:
                truth.append((gt, masked))
        yield frame, truth


def still_frames(sources, textures, widths=(64, 80, 100)):
    """Yield (BGR 1280x720 frame, [(xyxy ground-truth box, masked)]): one face per frame at the centre of
    each background, every portrait at each of ``widths``, masked (a texture on every other background)
    and not — the small faces where detectors differ most, without motion."""
    bgs = backgrounds()
    for name in sorted(sources):
        photo, box, crop = sources[name]
        for b, bg in enumerate(bgs):
            for face_w in widths:
                for masked in (True, False):
                    texture = textures[1 % len(textures)] if textures and masked and b % 2 else None
                    patch, alpha, fb = sprite(photo, box, crop, face_w, masked, 101, texture)
                    frame, n = bg.copy(), patch.shape[0]
                    gt = paste(frame, patch, alpha, fb, (700 - n // 2, 360 - n // 2))
                    yield frame, [(gt, masked)]


# --- mask families on real faces (issue 13): every family at 40-300 px, held-out families and people ---------
# one identity per side (the three obama photos are one person); faces of insightface's t1.jpg group photo
TUNE_PEOPLE = ("obama", "obama2", "obama3", "t1_0", "t1_1", "t1_2")
HELD_PEOPLE = ("astronaut", "grace_hopper", "biden", "t1_3", "t1_4", "t1_5")
# until models.masks lands: plain colours (BGR) and the known failure, light-pink dotted cloth
FALLBACK_FAMILIES = {"surgical_blue": (235, 200, 150), "white": (245, 245, 245), "black": (40, 40, 40),
                     "sky_blue": (235, 206, 135), "green": (60, 140, 60), "light_pink_dots": (203, 192, 255),
                     "beige": (160, 200, 225), "brown": (45, 80, 130)}


def cast(cache=CACHE):
    """{name: (BGR photo, face box (x, y, w, h), crop, keypoints (6, 2))}: the SOURCES portraits and the six
    faces of insightface's t1.jpg (box: BlazeFace's on the unmasked photo); keypoints: BlazeFace's on the
    unmasked photo, placing the masks."""
    import cv2

    from edge.detectors.blazeface import BlazeFaceDetector

    sources, _ = load_sources(cache)
    out = {}
    det = BlazeFaceDetector.load("full")
    for name, (img, box, crop) in sources.items():
        x, y, w, h = box
        out[name] = (img, box, crop, det.keypoints(img, (x, y, x + w, y + h)))
    ins = sdist("insightface", cache)
    if ins:
        img = cv2.imread(os.path.join(ins, "insightface", "data", "images", "t1.jpg"))
        dets = det.detect(img)
        for i, b in enumerate(sorted(dets.boxes.tolist())):  # left to right
            box = tuple(int(round(v)) for v in (b[0], b[1], b[2] - b[0], b[3] - b[1]))
            out["t1_{}".format(i)] = (img, box, 1.35, det.keypoints(img, b))
    det.close()
    return out


PINK_DOTS = "pink_dots"  # the known failure: light-pink dotted cloth (drawn as patterned)
GROUPS = ("skin", "dark", "light", "chromatic")


def families():
    """(family names, held-out family names): models.masks' FAMILIES (every other one held out: kn95,
    n95_valve, patterned, gaiter) plus PINK_DOTS, and its NEGATIVES; before models.masks lands,
    FALLBACK_FAMILIES and no negatives."""
    try:
        import models.masks as masks
        masks.FAMILIES, masks.draw_mask
    except (ImportError, AttributeError):  # not there yet (or half-written)
        names = sorted(FALLBACK_FAMILIES)
        return names, names[1::2], []
    names = list(masks.FAMILIES)
    held = list(getattr(masks, "HELD_OUT_FAMILIES", None) or names[1::2])
    if "patterned" in names:
        names.append(PINK_DOTS)
        held += [PINK_DOTS] if "patterned" in held else []
    return names, held, list(masks.NEGATIVES)


def polka(colour, dot, size=(240, 160), step=22, radius=5):
    import cv2

    tex = np.empty((size[1], size[0], 3), np.uint8)
    tex[:] = colour
    for yy in range(step // 2, size[1], step):
        for xx in range((yy // step % 2) * step // 2, size[0], step):
            cv2.circle(tex, (xx, yy), radius, dot, -1, cv2.LINE_AA)
    return tex


def draw_family(photo, box, keypoints, family, rng, group=None):
    """(``photo`` with a mask of ``family`` on the face, its colour group): models.masks.draw_mask placed by
    the keypoints (``group``: its colour_group; ``neg:KIND``: a hard negative, no mask); before that lands,
    models.facemask.draw_mask in the family's colour."""
    try:
        from models.masks import draw_mask, draw_negative
    except ImportError:  # models.masks not there yet
        from models.facemask import draw_mask as old

        c = FALLBACK_FAMILIES[family]
        tex = polka(c, tuple(int(v * 0.55) for v in c)) if family.endswith("_dots") else None
        return old(photo, box, rng, colour=c, texture=tex), None
    if family.startswith("neg:"):
        return draw_negative(photo, keypoints, family[4:], rng)[0], None
    if family == PINK_DOTS:
        out, info = draw_mask(photo, keypoints, "patterned", rng, colour="light_pink", pattern="dots")
    else:
        out, info = draw_mask(photo, keypoints, family, rng, **({"colour_group": group} if group else {}))
    return out, info.get("colour_group")


def cut(photo, box, crop, face_w):
    """(BGR patch, alpha, face box (x, y, w, h) in the patch): the face of ``box`` cut out with ``crop`` face
    widths around it, scaled so the face is ``face_w`` px wide, on a soft disc."""
    import cv2

    x, y, w, h = box
    side = int(w * crop)
    x0, y0 = int(round(x + w / 2.0 - side / 2)), int(round(y + h / 2.0 - side / 2))
    big = cv2.copyMakeBorder(photo, side, side, side, side, cv2.BORDER_REPLICATE)
    k = face_w / float(w)
    n = max(8, int(round(side * k)))
    patch = cv2.resize(big[y0 + side:y0 + 2 * side, x0 + side:x0 + 2 * side], (n, n),
                       interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n - 0.5
    alpha = np.clip((0.5 - np.sqrt(xx ** 2 + yy ** 2)) / 0.08, 0, 1)[..., None]
    return patch, alpha, ((x - x0) * k, (y - y0) * k, w * k, h * k)


def family_faces(people, names, per_family=36, bare=72, seed=0, negatives=()):
    """[(person, family or None, colour group or None)]: ``per_family`` faces of every family (people taken in
    turn, colour groups too: skin-toned masks in every family), ``bare`` unmasked ones and ``bare // 2`` hard
    negatives (``neg:KIND``, unmasked faces), shuffled."""
    rng = np.random.default_rng(seed)
    who = sorted(people)
    items = [(who[(i + j) % len(who)], f, None if f == PINK_DOTS else GROUPS[i % len(GROUPS)])
             for j, f in enumerate(names) for i in range(per_family)]
    items += [(who[i % len(who)], None, None) for i in range(bare)]
    if negatives:
        items += [(who[i % len(who)], "neg:" + negatives[i % len(negatives)], None) for i in range(bare // 2)]
    return [items[i] for i in rng.permutation(len(items))]


def family_frames(people, items, seed=0, per_frame=3, sizes=(40, 300), transform=None, bare=False):
    """Yield (BGR 1280x720 frame, [(xyxy ground truth, family or None, person, face width, colour group)]): ``per_frame``
    faces a frame from ``items``, each 40-300 px wide (log-uniform), masked, at a random free place on a
    real background. ``transform(patch, alpha, fb, rng) -> (patch, alpha, fb)`` alters each face (robustness);
    ``bare``: the same frames with no masks drawn (what a detector should see through them)."""
    rng = np.random.default_rng(seed)
    bgs = backgrounds(extra=True)
    for start in range(0, len(items), per_frame):
        frame = bgs[(start // per_frame) % len(bgs)].copy()
        truth, taken = [], []
        for person, family, group in items[start:start + per_frame]:
            photo, box, crop, kps = people[person]
            mask_rng = np.random.default_rng(rng.integers(1 << 31))  # drawn either way: ``bare`` keeps the places
            if family is not None and not bare:
                photo, group = draw_family(photo, box, kps, family, mask_rng, group)
            face_w = float(np.exp(rng.uniform(np.log(sizes[0]), np.log(sizes[1]))))
            patch, alpha, fb = cut(photo, box, crop, face_w)
            if transform is not None:
                patch, alpha, fb = transform(patch, alpha, fb, rng)
            for _ in range(50):  # a place whose face box (with a margin) overlaps no other
                fx = rng.uniform(5, FRAME_WH[0] - fb[2] - 5)
                fy = rng.uniform(5, FRAME_WH[1] - fb[3] - 5)
                r = (fx - 0.3 * fb[2], fy - 0.3 * fb[3], fx + 1.3 * fb[2], fy + 1.3 * fb[3])
                if all(r[2] < t[0] or r[0] > t[2] or r[3] < t[1] or r[1] > t[3] for t in taken):
                    break
            else:
                continue
            gt = paste(frame, patch, alpha, fb, (int(round(fx - fb[0])), int(round(fy - fb[1]))))
            taken.append(r)
            truth.append((gt, family, person, fb[2], group))
        yield frame, truth


def score_families(dets_per_frame, frames, held):
    """Recall per family, colour group, bare and hard negative; false positives per 100 frames; held-out
    summaries first. Matched as ``match`` (IoU >= 0.4, one to one). ``held``: (held-out people, held-out
    families); a ``neg:KIND`` face is an unmasked face (recall counts it with ``negatives``)."""
    rows, fps = [], 0
    for dets, (frame, truth) in zip(dets_per_frame, frames):
        hits, extra = match(np.asarray(dets, np.float32).reshape(-1, 4), [{"box": t[0]} for t in truth])
        fps += extra
        rows += [(t[1], t[2], t[3], t[4], h) for t, h in zip(truth, hits)]
    people, fams = held
    masked = [r for r in rows if r[0] is not None and not r[0].startswith("neg:")]

    def rate(sel):
        sel = list(sel)
        return (round(float(np.mean(sel)), 4) if sel else None), len(sel)

    out = {"held_out_masked": rate(r[4] for r in masked if r[0] in fams and r[1] in people),
           "held_out_bare": rate(r[4] for r in rows if r[0] is None and r[1] in people),
           "fp_per_100_frames": round(100.0 * fps / max(len(frames), 1), 2), "frames": len(frames),
           "masked": rate(r[4] for r in masked), "bare": rate(r[4] for r in rows if r[0] is None),
           "negatives": rate(r[4] for r in rows if r[0] and r[0].startswith("neg:")),
           "tuning_masked": rate(r[4] for r in masked if r[0] not in fams and r[1] not in people)}
    out["families"] = {f: rate(r[4] for r in masked if r[0] == f)[0] for f in sorted({r[0] for r in masked})}
    out["colour_groups"] = {g: rate(r[4] for r in masked if r[3] == g)[0] for g in sorted({r[3] for r in masked
                                                                                             if r[3]})}
    out["worst_family"] = min(out["families"].items(), key=lambda kv: kv[1]) if out["families"] else None
    bins = [40, 60, 90, 140, 200, 301]
    out["masked_by_width"] = {"{}-{}".format(lo, hi - 1): rate(r[4] for r in masked if lo <= r[2] < hi)[0]
                              for lo, hi in zip(bins[:-1], bins[1:])}
    return out


def make_detector(spec, input_range="11", threads=1):
    """'haar' or 'blazeface:<full|short>:<grid>[:<score threshold>[:<max refine>[:<candidate threshold>]]]'
    with grid <cols>x<rows> (tiles mode), auto, or frame[@<scale>] (empty fields: the detector's defaults)
    → (frame → Detections, close)."""
    import cv2

    if spec == "haar":
        cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, HAAR))

        def haar(frame):
            boxes = cascade.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(40, 40))
            return Detections.from_xywh(boxes)
        return haar, lambda: None
    from edge.detectors.blazeface import BlazeFaceDetector

    parts = spec.split(":")
    model, grid = parts[1], parts[2]
    kw = {}
    for i, (key, cast) in enumerate((("score_threshold", float), ("max_refine", int),
                                     ("candidate_threshold", float)), 3):
        if len(parts) > i and parts[i]:
            kw[key] = cast(parts[i])
    grid, _, scale = grid.partition("@")
    if scale:
        kw["scale"] = float(scale)
    det = BlazeFaceDetector.load(model, options={"threads": threads}, grid=grid, **kw)
    if input_range == "01":  # the wrong normalisation, for comparison: x = pixel / 255
        det.meta = det.meta._replace(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return det.detect, det.close


def evaluate(spec, frames, input_range="11", threads=1, still=False):
    import time

    from edge.timing import summarize

    detect, close = make_detector(spec, input_range, threads)
    detect(frames[0][0])  # warm-up
    times, cpu, fps = [], [], 0
    found = {True: [], False: []}
    widths = {True: [], False: []}
    for frame, truth in frames:
        t0, c0 = time.perf_counter(), time.process_time()
        dets = detect(frame)
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        hits, extra = match(dets.boxes, [{"box": gt} for gt, _ in truth])
        fps += extra
        for (gt, masked), hit in zip(truth, hits):
            found[masked].append(hit)
            widths[masked].append(float(gt[2] - gt[0]))
    close()
    bins = [60, 70, 90, 101] if still else [60, 90, 120, 180, 240, 301]
    by_width = {}
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = [h for m in (True, False) for h, w in zip(found[m], widths[m]) if lo <= w < hi]
        by_width["{}-{}".format(lo, hi - 1)] = round(float(np.mean(sel)), 4) if sel else None
    return {"detector": spec if spec == "haar" or threads == 1 else "{} t{}".format(spec, threads),
            "input_range": input_range, "ort_threads": threads,
            "recall_masked": round(float(np.mean(found[True])), 4), "n_masked": len(found[True]),
            "recall_unmasked": round(float(np.mean(found[False])), 4), "n_unmasked": len(found[False]),
            "fp_per_100_frames": round(100.0 * fps / len(frames), 2), "recall_by_width": by_width,
            "ms": {k: round(v, 2) for k, v in summarize(times).items() if k in ("mean", "p50", "p95", "max")},
            "cpu_ms_mean": round(float(np.mean(cpu)), 2)}


def f3(v):
    return "-" if v is None else "{:.3f}".format(v)


FAMILY_LINEUP = ["haar", "blazeface:full:auto", "blazeface:full:3x2", "mediapipe"]


def detect_all(spec, frames, threads=1):
    """(boxes per frame, wall ms, CPU ms per frame) of detector ``spec`` (``mediapipe``: the side venv's peer,
    bench/mediapipe_peer.py; None without it)."""
    import time

    if spec.startswith("mediapipe"):
        from bench.mediapipe_peer import run_peer

        got = run_peer([f for f, _ in frames], model_selection=int(spec.partition(":")[2] or 1))
        if got is None:
            return None
        rows, version = got
        return [r[0] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    detect, close = make_detector(spec, "11", threads)
    detect(frames[0][0])
    boxes, ms, cpu = [], [], []
    for frame, _ in frames:
        t0, c0 = time.perf_counter(), time.process_time()
        boxes.append(detect(frame).boxes)
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    close()
    return boxes, ms, cpu


def run_families(specs, per_family=36, bare=72, seed=0, threads=1, json_path=None, split="all"):
    """Every detector of ``specs`` on the same mask-family frames; prints the table, returns the results.
    ``split="tune"``: the tuning people and families only (for choosing thresholds without the held-out)."""
    from edge.timing import summarize

    people = cast()
    names, held_fams, negatives = families()
    if split == "tune":
        people = {p: v for p, v in people.items() if p in TUNE_PEOPLE}
        names = [f for f in names if f not in held_fams]
    held = ([p for p in HELD_PEOPLE if p in people], held_fams)
    frames = list(family_frames(people, family_faces(people, names, per_family, bare, seed, negatives), seed))
    print("{} frames 1280x720: {} people ({} held out), {} mask families ({} held out: {})".format(
        len(frames), len(people), len(held[0]), len(names), len(held_fams), ", ".join(held_fams)))
    results = []
    for spec in specs:
        got = detect_all(spec, frames, threads)
        if got is None:
            print("{}: skipped (no side venv: python3 -m venv .venv-mediapipe && .venv-mediapipe/bin/pip install "
                  "mediapipe==0.10.14)".format(spec))
            continue
        r = dict(score_families(got[0], frames, held), detector=spec, seed=seed,
                 ms={k: round(v, 2) for k, v in summarize(got[1]).items() if k in ("mean", "p50", "p95")},
                 cpu_ms_mean=round(float(np.mean(got[2])), 2))
        results.append(r)
    print("{:24s} {:>9s} {:>7s} {:>7s} {:>6s} {:>6s} {:>6s} {:>7s} {:>6s}".format(
        "detector", "held-out", "h.bare", "masked", "bare", "negs", "tuning", "FP/100f", "ms"))
    for r in results:
        print("{:24s} {:>9s} {:>7s} {:>7s} {:>6s} {:>6s} {:>6s} {:>7.1f} {:>6.1f}".format(
            r["detector"], *[f3(r[k][0]) for k in ("held_out_masked", "held_out_bare", "masked", "bare", "negatives",
                                                   "tuning_masked")], r["fp_per_100_frames"], r["ms"]["mean"]))
        print("    families: {}".format(" ".join("{}:{}".format(k, v) for k, v in r["families"].items())))
        print("    colour groups: {}  by width: {}".format(r["colour_groups"], r["masked_by_width"]))
    if results:
        print("faces: {} masked ({} held-out families x people), {} bare, {} hard negatives".format(
            results[0]["masked"][1], results[0]["held_out_masked"][1], results[0]["bare"][1],
            results[0]["negatives"][1]))
    if json_path:
        with open(json_path, "a") as f:
            for r in results:
                f.write(json.dumps(dict(r, held_out_people=held[0], held_out_families=held[1])) + "\n")
    return results


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in results:
        bins = list(r["recall_by_width"])
        ax.plot(bins, [r["recall_by_width"][b] for b in bins], marker="o",
                label="{} ({:.0f} ms)".format(r["detector"] + ("" if r["input_range"] == "11" else " [0,1]"),
                                             r["ms"]["mean"]))
    ax.set(xlabel="face width in a 1280x720 frame (px)", ylabel="recall at IoU >= 0.4 (masked + unmasked)",
           ylim=(0, 1.02), title="Face detectors on moving real faces, half masked")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=120, help="frames in the video (default 120)")
    ap.add_argument("--seed", type=int, default=1, help="video seed (thresholds were tuned on seed 0)")
    ap.add_argument("--only", nargs="+", default=DEFAULT_LINEUP, help="detectors: haar, blazeface:full:3x2, ...")
    ap.add_argument("--range", dest="input_range", choices=("11", "01", "both"), default="11",
                    help="BlazeFace input range: 11 = [-1, 1] (MediaPipe's), 01 = [0, 1], both")
    ap.add_argument("--threads", type=int, default=0, help="cv2.setNumThreads for Haar (0: OpenCV default: "
                                                           "every core)")
    ap.add_argument("--ort-threads", type=int, nargs="+", default=[1],
                    help="ONNX Runtime intra-op threads for BlazeFace; several (1 2): each detector per count, "
                         "labelled tN (2: the cores Haar uses)")
    ap.add_argument("--still", action="store_true",
                    help="instead of the video: still frames of one face each, 64/80/100 px, masked and not, "
                         "on each background (every portrait x 4 backgrounds x 3 widths x 2)")
    ap.add_argument("--save-video", help="write the test video (with ground truth) to this .mp4 path")
    ap.add_argument("--json", help="append results as JSON lines to this path")
    ap.add_argument("--plot", help="save recall by face width per detector to this .png")
    ap.add_argument("--families", action="store_true",
                    help="instead of the video: every mask family (models.masks) on real faces 40-300 px, 3 a "
                         "frame; held-out families and people reported first; 'mediapipe' is the peer")
    ap.add_argument("--per-family", type=int, default=36, help="--families: faces of each family (default 36)")
    ap.add_argument("--split", choices=("all", "tune"), default="all",
                    help="--families: all people and families, or the tuning ones only (to choose thresholds)")
    args = ap.parse_args()
    import cv2
    from tqdm import tqdm

    if args.families:
        run_families(args.only if args.only != DEFAULT_LINEUP else FAMILY_LINEUP, args.per_family,
                     2 * args.per_family, args.seed, args.ort_threads[0], args.json, args.split)
        return

    if args.threads:
        cv2.setNumThreads(args.threads)
    sources, textures = load_sources()
    print("sources: {} portraits ({}), {} mask textures".format(len(sources), ", ".join(sorted(sources)),
                                                                len(textures)))
    if args.still:
        frames = list(still_frames(sources, textures))
    else:
        frames = list(tqdm(make_frames(sources, textures, args.frames, seed=args.seed), total=args.frames,
                           desc="frames"))
    if args.save_video:
        out = cv2.VideoWriter(args.save_video, cv2.VideoWriter_fourcc(*"mp4v"), 15, FRAME_WH)
        for frame, truth in frames:
            f = frame.copy()
            for gt, masked in truth:
                cv2.rectangle(f, tuple(int(v) for v in gt[:2]), tuple(int(v) for v in gt[2:]),
                              (0, 200, 0) if masked else (0, 0, 255), 2)
            out.write(f)
        out.release()
    ranges = ("11", "01") if args.input_range == "both" else (args.input_range,)
    results = []
    for spec in tqdm(args.only, desc="detectors"):
        for rng in (ranges if spec != "haar" else ("11",)):
            for threads in (args.ort_threads if spec != "haar" else (1,)):
                results.append(evaluate(spec, frames, rng, threads, args.still))
    base = next((r["ms"]["mean"] for r in results if r["detector"] == "haar"), None)
    cbase = next((r["cpu_ms_mean"] for r in results if r["detector"] == "haar"), None)
    print("{:26s} {:>5s} {:>7s} {:>8s} {:>7s} {:>7s} {:>7s} {:>7s} {:>7s}  recall by face width".format(
        "detector", "range", "masked", "unmasked", "FP/100f", "ms", "vs haar", "cpu ms", "vs haar"))
    for r in results:
        ratio = "{:.3f}".format(r["ms"]["mean"] / base) if base else "-"
        cratio = "{:.3f}".format(r["cpu_ms_mean"] / cbase) if cbase else "-"
        print("{:26s} {:>5s} {:>7.3f} {:>8.3f} {:>7.1f} {:>7.1f} {:>7s} {:>7.1f} {:>7s}  {}".format(
            r["detector"], r["input_range"], r["recall_masked"], r["recall_unmasked"], r["fp_per_100_frames"],
            r["ms"]["mean"], ratio, r["cpu_ms_mean"], cratio,
            " ".join("{}:{}".format(k, v) for k, v in r["recall_by_width"].items())))
    print("{} {}frames 1280x720, {} masked + {} unmasked faces".format(
        len(frames), "still " if args.still else "", results[0]["n_masked"], results[0]["n_unmasked"]))
    if args.plot:
        plot(results, args.plot)
    if args.json:
        with open(args.json, "a") as f:
            for r in results:
                f.write(json.dumps(dict(r, frames=len(frames))) + "\n")


if __name__ == "__main__":
    main()
