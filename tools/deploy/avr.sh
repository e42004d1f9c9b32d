#!/usr/bin/env bash
# The int8 header on an emulated ATmega328P (CI's AVR stage; runnable by hand from the repo
# root, in the environment where ann is installed): tools/deploy/targets.py avr builds
# tools/deploy/avr_main.c with the exported header, runs it in simavr on MNIST test digits,
# compares every class and score with ann's own int8 arithmetic, and reports avr-size (flash,
# RAM) and the cycles per inference. Arguments go to targets.py (e.g. --model M.safetensors;
# without it the seed network is trained first). MNIST comes from $ANN_DATA.
# Installs gcc-avr, avr-libc, binutils-avr and simavr with apt-get when missing (as root or
# through sudo). Exits non-zero on any mismatch or missed size target.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v avr-gcc >/dev/null || ! command -v simavr >/dev/null ||
    ! command -v avr-size >/dev/null || [ ! -e /usr/lib/avr/include/avr/io.h ]; then
    echo "== installing avr-gcc, avr-libc and simavr"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    # wait for another apt/dpkg run to finish rather than failing on its lock
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends gcc-avr avr-libc binutils-avr simavr
fi
echo "== $(avr-gcc --version | head -n 1); simavr $(dpkg-query -W -f '${Version}' simavr 2>/dev/null || echo '?')"
python tools/deploy/targets.py avr "$@"
