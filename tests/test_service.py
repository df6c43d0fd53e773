"""The systemd unit passes `systemd-analyze verify`; `edge service install` plans, stages and renders it."""
import configparser
import os
import shutil
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT = os.path.join(ROOT, "systemd", "edge.service")

# Every [Unit]/[Service]/[Install] key the unit may use, each present in systemd 237 (Ubuntu 18.04 /
# JetPack 4.6): a newer key would only be warned about and ignored there (e.g. RestartSteps, 254+).
KEYS_IN_SYSTEMD_237 = {
    "Description", "Documentation", "Wants", "Requires", "After", "Before", "StartLimitIntervalSec",
    "StartLimitBurst", "Type", "NotifyAccess", "WatchdogSec", "TimeoutStartSec", "TimeoutStopSec", "ExecStart",
    "Restart", "RestartSec", "EnvironmentFile", "Environment", "User", "Group", "SupplementaryGroups",
    "StateDirectory", "LogsDirectory", "WorkingDirectory", "UMask", "NoNewPrivileges", "ProtectSystem",
    "ProtectHome", "PrivateTmp", "PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectKernelTunables",
    "ProtectKernelModules", "ProtectControlGroups", "RestrictAddressFamilies", "RestrictNamespaces",
    "RestrictRealtime", "LockPersonality", "SystemCallArchitectures", "WantedBy",
}


def _unit_keys(text):
    return [line.split("=", 1)[0] for line in text.splitlines() if line and line[0] not in "#[" and "=" in line]


def _unit_values(text, key):
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def _fake_edge(tmp_path):
    """A real executable standing in for the installed `edge` (it runs this checkout's edge)."""
    path = tmp_path / "bin" / "edge"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexec {} -m edge \"$@\"\n".format(sys.executable))
    path.chmod(0o755)
    return str(path)


def test_unit_uses_only_keys_systemd_237_knows():
    text = open(UNIT).read()
    unknown = sorted(set(_unit_keys(text)) - KEYS_IN_SYSTEMD_237)
    assert unknown == [], "not in systemd 237 (JetPack 4.6): {}".format(unknown)


def test_unit_contract():
    text = open(UNIT).read()
    v = {k: _unit_values(text, k) for k in set(_unit_keys(text))}
    assert v["Type"] == ["notify"] and v["Restart"] == ["on-failure"] and v["PrivateTmp"] == ["no"]
    assert int(v["WatchdogSec"][0]) > 0 and int(v["RestartSec"][0]) > 0 and int(v["StartLimitBurst"][0]) > 0
    assert "nvargus-daemon.service" in v["Wants"][0] and "nvargus-daemon.service" in v["After"][0]
    assert v["SupplementaryGroups"] == ["video"] and v["User"] == ["edge"]
    assert v["StateDirectory"] == ["edge"] and v["LogsDirectory"] == ["edge"]
    assert v["EnvironmentFile"] == ["-/etc/edge/edge.env"]
    assert "PrivateDevices" not in v and "MemoryDenyWriteExecute" not in v
    allowed = " ".join(v["DeviceAllow"])
    for node in ("/dev/nvmap", "/dev/nvhost-ctrl-gpu", "/dev/nvhost-gpu", "/dev/nvhost-as-gpu", "char-video4linux"):
        assert node in allowed


def test_unit_is_a_valid_ini_file():
    parser = configparser.RawConfigParser(strict=False)
    parser.read(UNIT)
    assert parser.sections() == ["Unit", "Service", "Install"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="needs systemd-analyze (Debian package `systemd`)")
def test_rendered_unit_passes_systemd_analyze_verify(tmp_path, cli):
    """The unit as installed (ExecStart pointing at a real executable) verifies with no warning at all."""
    edge = _fake_edge(tmp_path)
    staging = tmp_path / "root"
    r = cli(["service", "install", "--apply", "--root", str(staging), "--exec", edge])
    assert r.exit_code == 0, r.output
    unit = staging / "etc/systemd/system/edge.service"
    assert _unit_values(unit.read_text(), "ExecStart") == [edge + " run --config /etc/edge/config.toml"]
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("edit,expected", [
    (lambda t, edge: t, "/usr/local/bin/edge is not executable"),  # the template, as shipped, off-device
    (lambda t, edge: t.replace("/usr/local/bin/edge", edge).replace("RestartSec=5", "RestartSec=5\nRestartSteps=5"),
     "Unknown key 'RestartSteps'"),
])
def test_verify_catches_a_broken_unit(tmp_path, edit, expected):
    """The verification above can fail: a missing ExecStart binary, a key this systemd does not know."""
    broken = tmp_path / "edge.service"
    broken.write_text(edit(open(UNIT).read(), _fake_edge(tmp_path)))
    out = subprocess.run(["systemd-analyze", "verify", str(broken)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert expected in out.stdout


def test_dry_run_writes_nothing(tmp_path, cli):
    edge = _fake_edge(tmp_path)
    r = cli(["service", "install", "--exec", edge, "--root", str(tmp_path / "root"), "--user", "nobody"])
    assert r.exit_code == 0, r.output
    assert "Dry run" in r.output and "write /etc/systemd/system/edge.service" in r.output
    assert "useradd" not in r.output  # nobody exists already
    assert "usermod -aG video nobody" in r.output and "systemctl enable edge.service" in r.output
    assert not (tmp_path / "root").exists()


def test_apply_into_a_staging_root(tmp_path, cli):
    edge = _fake_edge(tmp_path)
    conf = tmp_path / "config.toml"
    conf.write_text('model = "/var/lib/edge/small.engine"\n')
    staging = tmp_path / "root"
    r = cli(["service", "install", "--apply", "--root", str(staging), "--exec", edge, "--user", "camera",
             "--config-from", str(conf), "--start"])
    assert r.exit_code == 0, r.output
    unit = (staging / "etc/systemd/system/edge.service").read_text()
    assert _unit_values(unit, "User") == ["camera"] and _unit_values(unit, "Group") == ["camera"]
    assert (staging / "etc/edge/config.toml").read_text() == conf.read_text()
    env = staging / "etc/edge/edge.env"
    assert "EDGE_SERVE_TOKEN" in env.read_text() and stat.S_IMODE(env.stat().st_mode) == 0o640
    assert "skip  systemctl restart edge.service  (--root: not run)" in r.output
    assert not list(staging.rglob("*.tmp"))
    # installing again keeps an existing config and env file
    conf.write_text('model = "other"\n')
    r = cli(["service", "install", "--apply", "--root", str(staging), "--exec", edge, "--config-from", str(conf)])
    assert r.exit_code == 0 and "other" not in (staging / "etc/edge/config.toml").read_text()


@pytest.mark.parametrize("args,code,message", [
    (["--exec", "relative/edge"], 2, "expected --exec to be an absolute path to an executable"),
    (["--exec", "/nonexistent/edge"], 2, "expected --exec to be an absolute path"),
    (["--config", "config.toml"], 2, "expected an absolute --config path"),
    (["--config-from", "/nonexistent.toml"], 3, "--config-from: found nothing at /nonexistent.toml"),
])
def test_bad_options(cli, args, code, message):
    r = cli(["service", "install"] + args)
    assert r.exit_code == code and message in r.output


def test_apply_needs_root(tmp_path, cli, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = cli(["service", "install", "--apply", "--exec", _fake_edge(tmp_path)])
    assert r.exit_code == 2 and "needs root: run it with sudo" in r.output
