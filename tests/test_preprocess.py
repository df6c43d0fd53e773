import numpy as np
import pytest

from edge.meta import ModelMeta
from edge.preprocess import normalize, preprocess, softmax, top1

META = ModelMeta(arch="", labels=["a", "b"], input_size=(2, 2), mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))


def test_normalize_against_hand_computed_values():
    bgr = np.zeros((1, 2, 2, 3), np.uint8)
    bgr[0, 0, 0] = (255, 0, 51)  # B, G, R
    x = normalize(bgr, META)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    # RGB order: R = 51/255 = 0.2 → (0.2-0.5)/0.5 = -0.6; G = 0 → (0-0.25)/0.25 = -1; B = 1 → (1-0)/1 = 1
    assert x[0, :, 0, 0] == pytest.approx([-0.6, -1.0, 1.0])
    assert x[0, :, 1, 1] == pytest.approx([-1.0, -1.0, 0.0])


def test_bgr_and_gray_orders():
    bgr = np.full((1, 2, 2, 3), (10, 20, 30), np.uint8)
    x = normalize(bgr, META.replace(channel_order="BGR", mean=(0, 0, 0), std=(1, 1, 1)))
    assert x[0, :, 0, 0] * 255 == pytest.approx([10, 20, 30])
    g = normalize(bgr, META.replace(channel_order="GRAY", mean=(0,), std=(1,)))
    assert g.shape == (1, 1, 2, 2)
    assert g[0, 0, 0, 0] * 255 == pytest.approx(0.114 * 10 + 0.587 * 20 + 0.299 * 30, rel=1e-5)


def test_preprocess_resizes_crops_of_any_size(face_crops):
    meta = META.replace(input_size=(128, 96))
    x = preprocess(face_crops[:5], meta)
    assert x.shape == (5, 3, 128, 96)
    assert x.min() >= -1.0 - 1e-6 and x.max() <= (1 - 0.25) / 0.25 + 1e-6


def test_softmax_and_top1():
    logits = np.array([[0.0, 0.0], [1.0, 3.0], [1000.0, 0.0]])
    p = softmax(logits)
    assert p[0] == pytest.approx([0.5, 0.5]) and np.isfinite(p).all()
    assert top1(logits, ["a", "b"])[1] == ("b", pytest.approx(np.exp(3) / (np.exp(1) + np.exp(3))))
    assert top1(logits, ["a", "b"])[2][0] == "a"


def test_batched_preprocess_of_mixed_crops_against_hand_values():
    """Crops of different sizes and a grey crop, one call: constant colours keep their exact values."""
    meta = META.replace(input_size=(3, 5))
    crops = [np.full((7, 9, 3), (255, 0, 51), np.uint8),  # shrunk (area)
             np.full((2, 2, 3), (0, 255, 0), np.uint8),  # enlarged (linear)
             np.full((4, 4), 102, np.uint8)]  # grey → BGR (102, 102, 102)
    x = preprocess(crops, meta)
    assert x.shape == (3, 3, 3, 5)
    # RGB channels: (v/255 - mean)/std with mean (0.5, 0.25, 0), std (0.5, 0.25, 1)
    expected = [[-0.6, -1.0, 1.0], [-1.0, 3.0, 0.0], [-0.2, 0.6, 0.4]]
    for i, values in enumerate(expected):
        for c, v in enumerate(values):
            assert np.allclose(x[i, c], v, atol=1e-6), (i, c)
