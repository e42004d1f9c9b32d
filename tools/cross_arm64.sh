#!/usr/bin/env bash
# The C core on aarch64 without an ARM machine (CI's ARM64 stage; runnable by hand from the
# repo root): each driver in tests/c/ is cross-compiled with csrc/*.c by aarch64-linux-gnu-gcc
# and run under qemu-user. This checks correctness only; speed under emulation means nothing.
#   - test_gemm checks every kernel aarch64 has (portable and neon) against the naive GEMM,
#     thread bit-identity (1, 2, 3 and 16 threads) and the fork-after-threads check (which
#     test_gemm adapts to qemu-user itself: see forked_child_can_start_threads there);
#   - train_smoke runs once per kernel with ANN_NUM_THREADS=4, so the pool is used even
#     where the runner has a single core;
#   - test_net fails each allocation of the network in turn (its allocation hook);
#   - test_csv checks the CSV parser (csrc/csv.c) converts numbers as on x86-64.
# Options: --small passes --small to test_gemm (the small sizes only, a few seconds).
# Installs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user with apt-get when
# missing (as root or through sudo). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

gemm_args=()
for arg in "$@"; do
    case "$arg" in
        --small) gemm_args+=(--small) ;;
        *) echo "usage: $0 [--small]" >&2; exit 2 ;;
    esac
done

CC=aarch64-linux-gnu-gcc
SYSROOT=/usr/aarch64-linux-gnu   # the arm64 libc and loader that qemu-user runs the tests on
if ! command -v "$CC" >/dev/null || ! command -v qemu-aarch64 >/dev/null ||
    [ ! -e "$SYSROOT/include/stdio.h" ]; then
    echo "== installing the cross compiler and qemu-user"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    # wait for another apt/dpkg run to finish rather than failing on its lock
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
echo "== $("$CC" --version | head -n 1); $(qemu-aarch64 --version | head -n 1)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# -Werror: the x86-only parts (immintrin.h, __builtin_cpu_supports, target attributes) must
# stay behind their guards, so the aarch64 build is warning-free. -Wcomment (a glob such as
# csrc/ followed by *.c in a build line inside a comment) says nothing about the platform, so
# it stays a warning.
CFLAGS="-std=c11 -O2 -pthread -Wall -Wextra -Werror -Wno-error=comment"
SOURCES="$(ls csrc/*.c)"
# Extra flags a driver asks for on a line " * cflags: ..." of its opening comment; they go to
# every file of csrc/ too (tests/c/test_net.c: -DANN_TEST_ALLOC, its allocation hook).
driver_cflags() { sed -n 's/^ \* cflags: //p' "$1"; }
run() { qemu-aarch64 -L "$SYSROOT" "$@"; }
# test_gemm runs itself again for each kernel (a fresh process chooses its kernel anew): the
# copies must run under qemu too
export ANN_TEST_EMULATOR="qemu-aarch64 -L $SYSROOT"

for driver in tests/c/*.c; do
    name="$(basename "$driver" .c)"
    echo "== $name: cross-compiling"
    # shellcheck disable=SC2046,SC2086
    "$CC" $CFLAGS -Icsrc $(driver_cflags "$driver") "$driver" $SOURCES -lm -o "$work/$name"
done

echo "== test_gemm under qemu-aarch64 ${gemm_args[*]:-}"
run "$work/test_gemm" "${gemm_args[@]}"

echo "== test_net under qemu-aarch64"
run "$work/test_net"

for kernel in neon portable; do
    echo "== train_smoke under qemu-aarch64, ANN_KERNEL=$kernel, 4 threads"
    ANN_KERNEL="$kernel" ANN_NUM_THREADS=4 run "$work/train_smoke"
done
echo "== test_csv under qemu-aarch64"
run "$work/test_csv"
echo "arm64: all passed"
