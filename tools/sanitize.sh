#!/usr/bin/env bash
# Memory-safety checks of the C core (CI's second stage; runnable by hand from the repo root):
#   1. the C-only drivers in tests/c/ built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   2. the training smoke run, test_net (every out-of-memory path) and test_csv (the CSV
#      parser) under valgrind memcheck (no Python in the process);
#   3. the whole pytest suite against an extension built with ASan + UBSan
#      (ANN_SANITIZE=1, see csrc/build_ffi.py), in its own virtual environment.
# Exits non-zero on the first report.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
SOURCES="$(ls csrc/*.c)"
# Extra flags a driver asks for on a line " * cflags: ..." of its opening comment; they go to
# every file of csrc/ too (tests/c/test_net.c: -DANN_TEST_ALLOC, its allocation hook).
driver_cflags() { sed -n 's/^ \* cflags: //p' "$1"; }

echo "== C drivers under ASan + UBSan"
for driver in tests/c/*.c; do
    name="$(basename "$driver" .c)"
    # shellcheck disable=SC2046
    gcc -std=c11 -O1 -g $SAN -pthread -Icsrc $(driver_cflags "$driver") "$driver" $SOURCES -lm \
        -o "$work/$name"
    ASAN_OPTIONS=detect_leaks=1 "$work/$name"
done

echo "== training smoke run, out-of-memory paths and CSV parser under valgrind memcheck"
gcc -std=c11 -O1 -g -pthread -Icsrc tests/c/train_smoke.c $SOURCES -lm -o "$work/smoke_vg"
valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$work/smoke_vg"
gcc -std=c11 -O1 -g -pthread -Icsrc -DANN_TEST_ALLOC tests/c/test_net.c $SOURCES -lm \
    -o "$work/test_net_vg"
# (valgrind computes floats in software and ignores the flush-to-zero mode, so test_net's
# denormal check, which ran natively under ASan above, is left out here)
valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$work/test_net_vg" --no-denormal-check
gcc -std=c11 -O1 -g -pthread -Icsrc tests/c/test_csv.c $SOURCES -lm -o "$work/test_csv_vg"
valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$work/test_csv_vg"

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
