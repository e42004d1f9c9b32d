"""Helpers of the tests/test_export_*.py files: compiling a C program around exported headers
and reading what it prints (one line per input row: the class, then the 8 hex digits of each
score's float32 bits, so that scores compare bit for bit)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

#: the warnings issue 25 asks the headers to pass
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def bits(value: float) -> str:
    """The 8 hex digits of ``value``'s float32 bits."""
    return f"{struct.unpack('<I', struct.pack('<f', value))[0]:08x}"


def as_float(text: str) -> float:
    return float(struct.unpack("<f", struct.pack("<I", int(text, 16)))[0])


def build(folder: Path, source: str) -> Path:
    """Compile ``source`` (main.c in ``folder``, which also holds its headers) with gcc and
    CFLAGS; skips the test where there is no gcc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to compile the exported headers with")
    (folder / "main.c").write_text(source)
    exe = folder / "main"
    built = subprocess.run(
        [gcc, *CFLAGS, "-I", str(folder), str(folder / "main.c"), "-lm", "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    return exe


def print_loop(call: str, outputs: str, row: str = "row") -> str:
    """C statements printing "<class> <score bits>..." for ``call``(row, scores)."""
    return f"""        printf("%d", {call}({row}, scores));
        for (int j = 0; j < {outputs}; j++) {{
            uint32_t b;
            memcpy(&b, &scores[j], 4);
            printf(" %08x", (unsigned)b);
        }}
        printf("\\n");
"""


def single_header_program(header: str, prefix: str, ctype: str, n: int) -> str:
    """A program reading rows of ``n`` ``ctype`` values (uint8_t pixels, or float) from stdin
    and printing, per row, what PREFIX_predict_u8 (pixels) or PREFIX_predict gives."""
    call = f"{prefix}_predict_u8" if ctype == "uint8_t" else f"{prefix}_predict"
    upper = prefix.upper()
    return f"""#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "{header}"
int main(void)
{{
    {ctype} row[{n}];
    float scores[{upper}_N_OUTPUTS];
    while (fread(row, sizeof row, 1, stdin) == 1) {{
{print_loop(call, f"{upper}_N_OUTPUTS")}    }}
    return 0;
}}
"""


def run(exe: Path, data: bytes) -> list[tuple[int, list[str]]]:
    """(class, score bits) for each line the program prints on ``data``."""
    out = subprocess.run([str(exe)], input=data, capture_output=True, check=True).stdout
    rows = []
    for line in out.decode().splitlines():
        fields = line.split()
        rows.append((int(fields[0]), fields[1:]))
    return rows
