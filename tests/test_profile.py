import json

import pytest

torch = pytest.importorskip("torch")

from models import create_model  # noqa: E402
from models.profile import count_flops, count_parameters, memory_bytes  # noqa: E402


def hand_count_flops(widths, size=128, in_ch=3, classes=2):
    """2 × MACs of each 3×3 'same' conv at its resolution (halved by each pool), plus the linear head."""
    flops, prev = 0, in_ch
    for w in widths:
        flops += 2 * (size * size) * w * prev * 3 * 3
        prev, size = w, size // 2
    return flops + 2 * prev * classes


@pytest.mark.parametrize("name,widths", [("teacher", (32, 64, 128)), ("small", (8, 16, 32))])
def test_flops_equal_the_hand_count(name, widths):
    assert count_flops(create_model(name), (1, 3, 128, 128)) == hand_count_flops(widths)


def test_teacher_flops_value():
    # 28,311,552 + 150,994,944 + 150,994,944 + 512
    assert count_flops(create_model("teacher"), (1, 3, 128, 128)) == 330301952


def test_zero_and_nonzero_parameters():
    model = create_model("small")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
        model.classifier.weight.zero_()  # 32 × 2 weights
    counts = count_parameters(model)
    assert counts == {"total": 6210, "zero": 64, "nonzero": 6146}


def test_memory_size_counts_parameters_and_buffers():
    model = create_model("teacher")
    buffers = 2 * (32 + 64 + 128) * 4 + 3 * 8  # BN running mean/var fp32 + num_batches_tracked int64
    assert memory_bytes(model) == 93954 * 4 + buffers


def test_cli_profile_json(teacher_ckpt, cli):
    result = cli(["profile", teacher_ckpt, "--json", "--runs", "3", "--warmup", "1", "--batch", "1",
                  "--batch", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["parameters"]["total"] == 93954
    assert report["flops"] == 330301952
    assert set(report["latency_ms"]) == {"1", "4"}
    assert report["latency_ms"]["4"]["n"] == 3 and report["latency_ms"]["4"]["p50"] > 0
    assert report["size_mb"]["disk"] > report["size_mb"]["memory"] > 0.35


@pytest.mark.parametrize("name,params", [("teacher", "93,954"), ("medium", "53,186"), ("small", "6,210")])
def test_cli_profile_table_for_each_variant(cli, name, params):
    result = cli(["profile", name, "--runs", "2", "--warmup", "0"])
    assert result.exit_code == 0, result.output
    assert params in result.output and "FLOPs" in result.output and "CPU latency, batch 8" in result.output
