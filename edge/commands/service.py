"""``edge service install``: the systemd unit, its user and directories. Dry run unless --apply."""
import os
import shlex
import shutil
import subprocess
import sys
from typing import List, NamedTuple, Optional

import typer

service_app = typer.Typer(help="Install edge as a systemd service (Type=notify, watchdog, restart on failure).",
                          no_args_is_help=True)
UNIT_PATH = "/etc/systemd/system/edge.service"
CONF_DIR = "/etc/edge"


class Action(NamedTuple):
    kind: str  # "run" (a command), "write" (a file), "mkdir"
    target: str  # the command line, or the path
    content: str = ""  # file content (write)
    mode: int = 0o644
    note: str = ""


def _data(name: str) -> str:
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "deploy", name)) as f:
        return f.read()


def default_exec() -> List[str]:
    """The absolute command that runs edge: the `edge` script next to this Python, else python -m edge."""
    script = os.path.join(os.path.dirname(sys.executable), "edge")
    if os.access(script, os.X_OK):
        return [script]
    found = shutil.which("edge")
    return [os.path.abspath(found)] if found else [os.path.abspath(sys.executable), "-m", "edge"]


def render_unit(template: str, exec_cmd: List[str], config: str, user: str) -> str:
    """The unit with ExecStart pointing at ``exec_cmd run --config CONFIG`` and User/Group set."""
    out = []
    for line in template.splitlines():
        if line.startswith("ExecStart="):
            line = "ExecStart=" + " ".join(shlex.quote(a) for a in exec_cmd + ["run", "--config", config])
        elif line.startswith("User="):
            line = "User=" + user
        elif line.startswith("Group="):
            line = "Group=" + user
        out.append(line)
    return "\n".join(out) + "\n"


def plan_install(exec_cmd: List[str], config: str, user: str, user_exists: bool, config_source: Optional[str],
                 config_exists: bool, env_exists: bool, enable: bool, start: bool) -> List[Action]:
    """Everything `install` does, in order (pure: the caller probes what exists)."""
    acts = []
    if not user_exists:
        acts.append(Action("run", "useradd --system --user-group --home-dir /var/lib/{0} --no-create-home "
                                  "--shell /usr/sbin/nologin {0}".format(user), note="dedicated service user"))
    acts.append(Action("run", "usermod -aG video {}".format(user), note="camera and GPU device nodes"))
    acts.append(Action("mkdir", CONF_DIR, mode=0o755))
    if not env_exists:
        acts.append(Action("write", os.path.join(CONF_DIR, "edge.env"), _data("edge.env"), 0o640,
                           note="EnvironmentFile (secrets such as EDGE_SERVE_TOKEN)"))
    if config_source and not config_exists:
        with open(config_source) as f:
            acts.append(Action("write", config, f.read(), 0o644, note="run config from " + config_source))
    acts.append(Action("write", UNIT_PATH, render_unit(_data("edge.service"), exec_cmd, config, user), 0o644))
    acts.append(Action("run", "systemctl daemon-reload"))
    if enable:
        acts.append(Action("run", "systemctl enable edge.service", note="start at boot"))
    if start:
        acts.append(Action("run", "systemctl restart edge.service"))
    return acts


def describe(a: Action) -> str:
    what = {"run": "run   ", "write": "write ", "mkdir": "mkdir "}[a.kind] + a.target
    if a.kind == "write":
        what += " ({} lines, mode {:o})".format(a.content.count("\n"), a.mode)
    return what + ("  # " + a.note if a.note else "")


def apply(actions: List[Action], root: str) -> None:
    """Carry out ``actions``; with root != "/" files go under root and commands are only printed."""
    staged = os.path.abspath(root) != "/"
    for a in actions:
        if a.kind == "run":
            if staged:
                typer.echo("skip  {}  (--root: not run)".format(a.target))
                continue
            typer.echo("run   " + a.target)
            r = subprocess.run(shlex.split(a.target), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            if r.returncode != 0:
                from edge.errors import EdgeError

                raise EdgeError("`{}` failed (exit {}): {}".format(a.target, r.returncode, r.stdout.strip()))
            continue
        path = os.path.join(root, a.target.lstrip("/"))
        if a.kind == "mkdir":
            os.makedirs(path, mode=a.mode, exist_ok=True)
        else:
            from edge.files import write_atomic

            write_atomic(path, a.content, mode=a.mode)
        typer.echo(("mkdir " if a.kind == "mkdir" else "wrote ") + path)


@service_app.command("install")
def install(
    do_apply: bool = typer.Option(False, "--apply", help="Really do it (needs root). Without it, only print "
                                                          "what would be done."),
    config: str = typer.Option("/etc/edge/config.toml", "--config", help="Run config the service starts "
                                                                          "with (ExecStart=... --config)."),
    config_from: Optional[str] = typer.Option(None, "--config-from", help="Copy this file to --config when "
                                                                          "that does not exist yet."),
    user: str = typer.Option("edge", "--user", help="Dedicated system user the service runs as (created, "
                                                    "added to the video group)."),
    exec_path: Optional[str] = typer.Option(None, "--exec", help="Absolute path of the edge executable "
                                                                 "(default: the one running now)."),
    enable: bool = typer.Option(True, "--enable/--no-enable", help="Enable the service at boot."),
    start: bool = typer.Option(False, "--start", help="(Re)start the service after installing."),
    root: str = typer.Option("/", "--root", help="Install into this directory instead of / (packaging, "
                                                 "tests); commands are then printed, not run."),
):
    """Install edge.service (Type=notify, watchdog, Restart=on-failure), its user, /etc/edge/edge.env.

    Example: sudo edge service install --config-from config.toml --apply --start
    """
    import pwd

    from edge.errors import InputError, UsageError

    exec_cmd = [exec_path] if exec_path else default_exec()
    if not os.path.isabs(exec_cmd[0]) or not os.access(exec_cmd[0], os.X_OK):
        raise UsageError("expected --exec to be an absolute path to an executable, found '{}'".format(exec_cmd[0]))
    if not os.path.isabs(config):
        raise UsageError("expected an absolute --config path for the service, found '{}'".format(config))
    if config_from and not os.path.isfile(config_from):
        raise InputError("--config-from: found nothing at {}".format(config_from))
    try:
        pwd.getpwnam(user)
        user_exists = True
    except KeyError:
        user_exists = False

    def exists(p):
        return os.path.exists(os.path.join(root, p.lstrip("/")))

    actions = plan_install(exec_cmd, config, user, user_exists, config_from, exists(config),
                           exists(os.path.join(CONF_DIR, "edge.env")), enable, start)
    if not do_apply:
        typer.echo("Dry run: `edge service install --apply` (as root) would:")
        for a in actions:
            typer.echo("  " + describe(a))
        if not config_from and not exists(config):
            typer.echo("  then: write the run config {} (`edge config show > config.toml` prints the defaults)"
                       .format(config))
        return
    if os.path.abspath(root) == "/" and os.geteuid() != 0:
        raise UsageError("edge service install --apply needs root: run it with sudo")
    apply(actions, root)
    typer.echo("done. Logs: journalctl -u edge -f · status: systemctl status edge")
