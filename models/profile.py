"""What a model costs: parameters (zero / non-zero), FLOPs, size on disk and in memory, CPU latency."""
import os
from typing import Dict, Optional, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from edge.meta import ModelMeta
from edge.timing import summarize, time_calls
from models.checkpoint import checkpoint_bytes

MB = float(1 << 20)  # the seed reports sizes in MiB (93,954 fp32 parameters = 0.36 MB)


def count_parameters(model: nn.Module) -> Dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    zero = sum(int((p == 0).sum()) for p in model.parameters())
    return {"total": total, "zero": zero, "nonzero": total - zero}


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs (= 2 × MACs) of one forward pass, by PyTorch's own counter (conv, matmul; no bias/BN)."""
    x = torch.zeros(*input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return int(counter.get_total_flops())


def memory_bytes(model: nn.Module) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def cpu_latency_ms(model: nn.Module, input_shape: Sequence[int], warmup: int = 10,
                   runs: int = 50) -> Dict[str, float]:
    x = torch.randn(*input_shape)
    model.eval()
    with torch.no_grad():
        return summarize(time_calls(lambda: model(x), warmup=warmup, runs=runs))


def profile_model(model: nn.Module, meta: ModelMeta, path: Optional[str] = None,
                  batch_sizes: Sequence[int] = (1, 8), warmup: int = 10, runs: int = 50) -> Dict:
    """Everything ``edge profile`` reports, as a JSON-able dict."""
    shape = (meta.channels,) + tuple(meta.input_size)
    disk = os.path.getsize(path) if path else checkpoint_bytes(model, meta)
    return {
        "model": path or meta.variant,
        "variant": meta.variant,
        "arch": meta.arch,
        "arch_args": meta.arch_args,
        "input_shape": [1] + list(shape),
        "parameters": count_parameters(model),
        "flops": count_flops(model, (1,) + shape),
        "size_mb": {"disk": disk / MB, "memory": memory_bytes(model) / MB},
        "latency_ms": {str(b): cpu_latency_ms(model, (b,) + shape, warmup, runs) for b in batch_sizes},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
