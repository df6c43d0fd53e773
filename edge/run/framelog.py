"""Per-frame JSONL log and the run summary (stage percentiles via ``edge.timing``).

One line per frame::

    {"frame": 12, "t_capture": 1700000000.123, "ms": {"capture_wait": 0.4, "detect": 9.1, "preprocess": 0.3,
     "infer": 1.2, "postprocess": 0.1, "output": 1.5, "total": 12.6}, "faces": 2, "ids": [0, 1],
     "boxes": [[x1, y1, x2, y2], …], "labels": ["with_mask", …], "scores": [0.97, …], "fps": 41.7,
     "dropped": 0, "corrupt": 0}

With an object detector (classes other than "face", edge.detectors.yolo) a ``"classes": ["person", …]`` key
after ``boxes`` gives the detector's class of each box; ``labels`` and ``scores`` are then the classifier's
top-1 where it ran (``--classify-classes``) and the detector's class and score elsewhere (``--model none``:
everywhere). The summary counts the boxes per detector class (``"classes": {"person": 12, …}``).

and at the end one ``{"summary": {...}}`` line with what ``summary()`` returns (with people counting, its
``people`` key: edge.run.people's stats; every ``--people-stats-every`` seconds a ``{"people": {...}}`` line
too). A frame whose faces the classifier could not label (the model returned NaN or inf) has empty ``labels``
and ``scores``; the summary counts those frames and faces (``unlabelled_frames``, ``unlabelled_faces``).
Lines are strict JSON: a non-finite number is written as null (edge.jsonsafe).
"""
import time
from collections import OrderedDict
from typing import Callable, Dict, Optional

from edge.files import write_failed
from edge.jsonsafe import dumps
from edge.run.results import FACE, Faces
from edge.timing import StageStats

STAGES = ("capture_wait", "detect", "preprocess", "infer", "postprocess", "output")


def frame_record(index: int, t_capture: float, times: Dict[str, float], faces: Faces, fps: float,
                 dropped: int = 0, corrupt: int = 0) -> Dict:
    """The JSONL line of one frame (see the module docstring); ``scores`` are the classifier's
    probabilities, ``labels`` and ``scores`` are empty for faces not classified."""
    ms = OrderedDict((s, round(float(times.get(s, 0.0)), 3)) for s in STAGES)
    ms["total"] = round(sum(ms.values()), 3)
    classes = [("classes", faces.classes())] if faces.class_names != FACE else []
    return OrderedDict([
        ("frame", int(index)), ("t_capture", round(float(t_capture), 6)), ("ms", ms), ("faces", len(faces)),
        ("ids", [int(i) for i in faces.track_ids]),
        ("boxes", [[round(float(v), 1) for v in b] for b in faces.boxes])] + classes + [
        ("labels", [str(x) for x in faces.labels] if faces.labels is not None else []),
        ("scores", [round(float(p), 4) for p in faces.probs] if faces.probs is not None else []),
        ("fps", round(float(fps), 2)), ("dropped", int(dropped)), ("corrupt", int(corrupt)),
    ])


def format_summary(s: Dict) -> str:
    """The summary as a few lines of text for the console."""
    lines = ["{} frames in {:.1f} s: {:.1f} FPS mean; {} faces; {} dropped, {} corrupt".format(
        s["frames"], s["seconds"], s["mean_fps"], s["faces"], s["dropped"], s["corrupt"])]
    if s.get("unlabelled_frames"):
        lines.append("{} frames ({} faces) left unlabelled: the model returned NaN or inf for them".format(
            s["unlabelled_frames"], s["unlabelled_faces"]))
    if set(s.get("classes") or ()) - set(FACE):
        lines.append("classes: " + ", ".join("{} {}".format(k, v) for k, v in s["classes"].items()))
    if s.get("people"):
        p = s["people"]
        lines.append("people: {} ({} with a mask, {} without{})".format(
            p["people"], p["with_mask"], p["without_mask"],
            "" if p["compliance"] is None else "; compliance {:.0%}".format(p["compliance"])))
    if s.get("detector"):
        d = s["detector"]
        lines.append("detector {}: {}".format(d.get("detector"), ", ".join(
            "{} {}".format(k, v) for k, v in d.items() if k in ("model", "cascade", "device", "grid", "scale"))))
    if s["frames"]:
        lines.append("{:<13}{:>9}{:>9}{:>9}{:>9}{:>8}".format("stage ms", "mean", "p50", "p95", "p99", "share"))
        total = s["stages"].get("total", {}).get("mean", 0.0) or 1.0
        for name, st in s["stages"].items():
            if st.get("n"):
                lines.append("{:<13}{:>9.2f}{:>9.2f}{:>9.2f}{:>9.2f}{:>7.0%}".format(
                    name, st["mean"], st["p50"], st["p95"], st["p99"], st["mean"] / total))
    return "\n".join(lines)


class FrameLog:
    """Collects per-frame timings; appends JSONL to ``path`` when given (rotated past ``max_bytes``, ``keep``
    old files); echoes a line every ``every`` s. A write that fails (a full disk) is one ``EdgeError``
    (exit 1) and ends the logging; every line before it is in the file, whole."""

    def __init__(self, path: str = "", every: float = 5.0, echo: Optional[Callable[[str], None]] = None,
                 clock=time.monotonic, max_bytes: int = 0, keep: int = 5):
        from edge.service.logrotate import RotatingFile

        self.path = path
        self.every = every
        self.echo = echo
        self._clock = clock
        try:
            self._fh = RotatingFile(path, max_bytes, keep) if path else None  # unbuffered, rotated by size
        except OSError as e:
            raise write_failed("the log", path, e) from None
        self.stats = StageStats()
        self.frames = 0
        self.faces = 0
        self.dropped = 0
        self.corrupt = 0
        self.unlabelled_frames = 0
        self.unlabelled_faces = 0
        self.classes = OrderedDict()  # type: Dict[str, int]
        self._t0 = self._last_echo = None
        self._t_last = None
        self._last = None

    def add(self, record: Dict) -> None:
        now = self._clock()
        if self._t0 is None:
            self._t0 = self._last_echo = now - record["ms"]["total"] / 1000.0
        self._t_last = now
        self.frames += 1
        self.faces += record["faces"]
        for name in record.get("classes", FACE * record["faces"]):
            self.classes[name] = self.classes.get(name, 0) + 1
        self.dropped, self.corrupt = record["dropped"], record["corrupt"]
        self.stats.add(record["ms"])
        self._last = record
        if record["faces"] and not record["labels"]:
            self.unlabelled_frames += 1
            self.unlabelled_faces += record["faces"]
            if self.echo and self.unlabelled_frames == 1:
                self.echo("edge: warning: frame {}: the model returned NaN or inf; its {} face(s) are left "
                          "unlabelled (the summary counts such frames)".format(record["frame"], record["faces"]))
        if self._fh:
            self._write(record)
        if self.echo and self.every > 0 and now - self._last_echo >= self.every:
            self._last_echo = now
            self.echo("frame {}: {:.1f} FPS, {:.1f} ms/frame, {} faces, {} dropped".format(
                record["frame"], record["fps"], record["ms"]["total"], record["faces"], record["dropped"]))

    def note(self, line: Dict) -> None:
        """A line that is no frame (the people statistics, ``{"people": {...}}``) into the log file."""
        if self._fh:
            self._write(line)

    def summary(self) -> Dict:
        seconds = (self._t_last - self._t0) if self.frames else 0.0
        return OrderedDict([
            ("frames", self.frames), ("seconds", round(seconds, 3)),
            ("mean_fps", round(self.frames / seconds, 2) if seconds > 0 else 0.0),
            ("faces", self.faces), ("dropped", self.dropped), ("corrupt", self.corrupt),
            ("unlabelled_frames", self.unlabelled_frames), ("unlabelled_faces", self.unlabelled_faces),
            ("classes", dict(self.classes)), ("stages", self.stats.summary()),
        ])

    def close(self, extra: Optional[Dict] = None) -> Dict:
        """Write the summary line, flush and close; return the summary."""
        s = self.summary()
        if extra:
            s.update(extra)
        if self._fh:
            self._write({"summary": s})
            self._fh.close()
            self._fh = None
        return s

    def _write(self, line: Dict) -> None:
        try:
            self._fh.write(dumps(line) + "\n")
        except OSError as e:
            self._fh.close()
            self._fh = None
            raise write_failed("the log", self.path, e) from None
