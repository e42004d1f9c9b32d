#!/usr/bin/env bash
# The C core on Windows, from Linux: cross-compile the C drivers in tests/c/ with mingw-w64
# (x86_64-w64-mingw32-gcc) and run them under wine. Runnable by hand from the repo root:
#
#   bash tools/cross_windows.sh
#
# What it checks:
#   1. csrc/ and tests/c/ build for Windows with -Wall -Wextra and no warnings (-Werror);
#   2. the binaries hold no aligned AVX move to or from the stack (vmovaps / vmovdqa with an
#      %rsp or %rbp operand): Windows x64 only promises 16-byte stack alignment and GCC cannot
#      always realign it (GCC bug 54412), so such a move would crash at random in the kernels;
#   3. test_gemm.exe (every kernel this CPU has, each in its own child process) with the pool
#      at ANN_NUM_THREADS = 2 .. 8, train_smoke.exe with each kernel at 2, 5 and 8 threads,
#      test_net.exe (every out-of-memory path of the network, through its allocation hook)
#      and test_csv.exe (the CSV parser);
#   4. both again against the core built as a DLL (ann.dll), the form the Python extension
#      takes on Windows: there the pool's exit-time shutdown runs in DLL_PROCESS_DETACH.
# Exits non-zero on the first failure. The programs are linked statically (-static), so wine
# needs no DLL but its own KERNEL32 and msvcrt (and ann.dll for step 4). Installs the
# compiler and wine with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CC=x86_64-w64-mingw32-gcc
if ! command -v "$CC" >/dev/null || ! { command -v wine >/dev/null || command -v wine64 >/dev/null; }; then
    echo "== installing gcc-mingw-w64-x86-64 and wine"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    $sudo apt-get install -y -q gcc-mingw-w64-x86-64 wine wine64
fi
WINE="$(command -v wine || command -v wine64)"

work="$(mktemp -d)"
export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all
cleanup() {
    # this prefix's wineserver only (it would linger a few seconds after the last program)
    wineserver -k >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== build with $($CC --version | head -n 1)"
CFLAGS="-std=c11 -O3 -ffp-contract=fast -fno-strict-aliasing -fno-math-errno -Wall -Wextra -Wno-unused-parameter -Werror"
# Extra flags a driver asks for on a line " * cflags: ..." of its opening comment; they go to
# every file of csrc/ too (tests/c/test_net.c: -DANN_TEST_ALLOC, its allocation hook). Such a
# driver needs its own build of the core, so it is not linked against ann.dll below.
driver_cflags() { sed -n 's/^ \* cflags: //p' "$1"; }
for driver in tests/c/*.c; do
    name="$(basename "$driver" .c)"
    # shellcheck disable=SC2046,SC2086
    "$CC" $CFLAGS -Icsrc $(driver_cflags "$driver") "$driver" $(ls csrc/*.c) -static \
        -o "$work/$name.exe"
done
mkdir "$work/dll"
# shellcheck disable=SC2046,SC2086
"$CC" $CFLAGS -Icsrc -shared $(ls csrc/*.c) -static-libgcc -o "$work/dll/ann.dll" \
    -Wl,--out-implib,"$work/dll/libann.dll.a"
for driver in tests/c/*.c; do
    name="$(basename "$driver" .c)"
    [ -n "$(driver_cflags "$driver")" ] && continue
    # shellcheck disable=SC2086
    "$CC" $CFLAGS -Icsrc "$driver" -L"$work/dll" -lann -static-libgcc -o "$work/dll/$name.exe"
done

echo "== no aligned AVX moves on the stack"
for exe in "$work"/*.exe "$work"/dll/ann.dll; do
    bad="$(x86_64-w64-mingw32-objdump -d --no-show-raw-insn "$exe" |
           grep -E 'vmov(aps|apd|dqa|dqa32|dqa64)[[:space:]].*\(%r[sb]p' || true)"
    if [ -n "$bad" ]; then
        echo "$(basename "$exe"): aligned vector moves to/from the stack:"
        echo "$bad" | head -n 10
        exit 1
    fi
done
echo "none"

echo "== wine prefix ($("$WINE" --version))"
"$WINE" wineboot -i >/dev/null 2>&1 || true

# Run one program; its output goes to the log and its summary line to the terminal.
run() {   # run LABEL PATTERN_OF_A_GOOD_LAST_LINE EXE [ARGS...]
    local label="$1" good="$2"
    shift 2
    local log="$work/log.txt" rc=0
    timeout 600 "$WINE" "$@" >"$log" 2>&1 || rc=$?
    local last
    last="$(tr -d '\r' <"$log" | tail -n 1)"
    if [ "$rc" -ne 0 ] || ! echo "$last" | grep -Eq "$good"; then
        echo "FAIL $label: exit code $rc"
        tr -d '\r' <"$log" | tail -n 30
        exit 1
    fi
    echo "$label: $last"
}

echo "== test_gemm.exe under wine"
for threads in 2 3 4 5 6 7 8; do
    ANN_NUM_THREADS=$threads run "ANN_NUM_THREADS=$threads" '^[0-9]+ passed, 0 failed$' \
        "$work/test_gemm.exe"
done
tr -d '\r' <"$work/log.txt" | grep -E '^  (kernel|\()'   # the last run's per-kernel lines

echo "== train_smoke.exe under wine"
kernels="$(tr -d '\r' <"$work/log.txt" | sed -n 's/^  kernel \([a-z0-9-]*\) .*/\1/p')"
for kernel in $kernels; do
    for threads in 2 5 8; do
        ANN_KERNEL=$kernel ANN_NUM_THREADS=$threads \
            run "kernel $kernel, ANN_NUM_THREADS=$threads" '^train_smoke: passed' \
            "$work/train_smoke.exe"
    done
done
echo "== test_net.exe under wine"
run "test_net.exe" '^test_net: passed' "$work/test_net.exe"
echo "== test_csv.exe under wine (the CSV parser's values must be Python's here too)"
run "test_csv.exe" '^test_csv: passed' "$work/test_csv.exe"
echo "== the core as ann.dll under wine"
ANN_NUM_THREADS=4 run "test_gemm.exe + ann.dll, ANN_NUM_THREADS=4" '^[0-9]+ passed, 0 failed$' \
    "$work/dll/test_gemm.exe"
ANN_NUM_THREADS=8 run "train_smoke.exe + ann.dll, ANN_NUM_THREADS=8" '^train_smoke: passed' \
    "$work/dll/train_smoke.exe"
echo "windows (mingw-w64 + wine): passed"
