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


STAMP_FILE = "ann-core-compiler.json"  # in build_temp: the compiler the core was built with


class optional_build_ext(build_ext):
    """build_ext that records, instead of raising, a C core that cannot be built; and that
    rebuilds it whenever the compiler or its flags differ from the last build's."""

    def build_extensions(self):
        # pip builds a checkout in place, and build/ keeps the last core: setuptools skips an
        # extension newer than its sources, so CC=/bin/false (or another compiler, other
        # flags) would ship the old core unnoticed. A change of compiler forces the build.
        stamp = os.path.join(self.build_temp, STAMP_FILE)
        signature = self.compiler_signature()
        try:
            with open(stamp, encoding="utf-8") as f:
                same = json.load(f) == signature
        except (OSError, ValueError):
            same = False
        if not same:
            self.force = True
            if os.path.exists(stamp):
                os.remove(stamp)
        super().build_extensions()
        if not getattr(self, "failed", False):
            os.makedirs(self.build_temp, exist_ok=True)
            with open(stamp, "w", encoding="utf-8") as f:
                json.dump(signature, f)

    def compiler_signature(self) -> dict:
        """What the core's build depends on besides its sources."""
        compiler = self.compiler
        return {
            "compiler": [getattr(compiler, name, None) for name in ("compiler_so", "linker_so")],
            "env": {k: os.environ.get(k) for k in ("CC", "CFLAGS", "CPPFLAGS", "LDFLAGS", "LDSHARED")},
            "python": sys.version,
        }

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
                f"reinstall: {reinstall_command()}")
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
                           "python": sys.version.split()[0],
                           "reinstall": reinstall_command()}, f)
                f.write("\n")


def reinstall_command() -> str:
    """How to install again: from a checkout (no PKG-INFO beside setup.py, which an sdist
    has), `pip install .` in it; from an sdist, by the distribution's name."""
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.exists(os.path.join(here, "PKG-INFO")):
        return f"pip install --force-reinstall --no-cache-dir {DIST}"
    return f"`pip install .` in {here}"


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
