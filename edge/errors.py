"""User-facing errors: one line, no traceback, an exit code that means something.

Exit codes (also in README.md):
  0 success · 1 runtime failure · 2 usage error (bad option or config)
  3 bad input (a file that is missing, corrupt or of the wrong kind)
  4 a required package is not installed · 5 hardware unavailable (camera, GPU)
"""


class EdgeError(Exception):
    """An error the user can fix; the CLI prints ``edge: error: <message>`` and exits."""

    exit_code = 1


class UsageError(EdgeError):
    exit_code = 2


class InputError(EdgeError):
    exit_code = 3


class ConfigError(UsageError):
    """Every problem of a config at once, as one line: "WHERE: a" or "WHERE: 3 problems: a; b; c".

    ``problems``: messages or EdgeErrors; a ConfigError's own are taken over (with its ``where`` unless this
    one has its own: a file's name). Exit code 3 when every problem is a bad input file (a model that is
    not there), else 2."""

    def __init__(self, problems, where: str = ""):
        self.problems = []  # type: list
        for p in problems:
            if isinstance(p, ConfigError):
                self.problems.extend(q if where or not isinstance(q, str) else p.where + q for q in p.problems)
            else:
                self.problems.append(p)
        self.where = where
        texts = [str(p) for p in self.problems]
        if len(texts) == 1:
            message = where + texts[0]
        else:
            head = where.strip().rstrip(":")
            message = "{}{} problems: {}".format(head + ": " if head else "", len(texts), "; ".join(texts))
        self.exit_code = 3 if all(isinstance(p, InputError) for p in self.problems) else 2
        super().__init__(message)


class MissingDependency(EdgeError):
    exit_code = 4

    def __init__(self, module, package, purpose="", install=""):
        self.module = module
        self.package = package
        what = " for {}".format(purpose) if purpose else ""
        super().__init__(
            "the Python module '{}' is needed{} but is not installed; install it with {}".format(
                module, what, install or "`pip install {}`".format(package))
        )


class HardwareError(EdgeError):
    exit_code = 5


def tensorrt_install() -> str:
    """How to get TensorRT's Python module here: JetPack's apt package on a Jetson, NVIDIA's wheel elsewhere."""
    from edge.files import is_jetson

    if is_jetson():
        return ("`sudo apt-get install python3-libnvinfer` (on a Jetson TensorRT comes with JetPack, not pip; "
                "run the system python3, or a venv with --system-site-packages)")
    return "`pip install tensorrt` (NVIDIA's wheel, for an x86 machine with an NVIDIA GPU)"


def require_tensorrt(purpose="TensorRT engines"):
    """Import ``tensorrt`` or raise MissingDependency with the one install that fits this machine."""
    import importlib

    try:
        return importlib.import_module("tensorrt")
    except ImportError:
        raise MissingDependency("tensorrt", "tensorrt", purpose, install=tensorrt_install()) from None


def require(module, package=None, purpose=""):
    """Import ``module`` or raise MissingDependency naming the package that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(module, package or module, purpose) from None
