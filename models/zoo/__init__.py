"""Bundled models: ``mask_default.pt`` (the face-mask classifier ``edge`` uses when given no model) and
``mask_default.json`` (its metrics and the exact command that produced it; see docs/COMPRESSION.md)."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "mask_default.pt")
DEFAULT_INFO = os.path.join(HERE, "mask_default.json")
