#!/usr/bin/env bash
# Memory-safety checks of the C core (CI's second stage; runnable by hand from the repo root):
#   1. the C-only drivers in tests/c/ built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   2. the training smoke run and the CSV parser's driver (test_csv.c) under valgrind memcheck
#      (no Python in the process);
#   3. the whole pytest suite against an extension built with ASan + UBSan
#      (ANN_SANITIZE=1, see csrc/build_ffi.py), in its own virtual environment.
# Exits non-zero on the first report.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
SOURCES="$(ls csrc/*.c)"

echo "== C drivers under ASan + UBSan"
for driver in tests/c/*.c; do
    name="$(basename "$driver" .c)"
    gcc -std=c11 -O1 -g $SAN -pthread -Icsrc "$driver" $SOURCES -lm -o "$work/$name"
    ASAN_OPTIONS=detect_leaks=1 "$work/$name"
done

echo "== training smoke run and CSV parser under valgrind memcheck"
for driver in train_smoke test_csv; do
    gcc -std=c11 -O1 -g -pthread -Icsrc "tests/c/$driver.c" $SOURCES -lm -o "$work/${driver}_vg"
    valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$work/${driver}_vg"
done

echo "== pytest against the ASan + UBSan build of the extension"
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
ANN_SANITIZE=1 pip install -q --no-cache-dir ".[test]"
libasan="$(gcc -print-file-name=libasan.so)"
# Python itself is not built with ASan, so the runtime is preloaded; CPython's own allocations
# are not leaks of ours, so leak detection is off here (the C drivers above check leaks).
LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    pytest -q -p no:cacheprovider -x
echo "sanitizers: clean"
