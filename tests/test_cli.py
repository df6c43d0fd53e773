"""The CLI as a user meets it: help without heavy libraries, exit codes, one-line errors."""
import os
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
