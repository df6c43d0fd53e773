"""``edge doctor``: is this machine ready to run edge? Each line ok/warn/fail, with the fix."""
import typer


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the checks and the probed facts as JSON."),
    path: str = typer.Option(".", "--path", help="Directory whose free disk space to check (logs, engines)."),
):
    """Check OpenCV (and its GStreamer support), GStreamer elements for each source, nvargus-daemon,
    cameras, TensorRT / pycuda / ONNX Runtime, the CUDA device, jtop, power mode, swap, disk, DISPLAY.

    Exit code 1 when a check fails. Example: edge doctor --json > doctor.json
    """
    from edge.doctor.checks import FAIL, OK, SKIP, WARN, exit_code, run_checks, to_json
    from edge.doctor.probe import probe

    facts = probe(path)
    checks = run_checks(facts)
    if as_json:
        typer.echo(to_json(facts, checks))
    else:
        colours = {OK: "green", WARN: "yellow", FAIL: "red", SKIP: "bright_black"}
        for c in checks:
            tag = typer.style("{:<4}".format(c.level), fg=colours[c.level], bold=c.level == FAIL)
            typer.echo("{} {:<18} {}".format(tag, c.name, c.found))
            if c.fix and c.level in (WARN, FAIL):
                typer.echo("     {:<18} fix: {}".format("", c.fix))
        n = {lvl: sum(c.level == lvl for c in checks) for lvl in (OK, WARN, FAIL)}
        typer.echo("\n{ok} ok, {warn} warnings, {fail} failed".format(**n))
    raise typer.Exit(exit_code(checks))
