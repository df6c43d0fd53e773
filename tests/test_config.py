"""Strict config files: a run-like config from TOML/YAML, errors that name the key, CLI on top, TOML out."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import pytest

from edge.config import (check_fields, default_of, field_of, flag_keys, from_dict, load_config, merge_cli,
                         setting, show_config)
from edge.errors import InputError, UsageError


@dataclass
class Detector:
    kind: str = "haar"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: Tuple[int, ...] = (60, 60)


@dataclass
class Serve:
    address: Optional[str] = None
    token: Optional[str] = None


@dataclass
class Run:
    model: str
    source: str = "0"
    headless: bool = False
    save: Optional[str] = None
    log: Optional[str] = None
    max_frames: Optional[int] = None
    labels: List[str] = field(default_factory=lambda: ["with_mask", "without_mask"])
    colours: Dict[str, str] = field(default_factory=dict)
    detector: Detector = field(default_factory=Detector)
    serve: Serve = field(default_factory=Serve)


GOOD_TOML = """
model = "/var/lib/edge/small.engine"
source = "csi://0"
headless = true
max_frames = 100
labels = ["mask", "no_mask"]
colours = {mask = "green"}

[detector]
scale_factor = 1
min_size = [40, 40]

[serve]
address = "127.0.0.1:8080"
"""

GOOD_YAML = """
model: /var/lib/edge/small.engine
source: csi://0
headless: true
max_frames: 100
labels: [mask, no_mask]
colours: {mask: green}
detector:
  scale_factor: 1
  min_size: [40, 40]
serve:
  address: 127.0.0.1:8080
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("name,text", [("run.toml", GOOD_TOML), ("run.yaml", GOOD_YAML), ("run.yml", GOOD_YAML)])
def test_loads_nested_typed_config(tmp_path, name, text):
    if name.endswith("ml") and not name.endswith("toml"):
        pytest.importorskip("yaml")
    cfg = load_config(_write(tmp_path, name, text), Run)
    assert cfg == Run(model="/var/lib/edge/small.engine", source="csi://0", headless=True, max_frames=100,
                      labels=["mask", "no_mask"], colours={"mask": "green"},
                      detector=Detector(scale_factor=1.0, min_size=(40, 40)),
                      serve=Serve(address="127.0.0.1:8080"))
    assert isinstance(cfg.detector.scale_factor, float)


@pytest.mark.parametrize("text,message", [
    ('model = "m"\nmax_frame = 3\n', "unknown key 'max_frame' (expected one of: model, source,"),
    ('model = "m"\n[detector]\nscale = 1.2\n', "unknown key 'detector.scale' (expected one of: detector.kind,"),
    ('model = "m"\nmax_frames = "ten"\n', "'max_frames' expected an integer, found string \"ten\""),
    ('model = "m"\nmax_frames = 2.5\n', "'max_frames' expected an integer, found number 2.5"),
    ('model = "m"\nheadless = 1\n', "'headless' expected true or false, found integer 1"),
    ('model = "m"\nmax_frames = true\n', "'max_frames' expected an integer, found boolean true"),
    ('model = "m"\nlabels = "mask"\n', "'labels' expected a list of strings, found string \"mask\""),
    ('model = "m"\nlabels = ["a", 2]\n', "'labels[1]' expected a string, found integer 2"),
    ('model = "m"\ndetector = "haar"\n', "'detector' expected a table [section], found string \"haar\""),
    ('model = "m"\n[detector]\nmin_size = [40, "x"]\n', "'detector.min_size[1]' expected an integer"),
    ('source = "0"\n', "missing required key 'model' (a string)"),
])
def test_bad_config_names_file_key_expected_and_found(tmp_path, text, message):
    path = _write(tmp_path, "run.toml", text)
    with pytest.raises(UsageError) as e:
        load_config(path, Run)
    assert str(e.value).startswith(path + ": ")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name,content,error,message", [  # config errors: exit 2 (README), not 3
    ("run.toml", 'model = "m"\nsource = \n', UsageError, "not valid TOML"),
    ("run.toml", b"\xff\xfe\x00binary", UsageError, "expected a UTF-8 text file"),
    ("run.yaml", "- just\n- a list\n", UsageError, "expected a table of keys at the top level, found list"),
    ("run.yaml", "model: [unclosed\n", UsageError, "not valid YAML"),
    ("run.ini", "model=m", UsageError, "expected a config file ending in .toml, .yaml or .yml"),
])
def test_broken_files_are_one_clear_error(tmp_path, name, content, error, message):
    if name.endswith(".yaml"):
        pytest.importorskip("yaml")
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(error) as e:
        load_config(str(p), Run)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert e.value.exit_code == 2


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read config file .*nope.toml"):
        load_config(str(tmp_path / "nope.toml"), Run)


def test_cli_values_override_file_only_where_given(tmp_path):
    cfg = load_config(_write(tmp_path, "run.toml", GOOD_TOML), Run)
    merged = merge_cli(cfg, {"max_frames": 5, "serve.token": "s3cret", "detector.min_neighbors": 3})
    assert merged.max_frames == 5 and merged.serve == Serve("127.0.0.1:8080", "s3cret")
    assert merged.detector == Detector(scale_factor=1.0, min_neighbors=3, min_size=(40, 40))
    assert merged.source == "csi://0" and cfg.max_frames == 100  # the rest kept, the input untouched


@pytest.mark.parametrize("values,message", [
    ({"max_frame": 5}, "unknown config key 'max_frame'"),
    ({"detector.scale": 1.0}, "unknown config key 'detector.scale'"),
    ({"max_frames": "5"}, "'max_frames' expected an integer, found string \"5\""),
])
def test_bad_cli_values(values, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace(".", r"\.")):
        merge_cli(Run(model="m"), values)


def test_show_config_round_trips(tmp_path):
    cfg = merge_cli(load_config(_write(tmp_path, "run.toml", GOOD_TOML), Run),
                    {"save": 'out "1".mp4', "serve.token": None})
    text = show_config(cfg)
    assert "[detector]" in text and "[serve]" in text and "# log = (not set)" in text
    again = load_config(_write(tmp_path, "shown.toml", text), Run)
    assert again == cfg


def test_from_dict_prefix_for_sections():
    with pytest.raises(UsageError, match="'serve.address' expected a string, found integer 8080"):
        from_dict(Run, {"model": "m", "serve": {"address": 8080}})


def test_explicit_params_only_reports_given_flags(cli):
    import typer
    from typer.testing import CliRunner

    from edge.config import explicit_params

    app = typer.Typer()
    seen = {}

    @app.command()
    def run(ctx: typer.Context,
            max_frames: int = typer.Option(0, "--max-frames", help="n"),
            headless: bool = typer.Option(False, "--headless", help="h")):
        seen["given"] = explicit_params(ctx)

    assert CliRunner().invoke(app, ["--max-frames", "0"]).exit_code == 0
    assert seen["given"] == ["max_frames"]
    assert CliRunner().invoke(app, []).exit_code == 0
    assert seen["given"] == []


def test_cli_overrides_end_to_end(tmp_path):
    """A typer command with --config: the file first, then only the flags the user typed."""
    from typing import Optional as Opt

    import typer
    from typer.testing import CliRunner

    from edge.config import cli_overrides

    app = typer.Typer()
    out = {}

    @app.command()
    def run(ctx: typer.Context,
            config: Opt[str] = typer.Option(None, "--config", help="c"),
            model: str = typer.Option("default.onnx", "--model", help="m"),
            max_frames: Opt[int] = typer.Option(None, "--max-frames", help="n"),
            headless: bool = typer.Option(False, "--headless/--window", help="h"),
            serve: Opt[str] = typer.Option(None, "--serve", help="s"),
            serve_token: Opt[str] = typer.Option(None, "--serve-token", envvar="EDGE_SERVE_TOKEN", help="t")):
        cfg = load_config(config, Run) if config else Run(model=model)
        out["cfg"] = merge_cli(cfg, cli_overrides(ctx, {"serve": "serve.address", "serve_token": "serve.token"}))

    path = _write(tmp_path, "run.toml", GOOD_TOML)
    r = CliRunner().invoke(app, ["--config", path, "--window", "--serve", "127.0.0.1:9000"],
                           env={"EDGE_SERVE_TOKEN": "from-the-environment"})
    assert r.exit_code == 0, r.output
    cfg = out["cfg"]
    assert cfg.headless is False and cfg.max_frames == 100 and cfg.model == "/var/lib/edge/small.engine"
    assert cfg.serve == Serve("127.0.0.1:9000", "from-the-environment")


def test_config_show_command(cli, tmp_path):
    r = cli(["config", "show"])
    assert r.exit_code == 0 and "[serve]" in r.output and "max_delay = 30.0" in r.output
    good = _write(tmp_path, "d.toml", '[serve]\naddress = "127.0.0.1:9000"\n[reconnect]\nmax_delay = 5\n')
    r = cli(["config", "show", "--config", good])
    assert r.exit_code == 0 and 'address = "127.0.0.1:9000"' in r.output and "max_delay = 5.0" in r.output
    bad = _write(tmp_path, "bad.toml", '[reconnect]\nmax_delay = "x"\n')
    r = cli(["config", "show", "-c", bad])
    assert r.exit_code == 2
    assert r.output.strip() == ("edge: error: {}: 'reconnect.max_delay' expected a number, found string \"x\""
                                .format(bad))
    r = cli(["config", "show", "--schema", "tests.test_config:Run", "-c", _write(tmp_path, "r.toml", GOOD_TOML)])
    assert r.exit_code == 0 and 'source = "csi://0"' in r.output
    r = cli(["config", "show", "--schema", "edge.config:nothing"])
    assert r.exit_code == 2 and "expected --schema MODULE:CLASS naming a dataclass" in r.output


@dataclass
class Section:
    scale: float = setting(0.4, "--detect-scale", "s")
    cascade: str = setting("alt2.xml", None, "config file only")

    def __post_init__(self):
        check_fields(self, [(0 < self.scale <= 1, "scale", "a number in (0, 1]")], section="haar.")


@dataclass
class Flagged:
    source: str = setting("", ("--camera", "-c"), "where")
    threaded: bool = setting(True, "--threaded/--no-threaded", "t")
    width: int = setting(1280, "--width", "w")
    height: int = setting(720, "--height", "h")
    names: List[str] = setting(["a"], "--names", "a list default is copied per instance")
    haar: Section = field(default_factory=Section)

    def __post_init__(self):
        check_fields(self, [(self.width > 0, "width", "positive"),
                            (self.width * self.height <= 10 ** 7, "width/height", "≤ 10 MP")])


def test_setting_keeps_default_flags_and_help():
    f = field_of(Flagged, "haar.scale")
    assert default_of(f) == 0.4 and f.metadata["flags"] == ("--detect-scale",) and f.metadata["help"] == "s"
    assert field_of(Flagged, "source").metadata["flags"] == ("--camera", "-c")
    assert Flagged().names == ["a"] and Flagged().names is not Flagged().names
    assert flag_keys(Flagged) == {"camera": "source", "threaded": "threaded", "width": "width", "height": "height",
                                  "names": "names", "detect_scale": "haar.scale"}  # cascade: no flag


@pytest.mark.parametrize("make,message", [
    (lambda: Flagged(width=0), "run config 'width' (--width): expected positive, found 0"),
    (lambda: Flagged(width=5000, height=5000), "run config 'width/height': expected ≤ 10 MP, found (5000, 5000)"),
    (lambda: Section(scale=2), "run config 'haar.scale' (--detect-scale): expected a number in (0, 1], found 2"),
    (lambda: from_dict(Flagged, {"detect_scale": 0.5}, where="f.toml: "),
     "f.toml: key 'detect_scale' moved to [haar] scale"),
    (lambda: from_dict(Flagged, {"haar": {"detect_scale": 0.5}}), "unknown key 'haar.detect_scale' (expected one of: "
                                                                  "haar.scale, haar.cascade)"),
    (lambda: from_dict(Flagged, {"camera": "csi"}), "unknown key 'camera' (expected one of: source,"),
])
def test_check_fields_and_moved_keys_name_the_key(make, message):
    with pytest.raises(UsageError) as e:
        make()
    assert str(e.value).startswith(message)


# --- every problem at once, the same checks for `edge config show` and `edge run` -------------------

def test_every_problem_at_once_with_did_you_mean(tmp_path):
    from edge.run.checks import load_run_config

    path = _write(tmp_path, "bad.toml", 'modle = "x.onnx"\ntimeout = -1\nwidth = "wide"\ndetect_every = 0\n'
                                        '[serv]\naddress = "127.0.0.1:1"\n[haar]\nscalee = 0.5\n')
    with pytest.raises(UsageError) as e:
        load_run_config(path)
    text = str(e.value)
    assert "\n" not in text and text.startswith(path + ": 6 problems: ")
    for part in ("unknown key 'modle' (expected one of: source, model,", "did you mean 'model'?",
                 "unknown key 'serv' (", "did you mean [serve]?", "unknown key 'haar.scalee' (",
                 "did you mean 'haar.scale'?", "'width' expected an integer, found string \"wide\"",
                 "'timeout' (--timeout): expected", "'detect_every' (--detect-every): expected ≥ 1, found 0"):
        assert part in text, (part, text)
    assert e.value.exit_code == 2


def test_a_flag_name_as_key_points_to_its_key():
    from edge.run.config import RunConfig

    with pytest.raises(UsageError, match=r"unknown key 'camera' \(.*\); did you mean 'source' \(the --camera "
                                         r"flag's key\)\?"):
        from_dict(RunConfig, {"camera": "csi"})


def _bad_run_configs(tmp_path):
    """{what: config text} of configs that parse but cannot run."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    return {
        "serve": ('[serve]\naddress = "0.0.0.0:8080"\n', "refusing to serve the live view on 0.0.0.0:8080 "
                                                         "without --serve-token"),
        "model": ('model = "{}"\n'.format(tmp_path / "nope.onnx"), "expected a model file, found nothing at"),
        "log": ('log = "{}"\n'.format(a_file / "logs" / "frames.jsonl"), "expected a folder for --log"),
        "source": ('source = "{}"\n'.format(tmp_path / "missing.mp4"), "found nothing at"),
    }


@pytest.mark.parametrize("what", ["serve", "model", "log", "source"])
def test_config_show_refuses_what_run_refuses(cli, tmp_path, what):
    text, message = _bad_run_configs(tmp_path)[what]
    path = _write(tmp_path, "c.toml", text)
    shown = cli(["config", "show", "-c", path])
    ran = cli(["run", "--config", path, "--headless", "--max-frames", "1"])
    assert shown.exit_code == ran.exit_code != 0, (shown.output, ran.output)
    assert shown.output == ran.output, (shown.output, ran.output)
    assert shown.output.startswith("edge: error: " + path + ": ") and message in shown.output
    assert shown.output.count("\n") == 1


def test_config_show_reports_every_start_up_problem_at_once(cli, tmp_path):
    bad = _bad_run_configs(tmp_path)
    path = _write(tmp_path, "c.toml", "".join(bad[k][0] for k in ("model", "log", "source", "serve")))
    r = cli(["config", "show", "-c", path])
    assert r.exit_code == 2 and r.output.startswith("edge: error: {}: 4 problems: ".format(path))
    assert all(bad[k][1] in r.output for k in bad) and r.output.count("\n") == 1


def test_flags_can_fix_what_the_file_lacks(cli, tmp_path):
    path = _write(tmp_path, "c.toml", '[serve]\naddress = "0.0.0.0:8080"\n')
    r = cli(["run", "--config", path, "--serve-token", "short", "--print-pipeline"])
    assert r.exit_code == 0, r.output  # --print-pipeline: no start-up checks
    from edge.run.checks import load_run_config

    cfg = load_run_config(path, {"serve.token": "s" * 16, "serve.hosts": ("jetson.local",)})
    assert cfg.serve.token == "s" * 16 and cfg.serve.hosts == ["jetson.local"]


def test_config_syntax_errors_exit_2(cli, tmp_path):
    path = _write(tmp_path, "c.toml", "model = \n")
    for args in (["config", "show", "-c", path], ["run", "--config", path]):
        r = cli(args)
        assert r.exit_code == 2 and r.output.startswith("edge: error: {}: not valid TOML".format(path)), r.output


def test_config_show_hides_the_serve_token(cli, tmp_path):
    token = "s3cret-token-0123456789"
    path = _write(tmp_path, "c.toml", '[serve]\naddress = "0.0.0.0:8080"\ntoken = "{}"\n'.format(token))
    r = cli(["config", "show", "-c", path])
    assert r.exit_code == 0, r.output
    assert token not in r.output and 'token = "***"' in r.output
    r = cli(["config", "show", "-c", path, "--show-secrets"])
    assert r.exit_code == 0 and 'token = "{}"'.format(token) in r.output
    assert "--show-secrets" in cli(["config", "show", "--help"]).output
