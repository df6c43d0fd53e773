"""The face-mask CNN family of seed 004: three (3×3 conv, BatchNorm, ReLU, 2×2 max-pool) blocks,
global average pool, optional dropout, linear head; 128×128 RGB in, 2 classes out.

Named variants: ``teacher`` 32-64-128 (93,954 parameters), ``medium`` 24-48-96 (53,186),
``small`` 8-16-32 (6,210). ``maskcnn(widths=...)`` builds any other width, e.g. a pruned model.
"""
from typing import Optional, Sequence

import torch
from torch import nn

from edge.meta import ModelMeta
from models.registry import register_model

MASK_LABELS = ("with_mask", "without_mask")
INPUT_SIZE = (128, 128)
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


class MaskCNN(nn.Module):
    def __init__(self, widths: Sequence[int] = (32, 64, 128), num_classes: int = 2,
                 dropout: float = 0.0, in_channels: int = 3):
        super().__init__()
        layers = []
        prev = in_channels
        for w in widths:
            layers += [nn.Conv2d(prev, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            prev = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(x))

    def widths(self):
        """Current conv widths (they change when the model is channel-pruned)."""
        return [m.out_channels for m in self.features if isinstance(m, nn.Conv2d)]


@register_model
def maskcnn(widths: Sequence[int] = (32, 64, 128), dropout: float = 0.0, num_classes: Optional[int] = None,
            in_channels: int = 3, labels: Optional[Sequence[str]] = None, variant: str = "") -> MaskCNN:
    """A mask CNN of any widths; ``labels`` default to with_mask/without_mask."""
    labels = tuple(labels) if labels is not None else (
        MASK_LABELS if num_classes in (None, 2) else tuple("class_{}".format(i) for i in range(num_classes)))
    if num_classes is not None and num_classes != len(labels):
        raise ValueError("num_classes={} but {} labels".format(num_classes, len(labels)))
    widths = [int(w) for w in widths]
    model = MaskCNN(widths, len(labels), dropout, in_channels)
    model.meta = ModelMeta(
        arch="maskcnn",
        arch_args={"widths": widths, "dropout": float(dropout), "num_classes": len(labels),
                   "in_channels": in_channels},
        labels=labels, input_size=INPUT_SIZE,
        channel_order="RGB" if in_channels == 3 else "GRAY",
        mean=MEAN[:in_channels], std=STD[:in_channels],
        variant=variant or "maskcnn-" + "-".join(map(str, widths)),
    )
    return model


@register_model
def teacher(**kwargs) -> MaskCNN:
    """32-64-128, dropout 0.2: the seed's base model (93,954 parameters)."""
    return maskcnn(widths=(32, 64, 128), dropout=0.2, variant="teacher", **kwargs)


@register_model
def medium(**kwargs) -> MaskCNN:
    """24-48-96, dropout 0.1: the seed's medium student (53,186 parameters)."""
    return maskcnn(widths=(24, 48, 96), dropout=0.1, variant="medium", **kwargs)


@register_model
def small(**kwargs) -> MaskCNN:
    """8-16-32, no dropout: the seed's small student (6,210 parameters)."""
    return maskcnn(widths=(8, 16, 32), dropout=0.0, variant="small", **kwargs)
