#!/usr/bin/env python3
"""Build the bundled sample video: real faces from package-shipped photos moving over a 1280×720 scene,
some wearing masks drawn by ``models.facemask.draw_mask``, with the ground truth written beside it.

    python scripts/make_sample_video.py edge/data/sample.mp4 --photos /path/to/face_recognition/tests/test_images

writes ``sample.mp4`` (H.264 through ``open_writer``: the best encoder this machine has, faststart MP4) and
``sample.json``: {"width", "height", "fps", "frames": [{"frame": i, "faces":
[{"id", "box": [x1, y1, x2, y2], "label": "with_mask" | "without_mask"}]}]}. Photos: scikit-image's
astronaut and matplotlib's Grace Hopper always; ``--photos DIR`` adds every photo in DIR where Haar finds
exactly one face (the bundled sample adds biden.jpg and obama.jpg from the face_recognition sdist:
``pip download --no-deps --no-binary :all: face_recognition``).

    python scripts/make_sample_video.py edge/data/sample.mp4 --reencode old.mp4

re-encodes an existing sample frame for frame (same size, rate and count; sample.json stays valid) with
REENCODE below: x264 at constant quality, a key frame every second, the index first (a browser plays it,
``decodebin`` picks avdec_h264 or a Jetson's nvv4l2decoder). This is how the bundled MPEG-4 sample became H.264.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from edge.files import atomic_path, write_atomic  # noqa: E402

HAAR = "haarcascade_frontalface_default.xml"
REENCODE = ("filesrc location={src} ! decodebin ! videoconvert ! video/x-raw, format=I420 ! x264enc pass=qual "
            "quantizer={quality} speed-preset=slow bframes=0 key-int-max={gop} ! video/x-h264, profile=high ! "
            "h264parse ! mp4mux faststart=true ! filesink location={dst}")


def open_writer(*args, **kwargs):
    """``edge.outputs.encoders.open_writer`` (``edge.events.encoders`` before the outputs package had it)."""
    try:
        from edge.outputs.encoders import open_writer as writer
    except ImportError:
        from edge.events.encoders import open_writer as writer
    return writer(*args, **kwargs)


def reencode(src, dst, quality=23, gop=None):
    """``src`` → H.264 MP4 ``dst`` through GStreamer, every frame kept; a key frame every ``gop`` frames
    (default: one a second). Returns the frame count read back with OpenCV."""
    import cv2

    from edge.sources.gst import gst
    from edge.sources.pipelines import quote

    Gst = gst()
    fps = cv2.VideoCapture(src).get(cv2.CAP_PROP_FPS) or 15
    with atomic_path(dst, mode=0o644) as tmp:
        pipeline = Gst.parse_launch(REENCODE.format(src=quote(src), dst=quote(tmp), quality=quality,
                                                    gop=gop or int(round(fps))))
        pipeline.set_state(Gst.State.PLAYING)
        msg = pipeline.get_bus().timed_pop_filtered(300 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        pipeline.set_state(Gst.State.NULL)
        if msg is None or msg.type == Gst.MessageType.ERROR:
            raise RuntimeError("re-encoding {} failed: {}".format(src, msg.parse_error()[0].message if msg else
                                                                 "no end of stream within 300 s"))
    cap = cv2.VideoCapture(dst)
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def find_face(img):
    """(x, y, w, h) of the one face Haar finds in a photo, or None."""
    import cv2

    from edge.detectors.haar import cascade_path

    cascade = cv2.CascadeClassifier(cascade_path(HAAR))
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    boxes = cascade.detectMultiScale(grey, 1.1, 5, minSize=(max(60, min(grey.shape) // 8),) * 2)
    return tuple(int(v) for v in boxes[0]) if len(boxes) == 1 else None


def package_photos(extra_dir=None):
    """[(name, BGR photo, face box)] from installed packages, plus photos in ``extra_dir``."""
    import cv2
    import matplotlib.cbook
    from skimage import data

    photos = [("astronaut", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)),
              ("grace_hopper", cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                                                asfileobj=False))))]
    for path in sorted(glob.glob(os.path.join(extra_dir, "*.jpg"))) if extra_dir else []:
        img = cv2.imread(path)
        if img is not None:
            photos.append((os.path.splitext(os.path.basename(path))[0], img))
    out = []
    for name, img in photos:
        box = find_face(img)
        if box is not None:
            out.append((name, img, box))
    return out


def head_patch(img, box, face_w, masked, rng):
    """A square head crop scaled so the face box is ``face_w`` wide → (patch, alpha, face box in patch)."""
    import cv2

    import importlib.util  # models/facemask.py alone: the models package imports torch (host only)

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "facemask.py")
    spec = importlib.util.spec_from_file_location("facemask", path)
    facemask = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(facemask)
    draw_mask = facemask.draw_mask

    if masked:
        img = draw_mask(img, box, rng)
    x, y, w, h = box
    side = int(w * 1.8)
    cx, cy = x + w // 2, y + h // 2 + int(0.08 * h)
    pad = side
    big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = big[cy - side // 2 + pad:cy + side // 2 + pad, cx - side // 2 + pad:cx + side // 2 + pad]
    s = face_w / float(w)
    size = int(round(crop.shape[0] * s))
    patch = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((size, size), np.float32)
    cv2.ellipse(alpha, (size // 2, size // 2), (int(size * 0.40), int(size * 0.48)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), size * 0.04)[..., None]
    fx = (x - (cx - side // 2)) * s
    fy = (y - (cy - side // 2)) * s
    return patch, alpha, (fx, fy, w * s, h * s)


def background(width, height, rng):
    import cv2

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    bg = np.stack([90 + 60 * xx / width, 110 + 40 * yy / height, 130 - 50 * xx / width], -1)
    for _ in range(6):  # a few soft shapes, like furniture out of focus
        c = tuple(int(v) for v in rng.integers(40, 200, 3))
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.rectangle(bg, p1, (p1[0] + int(rng.integers(80, 300)), p1[1] + int(rng.integers(60, 200))), c, -1)
    return cv2.GaussianBlur(bg, (0, 0), 9).astype(np.float32)


def make_video(path, photos, width=1280, height=720, fps=15, seconds=10.0, face_w=150, masked_every=2,
               seed=0, codec="mp4v", bitrate_kbps=1500):
    """Write the video and its ground truth (``<path without suffix>.json``); return the truth dict.
    ``codec`` "h264": through ``open_writer`` (GStreamer's best H.264 encoder); else an OpenCV FOURCC.

    Face ``i`` moves in its own vertical slot (so faces never overlap); faces with odd ``i`` (every
    ``masked_every``-th) wear a mask."""
    import cv2

    rng = np.random.default_rng(seed)
    n = len(photos)
    heads = []
    for i, (name, img, box) in enumerate(photos):
        masked = masked_every > 0 and i % masked_every == masked_every - 1
        patch, alpha, fbox = head_patch(img, box, face_w, masked, rng)
        heads.append((name, patch, alpha, fbox, "with_mask" if masked else "without_mask"))
    bg = background(width, height, rng)
    slot = width / float(n)
    frames = int(round(seconds * fps))
    truth = {"width": width, "height": height, "fps": fps, "photos": [h[0] for h in heads], "frames": []}
    with atomic_path(path, mode=0o644) as tmp:
        if codec == "h264":
            writer = H264Frames(open_writer(tmp, width, height, fps, bitrate_kbps=bitrate_kbps), fps)
        else:
            writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*codec), fps, (width, height))
        if codec != "h264" and not writer.isOpened():
            raise RuntimeError("OpenCV cannot write {} video to {}".format(codec, path))
        for f in range(frames):
            t = f / float(fps)
            frame = bg.copy()
            faces = []
            for i, (name, patch, alpha, (fx, fy, fw, fh), label) in enumerate(heads):
                size = patch.shape[0]
                cx = slot * (i + 0.5) + (slot / 2 - size / 2) * 0.6 * np.sin(0.9 * t + 1.7 * i)
                cy = height / 2 + (height / 2 - size / 2) * 0.85 * np.sin(0.6 * t + 2.3 * i)
                x0, y0 = int(round(cx - size / 2)), int(round(cy - size / 2))
                xa, ya = max(x0, 0), max(y0, 0)
                xb, yb = min(x0 + size, width), min(y0 + size, height)
                p = patch[ya - y0:yb - y0, xa - x0:xb - x0].astype(np.float32)
                a = alpha[ya - y0:yb - y0, xa - x0:xb - x0]
                frame[ya:yb, xa:xb] = frame[ya:yb, xa:xb] * (1 - a) + p * a
                faces.append({"id": i, "name": name, "label": label,
                              "box": [round(x0 + fx, 1), round(y0 + fy, 1), round(x0 + fx + fw, 1),
                                      round(y0 + fy + fh, 1)]})
            writer.write(np.clip(frame, 0, 255).astype(np.uint8))
            truth["frames"].append({"frame": f, "faces": faces})
        writer.release()
    write_atomic(os.path.splitext(path)[0] + ".json", json.dumps(truth))
    return truth


class H264Frames:
    """``open_writer``'s writer behind cv2.VideoWriter's ``write``/``release``, frames at a constant rate."""

    def __init__(self, writer, fps):
        self.writer, self.fps, self.n = writer, fps, 0

    def write(self, bgr):
        self.writer.write(bgr, self.n / float(self.fps))
        self.n += 1

    def release(self):
        self.writer.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="edge/data/sample.mp4", help="video path (.mp4)")
    ap.add_argument("--photos", help="a folder with more face photos (*.jpg), e.g. face_recognition's test_images")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--face-width", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--codec", default="h264", help="h264 (GStreamer, faststart) or an OpenCV FOURCC (mp4v)")
    ap.add_argument("--bitrate", type=int, default=1500, help="H.264 kbit/s when writing frames")
    ap.add_argument("--reencode", metavar="SRC", help="re-encode the video SRC (frame for frame) instead")
    ap.add_argument("--quality", type=int, default=23, help="x264 quantizer for --reencode (lower: better)")
    args = ap.parse_args(argv)
    if args.reencode:
        n = reencode(args.reencode, args.out, args.quality)
        print("wrote {} ({} frames, {:.2f} MB, H.264)".format(args.out, n, os.path.getsize(args.out) / 2 ** 20))
        return
    photos = package_photos(args.photos)
    truth = make_video(args.out, photos, fps=args.fps, seconds=args.seconds, face_w=args.face_width, seed=args.seed,
                       codec=args.codec, bitrate_kbps=args.bitrate)
    print("wrote {} ({} frames, {:.1f} MB; faces: {}) and its ground truth".format(
        args.out, len(truth["frames"]), os.path.getsize(args.out) / 2 ** 20, ", ".join(
            "{} ({})".format(f["name"], f["label"]) for f in truth["frames"][0]["faces"])))


if __name__ == "__main__":
    main()
