#!/usr/bin/env bash
# CI leg: edge's device side on CPython 3.6 (the Jetson Nano's JetPack 4.6) for real, with JetPack-era packages
# (.ci/py36-requirements.txt) and OpenCV shaped as JetPack ships it: a bare cv2 module, no cv2.data, its Haar
# cascades in <prefix>/share/opencv4/haarcascades. Runs the device-side tests (.ci/py36_plugin.py), then
# `edge run` end to end with each detector and --serve, `edge doctor`, `edge config show`.
# Wheels are kept in .ci-cache/py36: a rerun installs offline. No Python 3.6: the leg fails, it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
V=.ci-py36
WHEELS=.ci-cache/py36
START=$SECONDS

# CPython 3.6 from pyenv, as this machine image has it (PY36=/path/to/python3.6 overrides).
find_py36() {
  local root="${PYENV_ROOT:-}"
  [ -n "$root" ] || root="$(pyenv root 2>/dev/null || true)"
  [ -n "$root" ] || root="$HOME/.pyenv"
  ls -d "$root"/versions/3.6.*/bin/python3.6 2>/dev/null | sort -V | tail -n 1 || true
}
PY="${PY36:-$(find_py36)}"
if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 6))' 2>/dev/null; then
  echo "ci: py36: FAILED: no CPython 3.6 (looked for \$PYENV_ROOT, \`pyenv root\` or ~/.pyenv: versions/3.6.*/bin/python3.6;" \
       "install it with \`pyenv install 3.6.15\` or set PY36=/path/to/python3.6)" >&2
  exit 1
fi
echo "py36: $("$PY" -VV | head -n 1) at $PY"

rm -rf "$V"
"$PY" -m venv "$V"
VPY="$PWD/$V/bin/python"
mkdir -p "$WHEELS"
# From the cache when it has everything, else fill it first (pip wheel keeps downloaded and built wheels).
pip_install() {
  "$VPY" -m pip install -q --no-index --find-links "$WHEELS" "$@" 2>/dev/null && return
  "$VPY" -m pip wheel -q -w "$WHEELS" "$@"
  "$VPY" -m pip install -q --no-index --find-links "$WHEELS" "$@"
}
# ensurepip's pip 18 cannot see manylinux2014 wheels (onnxruntime, PyYAML...): pip 21.3.1, the last for 3.6, first.
pip_install "pip==21.3.1"
pip_install "setuptools==59.6.0" "wheel==0.37.1"
pip_install -r .ci/py36-requirements.txt
"$VPY" -m pip install -q --no-deps --no-build-isolation --no-index -e .
"$VPY" -m pip check

# OpenCV as JetPack's libopencv-python: cv2 is one extension module (no cv2/ package, no cv2.data) and the
# cascades lie outside it. The wheel's bundled libraries (cv2/.libs, its rpath $ORIGIN/.libs) move along.
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
CASCADES="$V/share/opencv4/haarcascades"
mkdir -p "$V/cascades-aside" "$(dirname "$CASCADES")"
mv "$SITE"/cv2/data/haarcascade_*.xml "$V/cascades-aside/"
mv "$SITE"/cv2/cv2.*.so "$SITE/"
mv "$SITE/cv2/.libs" "$SITE/.libs"
rm -rf "$SITE/cv2"
"$VPY" -c 'import cv2, sys; assert cv2.__version__.startswith("4.1.") and not hasattr(cv2, "data"), cv2.__file__'
"$VPY" -c 'import cv2, gi, pkg_resources as p; print("py36: opencv", cv2.__version__, *("{} {}".format(n,
  p.get_distribution(n).version) for n in "numpy onnxruntime typer click rich tomli PyGObject".split()))'
E="$PWD/$V/bin/edge"
echo "py36: install $((SECONDS - START)) s"

fail() { echo "ci: py36: FAILED: $*" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== py36: edge run with no cascades anywhere: one line, exit 3, naming the folders"
if "$VPY" -c 'import sys; from edge.detectors.haar import *; sys.exit(find_cascade(DEFAULT_CASCADE, opencv_cascade_folders()) is None)'; then
  echo "py36: (this machine has OpenCV's cascades in a system folder: the no-cascade error is left to tests/test_cascades.py)"
else
  rc=0; "$E" run --detector haar --headless --max-frames 3 > "$OUT/err" 2>&1 || rc=$?
  cat "$OUT/err"
  [ "$rc" = 3 ] && [ "$(wc -l < "$OUT/err")" = 1 ] && grep -q "$CASCADES" "$OUT/err" || fail "expected one line, exit 3 (got $rc)"
fi
mv "$V/cascades-aside" "$CASCADES"

echo "== py36: device-side tests"
PYTHONPATH="$PWD/.ci" "$VPY" -m pytest -q -p no:cacheprovider -p py36_plugin tests/

echo "== py36: edge run end to end on the bundled sample"
for det in haar blazeface; do
  "$E" run --detector "$det" --max-frames 30 --headless 2>&1 | tee "$OUT/run"
  grep -q "^30 frames" "$OUT/run" || fail "edge run --detector $det: no '30 frames' summary"
done

echo "== py36: edge run --save out.mp4 --output out.mkv: H.264 through PyGObject, the MP4's index first"
"$E" run --max-frames 20 --headless --save "$OUT/out.mp4" --output "$OUT/out.mkv" 2>&1 | tail -1
"$VPY" - "$OUT/out.mp4" "$OUT/out.mkv" <<'EOF' || fail "--save out.mp4: not a faststart H.264 MP4 (or no .mkv)"
import os, sys
data = open(sys.argv[1], "rb").read()
assert b"avc1" in data and 0 < data.find(b"moov") < data.find(b"mdat"), "not faststart H.264"
assert os.path.getsize(sys.argv[2]) > 1000
print("py36: --save/--output:", len(data), "bytes, H.264, moov before mdat")
EOF

echo "== py36: edge run --serve, /status.json fetched while it runs"
PORT=$("$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$E" run --headless --loop --max-frames 100000 --serve "127.0.0.1:$PORT" > "$OUT/serve" 2>&1 &
pid=$!
"$VPY" - "$PORT" <<'EOF' || { kill "$pid" 2>/dev/null; cat "$OUT/serve"; fail "no /status.json from edge run --serve"; }
import json, sys, time, urllib.request
url = "http://127.0.0.1:{}/status.json".format(sys.argv[1])
for _ in range(300):
    try:
        status = json.loads(urllib.request.urlopen(url, timeout=2).read().decode())
        if status.get("frames"):
            print("py36: /status.json:", json.dumps(status)[:200])
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
cat "$OUT/serve"
[ "$rc" = 0 ] || fail "edge run --serve: exit $rc after SIGTERM"
grep -q "frames in" "$OUT/serve" || fail "edge run --serve: no summary after SIGTERM"

echo "== py36: edge doctor, edge config show"
rc=0; "$E" doctor > "$OUT/doctor" 2>&1 || rc=$?
cat "$OUT/doctor"
{ [ "$rc" = 0 ] || [ "$rc" = 1 ]; } && ! grep -q Traceback "$OUT/doctor" || fail "edge doctor: exit $rc"
grep -q "^ok   haar cascades .*$CASCADES" "$OUT/doctor" || fail "edge doctor: not using $CASCADES"
"$E" config show > "$OUT/config" || fail "edge config show: exit $?"
grep -q '^detector = "blazeface"' "$OUT/config" || fail "edge config show: no detector line"
echo "py36: passed in $((SECONDS - START)) s"
