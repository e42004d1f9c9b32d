"""cffi build script (out-of-line API mode), named by setup.py's ``cffi_modules``.

The declarations given to ``ffi.cdef`` are read from the real header, csrc/ann.h, with its
preprocessor lines removed, and ``set_source`` includes that same header, so the C compiler
checks that the two agree: there is no second hand-kept copy of the API.

Compilers: gcc or clang on Linux and macOS; on Windows, MSVC (cl.exe, what python.org's
CPython builds extensions with) or mingw-w64 gcc (MSYS2's Python). The core needs no pthreads
on Windows: csrc/platform.c speaks Win32 there.

Environment knobs (for development and CI only):
  ANN_SANITIZE=1   build with AddressSanitizer and UndefinedBehaviorSanitizer (MSVC: ASan only)
  ANN_DEBUG=1      build without optimization, with debug information
"""
import glob
import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def header_declarations(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return "".join(line for line in f if not line.lstrip().startswith("#"))


def uses_msvc() -> bool:
    """True when setuptools will compile with MSVC: on Windows, for a Python that MSVC built
    ("[MSC v.1938 64 bit (AMD64)]" in sys.version); a mingw-built Python says "[GCC ...]"."""
    return sys.platform == "win32" and "MSC v." in sys.version


def compile_args() -> list:
    if uses_msvc():
        # C11 for restrict, _Static_assert and declarations anywhere; /fp:precise (the
        # default) because only VS 2022 has /fp:contract; getenv is not "unsafe" here.
        args = ["/std:c11", "/O2", "/W3", "/D_CRT_SECURE_NO_WARNINGS"]
        if os.environ.get("ANN_DEBUG") == "1":
            args = ["/std:c11", "/Od", "/Zi", "/W3", "/D_CRT_SECURE_NO_WARNINGS"]
        if os.environ.get("ANN_SANITIZE") == "1":
            args += ["/fsanitize=address", "/Zi"]
        return args
    # gcc and clang, mingw-w64 included
    # -fno-math-errno: the core never reads errno, and without it sqrtf keeps a branch that
    # stops loops from vectorizing (the Adam update ran 6x slower: ops.c, adam_range)
    args = ["-std=c11", "-O3", "-ffp-contract=fast", "-fno-strict-aliasing", "-fno-math-errno",
            "-Wall", "-Wextra", "-Wno-unused-parameter"]
    if os.environ.get("ANN_DEBUG") == "1":
        args[1] = "-O0"
        args.append("-g")
    if os.environ.get("ANN_SANITIZE") == "1":
        args += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                 "-fno-sanitize-recover=undefined", "-g"]
    return args


def link_args() -> list:
    if uses_msvc():
        return []
    if sys.platform == "win32":
        # mingw-w64: libgcc linked in, so the module needs no libgcc_s_seh-1.dll next to it
        return ["-static-libgcc"]
    args = ["-pthread"]
    if os.environ.get("ANN_SANITIZE") == "1":
        args.append("-fsanitize=address,undefined")
    return args


ffibuilder = FFI()
ffibuilder.cdef(header_declarations(os.path.join(HERE, "ann.h")))
ffibuilder.set_source(
    "ann._core",
    '#include "ann.h"',
    sources=sorted(os.path.relpath(p) for p in glob.glob(os.path.join(HERE, "*.c"))),
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=compile_args(),
    extra_link_args=link_args(),
    libraries=[] if uses_msvc() else ["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
