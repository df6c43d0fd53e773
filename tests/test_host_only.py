"""The device side (edge/) never imports the host packages (models/, export/) by itself; a `.pt`
checkpoint, which needs models/ to rebuild its network, is one clear error where models/ is not there
or, under `--backend auto`, on a Jetson."""
import os
import subprocess
import sys

import pytest

from edge import files
from edge.backends import load_backend
from edge.backends import pytorch as P
from edge.errors import MissingDependency
from edge.zoo import MASK_CHECKPOINT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# import every module under edge/ with models/ and export/ unimportable; a module may still fail for an
# optional package (gi, typer...), but never because it reached for a host package
IMPORT_ALL = r"""
import importlib, pkgutil, sys

HOST = ("models", "export")
tried = []

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HOST:
            tried.append(name)
            raise ImportError("host package " + name, name=name)

sys.meta_path.insert(0, Block())
import edge

for m in pkgutil.walk_packages(edge.__path__, "edge."):
    if m.name.endswith("__main__"):
        continue  # runs the CLI
    try:
        importlib.import_module(m.name)
    except ImportError as e:
        if (e.name or "").split(".")[0] in HOST:
            raise
print(sorted(set(tried)), sorted(n for n in sys.modules if n.split(".")[0] in HOST))
"""


def test_no_edge_module_imports_a_host_package():
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert out.returncode == 0, out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[] []", out.stdout


def test_a_checkpoint_without_models_is_host_only(monkeypatch):
    monkeypatch.setattr(P, "host_package_installed", lambda: False)
    for backend in ("pytorch", "auto"):
        with pytest.raises(MissingDependency) as e:
            load_backend(MASK_CHECKPOINT, backend)
        assert e.value.exit_code == 4 and isinstance(e.value, P.CheckpointIsHostOnly)
        assert str(e.value) == ("'mask_default.pt' is an edge checkpoint, which only the host side reads (the "
                                "package 'models' is not installed here); export it to ONNX there (`edge export "
                                "mask_default.pt`) and run the .onnx here")


def test_a_models_package_that_does_not_import_is_host_only_too(monkeypatch):
    monkeypatch.setitem(sys.modules, "models.checkpoint", None)  # import of models.checkpoint halted
    with pytest.raises(P.CheckpointIsHostOnly, match="the package 'models' is not importable here"):
        P.checkpoint_reader("x.pt")


def test_auto_on_a_jetson_never_picks_the_checkpoint_reader(monkeypatch):
    monkeypatch.setattr(files, "is_jetson", lambda: True)
    with pytest.raises(P.CheckpointIsHostOnly, match="this is a Jetson; `--backend pytorch` forces the host reader"):
        load_backend(MASK_CHECKPOINT, "auto")


@pytest.mark.parametrize("path,checkpoint", [("m.pt", True), ("m.pth", True), ("m.ts", False)])
def test_is_checkpoint(path, checkpoint):
    assert P.is_checkpoint(path) is checkpoint
