import pytest

torch = pytest.importorskip("torch")

from edge.errors import UsageError  # noqa: E402
from models import create_model, list_models  # noqa: E402
from models.profile import count_parameters  # noqa: E402

# The seed's numbers (004_*.txt): three distillation variants and the teacher pruned by 30/50/70 %.
SEED_PARAMS = [
    ("teacher", {}, 93954),
    ("medium", {}, 53186),
    ("small", {}, 6210),
    ("maskcnn", {"widths": (22, 44, 89)}, 45195),
    ("maskcnn", {"widths": (16, 32, 64)}, 23938),
    ("maskcnn", {"widths": (9, 19, 38)}, 8556),
]


@pytest.mark.parametrize("name,kwargs,expected", SEED_PARAMS)
def test_parameter_counts_match_the_seed(name, kwargs, expected):
    assert count_parameters(create_model(name, **kwargs))["total"] == expected


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_classifies_a_batch(name):
    model = create_model(name).eval()
    h, w = model.meta.input_size
    with torch.no_grad():
        out = model(torch.randn(3, model.meta.channels, h, w))
    assert out.shape == (3, model.meta.num_classes)
    rebuilt = create_model(model.meta.arch, **model.meta.arch_args)
    assert count_parameters(rebuilt) == count_parameters(model)


def test_labels_set_the_class_count():
    model = create_model("small", labels=["cat", "dog", "bird"])
    assert model.meta.labels == ("cat", "dog", "bird")
    assert model.classifier.out_features == 3


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UsageError, match="unknown model architecture 'resnet9'.*teacher"):
        create_model("resnet9")


def test_variants_keep_the_seed_dropout():
    assert create_model("teacher").dropout.p == 0.2
    assert create_model("medium").dropout.p == 0.1
    assert isinstance(create_model("small").dropout, torch.nn.Identity)
