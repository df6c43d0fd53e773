#!/usr/bin/env python
"""Haar vs BlazeFace, side by side on a 1280x720 video of real moving faces, some with drawn masks.

    python bench/detectors.py                                  # 120 frames, the default line-up
    python bench/detectors.py --frames 60 --only haar blazeface:full:3x2 --save-video /tmp/faces.mp4

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


def backgrounds():
    import cv2
    from skimage import data

    out = []
    for img in (data.coffee(), data.rocket(), data.brick(), data.grass()):
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
    args = ap.parse_args()
    import cv2
    from tqdm import tqdm

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
