"""Accuracy broken down by what the manifest says about each image: mask family, colour group
(skin-like vs other), face size, blur, brightness, … (``edge eval --by family,skin,face_size``)."""
from typing import Dict, List, Optional, Sequence

BY = ("family", "kind", "colour_group", "skin", "pattern", "nose", "face_size", "blur", "brightness", "jpeg",
      "roll")


ORDER = {"<40 px": 0, "40-79 px": 1, "80+ px": 2, "none": 0, "light (<1.5)": 1, "strong (1.5-3)": 2,
         "dark (<0.7)": 0, "normal": 1, "bright (>1.3)": 2, "0": 0, "<15 deg": 1, "15-25 deg": 2, "bare": -1}


def _f(row, k, default=0.0):
    try:
        return float(row.get(k) or default)
    except ValueError:
        return default


def bucket(row: Dict[str, str], by: str) -> str:
    """The bucket of one manifest row for breakdown ``by``."""
    kind = row.get("kind") or "bare"
    if by == "family":
        return row.get("family") or "bare"
    if by == "kind":
        return kind
    if by == "skin":  # masks only: skin-like tones vs the rest
        return "-" if kind != "mask" else ("skin-like" if row.get("colour_group") == "skin" else "other")
    if by in ("colour_group", "pattern", "nose"):
        return (row.get(by) or "-") if kind == "mask" else "-"
    if by == "face_size":
        px = _f(row, "face_px", 100)
        return "<40 px" if px < 40 else ("40-79 px" if px < 80 else "80+ px")
    if by == "blur":
        b = _f(row, "blur")
        return "none" if b == 0 else ("light (<1.5)" if b < 1.5 else "strong (1.5-3)")
    if by == "brightness":
        b = _f(row, "brightness", 1.0)
        return "dark (<0.7)" if b < 0.7 else ("bright (>1.3)" if b > 1.3 else "normal")
    if by == "jpeg":
        return "q<80" if _f(row, "jpeg", 92) < 80 else "q92"
    if by == "roll":
        r = abs(_f(row, "roll"))
        return "0" if r == 0 else ("<15 deg" if r < 15 else "15-25 deg")
    raise ValueError(by)


def breakdown(rows: Sequence[Optional[Dict[str, str]]], correct: Sequence[bool], by: Sequence[str]) -> Dict:
    """{by: {bucket: {"n", "correct", "accuracy"}}} over the rows that have a manifest entry."""
    out = {}
    for b in by:
        table = {}
        for row, ok in zip(rows, correct):
            if row is None:
                continue
            k = bucket(row, b)
            if k == "-":
                continue
            t = table.setdefault(k, {"n": 0, "correct": 0})
            t["n"] += 1
            t["correct"] += int(bool(ok))
        for t in table.values():
            t["accuracy"] = t["correct"] / t["n"]
        out[b] = dict(sorted(table.items(), key=lambda kv: (ORDER.get(kv[0], 1), kv[0])))
    return out


def format_breakdown(tables: Dict) -> List[str]:
    lines = []
    for by, table in tables.items():
        lines.append("by {}:".format(by))
        for k, t in table.items():
            lines.append("  {:<18} {:>7.2%}  ({} of {})".format(k, t["accuracy"], t["correct"], t["n"]))
    return lines


def parse_by(spec: str) -> List[str]:
    from edge.errors import UsageError

    items = [s.strip() for s in spec.split(",") if s.strip()] if spec else []
    if items == ["all"]:
        return list(BY)
    bad = [s for s in items if s not in BY]
    if bad:
        raise UsageError("expected --by a comma list of {} (or all), found '{}'".format(", ".join(BY), bad[0]))
    return items
