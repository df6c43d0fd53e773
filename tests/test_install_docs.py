"""The README's by-hand install runs the README's workflow, and README and docs/DEPLOY.md agree."""
import configparser
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def _extra(name, section="options.extras_require"):
    c = configparser.ConfigParser()
    c.read(os.path.join(ROOT, "setup.cfg"))
    return [line.strip() for line in c[section][name].splitlines() if line.strip()]


def _required_packages(path):
    """The pip packages a command file names in require(module, package, ...)."""
    return re.findall(r"require\(\s*\"[\w.]+\",\s*\"([\w-]+)\"", _read(path))


def test_host_extra_has_what_the_host_commands_require():
    host = {re.split(r"[<>=;\s]", r)[0].lower() for r in _extra("host") + _extra("install_requires", "options")}
    for command in ("edge/commands/data.py", "edge/commands/train.py", "edge/commands/export.py"):
        for package in _required_packages(command):
            assert package.lower() in host, "{} requires {}, missing from [host]".format(command, package)
    assert "scikit-image" in host  # edge data synth


def test_the_pygobject_pin_lives_in_setup_cfg_only():
    gst = _extra("gst")
    assert gst == ['PyGObject>=3.42,<3.51; python_version >= "3.9"']  # 3.51+ needs girepository-2.0
    setup_sh = _read("setup.sh")
    assert not re.search(r"PyGObject[=<>]", setup_sh), "setup.sh pins PyGObject itself"
    assert "-Csetup-args=-Dpycairo=disabled" in setup_sh and "-Dpycairo=disabled" in _read("setup.cfg")


def _jetson_install(text, heading):
    """The pip lines (comments dropped) of the first ```bash block after ``heading``."""
    block = text[text.index("```bash", text.index(heading)):]
    block = block[:block.index("```", 7)]
    return [" ".join(line.split("#")[0].split()) for line in block.splitlines() if "pip install" in line]


def test_readme_jetson_install_is_system_wide_as_in_deploy():
    readme = _jetson_install(_read("README.md"), "**Jetson Nano, JetPack 4.6")
    deploy_lines = _jetson_install(_read("docs/DEPLOY.md"), "## 2. Install edge")
    assert readme and readme == deploy_lines, (readme, deploy_lines)
    assert all("--user" not in line and line.startswith("sudo") for line in readme), readme
    assert "ProtectHome=yes" in _read("systemd/edge.service")  # why --user cannot work for the service
