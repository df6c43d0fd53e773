"""pytest plugin of .ci/py36.sh: the device-side tests on Python 3.6, where the host packages are absent.

Host test modules (importing models/, export/, torch or onnx at top level) are not collected; a test whose
fixture or data needs a host package (an import of torch, onnx... failing with no frame of edge/ on the way)
is skipped as importorskip would skip it; a skip for a missing device package fails the run, so a skip never
hides a device test. The lists are printed at the end."""
import ast
import os
import re

import pytest

import edge

HOST = {"models", "export", "torch", "torchvision", "onnx", "onnxslim", "torch_pruning", "tqdm", "tflite2onnx",
        "ai_edge_litert"}
HARDWARE = {"tensorrt", "pycuda", "jtop"}  # no CI machine has them (nor a GPU, nor a Jetson)
# A skip for a package this venv should have (any importorskip but of a host or hardware package; PyGObject)
# hides a device test; skips for this machine (no GPU, no IPv6, no Chromium...) are as on the main leg.
DEVICE_SKIP = re.compile(r"could not import '(?!(?:{})[.'])|PyGObject".format("|".join(sorted(HOST | HARDWARE))))
_ignored, _host, _hidden = [], [], []


def _top_imports(path):
    for node in ast.parse(open(str(path)).read()).body:
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


def pytest_ignore_collect(path, config):
    if path.ext == ".py" and path.basename.startswith("test_") and HOST & set(_top_imports(path)):
        _ignored.append(path.basename)
        return True
    return None


def _host_package(excinfo):
    """The host package whose import failed, when no frame of edge/ was on the way; else None."""
    if excinfo is None or not excinfo.errisinstance(ImportError):
        return None
    name = (getattr(excinfo.value, "name", None) or "").split(".")[0]
    edge_dir = os.path.dirname(os.path.abspath(edge.__file__)) + os.sep
    through_edge = any(str(e.path).startswith(edge_dir) for e in excinfo.traceback)
    return name if name in HOST and not through_edge else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    package = _host_package(call.excinfo) if report.failed else None
    if package:
        report.outcome = "skipped"
        report.longrepr = (str(item.fspath), item.location[1], "Skipped: needs a host package ({}) for its {}".format(
            package, "fixture" if report.when == "setup" else "test data"))
        _host.append(item.nodeid)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if DEVICE_SKIP.search(reason):
            _hidden.append("{}: {}".format(report.nodeid, reason))


def pytest_collectreport(report):
    pytest_runtest_logreport(report)


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    write("py36: host test modules not collected: {}".format(", ".join(sorted(_ignored)) or "none"))
    write("py36: {} tests skipped, their fixtures or data need a host package: {}".format(
        len(_host), ", ".join(sorted({n.split("::")[0] for n in _host})) or "none"))
    for line in _hidden:
        write("py36: FAILED: a device test was skipped: " + line, red=True)


def pytest_sessionfinish(session, exitstatus):
    if _hidden and exitstatus == 0:
        session.exitstatus = 1
