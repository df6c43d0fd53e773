"""Channel pruning: the seed's exact parameter counts, checkpoints that reload alone, bad ratios."""
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from edge.errors import UsageError  # noqa: E402
from models import create_model  # noqa: E402
from models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from models.prune import prune_channels  # noqa: E402


@pytest.mark.parametrize("ratio,widths,params", [
    (0.3, [22, 44, 89], 45195),
    (0.5, [16, 32, 64], 23938),
    (0.7, [9, 19, 38], 8556),
])
def test_teacher_pruned_to_the_seed_counts_and_reloads(tmp_path, ratio, widths, params):
    torch.manual_seed(0)
    model = prune_channels(create_model("teacher"), ratio)
    assert model.widths() == widths
    assert sum(p.numel() for p in model.parameters()) == params
    assert model.classifier.out_features == 2 and model.classifier.in_features == widths[-1]
    assert model.meta.arch_args["widths"] == widths and model.meta.variant == "teacher-pruned-{:g}".format(ratio)
    path = save_checkpoint(model, str(tmp_path / "p.pt"))
    again, meta = load_checkpoint(path)
    assert again.widths() == widths and meta.arch_args["widths"] == widths
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model.eval()(x))


def test_keeps_the_strongest_channels():
    torch.manual_seed(0)
    model = create_model("teacher")
    conv = model.features[0]
    with torch.no_grad():
        conv.weight[5] *= 100  # by far the largest L2 norm: must survive
        marked = conv.weight[5].clone()
    prune_channels(model, 0.5)
    kept = model.features[0].weight
    assert any(torch.equal(kept[i], marked) for i in range(kept.shape[0]))


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.2, 1.5])
def test_ratio_outside_open_interval(ratio):
    with pytest.raises(UsageError, match="strictly between 0 and 1"):
        prune_channels(create_model("small"), ratio)
