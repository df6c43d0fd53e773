"""Anchors, decoding, letterbox and tiling: pure functions against hand-worked cases (IoU, NMS: test_boxes)."""
import numpy as np
import pytest

from edge.detectors.ssd import decode as D
from edge.detectors.ssd.anchors import LAYOUTS, SsdLayout, ssd_anchors
from edge.errors import InputError

A = np.testing.assert_allclose


@pytest.mark.parametrize("name, count, checks", [
    # full range: 48x48 cells, 1 anchor each; centre of cell (x, y) = ((x + .5) / 48, (y + .5) / 48)
    ("face_detection_full_range", 2304, {0: (0.5 / 48, 0.5 / 48), 1: (1.5 / 48, 0.5 / 48),
                                         48: (0.5 / 48, 1.5 / 48), 2303: (47.5 / 48, 47.5 / 48)}),
    # short range: 16x16 cells x 2 anchors (512), then 8x8 cells x 6 anchors (384)
    ("face_detection_short_range", 896, {0: (1 / 32, 1 / 32), 1: (1 / 32, 1 / 32), 2: (3 / 32, 1 / 32),
                                          511: (31 / 32, 31 / 32), 512: (1 / 16, 1 / 16), 517: (1 / 16, 1 / 16),
                                          518: (3 / 16, 1 / 16), 895: (15 / 16, 15 / 16)}),
])
def test_anchor_layouts(name, count, checks):
    layout = LAYOUTS[name]
    anchors = ssd_anchors(layout)
    assert layout.num_anchors == count and anchors.shape == (count, 2) and anchors.dtype == np.float32
    for i, xy in checks.items():
        A(anchors[i], xy, atol=1e-7)


@pytest.mark.parametrize("name, input_wh, count, checks", [
    # full range on a 448x256 input (a 1280x720 frame at 0.35): 112 x 64 cells, row by row
    ("face_detection_full_range", (448, 256), 7168, {0: (0.5 / 112, 0.5 / 64), 1: (1.5 / 112, 0.5 / 64),
                                                     112: (0.5 / 112, 1.5 / 64), 7167: (111.5 / 112, 63.5 / 64)}),
    # the square given explicitly is the square
    ("face_detection_full_range", (192, 192), 2304, {48: (0.5 / 48, 1.5 / 48)}),
    # short range on 64x32: stride 8 → 8x4 cells x 2, then stride 16 → 4x2 cells x 6
    ("face_detection_short_range", (64, 32), 8 * 4 * 2 + 4 * 2 * 6, {2: (3 / 16, 1 / 8), 16: (1 / 16, 3 / 8),
                                                                     64: (1 / 8, 1 / 4), 111: (7 / 8, 3 / 4)}),
])
def test_anchors_of_other_input_sizes(name, input_wh, count, checks):
    layout = LAYOUTS[name]
    anchors = ssd_anchors(layout, input_wh)
    assert layout.anchors_in(input_wh) == count and anchors.shape == (count, 2)
    for i, xy in checks.items():
        A(anchors[i], xy, atol=1e-7)


@pytest.mark.parametrize("name, frame_wh, scale, expected", [
    ("face_detection_full_range", (1280, 720), 0.35, (448, 256)),   # 448 x 252 → rows padded to 256
    ("face_detection_full_range", (1280, 720), 0.4, (512, 288)),    # exact multiples of 32
    ("face_detection_full_range", (1280, 720), 0.1, (128, 96)),     # the coarse pass: 128 x 72
    ("face_detection_full_range", (1920, 1080), 0.35, (672, 384)),  # 672 x 378
    ("face_detection_full_range", (640, 480), 0.01, (32, 32)),      # never below one multiple
    ("face_detection_short_range", (1280, 720), 0.35, (448, 256)),
    ("face_detection_short_range", (720, 1280), 0.3, (224, 384)),   # portrait: 216 x 384
])
def test_input_for_a_scaled_frame(name, frame_wh, scale, expected):
    assert LAYOUTS[name].input_for(frame_wh, scale) == expected


def test_input_for_a_square_only_layout_is_an_error():
    with pytest.raises(InputError, match="takes only its 192x192 square input"):
        SsdLayout(192, (4,), (1,)).input_for((1280, 720), 0.35)


@pytest.mark.parametrize("data, message", [
    ({"input_size": 192, "strides": [4], "per_cell": [1], "input_multiple": 6}, "expected input_multiple 0 or a"),
    ({"input_size": 192, "strides": [4], "per_cell": [1], "input_multiple": 128}, "divides input_size 192"),
    ({"input_size": 128, "strides": [8, 16]}, "per_cell"),
    ({"input_size": 128, "strides": [8, 16], "per_cell": [2]}, "one positive per_cell count per stride"),
    ({"input_size": 100, "strides": [8], "per_cell": [2]}, "strides dividing input_size 100"),
    ({"input_size": "big", "strides": [8], "per_cell": [2]}, "expected input_size"),
])
def test_layout_from_bad_dict(data, message):
    with pytest.raises(InputError, match=message):
        SsdLayout.from_dict(data)


def test_layout_round_trip():
    for layout in LAYOUTS.values():
        assert SsdLayout.from_dict(layout.to_dict()) == layout


@pytest.mark.parametrize("raw, expected", [
    (0.0, 0.5), (np.log(3.0), 0.75), (-np.log(3.0), 0.25),
    (100.0, 1 / (1 + np.exp(-80.0))),   # clipped to 80 first
    (-1e9, 1 / (1 + np.exp(80.0))),     # finite, not 0/NaN
])
def test_sigmoid_scores(raw, expected):
    got = D.sigmoid_scores(np.array([raw]))
    assert got.dtype == np.float32 and np.isfinite(got).all()
    A(got, [expected], rtol=1e-5)


def test_decode_boxes_hand_worked():
    anchors = np.array([[0.5, 0.5], [0.25, 0.75]], np.float32)
    raw = np.zeros((2, 8), np.float32)  # 2 keypoints
    raw[0, :4] = [0, 0, 64, 32]         # centred on its anchor, 64 x 32 px of 128
    raw[0, 4:6] = [16, -16]             # keypoint 0: anchor + (0.125, -0.125)
    raw[1, :4] = [32, -32, 32, 32]      # centre moved by (+0.25, -0.25)
    boxes, kps = D.decode_boxes(raw, anchors, 128)
    A(boxes, [[0.25, 0.375, 0.75, 0.625], [0.375, 0.375, 0.625, 0.625]])
    A(kps[0], [[0.625, 0.375], [0.5, 0.5]])
    A(kps[1], [[0.25, 0.75], [0.25, 0.75]])


def test_decode_boxes_on_a_rectangular_input():
    anchors = np.array([[0.5, 0.5]], np.float32)
    raw = np.array([[44.8, -12.8, 89.6, 25.6, 44.8, 25.6]], np.float32)  # input 448 x 256 px, 1 keypoint
    boxes, kps = D.decode_boxes(raw, anchors, (448, 256))
    A(boxes, [[0.5, 0.4, 0.7, 0.5]], atol=1e-6)  # centre (0.6, 0.45), size (0.2, 0.1)
    A(kps[0], [[0.6, 0.6]], atol=1e-6)


@pytest.mark.parametrize("roi, size, scale, resized, pad", [
    ((0, 0, 1280, 720), 192, 0.15, (192, 108), (0, 42)),
    ((0, 0, 720, 1280), 192, 0.15, (108, 192), (42, 0)),
    ((100, 50, 400, 400), 128, 0.32, (128, 128), (0, 0)),
    ((0, 0, 512, 412), 192, 0.375, (192, 154), (0, 19)),
    ((0, 0, 1280, 720), (448, 256), 0.35, (448, 252), (0, 2)),   # frame mode: a rectangle, rows padded
    ((0, 0, 1280, 720), (128, 96), 0.1, (128, 72), (0, 12)),
])
def test_letterbox_params(roi, size, scale, resized, pad):
    lb = D.letterbox(roi, size)
    assert lb.resized == resized and lb.pad == pad
    A(lb.scale, scale)


@pytest.mark.parametrize("roi, size, norm, frame", [
    # corners of the picture inside the letterbox map to the region's corners
    ((0, 0, 1280, 720), 192, [0, 42 / 192, 1, 150 / 192], [0, 0, 1280, 720]),
    ((0, 0, 1280, 720), 192, [0.5, 0.5, 0.5, 0.5], [640, 360, 640, 360]),
    # a tile at (768, 308): offsets are added back
    ((768, 308, 512, 412), 192, [0, 19 / 192, 1, 173 / 192], [768, 308, 1280, 720]),
    # a 448 x 256 input holding the frame at 0.35 (252 rows + 2 padding above)
    ((0, 0, 1280, 720), (448, 256), [0, 2 / 256, 1, 254 / 256], [0, 0, 1280, 720]),
    ((0, 0, 1280, 720), (448, 256), [0.25, 0.5, 0.5, 0.75], [320, 126 * 720 / 252, 640, 190 * 720 / 252]),
])
def test_letterbox_to_frame(roi, size, norm, frame):
    A(D.letterbox(roi, size).to_frame(np.array([norm], np.float32)), [frame], atol=1e-3)


def test_letterbox_image_places_the_region():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 640:] = 200  # right half bright
    img = D.letterbox_image(frame, D.letterbox((0, 0, 1280, 720), 192))
    assert img.shape == (192, 192, 3)
    assert (img[:42] == 0).all() and (img[150:] == 0).all()  # padding
    assert (img[42:150, :95] == 0).all() and (img[42:150, 97:] == 200).all()


@pytest.mark.parametrize("wh, cols, rows, overlap, expected", [
    ((1280, 720), 1, 1, 0.25, [(0, 0, 1280, 720)]),
    ((1280, 720), 2, 1, 0.25, [(0, 0, 732, 720), (548, 0, 732, 720)]),
    ((1280, 720), 3, 2, 0.25, [(0, 0, 512, 412), (384, 0, 512, 412), (768, 0, 512, 412),
                               (0, 308, 512, 412), (384, 308, 512, 412), (768, 308, 512, 412)]),
    ((300, 200), 2, 2, 0.0, [(0, 0, 150, 100), (150, 0, 150, 100), (0, 100, 150, 100), (150, 100, 150, 100)]),
])
def test_tile_grid(wh, cols, rows, overlap, expected):
    assert D.tile_grid(wh, cols, rows, overlap) == expected


@pytest.mark.parametrize("box, roi, cut", [
    ([10, 10, 50, 50], (0, 0, 512, 412), False),      # inside, near the frame's own edge
    ([480, 10, 520, 50], (0, 0, 512, 412), True),     # crosses the tile's right edge
    ([769, 330, 850, 380], (768, 308, 512, 412), True),   # within 2 px of the tile's inner left edge
    ([780, 320, 850, 380], (768, 308, 512, 412), False),  # 12 px in: whole
    ([1200, 600, 1279, 719], (768, 308, 512, 412), False),  # at the frame corner: not cut
])
def test_touches_inner_edge(box, roi, cut):
    assert D.touches_inner_edge(np.array([box], np.float32), roi, (1280, 720), margin=2.0).tolist() == [cut]


@pytest.mark.parametrize("box, context, expected", [
    ([600, 300, 660, 360], 2.5, (555, 255, 150, 150)),   # centred
    ([0, 0, 60, 60], 2.5, (0, 0, 150, 150)),             # shifted into the frame
    ([1250, 700, 1280, 720], 3.0, (1190, 630, 90, 90)),      # shifted up and left
    ([0, 0, 600, 600], 2.5, (0, 0, 720, 720)),           # capped at the frame's short side
])
def test_square_around(box, context, expected):
    assert D.square_around(box, context, (1280, 720)) == expected
