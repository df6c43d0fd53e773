"""Headless Chromium for the tests that check what a browser shows (the live page, a clip playing)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from typing import Dict, Optional, Sequence, Tuple

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
BASE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync")


def dump_dom(url: str, budget_ms: int, *flags: str, window: Optional[Sequence[int]] = None
             ) -> Tuple[str, Dict[str, str]]:
    """(the DOM after ``budget_ms`` of virtual time, the <body>'s data- attributes) of ``url`` in a fresh
    headless Chromium profile; ``flags`` are extra Chromium switches.

    ``window=(W, H)``: a phone-sized viewport (any width: headless windows are at least 500 px wide, so this
    emulates the device through the DevTools protocol, as a mobile browser that honours the viewport meta);
    ``budget_ms`` is then real time."""
    profile = tempfile.mkdtemp(prefix="edge-chromium-")
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:")
    try:
        if window:
            dom = _dump_emulated(url, budget_ms, flags, tuple(window), profile, env)
        else:
            r = subprocess.run([CHROMIUM] + list(BASE_FLAGS) + [
                "--user-data-dir=" + profile, "--virtual-time-budget={}".format(budget_ms)]
                + list(flags) + ["--dump-dom", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=90, env=env)
            dom = r.stdout.decode()
            assert r.returncode == 0 and "<body" in dom, r.stderr.decode()[-2000:]
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return dom, dict(re.findall(r'data-([a-z-]+)="([^"]*)"', dom.split("<body", 1)[1].split(">", 1)[0]))


class _Pipe:
    """The DevTools protocol over --remote-debugging-pipe (Chromium reads fd 3, writes fd 4; NUL-framed JSON)."""

    def __init__(self, to_chrome: int, from_chrome: int):
        self.w, self.r, self.buf, self.n = to_chrome, from_chrome, b"", 0

    def call(self, method: str, session: Optional[str] = None, timeout: float = 30, **params):
        self.n += 1
        msg = {"id": self.n, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while True:
            while b"\0" not in self.buf:
                import select

                if not select.select([self.r], [], [], max(0.0, end - time.monotonic()))[0]:
                    raise AssertionError("Chromium did not answer {} within {} s".format(method, timeout))
                chunk = os.read(self.r, 1 << 16)
                assert chunk, "Chromium closed the DevTools pipe"
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw.decode())
            if reply.get("id") == self.n:  # events (no id) and other replies are skipped
                assert "error" not in reply, (method, reply["error"])
                return reply.get("result", {})


def _dump_emulated(url, budget_ms, flags, window, profile, env) -> str:
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()

    def fds():  # the child's fd 3 reads what we write, its fd 4 writes what we read (kept: pass_fds)
        import fcntl

        r, w = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        os.dup2(r, 3)
        os.dup2(w, 4)
    proc = subprocess.Popen([CHROMIUM] + list(BASE_FLAGS) + ["--user-data-dir=" + profile,
                                                             "--remote-debugging-pipe"] + list(flags) + ["about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            pass_fds=(3, 4), preexec_fn=fds)
    os.close(to_r)
    os.close(from_w)
    pipe = _Pipe(to_w, from_r)
    try:
        target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
        session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        pipe.call("Emulation.setDeviceMetricsOverride", session, width=window[0], height=window[1],
                  deviceScaleFactor=1, mobile=True)
        pipe.call("Page.navigate", session, url=url)
        time.sleep(budget_ms / 1000.0)
        return pipe.call("Runtime.evaluate", session, expression="document.documentElement.outerHTML",
                         returnByValue=True)["result"]["value"]
    finally:
        try:
            pipe.call("Browser.close", timeout=5)
        except (AssertionError, OSError):
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_w)
        os.close(from_r)
