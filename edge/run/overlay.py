"""Drawing on frames: boxes coloured by class with label and score, and an FPS/latency banner."""
from typing import Optional, Sequence, Tuple

import numpy as np

from edge.run.results import FACE, Faces

# BGR; class 0 green, class 1 red, … — for the mask model: with_mask green, without_mask red.
PALETTE = ((60, 200, 60), (40, 40, 230), (230, 160, 40), (40, 200, 230), (200, 60, 200), (160, 160, 160))
KNOWN = {"with_mask": PALETTE[0], "without_mask": PALETTE[1], "mask_weared_incorrect": PALETTE[3]}


def class_colour(label: str, labels: Sequence[str]) -> Tuple[int, int, int]:
    if label in KNOWN:
        return KNOWN[label]
    i = list(labels).index(label) if label in labels else len(PALETTE) - 1
    return PALETTE[i % len(PALETTE)]


def caption(label: str, score: Optional[float]) -> str:
    """``label 97%``; the label alone where the score is unknown (None or NaN: a box the tracker moved)."""
    return label if score is None or score != score else "{} {:.0%}".format(label, score)


def banner_text(fps: float, total_ms: float, faces: int, dropped: int = 0, noun: str = "face") -> str:
    text = "{:.1f} FPS  {:.1f} ms/frame  {} {}{}".format(fps, total_ms, faces, noun, "" if faces == 1 else "s")
    return text + ("  {} dropped".format(dropped) if dropped else "")


def draw(frame: np.ndarray, faces: Faces, labels: Sequence[str] = (), banner: str = "") -> np.ndarray:
    """Draw ``faces`` in place on ``frame`` (BGR), coloured by class among ``labels`` (then the detector's
    ``faces.class_names``), and return it. A box's caption: its label and probability; a box not classified
    by an object detector: its detector class and score; a face not classified: a grey box, no caption."""
    import cv2

    h = frame.shape[0]
    thick = max(1, h // 360)
    font = 0.5 * max(1.0, h / 720.0)
    named = faces.labels is not None and faces.probs is not None
    if named:
        texts, values = faces.labels, faces.probs
    elif faces.class_names != FACE:
        texts, values, named = faces.classes(), faces.scores, True
    palette = list(labels) + [c for c in faces.class_names if c not in labels]
    for i, box in enumerate(faces.boxes):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        colour = class_colour(texts[i], palette) if named else PALETTE[-1]
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, 2 * thick)
        if not named:
            continue
        text = caption(texts[i], None if values is None else float(values[i]))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        ty = y1 - 4 if y1 - th - base - 4 >= 0 else y2 + th + 4
        cv2.rectangle(frame, (x1, ty - th - base), (x1 + tw + 4, ty + base), colour, -1)
        cv2.putText(frame, text, (x1 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick, cv2.LINE_AA)
    if banner:
        (tw, th), base = cv2.getTextSize(banner, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        cv2.rectangle(frame, (0, 0), (tw + 12, th + base + 12), (0, 0, 0), -1)
        cv2.putText(frame, banner, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick, cv2.LINE_AA)
    return frame
