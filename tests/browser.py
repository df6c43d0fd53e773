"""Headless Chromium for the tests that check what a browser shows (the live page, a clip playing)."""
import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, Tuple

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def dump_dom(url: str, budget_ms: int, *flags: str) -> Tuple[str, Dict[str, str]]:
    """(the DOM after ``budget_ms`` of virtual time, the <body>'s data- attributes) of ``url`` in a fresh
    headless Chromium profile; ``flags`` are extra Chromium switches."""
    profile = tempfile.mkdtemp(prefix="edge-chromium-")
    try:
        r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + profile, "--virtual-time-budget={}".format(budget_ms)]
                           + list(flags) + ["--dump-dom", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=90, env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:"))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    dom = r.stdout.decode()
    assert r.returncode == 0 and "<body" in dom, r.stderr.decode()[-2000:]
    return dom, dict(re.findall(r'data-([a-z-]+)="([^"]*)"', dom.split("<body", 1)[1].split(">", 1)[0]))
