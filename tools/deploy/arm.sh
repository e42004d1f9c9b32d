#!/usr/bin/env bash
# The float32 and int8 headers on an emulated Cortex-M3 (CI's Cortex-M stage; runnable by hand
# from the repo root, in the environment where ann is installed): tools/deploy/targets.py arm
# builds tools/deploy/arm_main.c with both headers for qemu-system-arm's lm3s6965evb (no FPU),
# runs it with semihosting on MNIST test digits, and compares the float classes and
# probabilities with ann.predict and the int8 classes and scores with ann's int8 arithmetic.
# Arguments go to targets.py (e.g. --model M.safetensors; without it the seed network is
# trained first). MNIST comes from $ANN_DATA.
# Installs gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm with apt-get when
# missing (as root or through sudo). Exits non-zero on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null ||
    [ ! -e /usr/lib/arm-none-eabi/newlib/libc.a ]; then
    echo "== installing arm-none-eabi-gcc, newlib and qemu-system-arm"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
fi
echo "== $(arm-none-eabi-gcc --version | head -n 1); $(qemu-system-arm --version | head -n 1)"
python tools/deploy/targets.py arm "$@"
