"""The CLI as a user meets it: help without heavy libraries, exit codes, one-line errors."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from edge import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("torch", "tensorrt", "pycuda", "jtop", "onnxruntime", "onnx")

# Runs the CLI with the heavy modules made unimportable at the import-system level.
BLOCKED_RUN = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {heavy!r}:
                raise ImportError("blocked for the test: " + name)
    sys.meta_path.insert(0, Block())
    sys.argv = ["edge"] + sys.argv[1:]
    from edge.cli import main
    try:
        main()
    finally:
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
        if leaked:
            print("LEAKED", leaked)
""").format(heavy=HEAVY)


def run_blocked(*args):
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN] + list(args), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


def test_help_works_without_torch_or_gpu_libraries():
    r = run_blocked("--help")
    assert r.returncode == 0, r.stderr
    assert "profile" in r.stdout and "LEAKED" not in r.stdout


def test_version_without_torch():
    r = run_blocked("--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_command_needing_torch_says_which_package(tmp_path):
    r = run_blocked("profile", "teacher")
    assert r.returncode == 4
    assert r.stderr.strip().splitlines() == [
        "edge: error: the Python module 'torch' is needed for edge profile but is not installed; "
        "install it with `pip install torch`"]


@pytest.mark.parametrize("content,code,expected", [
    (None, 3, "found nothing at"),
    (b"hello\n", 3, "found a text file"),
    (b"\x00\x01\x02garbage" * 10, 3, "found 100 bytes of binary data"),
])
def test_profile_bad_input_is_one_line_and_exit_code(tmp_path, cli, content, code, expected):
    pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    result = cli(["profile", str(path)])
    assert result.exit_code == code
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge: error: ") and expected in lines[0]
    assert "Traceback" not in result.output


def test_profile_unknown_name_is_a_usage_error(cli):
    pytest.importorskip("torch")
    result = cli(["profile", "resnet9"])
    assert result.exit_code == 2
    assert "found neither: 'resnet9'" in result.output


def test_every_command_has_help_for_every_option(cli):
    from edge.cli import app
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, "edge {} {} has no help".format(name, param.opts[0])
        assert cli([name, "--help"]).exit_code == 0


def _runner():
    """A CliRunner whose result keeps stderr apart from stdout (click < 8.2 mixes them unless told not to)."""
    from typer.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()


def _commands():
    """[(["data", "synth"], click command), ...]: `edge` itself and every command and sub-command."""
    import typer.main

    from edge.cli import app

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, path + [name])

    return list(walk(typer.main.get_command(app), []))


def test_help_lists_exactly_the_commands_in_COMMANDS(cli):
    from edge.cli import COMMANDS

    out = cli(["--help"]).output
    listed = [m.group(1) for m in re.finditer(r"^  (\S+)", out[out.index("Commands:"):], re.M)]
    assert listed == [name for name, _ in COMMANDS]
    assert len(listed) == 15  # distill, prune, eval and compress live in commands/train.py


@pytest.mark.parametrize("args,expected", [
    (["run", "--no-such-flag"], "edge: error: no such option: --no-such-flag (see 'edge run --help')"),
    (["--no-such"], "edge: error: no such option: --no-such (see 'edge --help')"),
    (["run", "--labes", "a"], "--labels?"),  # "did you mean --classes or --labels?": every close flag named
    (["bench"], "edge: error: missing argument 'MODEL...' (see 'edge bench --help')"),
    (["bench", "m.onnx", "--batch", "x"], "edge: error: invalid value for '--batch' / '-b': "),
    (["bench", "m.onnx", "--batch"], "edge: error: option '--batch' requires an argument"),
    (["nosuchcommand"], "edge: error: no such command 'nosuchcommand'"),
    (["data", "nosuch"], "edge: error: no such command 'nosuch'"),
])
def test_usage_error_is_one_line_on_stderr_and_exit_2(args, expected):
    r = run_blocked(*args)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""  # nor a LEAKED line: no heavy library was imported
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge: error: ") and expected in lines[0], r.stderr


def test_every_command_rejects_an_unknown_option_in_one_line():
    from edge.cli import app

    runner = _runner()
    for path, _ in _commands():
        r = runner.invoke(app, path + ["--no-such-flag"], prog_name="edge")
        where = " ".join(["edge"] + path)
        assert r.exit_code == 2, (where, r.output)
        assert r.stdout == "", where
        assert r.stderr.splitlines() == [
            "edge: error: no such option: --no-such-flag (see '{} --help')".format(where)]


def test_every_help_fits_80_columns_with_every_option_name_whole():
    from edge.cli import app

    runner = _runner()
    for path, command in _commands():
        r = runner.invoke(app, path + ["--help"], env={"COLUMNS": "80"}, prog_name="edge")
        where = " ".join(["edge"] + path)
        assert r.exit_code == 0, (where, r.output)
        too_long = [line for line in r.stdout.splitlines() if len(line) > 80]
        assert not too_long, (where, too_long)
        words = set(re.split(r"[\s,/]+", r.stdout))
        for param in command.params:
            for name in param.opts + param.secondary_opts:
                if name.startswith("-"):
                    assert name in words, "{} --help cuts {}".format(where, name)


def test_help_keeps_example_lines_apart():
    from edge.cli import keep_examples

    text = "Do it.\n\nExample: edge a --b\nExample: edge c " + "--long-option " * 8
    out = keep_examples(text)
    assert out.startswith("Do it.\n\n\b\nExample: edge a --b\nExample: edge c --long-option")
    assert all(len(line) <= 76 for line in out.splitlines())
    assert out.splitlines()[-1].startswith("    --long-option")
    assert keep_examples("One paragraph. Example: inline.") == "One paragraph. Example: inline."
