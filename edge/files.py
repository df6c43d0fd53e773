"""Files, one home each: atomic writes, sha256 digests, image suffixes, and whether this machine is a
Jetson.

    with atomic_path("model.onnx") as tmp:      # a temp file beside it, moved over it only on success
        onnx.save(proto, tmp)
    write_atomic("bench.json", text)            # the same for text or bytes in hand
    check_writable("runs/x.onnx", "--output")   # before any work: InputError saying why it cannot be written
    sha256_file("model.onnx")                   # hex digest, read in chunks
    is_jetson(), jetson_model()                 # from the files L4T and the device tree leave
"""
import contextlib
import errno
import hashlib
import os
import tempfile
from typing import Iterator, Optional, Union

from edge.errors import EdgeError, InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")  # what OpenCV reads
L4T_RELEASE = "/etc/nv_tegra_release"
DEVICE_TREE_MODEL = "/proc/device-tree/model"
TEGRA_GPU = "/dev/nvhost-ctrl-gpu"


@contextlib.contextmanager
def atomic_path(path: str, mode: Optional[int] = None) -> Iterator[str]:
    """A new temp file's path in ``path``'s folder (made if missing), with ``path``'s suffix (writers that
    go by the extension keep working). When the block ends cleanly the file is fsync'd, given ``mode`` (default:
    what ``open`` gives under the umask) and moved over ``path`` with ``os.replace``, so readers see the
    old file or the whole new one; when it raises, the temp file is removed and ``path`` is untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _new_file(directory, os.path.splitext(path)[1])
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data: Union[str, bytes], mode: Optional[int] = None) -> str:
    """Write ``data`` (text or bytes) to ``path`` atomically (``atomic_path``); returns ``path``."""
    with atomic_path(path, mode) as tmp:
        with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
    return path


def _new_file(directory: str, suffix: str) -> str:
    """Create an empty ``.tmp-*`` file in ``directory`` that no one else has (O_EXCL), mode 0666 less the
    umask (``tempfile.mkstemp`` would make it 0600)."""
    while True:
        tmp = os.path.join(directory, ".tmp-{}-{}{}".format(os.getpid(), os.urandom(4).hex(), suffix))
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def check_writable(path: str, flag: str, append: bool = False, folder: bool = False, hint: str = "") -> str:
    """``path`` unless it cannot be written, else InputError (one line naming ``flag``; ``hint`` added where
    the cause is a folder or file that refuses writes). Tried with probes that leave nothing behind, so it
    holds as root and on special or read-only file systems:

    * a file written whole (``atomic_path``): ``path`` is not a folder or a device, and its folder takes a
      new file; a missing folder is fine when its nearest existing parent takes one (it is made later);
    * ``append``: an existing ``path`` opens for appending (a device such as /dev/full too), else as above;
    * ``folder``: ``path`` is a folder, or can be made one, that takes a new file.
    """
    full = os.path.abspath(path)
    if folder or not os.path.exists(full):
        if os.path.exists(full) and not os.path.isdir(full):
            raise InputError("expected a folder for {}, found the file '{}'".format(flag, path))
        _probe(full if folder else os.path.dirname(full), flag, hint)
    elif os.path.isdir(full):
        raise InputError("expected a file path for {}, found the folder '{}'".format(flag, path))
    elif append:
        try:
            open(full, "ab").close()
        except OSError as e:
            raise InputError("cannot write {} '{}': {}{}".format(flag, path, _reason(e), hint)) from None
    elif not os.path.isfile(full):
        raise InputError("expected a regular file for {}, found a device or other special file at '{}'".format(
            flag, path))
    else:
        _probe(os.path.dirname(full), flag, hint)
    return path


def _probe(folder: str, flag: str, hint: str) -> None:
    """InputError unless ``folder`` takes a new file or, where it is missing, its nearest existing parent
    takes a new folder."""
    parent = folder
    while not os.path.isdir(parent):
        if os.path.exists(parent):
            raise InputError("expected a folder for {}, found the file '{}'".format(flag, parent))
        parent = os.path.dirname(parent)
    try:
        if parent == folder:
            os.remove(_new_file(parent, ".probe"))
        else:
            os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".tmp-"))
    except OSError as e:
        raise InputError("cannot write {} in '{}': {}{}".format(flag, parent, _reason(e), hint)) from None


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOENT:  # /proc and the like: the folder is there but takes no new files
        return "it takes no new files"
    return e.strerror or str(e)


def write_failed(what: str, path: str, e: OSError) -> EdgeError:
    """The one-line error (exit 1) of a write that failed midway: disk full, device gone."""
    return EdgeError("cannot write {} '{}': {}".format(what, path, _reason(e)))


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def read_text(path: str) -> Optional[str]:
    """A small text file's contents, or None when it cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def jetson_model() -> Optional[str]:
    """The board's name from the device tree ("NVIDIA Jetson Nano Developer Kit"), None off a Jetson."""
    model = (read_text(DEVICE_TREE_MODEL) or "").strip("\x00\n ")
    return model if "jetson" in model.lower() else None


def is_jetson() -> bool:
    """This machine is a Jetson: L4T's release file, a Jetson device-tree model, or the Tegra GPU node."""
    return os.path.exists(L4T_RELEASE) or jetson_model() is not None or os.path.exists(TEGRA_GPU)
