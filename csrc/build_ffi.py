"""cffi build script (out-of-line API mode), named by setup.py's ``cffi_modules``.

The declarations given to ``ffi.cdef`` are read from the real header, csrc/ann.h, with its
preprocessor lines removed, and ``set_source`` includes that same header, so the C compiler
checks that the two agree: there is no second hand-kept copy of the API.

Environment knobs (for development and CI only):
  ANN_SANITIZE=1   build with AddressSanitizer and UndefinedBehaviorSanitizer
  ANN_DEBUG=1      build with -O0 -g
"""
import glob
import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def header_declarations(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return "".join(line for line in f if not line.lstrip().startswith("#"))


def compile_args() -> list:
    if sys.platform == "win32":
        return ["/O2"]
    args = ["-std=c11", "-O3", "-ffp-contract=fast", "-fno-strict-aliasing", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    if os.environ.get("ANN_DEBUG") == "1":
        args[1] = "-O0"
        args.append("-g")
    if os.environ.get("ANN_SANITIZE") == "1":
        args += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                 "-fno-sanitize-recover=undefined", "-g"]
    return args


def link_args() -> list:
    if sys.platform == "win32":
        return []
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
    libraries=[] if sys.platform == "win32" else ["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
