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


class MissingDependency(EdgeError):
    exit_code = 4

    def __init__(self, module, package, purpose=""):
        self.module = module
        self.package = package
        what = " for {}".format(purpose) if purpose else ""
        super().__init__(
            "the Python module '{}' is needed{} but is not installed; install it with "
            "`pip install {}`".format(module, what, package)
        )


class HardwareError(EdgeError):
    exit_code = 5


def require(module, package=None, purpose=""):
    """Import ``module`` or raise MissingDependency naming the package that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(module, package or module, purpose) from None
