"""Build script: the C core through cffi, optional unless ANN_REQUIRE_C=1.

All metadata lives in pyproject.toml. This file adds what setuptools cannot take from there:

* ``cffi_modules`` names the cffi build script (out-of-line API mode), csrc/build_ffi.py;
* the C core is *optional*: when it cannot be built (no compiler, a compile or link error),
  the install still succeeds with the pure-Python backend, says so in one line, and leaves
  the reason in ``ann/_build_status.json`` so that ``ann`` can tell the user at run time.
  ``ANN_REQUIRE_C=1`` turns a failed build into a failed install (CI sets it);
* wheels are tagged ``cp39-abi3``: the extension uses only Python's limited API, so one wheel
  per platform serves every CPython from 3.9 on.
"""
import json
import os
import re
import shutil
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext

STATUS_FILE = "_build_status.json"   # inside the ann package; absent when the core was built
DIST = "ann-mlp"
SLOWER = ("the pure-Python backend is about 400 times slower at training "
          "(about 1,000 against 400,000 images/s for the seed network)")


def require_c() -> bool:
    return os.environ.get("ANN_REQUIRE_C", "").strip() not in ("", "0")


def compiler_missing(command) -> str:
    """The compiler executable that cannot be found, or '' when it is there."""
    if not command:
        return ""
    exe = command[0] if isinstance(command, (list, tuple)) else str(command).split()[0]
    return "" if (os.path.isfile(exe) or shutil.which(exe)) else exe


class optional_build_ext(build_ext):
    """build_ext that records, instead of raising, a C core that cannot be built."""

    def run(self):
        try:
            super().run()
        except Exception as exc:          # e.g. no compiler configured at all (Windows)
            self.give_up(exc)
        else:
            self.write_status(None)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.give_up(exc)

    def give_up(self, exc: BaseException) -> None:
        command = getattr(getattr(self, "compiler", None), "compiler_so", None)
        missing = compiler_missing(command)
        status = re.search(r"exit (?:status|code) (-?\d+)", str(exc))
        if missing:
            reason = f"no C compiler: {missing!r} was not found"
        elif command and status:
            reason = f"the C compiler {command[0]!r} failed with exit status {status.group(1)}"
        else:
            reason = f"the C compiler failed ({type(exc).__name__}: {' '.join(str(exc).split())})"
        if require_c():
            raise SystemExit(f"{DIST}: the C core could not be built ({reason}), and "
                             "ANN_REQUIRE_C=1 asks for it: stopping") from exc
        fix = ("install a C compiler (gcc or clang; on Windows the Visual Studio Build Tools)"
               if missing else "mend the compiler (pip install -v shows its messages)")
        line = (f"{DIST}: the C core was NOT built ({reason}); installing the pure-Python "
                f"backend instead: it is correct, but {SLOWER}. To get the C core, {fix} and "
                f"reinstall (pip install --force-reinstall --no-cache-dir {DIST}, or "
                "pip install . in a checkout)")
        say(line)
        self.remove_stale_core()
        self.write_status(reason)
        self.failed = True

    def remove_stale_core(self) -> None:
        """A core left in the build folder by an earlier build must not ship with this one."""
        folder = os.path.join(self.build_lib, "ann")
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith("_core.") and name.endswith((".so", ".pyd")):
                    os.remove(os.path.join(folder, name))

    def write_status(self, reason) -> None:
        """Leave (or remove) ann/_build_status.json next to where the extension would be."""
        if getattr(self, "failed", False) and reason is None:
            return
        folders = {os.path.join(self.build_lib, "ann")}
        if self.inplace:
            folders.add(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ann"))
        for folder in folders:
            path = os.path.join(folder, STATUS_FILE)
            if reason is None:
                if os.path.exists(path):
                    os.remove(path)
                continue
            os.makedirs(folder, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"c_core": False, "reason": reason, "slower": SLOWER,
                           "python": sys.version.split()[0]}, f)
                f.write("\n")


def say(line: str) -> None:
    """One line on stderr, and on the terminal itself when there is one: pip hides a
    successful build's output, and this line is the one a user must see."""
    print(line, file=sys.stderr, flush=True)
    if os.name != "posix" or sys.stderr.isatty():
        return
    try:
        with open("/dev/tty", "w") as tty:
            tty.write("\n" + line + "\n")
    except OSError:
        pass                              # no terminal (CI, a pipe): stderr is enough


def wheel_options() -> dict:
    """cp39-abi3 wheels on CPython with the GIL (the free-threaded build has no limited API)."""
    if sys.implementation.name != "cpython" or sysconfig.get_config_var("Py_GIL_DISABLED"):
        return {}
    return {"bdist_wheel": {"py_limited_api": "cp39"}}


setup(
    cffi_modules=["csrc/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": optional_build_ext},
    options=wheel_options(),
)
