"""Leave-style-out evaluation: whole mask families (and people) that training never sees.

A folder written by ``edge data synth`` carries ``MANIFEST.csv`` (one row per image: person, kind,
family, colour group, camera effects) and ``SOURCES.json`` with the held-out families (``holdout``).
The split is by person first (``edge.imagefolder.split``: train / val / test people are disjoint),
then by style:

* train and val keep only masked images of the training families (bare faces and negatives all);
* ``test`` holds the test people's masked images of the **held-out families**, their bare faces and
  their negatives: the headline;
* ``test_in`` holds the same test people wearing the training families (in distribution, secondary).

Masked images of training people in held-out families are left out of every split. A folder without
a manifest (the Kaggle layout) splits by person only, as before.
"""
import csv
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

from edge.imagefolder import ImageFolder, Sample

MANIFEST = "MANIFEST.csv"
SOURCES = "SOURCES.json"


def read_manifest(root: str) -> Optional[Dict[str, Dict[str, str]]]:
    """{'with_mask/name.jpg': row} from ``root/MANIFEST.csv``, or None when there is none."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def read_holdout(root: str) -> Tuple[str, ...]:
    """The held-out families recorded in ``root/SOURCES.json`` (empty: none, or no such file)."""
    path = os.path.join(root, SOURCES)
    if not os.path.isfile(path):
        return ()
    with open(path) as f:
        return tuple(json.load(f).get("holdout") or ())


def key(sample: Sample) -> str:
    """A sample's manifest key: ``<class folder>/<file name>``."""
    return os.path.basename(os.path.dirname(sample.path)) + "/" + os.path.basename(sample.path)


def style_of(sample: Sample, manifest: Dict[str, Dict[str, str]]) -> Tuple[str, str]:
    """(kind, family) of a sample: ('mask', 'surgical'), ('negative', 'hand'), ('bare', 'bare')."""
    row = manifest.get(key(sample))
    if row is None:
        return ("unknown", "unknown")
    return (row.get("kind") or "bare", row.get("family") or "bare")


def split_styles(folder: ImageFolder, person_parts: Sequence[List[Sample]], manifest: Dict[str, Dict[str, str]],
                 holdout: Sequence[str]) -> Dict[str, List[Sample]]:
    """Person splits (train, val, test) → {train, val, test, test_in} by the rules of the module doc."""
    held = set(holdout)
    out = {"train": [], "val": [], "test": [], "test_in": []}
    for name, part in zip(("train", "val", "test"), person_parts):
        for s in part:
            kind, family = style_of(s, manifest)
            is_held = kind == "mask" and family in held
            if name == "test":
                if kind != "mask" or is_held:
                    out["test"].append(s)
                if kind != "mask" or not is_held:
                    out["test_in"].append(s)
            elif not is_held:
                out[name].append(s)
    return out


def check_disjoint(parts: Dict[str, List[Sample]], manifest: Dict[str, Dict[str, str]],
                   holdout: Sequence[str]) -> None:
    """No person in two of train/val/test; no held-out family in train or val; test masks only held-out."""
    people = {k: {s.group for s in v} for k, v in parts.items() if k in ("train", "val", "test")}
    assert not (people["train"] & people["test"] or people["val"] & people["test"] or
                people["train"] & people["val"]), "a person is in two splits"
    fam = {k: {style_of(s, manifest)[1] for s in v if style_of(s, manifest)[0] == "mask"} for k, v in parts.items()}
    assert not ((fam["train"] | fam["val"]) & set(holdout)), "a held-out family is in training"
    assert fam["test"] <= set(holdout), "a training family is in the held-out test split"
