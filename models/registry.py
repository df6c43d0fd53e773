"""Name → factory registry (timm style): ``@register_model`` on a function returning an nn.Module.

Every factory attaches ``model.meta`` (an ``edge.meta.ModelMeta``) whose ``arch``/``arch_args``
rebuild the same network with ``create_model(meta.arch, **meta.arch_args)``.
"""
from collections import OrderedDict
from typing import Callable, List

from edge.errors import UsageError

_FACTORIES = OrderedDict()  # type: OrderedDict[str, Callable]


def register_model(fn: Callable) -> Callable:
    """Register ``fn`` under its own name; a second registration of a name is a bug."""
    name = fn.__name__
    if name in _FACTORIES:
        raise ValueError("model '{}' is registered twice".format(name))
    _FACTORIES[name] = fn
    return fn


def list_models() -> List[str]:
    return list(_FACTORIES)


def create_model(name: str, **kwargs):
    """Build a registered model; an unknown name fails with the known names."""
    if name not in _FACTORIES:
        raise UsageError("unknown model architecture '{}' (known: {})".format(name, ", ".join(_FACTORIES)))
    model = _FACTORIES[name](**kwargs)
    if getattr(model, "meta", None) is None:
        raise TypeError("factory '{}' returned a model without .meta".format(name))
    return model
