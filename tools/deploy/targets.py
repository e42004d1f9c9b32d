"""The exported headers on emulated microcontrollers, checked against ann's own predictions.

    python tools/deploy/targets.py avr [--model M.safetensors] [--digits 8] [--keep DIR]
    python tools/deploy/targets.py arm [--model M.safetensors] [--digits 100] [--keep DIR]

``avr``: the int8 header (``ann export-c --int8``) on an ATmega328P (the Arduino Uno's chip:
32 KB flash, 2 KB RAM, 16 MHz), built with avr-gcc and run in simavr. avr_main.c classifies
the first N MNIST test digits and prints each one's class, its scores (the float32 bits) and
the CPU cycles of the call (Timer1); every class and every score must equal, bit for bit,
what ann computes in Python for the same int8 network (``ann evaluate --int8`` arithmetic).
avr_size.c, the smallest program around the header (one image in RAM from the UART, the
class and its probability back), is built to report flash and RAM with avr-size; the
targets are at most 20 KB of flash and 1.5 KB of .data + .bss.

``arm``: the float32 and the int8 header together on a Cortex-M3 (qemu-system-arm's
lm3s6965evb, semihosting for the output), built with arm-none-eabi-gcc: the float classes
must equal ann.predict's and the probabilities be within 1e-5 of ann.predict_proba's; the
int8 classes and scores must equal the Python int8 ones bit for bit.

Without --model, the seed network is trained first (``ann train`` with its defaults, about
15 s). MNIST comes from $ANN_DATA (or --data). Prints a report and exits 1 on any mismatch or
a size target missed. tools/deploy/avr.sh and tools/deploy/arm.sh install the tool chains
(apt-get) and run this; tests/test_export_targets.py imports it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AVR_TOOLS = ("avr-gcc", "avr-size", "simavr")
ARM_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
#: the issue's targets for the seed network on the ATmega328P (bytes)
AVR_FLASH_LIMIT = 20 * 1024
AVR_RAM_LIMIT = 1536
AVR_CLOCK_HZ = 16_000_000


class TargetError(Exception):
    """A build or a run failed, or its output is not what was expected."""


def missing(tools: tuple[str, ...]) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def _run(command: list[str], timeout: float = 600, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        raise TargetError(f"{command[0]} did not finish in {timeout:g} s") from None
    if done.returncode != 0:
        raise TargetError(
            f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout + done.stderr


def train_seed(path: Path, *extra: str) -> Path:
    """Train with ``ann train`` (its defaults plus ``extra``) and save the model to ``path``."""
    _run([sys.executable, "-m", "ann", "train", "--quiet", "--save", str(path), *extra], 1800)
    return path


def write_digits(path: Path, images: list[bytes], progmem: bool) -> None:
    """digits.h: ``N_DIGITS`` images of ``len(images[0])`` bytes as a const table (PROGMEM on
    AVR, so that they stay in flash)."""
    rows = ",\n".join("    {" + ",".join(map(str, image)) + "}" for image in images)
    rom = " PROGMEM" if progmem else ""
    path.write_text(
        f"/* {len(images)} MNIST test digits, written by tools/deploy/targets.py */\n"
        f"#define N_DIGITS {len(images)}\n"
        f"static const uint8_t digits[N_DIGITS][{len(images[0])}]{rom} = {{\n{rows}\n}};\n"
    )


def float_bits(value: float) -> str:
    """The 8 hex digits of ``value``'s float32 bits, as the drivers print them."""
    return f"{struct.unpack('<I', struct.pack('<f', value))[0]:08x}"


def bits_float(text: str) -> float:
    return float(struct.unpack("<f", struct.pack("<I", int(text, 16)))[0])


def prepare(model: Path, folder: Path, digits: int, data: str | None) -> dict[str, Any]:
    """Export ``model`` into ``folder`` (model.h: int8 as ``model``; model_int8.h and
    model_float.h as ``mq`` and ``mf``), write the first ``digits`` test images, and return
    what ann computes for them: {"int8": [(class, score bits)], "float": [(class, probs)],
    "images": [...], "q": the QuantizedNetwork}."""
    import ann

    train, test = ann.load_mnist(data, download=False, progress=False)
    net = ann.Network.load(model)
    q = ann.quantize(net, train)
    ann.export_c(q, folder / "model.h", name="model", source=model.name)
    ann.export_c(q, folder / "model_int8.h", name="mq", source=model.name)
    ann.export_c(net, folder / "model_float.h", name="mf", source=model.name)
    images = [bytes(test[i][0]) for i in range(digits)]
    expected_int8 = []
    for image in images:
        cls, scores, _ = q.run(image)
        expected_int8.append((cls, [float_bits(s) for s in scores]))
    probs = net.predict_proba(b"".join(images))
    classes = net.predict(b"".join(images))
    return {
        "int8": expected_int8,
        "float": list(zip(classes, probs)),
        "images": images,
        "q": q,
        "net": net,
    }


# ---- AVR ----------------------------------------------------------------------------------

AVR_CFLAGS = ["-std=c99", "-Os", "-mmcu=atmega328p", "-DF_CPU=16000000UL"]
AVR_WARNINGS = ["-Wall", "-Wextra", "-Werror"]


def build_avr(folder: Path, source: str) -> Path:
    elf = folder / (Path(source).stem + ".elf")
    _run(["avr-gcc", *AVR_CFLAGS, *AVR_WARNINGS, f"-I{folder}", str(HERE / source), "-o", str(elf)])
    return elf


def avr_size(elf: Path) -> dict[str, int]:
    """{"text", "data", "bss"} from avr-size (Berkeley format): flash is text + data (the
    initial values of .data are stored in flash), RAM is data + bss."""
    lines = _run(["avr-size", str(elf)]).strip().splitlines()
    text, data, bss = (int(v) for v in lines[-1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_simavr(elf: Path, timeout: float = 600) -> list[str]:
    """The UART lines of ``elf`` run in simavr (which colours them and ends each with '.')."""
    out = _run(["simavr", "-m", "atmega328p", "-f", str(AVR_CLOCK_HZ), str(elf)], timeout)
    lines = []
    for line in _ANSI.sub("", out).splitlines():
        line = line.strip()
        if line.startswith(("digit ", "done")):
            lines.append(line.rstrip("."))
    return lines


def check_avr(model: Path, folder: Path, digits: int, data: str | None) -> dict[str, Any]:
    """Build and run the AVR programs; a report dict (see main), TargetError on mismatch."""
    expect = prepare(model, folder, digits, data)
    write_digits(folder / "digits.h", expect["images"], progmem=True)
    size = avr_size(build_avr(folder, "avr_size.c"))
    lines = run_simavr(build_avr(folder, "avr_main.c"))
    if not lines or lines[-1] != "done":
        raise TargetError("simavr: the program did not finish:\n" + "\n".join(lines))
    cycles = []
    for i, line in enumerate(lines[:-1]):
        m = re.fullmatch(r"digit (\d+) class (\d+) cycles (\d+) scores((?: [0-9a-f]{8})+)", line)
        if not m or int(m.group(1)) != i:
            raise TargetError(f"simavr: unexpected line {line!r}")
        got = (int(m.group(2)), m.group(4).split())
        want = expect["int8"][i]
        if got[0] != want[0] or got[1] != want[1]:
            raise TargetError(
                f"digit {i}: the AVR gives class {got[0]}, scores {got[1]}; ann's int8 "
                f"arithmetic gives class {want[0]}, scores {want[1]}"
            )
        cycles.append(int(m.group(3)))
    if len(cycles) != digits:
        raise TargetError(f"simavr printed {len(cycles)} digits, not {digits}")
    return {"size": size, "cycles": cycles, "classes": [c for c, _ in expect["int8"]]}


# ---- Cortex-M3 ----------------------------------------------------------------------------

ARM_CFLAGS = ["-mcpu=cortex-m3", "-mthumb", "-std=c99", "-O2"]


def build_arm(folder: Path) -> Path:
    elf = folder / "arm_main.elf"
    sources = [str(HERE / "arm_main.c"), str(HERE / "arm_startup.c")]
    _run(
        ["arm-none-eabi-gcc", *ARM_CFLAGS, *AVR_WARNINGS, f"-I{folder}", f"-I{HERE}", *sources]
        + ["-T", str(HERE / "arm.ld"), "-nostartfiles", "--specs=nano.specs", "-lm"]
        + ["-o", str(elf)]
    )
    return elf


def run_qemu(elf: Path, timeout: float = 600) -> list[str]:
    out = _run(
        ["qemu-system-arm", "-M", "lm3s6965evb", "-nographic", "-monitor", "none"]
        + ["-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
        timeout,
    )
    return [line for line in out.splitlines() if line.startswith(("digit ", "done", "fault"))]


def check_arm(model: Path, folder: Path, digits: int, data: str | None) -> dict[str, Any]:
    expect = prepare(model, folder, digits, data)
    write_digits(folder / "digits.h", expect["images"], progmem=False)
    elf = build_arm(folder)
    size = _run(["arm-none-eabi-size", str(elf)]).strip().splitlines()[-1].split()[:3]
    lines = run_qemu(elf)
    if not lines or lines[-1] != "done":
        raise TargetError("qemu: the program did not finish:\n" + "\n".join(lines))
    worst = 0.0
    hex8 = r"((?: [0-9a-f]{8})+)"
    for i, line in enumerate(lines[:-1]):
        m = re.fullmatch(rf"digit (\d+) float (\d+){hex8} int8 (\d+){hex8}", line)
        if not m or int(m.group(1)) != i:
            raise TargetError(f"qemu: unexpected line {line!r}")
        float_class, float_probs = expect["float"][i]
        probs = [bits_float(b) for b in m.group(3).split()]
        if int(m.group(2)) != float_class:
            raise TargetError(
                f"digit {i}: the float header on the Cortex-M3 gives class {m.group(2)}, "
                f"ann.predict {float_class}"
            )
        worst = max(worst, *(abs(a - b) for a, b in zip(probs, float_probs)))
        want = expect["int8"][i]
        got = (int(m.group(4)), m.group(5).split())
        if got[0] != want[0] or got[1] != want[1]:
            raise TargetError(
                f"digit {i}: the int8 header on the Cortex-M3 gives class {got[0]}, scores "
                f"{got[1]}; ann's int8 arithmetic gives class {want[0]}, scores {want[1]}"
            )
    if len(lines) - 1 != digits:
        raise TargetError(f"qemu printed {len(lines) - 1} digits, not {digits}")
    if worst > 1e-5:
        raise TargetError(f"float probabilities differ from ann.predict_proba by {worst:.3g}")
    return {
        "size": {"text": int(size[0]), "data": int(size[1]), "bss": int(size[2])},
        "max_prob_diff": worst,
        "classes": [c for c, _ in expect["float"]],
    }


# ---- the command --------------------------------------------------------------------------


def _median(values: list[int]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=("avr", "arm"))
    parser.add_argument("--model", type=Path, help="an ann model (default: train the seed net)")
    parser.add_argument("--digits", type=int, help="test digits to run (default 8 AVR, 100 ARM)")
    parser.add_argument("--data", help="MNIST folder (default: $ANN_DATA)")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args(argv)
    tools = AVR_TOOLS if args.target == "avr" else ARM_TOOLS
    absent = missing(tools)
    if absent:
        print(f"targets.py: missing {', '.join(absent)} (tools/deploy/{args.target}.sh installs)")
        return 2
    digits = args.digits or (8 if args.target == "avr" else 100)
    with tempfile.TemporaryDirectory() as temp:
        folder = args.keep or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        model = args.model
        if model is None:
            print("== training the seed network (ann train, its defaults)", flush=True)
            model = train_seed(folder / "seed.safetensors")
        try:
            if args.target == "avr":
                report = check_avr(model, folder, digits, args.data)
            else:
                report = check_arm(model, folder, digits, args.data)
        except TargetError as exc:
            print(f"FAILED: {exc}")
            return 1
    size = report["size"]
    print(f"model: {model}")
    if args.target == "avr":
        cycles = report["cycles"]
        flash, ram = size["flash"], size["ram"]
        print(
            f"ATmega328P, avr-size of avr_size.c (one image in RAM, class and probability "
            f"out): text {size['text']}, data {size['data']}, bss {size['bss']}"
        )
        print(
            f"flash {flash:,} bytes (limit {AVR_FLASH_LIMIT:,}), RAM .data + .bss {ram:,} "
            f"bytes (limit {AVR_RAM_LIMIT:,})"
        )
        print(
            f"simavr, {digits} digits: classes {report['classes']} equal ann's int8 ones, "
            f"scores bit for bit"
        )
        med = _median(cycles)
        print(
            f"cycles per inference (Timer1, simavr at 16 MHz): median {med:,.0f}, "
            f"min {min(cycles):,}, max {max(cycles):,} = {med / AVR_CLOCK_HZ * 1000:.1f} ms"
        )
        if flash > AVR_FLASH_LIMIT or ram > AVR_RAM_LIMIT:
            print("FAILED: the size targets are missed")
            return 1
    else:
        print(
            f"Cortex-M3 (qemu lm3s6965evb), arm-none-eabi-size: text {size['text']}, "
            f"data {size['data']}, bss {size['bss']}"
        )
        print(
            f"{digits} digits: float classes equal ann.predict's (max |p - p_ann| "
            f"{report['max_prob_diff']:.2g}), int8 classes and scores equal ann's int8 "
            f"arithmetic bit for bit"
        )
    print(f"{args.target}: all passed")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
