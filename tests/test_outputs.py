"""What edge writes never loses anything: --log appends across restarts and keeps only whole lines when the
disk fills; --save, export -o, quantize -o and bench --out are checked before any work and fail in one line;
a full disk is one line and exit 1, with no temporary file left behind."""
import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

from edge.errors import EdgeError, InputError
from edge.files import check_writable
from edge.run.framelog import FrameLog, frame_record
from edge.run.results import Faces
from edge.service.logrotate import RotatingFile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BALL = ["--camera", "test://ball?frames={}", "--width", "160", "--height", "120"]


def ball(frames):
    return [a.format(frames) for a in BALL]


def one_error_line(r, code, words):
    lines = r.output.strip().splitlines()
    assert r.exit_code == code and len(lines) == 1 and lines[0].startswith("edge: error: ") \
        and words in lines[0], r.output
    return lines[0]


def json_lines(path):
    """Every line of a JSONL file parsed: a half line or a glued pair fails here."""
    return [json.loads(x) for x in open(str(path)).read().splitlines()]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs that fills up, mounted for the test (root with mount rights, as in CI's container)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root; test_log_write_failure_keeps_whole_lines covers the logic")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], stderr=subprocess.PIPE)
    if r.returncode:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


# --- item 2: a restart appends --------------------------------------------------------------------

def record(i):
    return frame_record(i, 0.0, {"detect": 1.0}, Faces(np.zeros((1, 4)), labels=["a"], probs=[0.5]), 10.0)


def test_a_restart_appends_and_ends_the_half_line_a_crash_left(tmp_path):
    path = tmp_path / "frames.jsonl"
    log = FrameLog(str(path))
    for i in range(3):
        log.add(record(i))
    log.close()
    with open(str(path), "a") as f:
        f.write('{"frame": 3, "t_capt')  # the process died mid-line
    log = FrameLog(str(path))
    log.add(record(0))
    log.close()
    lines = open(str(path)).read().splitlines()
    assert lines[4] == '{"frame": 3, "t_capt'  # the half line stays on its own line
    rows = [json.loads(x) for x in lines[:4] + lines[5:]]
    assert [r.get("frame") for r in rows] == [0, 1, 2, None, 0, None]
    assert rows[3]["summary"]["frames"] == 3 and rows[5]["summary"]["frames"] == 1


def test_two_runs_into_one_log_keep_both(seeded_onnx, tmp_path, cli):
    log = tmp_path / "logs" / "new" / "frames.jsonl"  # a folder that does not exist yet is made
    for n in (4, 3):
        r = cli(["run", "--headless", "--model", seeded_onnx, "--log", str(log)] + ball(n))
        assert r.exit_code == 0, r.output
    rows = json_lines(log)
    assert [r.get("frame") for r in rows] == [0, 1, 2, 3, None, 0, 1, 2, None]


def test_rotation_counts_what_the_file_held_before(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("x" * 90 + "\n")
    f = RotatingFile(str(path), max_bytes=100, keep=1)
    f.write("y" * 20 + "\n")  # 91 + 21 > 100: the old run's lines move to .1 first
    f.close()
    assert (path.read_text(), (tmp_path / "f.jsonl.1").read_text()) == ("y" * 20 + "\n", "x" * 90 + "\n")


# --- item 4: a full disk keeps whole lines, one error line, exit 1 ---------------------------------

def test_log_write_failure_keeps_whole_lines(tmp_path, monkeypatch):
    """The disk fills in the middle of a line: the part written is cut off again, the error is one
    EdgeError, the summary at close is not attempted on the broken file."""
    import edge.service.logrotate as logrotate

    path = tmp_path / "frames.jsonl"
    log = FrameLog(str(path))
    log.add(record(0))
    real = os.write

    def half_then_full(fd, data):
        if len(data) > 10:
            return real(fd, data[:len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(logrotate.os, "write", half_then_full)
    with pytest.raises(EdgeError) as e:
        log.add(record(1))
    monkeypatch.undo()
    assert str(e.value) == "cannot write the log '{}': No space left on device".format(path)
    assert log.close()["frames"] == 2  # no second error, the summary is still returned
    assert [r["frame"] for r in json_lines(path)] == [0]


def test_log_on_dev_full_is_one_line(seeded_onnx, cli):
    r = cli(["run", "--headless", "--model", seeded_onnx, "--log", "/dev/full"] + ball(5))
    one_error_line(r, 1, "cannot write the log '/dev/full': No space left on device")


def test_log_on_a_full_disk_keeps_every_whole_line(seeded_onnx, tiny_disk, cli):
    log = tiny_disk / "frames.jsonl"
    r = cli(["run", "--headless", "--model", seeded_onnx, "--log", str(log)] + ball(2000))
    one_error_line(r, 1, "cannot write the log '{}': No space left on device".format(log))
    frames = [row["frame"] for row in json_lines(log)]
    assert frames == list(range(len(frames))) and len(frames) > 50  # whole lines, none lost before the end
    assert open(str(log), "rb").read().endswith(b"}\n")


# --- item 12: an existing read-only log file fails at start-up -------------------------------------

def test_read_only_log_file_fails_at_start_up(seeded_onnx, tmp_path):
    """A 0444 file (root writes it anyway: as root the command runs without CAP_DAC_OVERRIDE)."""
    log = tmp_path / "frames.jsonl"
    log.write_text('{"frame": 0}\n')
    log.chmod(0o444)
    wrap = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("as root a 0444 file is writable; dropping CAP_DAC_OVERRIDE needs setpriv (util-linux)")
        wrap = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    r = subprocess.run(wrap + [sys.executable, "-m", "edge", "run", "--headless", "--model", seeded_onnx,
                               "--log", str(log)] + ball(5), cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode == 3 and lines == ["edge: error: cannot write --log '{}': Permission denied (under systemd "
                                           "use /var/log/edge)".format(log)], lines
    assert log.read_text() == '{"frame": 0}\n'


# --- item 5 and 17: --save ---------------------------------------------------------------------------

def mp4_box(kind, payload=b"", size=None):
    return (size if size is not None else 8 + len(payload)).to_bytes(4, "big") + kind + payload


@pytest.mark.parametrize("data,whole", [
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"mdat", b"x" * 40) + mp4_box(b"moov", b"y" * 9), True),
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"moov", b"y") + mp4_box(b"mdat", b"x" * 40), True),  # faststart
    (mp4_box(b"ftyp", b"isom") + (1).to_bytes(4, "big") + b"mdat" + (24).to_bytes(8, "big") + b"x" * 8
     + mp4_box(b"moov"), True),                                                  # a 64-bit box size
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"moov") + mp4_box(b"mdat", size=0) + b"x" * 30, True),  # to the end
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"mdat", b"x" * 40), False),             # the index never written
    ((mp4_box(b"ftyp", b"isom") + mp4_box(b"mdat", b"x" * 40) + mp4_box(b"moov", b"y" * 9))[:-3], False),
    (mp4_box(b"ftyp", b"isom") + b"\0\0\0", False),                              # a torn box header
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"moov", size=4), False),               # a box shorter than its header
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"mdat") + mp4_box(b"moov") + bytes(4096), False),  # zeros past the end
    (b"", False),
])
def test_mp4_complete(tmp_path, data, whole):
    from edge.outputs.file import mp4_complete

    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    assert mp4_complete(str(path)) is whole


def test_a_video_cut_short_is_an_error_and_no_file_is_left(tmp_path):
    from edge.outputs.base import OutputSpec
    from edge.outputs.encoders import OPENCV
    from edge.outputs.file import VideoOutput, mp4_complete
    from edge.sources.base import Frame

    path = str(tmp_path / "out.mp4")
    sink = VideoOutput(OutputSpec("video", path, path=path), encoder=OPENCV, source_fps=10, flag="--save")
    view = np.zeros((120, 160, 3), np.uint8)
    for i in range(5):
        view[:] = i * 40
        sink.write(Frame(i, view, 0.0), None, view)
    real = sink._writer

    class FullDisk:  # what OpenCV leaves when the disk fills: the start of the file, no index
        size = real.size

        def close(self):
            real.close()
            assert mp4_complete(sink._tmp)
            os.truncate(sink._tmp, os.path.getsize(sink._tmp) // 2)

    sink._writer = FullDisk()
    with pytest.raises(EdgeError, match=r"cannot write --save '.*out\.mp4': the video came out incomplete"):
        sink.close()
    assert os.listdir(str(tmp_path)) == []


def test_save_on_a_full_disk_is_one_line_and_leaves_nothing(seeded_onnx, tiny_disk, cli):
    (tiny_disk / "filler").write_bytes(b"x" * 56 * 1024)
    r = cli(["run", "--headless", "--model", seeded_onnx, "--save", str(tiny_disk / "out.mp4")] + ball(300))
    one_error_line(r, 1, "cannot write --save '{}'".format(tiny_disk / "out.mp4"))
    assert os.listdir(str(tiny_disk)) == ["filler"]


def test_save_into_a_missing_folder_makes_it(seeded_onnx, tmp_path, cli):
    out = tmp_path / "new" / "out.mp4"
    r = cli(["run", "--headless", "--model", seeded_onnx, "--save", str(out)] + ball(3))
    assert r.exit_code == 0, r.output
    assert os.listdir(str(out.parent)) == ["out.mp4"] and os.path.getsize(str(out)) > 0


def test_save_an_image_input_as_an_image(face_photos, seeded_onnx, tmp_path, cli):
    import cv2

    photo = tmp_path / "in.png"
    cv2.imwrite(str(photo), face_photos["astronaut"][0])
    out = tmp_path / "out" / "annotated.jpg"
    r = cli(["run", "--headless", "--model", seeded_onnx, "--camera", str(photo), "--save", str(out)])
    assert r.exit_code == 0, r.output
    assert open(str(out), "rb").read(3) == b"\xff\xd8\xff"  # a JPEG, not an MP4 named .jpg
    assert cv2.imread(str(out)).shape == face_photos["astronaut"][0].shape
    assert os.listdir(str(out.parent)) == ["annotated.jpg"]


def test_save_a_folder_of_images_as_numbered_images(face_photos, seeded_onnx, tmp_path, cli):
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, (img, _) in face_photos.items():
        cv2.imwrite(str(folder / (name + ".jpg")), img)
    r = cli(["run", "--headless", "--model", seeded_onnx, "--camera", str(folder), "--save",
             str(tmp_path / "out" / "face.png")])
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["face_000000.png", "face_000001.png"]
    assert all(open(str(tmp_path / "out" / n), "rb").read(4) == b"\x89PNG" for n in os.listdir(str(tmp_path / "out")))


def test_an_image_write_that_fails_is_one_error(tmp_path, monkeypatch):
    import edge.outputs.images as images
    from edge.outputs.base import OutputSpec
    from edge.sources.base import Frame

    def full(path, data, mode=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(images, "write_atomic", full)
    path = str(tmp_path / "out.jpg")
    sink = images.ImageOutput(OutputSpec("images", path, path=path), numbered=True, flag="--save")
    with pytest.raises(EdgeError, match=r"cannot write --save '.*out_000007\.jpg': No space left on device"):
        sink.write(Frame(7, None, 0.0), None, np.zeros((8, 8, 3), np.uint8))


# --- item 10: output paths of export, quantize, bench are checked first -------------------------------

def test_check_writable(tmp_path):
    (tmp_path / "file").write_text("x")
    for args, words in (((str(tmp_path), "-o"), "expected a file path for -o, found the folder"),
                        (("/dev/null", "-o"), "expected a regular file for -o"),  # never replaced by a file
                        ((str(tmp_path / "file"), "--out", False, True), "expected a folder for --out"),
                        (("/proc/x/y.onnx", "-o"), "cannot write -o in '/proc': it takes no new files"),
                        (("/sys/y.onnx", "-o"), "cannot write -o in '/sys'")):
        with pytest.raises(InputError, match="^" + words):
            check_writable(*args)
    assert check_writable(str(tmp_path / "a" / "b" / "c.onnx"), "-o") == str(tmp_path / "a" / "b" / "c.onnx")
    check_writable(str(tmp_path / "file"), "-o")
    check_writable(str(tmp_path / "new"), "--out", folder=True)
    assert os.listdir(str(tmp_path)) == ["file"]  # nothing left by the probes, no folder made


def must_not_run(*a, **k):
    raise AssertionError("the work started before the output path was checked")


@pytest.mark.parametrize("args,code,words", [
    (["export", "{ckpt}", "-o", "/proc/m.onnx"], 3, "cannot write --output in '/proc'"),
    (["export", "{ckpt}", "-o", "{tmp}"], 3, "expected a file path for --output, found the folder"),
    (["export", "{ckpt}", "--int8", "--calib", "{tmp}", "-o", "/proc/m.onnx"], 3, "cannot write --output"),
    (["export", "{ckpt}"], 2, "'{tmp}/m.onnx' exists: pass -o PATH to write elsewhere, or --force to overwrite it"),
    (["export", "{ckpt}", "-o", "{tmp}/m2.onnx", "--int8", "--calib", "{tmp}"], 0, ""),
    (["export", "{ckpt}", "--force"], 0, ""),
    (["export", "{bundled}"], 2, "mask_default.onnx' exists (a bundled model): pass -o PATH"),
    (["quantize", "{onnx}", "--calib", "{tmp}", "-o", "/proc/m.int8.onnx"], 3, "cannot write --output in '/proc'"),
    (["quantize", "{ckpt}", "--calib", "{tmp}", "-o", "{tmp}/file/m.onnx"], 3, "expected a folder for --output"),
    (["bench", "{onnx}", "--out", "/proc/bench", "--no-plots"], 3, "cannot write --out in '/proc'"),
    (["bench", "{onnx}", "--out", "{tmp}/file", "--no-plots"], 3, "expected a folder for --out, found the file"),
])
def test_output_paths_are_checked_before_the_work(tmp_path, cli, monkeypatch, face_photos, args, code, words):
    import cv2

    import edge.bench.latency
    import edge.commands.export as export

    (tmp_path / "m.pt").write_bytes(b"not read before the output check")
    (tmp_path / "m.onnx").write_bytes(b"an older export")
    (tmp_path / "file").write_text("x")
    cv2.imwrite(str(tmp_path / "calib.jpg"), face_photos["astronaut"][0])
    bundled = os.path.join(ROOT, "edge", "zoo", "mask_default.pt")
    before = hashlib.sha256(open(os.path.join(ROOT, "edge", "zoo", "mask_default.onnx"), "rb").read()).digest()
    ran = []
    monkeypatch.setattr(export, "export_checkpoint", lambda *a: ran.append(a[1]) or {})
    monkeypatch.setattr(export, "quantize_report", lambda *a, **k: ran.append(a[1]) or {})
    monkeypatch.setattr(export, "_show", lambda *a: None)
    monkeypatch.setattr(edge.bench.latency, "run_bench", must_not_run)
    subs = {"{ckpt}": str(tmp_path / "m.pt"), "{onnx}": str(tmp_path / "m.onnx"), "{bundled}": bundled,
            "{tmp}": str(tmp_path)}
    full = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        full.append(a)
    r = cli(full)
    if code:
        one_error_line(r, code, words.replace("{tmp}", str(tmp_path)))
        assert ran == []
    else:
        assert r.exit_code == 0, r.output
        assert ran and all(p.startswith(str(tmp_path)) for p in ran)
    assert hashlib.sha256(open(os.path.join(ROOT, "edge", "zoo", "mask_default.onnx"), "rb").read()).digest() \
        == before


def test_bench_write_failure_is_one_line(seeded_onnx, tmp_path, cli, monkeypatch):
    import edge.bench.latency

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(edge.bench.latency, "write_report", full)
    r = cli(["bench", seeded_onnx, "--out", str(tmp_path / "b"), "--no-plots", "--no-telemetry", "--runs", "2",
             "--warmup", "0", "--rounds", "1", "--batch", "1"])
    one_error_line(r, 1, "cannot write --out '{}': No space left on device".format(tmp_path / "b"))


def test_export_on_a_full_disk_says_so(teacher_ckpt, tiny_disk, cli):
    """Not "cannot be exported to ONNX opset 13": the disk is full, and nothing half-written is left."""
    pytest.importorskip("onnx")
    (tiny_disk / "filler").write_bytes(b"x" * 40000)
    r = cli(["export", teacher_ckpt, "-o", str(tiny_disk / "teacher.onnx")])
    one_error_line(r, 1, "No space left on device")
    assert os.listdir(str(tiny_disk)) == ["filler"]


# --- item 11: seconds are bounded -----------------------------------------------------------------

@pytest.mark.parametrize("toml,key", [
    ("timeout = inf", "timeout"), ("timeout = 1e12", "timeout"), ("timeout = nan", "timeout"),
    ("summary_every = inf", "summary_every"), ("log_max_mb = inf", "log_max_mb/log_keep"),
    ("[reconnect]\ninitial = 1e12", "reconnect"), ("[reconnect]\nmax_delay = inf", "reconnect"),
    ("[reconnect]\nfactor = 1e300", "reconnect"),
])
def test_config_show_refuses_unbounded_seconds(tmp_path, cli, toml, key):
    path = tmp_path / "c.toml"
    path.write_text(toml + "\n")
    one_error_line(cli(["config", "show", "--config", str(path)]), 2, "'{}'".format(key))


def test_the_largest_timeout_runs(seeded_onnx, cli):
    r = cli(["run", "--headless", "--model", seeded_onnx, "--timeout", "86400", "--summary-every", "86400",
             "--reconnect-max-delay", "86400"] + ball(2))
    assert r.exit_code == 0, r.output


# --- item 17: checkpoints are not private --------------------------------------------------------------

def test_checkpoint_mode_follows_the_umask(tmp_path):
    pytest.importorskip("torch")
    from models import create_model
    from models.checkpoint import save_checkpoint

    old = os.umask(0o022)
    try:
        path = save_checkpoint(create_model("small"), str(tmp_path / "small.pt"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # mkstemp would make it 0600
