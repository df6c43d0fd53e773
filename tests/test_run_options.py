"""`edge run`'s flags are read from the config fields: the same default VALUES, help and keys; detector
options in their [haar]/[blazeface] sections; --labels a,b,c and --input-size 128 / 96x64 (one syntax)."""
import inspect
import json
import os
from dataclasses import fields, is_dataclass

import pytest
import typer.main

from edge.commands.run import CONFIG_KEYS, NOT_CONFIG
from edge.config import default_of, field_of, load_config, merge_cli
from edge.detectors import config_options, detector_class
from edge.detectors.blazeface import BlazeFaceOptions
from edge.detectors.haar import HaarOptions
from edge.detectors.yolo import YoloOptions
from edge.errors import UsageError
from edge.run.config import RunConfig

CONFIG_FILE_ONLY = set()  # RunConfig keys that have no `edge run` flag (none yet)


def leaf_keys(cls, prefix=""):
    for f in fields(cls):
        if is_dataclass(f.type):
            yield from leaf_keys(f.type, prefix + f.name + ".")
        else:
            yield prefix + f.name


def run_command():
    from edge.cli import app

    return typer.main.get_command(app).commands["run"]


def test_every_flag_default_is_the_field_default(monkeypatch):
    monkeypatch.delenv("EDGE_SERVE_TOKEN", raising=False)
    command = run_command()
    ctx = command.make_context("run", [])  # every parameter at its default, callbacks applied
    params = {p.name: p for p in command.params}
    config_params = sorted(set(params) - set(NOT_CONFIG))
    assert sorted(CONFIG_KEYS) == config_params
    # 41 + [objects] (7) + --classify-classes + [people] (7) + [mqtt] (8) + [webhook] (4) + [event_queue] (3)
    # + [record] (8) + [output] (5) + --input-rtsp-latency + --serve-size/--serve-fps
    assert len(config_params) == 87
    for name in config_params:
        f = field_of(RunConfig, CONFIG_KEYS[name])
        want, got = default_of(f), ctx.params[name]
        assert (got, type(got)) == (want, type(want)), name
        assert params[name].help == f.metadata["help"] and params[name].help, name
    assert merge_cli(RunConfig(), {CONFIG_KEYS[n]: ctx.params[n] for n in config_params}) == RunConfig()
    assert params["detect_scale"].default == 0.4 and params["blazeface_grid"].default == "auto"  # by value


def test_every_config_field_has_a_flag_or_is_config_file_only():
    keys = set(leaf_keys(RunConfig))
    assert {"haar.scale", "blazeface.grid", "serve.token", "reconnect.max_delay"} <= keys
    assert set(CONFIG_KEYS.values()) == keys - CONFIG_FILE_ONLY
    for key in keys:
        f = field_of(RunConfig, key)
        assert f.metadata.get("help"), "{} has no help (edge.config.setting)".format(key)
        assert bool(f.metadata.get("flags")) == (key not in CONFIG_FILE_ONLY), key


@pytest.mark.parametrize("options", [HaarOptions, BlazeFaceOptions, YoloOptions])
def test_options_are_the_detector_keywords_with_its_defaults(options):
    name = {HaarOptions: "haar", BlazeFaceOptions: "blazeface", YoloOptions: "yolo"}[options]
    signature = inspect.signature(detector_class(name))
    for f in fields(options):
        assert signature.parameters[f.name].default == default_of(f), (name, f.name)
    signature.bind(**config_options(name, RunConfig()))  # threads too, for BlazeFace


@pytest.fixture
def run_cfg(monkeypatch):
    """cli(args) → the RunConfig `edge run args` would run (the loop replaced by a recorder)."""
    from typer.testing import CliRunner

    from edge.cli import app

    seen = []
    monkeypatch.setattr("edge.run.loop.run", lambda cfg, echo=None: seen.append(cfg) or {})
    monkeypatch.delenv("EDGE_SERVE_TOKEN", raising=False)

    def invoke(args):
        r = CliRunner().invoke(app, ["run", "--json"] + args)
        assert r.exit_code == 0, r.output
        return seen.pop()

    return invoke


def test_flags_land_in_their_sections(run_cfg):
    cfg = run_cfg(["--detect-scale", "0.25", "--min-neighbors", "5", "--min-size", "30", "--scale-factor", "1.2",
                   "--cascade", "x.xml", "--blazeface-model", "short", "--blazeface-grid", "2x1",
                   "--blazeface-scale", "0.3", "--threads", "2", "--serve-token", "t" * 16])
    assert cfg.haar == HaarOptions(scale=0.25, min_neighbors=5, min_size=30, scale_factor=1.2, cascade="x.xml")
    assert cfg.blazeface == BlazeFaceOptions(model="short", grid="2x1", scale=0.3)
    assert cfg.track_scale == 0.25 and cfg.serve.token == "t" * 16 and cfg.threads == 2
    assert run_cfg([]) == RunConfig()


def test_object_detector_flags_land_in_objects(run_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    for name in ("yolov8n.onnx", "ppe.onnx"):
        (tmp_path / name).write_bytes(b"")  # the start-up checks want the files there
    cfg = run_cfg(["--detector", "yolov8n.onnx", "--conf", "0.4", "--iou", "0.5", "--classes", "person, car",
                   "--max-det", "20", "--detector-labels", "a,b", "--detector-input-size", "320x256",
                   "--detector-layout", "v5", "--classify-classes", "person", "--model", "ppe.onnx"])
    assert cfg.objects == YoloOptions(conf=0.4, iou=0.5, classes=("person", "car"), max_det=20, labels=("a", "b"),
                                      input_size=(320, 256), layout="v5")
    assert (cfg.detector, cfg.classify_classes, cfg.model) == ("yolov8n.onnx", ("person",), "ppe.onnx")
    assert config_options("yolov8n.onnx", cfg)["model"] == "yolov8n.onnx"  # the path is the detector's model


@pytest.mark.parametrize("args,labels,size", [
    (["--labels", "with_mask,without_mask", "--input-size", "128"], ("with_mask", "without_mask"), (128, 128)),
    (["--labels", " a , b,c ", "--input-size", "96x64"], ("a", "b", "c"), (96, 64)),
    (["--input-size", "96X64"], (), (96, 64)),
])
def test_labels_and_input_size_flags(run_cfg, args, labels, size):
    cfg = run_cfg(args)
    assert (cfg.labels, cfg.input_size) == (labels, size)


def test_labels_from_a_text_file(run_cfg, tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("with_mask\n\nwithout_mask\n")
    assert run_cfg(["--labels", str(path)]).labels == ("with_mask", "without_mask")


@pytest.mark.parametrize("args,words", [
    (["--input-size", "64", "--input-size", "64x"], "expected --input-size as N or HxW"),
    (["--input-size", "0"], "expected --input-size as N or HxW"),
    (["--labels", ","], "expected --labels as comma-separated names"),
    (["--detect-scale", "2"], "run config 'haar.scale' (--detect-scale): expected a number in (0, 1], found 2.0"),
    (["--blazeface-scale", "0"], "'blazeface.scale' (--blazeface-scale): expected a number in (0, 1], found 0.0"),
])
def test_bad_flags_are_one_usage_error_line(cli, args, words):
    r = cli(["run", "--headless", "--max-frames", "1"] + args)
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("edge: error: ") and words in lines[0], \
        r.output


def test_config_file_sections_and_flags_on_top(run_cfg, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('labels = ["a", "b"]\ninput_size = [96, 64]\n[haar]\nscale = 0.25\nmin_size = 40\n'
                    '[blazeface]\ngrid = "frame"\n')
    cfg = run_cfg(["--config", str(path), "--min-size", "50", "--input-size", "128"])
    assert cfg.haar == HaarOptions(scale=0.25, min_size=50) and cfg.blazeface.grid == "frame"
    assert cfg.labels == ("a", "b") and cfg.input_size == (128, 128)


@pytest.mark.parametrize("text,words", [
    ("detect_scale = 0.5\n", "key 'detect_scale' moved to [haar] scale"),
    ("blazeface_grid = \"2x1\"\n", "key 'blazeface_grid' moved to [blazeface] grid"),
    ("[haar]\ndetect_scale = 0.5\n", "unknown key 'haar.detect_scale' (expected one of: haar.scale,"),
    ("[blazeface]\nscale = 1.5\n", "'blazeface.scale' (--blazeface-scale): expected a number in (0, 1], found 1.5"),
])
def test_old_flat_keys_name_their_new_place(cli, tmp_path, text, words):
    path = tmp_path / "old.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        load_config(str(path), RunConfig)
    assert words in str(e.value) and str(e.value).startswith(str(path) + ": ")  # field checks name the file too
    for args in (["run", "--config", str(path)], ["config", "show", "--config", str(path)]):
        r = cli(args)
        assert r.exit_code == 2 and r.output.strip().splitlines() == ["edge: error: " + str(e.value)]


def test_config_show_has_the_detector_sections(cli):
    r = cli(["config", "show"])
    assert r.exit_code == 0, r.output
    assert "[haar]\nscale = 0.4\nmin_neighbors = 3\n" in r.output and '[blazeface]\nmodel = "masked"\n' in r.output
    assert "detect_scale" not in r.output


def test_run_with_labels_and_input_size_end_to_end(cli):
    pytest.importorskip("onnxruntime")
    r = cli(["run", "--input-size", "128x128", "--labels", "with_mask,without_mask", "--headless",
             "--max-frames", "5", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output.strip().splitlines()[-1])
    assert s["frames"] == 5 and s["backend"]["input_size"] == [128, 128]
    assert s["backend"]["labels"] == ["with_mask", "without_mask"]
    assert os.path.basename(s["backend"]["path"]) == "mask_default.onnx"
