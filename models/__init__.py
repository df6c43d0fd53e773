"""Model definitions (host side): a registry of architectures, each in one file.

    >>> from models import create_model, list_models
    >>> m = create_model("small")           # a registered variant
    >>> m.meta.arch_args["widths"]
    [8, 16, 32]
"""
from models.registry import create_model, list_models, register_model  # noqa: F401
from models import maskcnn  # noqa: F401,E402  (registers the mask-CNN family)

__all__ = ["create_model", "list_models", "register_model"]
