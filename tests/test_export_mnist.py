"""Issue 25's targets on full MNIST, with networks trained by `ann train` here (slow: about a
minute of training, once per session).

* the float32 header, compiled with gcc -std=c99 -Wall -Wextra -Werror -pedantic, gives
  ann.predict's class on all 10,000 test images but exact ties, for the seed network and a
  784-256-10 batch-norm network;
* int8: the test accuracy within 0.5 points of float32 for the seed network and the `fast`
  preset's; the compiled int8 header equals the Python int8 arithmetic on all 10,000 images
  (classes and the bits of every score);
* ONNX: onnx.checker passes and ONNX Runtime's probabilities are within 1e-5 of
  ann.predict_proba's on the 10,000 images (skipped without onnx and onnxruntime);
* the emulated microcontrollers (tools/deploy/targets.py): the int8 header on an ATmega328P
  in simavr, within 20 KB of flash and 1.5 KB of RAM, and both headers on a Cortex-M3 in
  qemu-system-arm (skipped without their tool chains, unless ANN_REQUIRE_TARGETS=1).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import load_tool, run_ann, run_python
from export_helpers import as_float, bits, build, run, single_header_program

import ann

pytestmark = pytest.mark.slow


@functools.cache
def _models_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="ann-export-models-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def trained(name: str, mnist_dir: str) -> Path:
    """A model trained by `ann train`: "seed" (its defaults), "fast" (--preset fast), "bn256"
    (784-256-10 with batch norm: the fast preset with one hidden layer)."""
    args = {
        "seed": [],
        "fast": ["--preset", "fast"],
        "bn256": ["--preset", "fast", "--layers", "256"],
    }
    path = _models_folder() / f"{name}.safetensors"
    done = run_ann(
        "train",
        "--quiet",
        "--save",
        str(path),
        *args[name],
        env={"ANN_DATA": mnist_dir},
        cwd=_models_folder(),
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def test_images(mnist):
    _, test = mnist
    return b"".join(bytes(test[i][0]) for i in range(len(test)))


def run_header(tmp: Path, header: str, prefix: str, images: bytes) -> list[tuple[int, list[str]]]:
    """Compile a driver around ``header`` (its PREFIX_predict_u8) and run it on ``images``:
    (class, the 8 hex digits of each score's float32 bits) per image."""
    (tmp / "model.h").write_text(header)
    exe = build(tmp, single_header_program("model.h", prefix, "uint8_t", 784))
    return run(exe, images)


# "" is the kernel the C core picks; each named one is skipped where this machine lacks it
KERNELS = ["", "portable", "avx2", "avx512"]

PREDICT = """
import json, sys, ann
net = ann.Network.load(sys.argv[1])
_, test = ann.load_mnist(sys.argv[2], download=False, progress=False)
print(json.dumps({"kernel": ann.backend_info()["kernel"], "classes": net.predict(test),
                  "probs": net.predict_proba(test)}))
"""


def predictions_on(kernel: str, model: Path, mnist_dir: str) -> tuple[list[int], list[list[float]]]:
    """ann.predict and predict_proba of ``model`` on the 10,000 test images, computed by the
    C core with ``kernel`` (a fresh process: the kernel is chosen when the core loads)."""
    env = {"ANN_KERNEL": kernel or None}
    done = run_python(PREDICT, str(model), mnist_dir, env=env, cwd="/", timeout=600)
    if done.returncode != 0 and kernel and "kernel" in done.stderr:
        pytest.skip(f"this machine cannot run the {kernel} kernel")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    if kernel and not result["kernel"].startswith(kernel):
        pytest.skip(f"this machine has no {kernel} kernel (ran {result['kernel']})")
    return result["classes"], result["probs"]


@pytest.mark.parametrize("kernel", KERNELS, ids=[k or "default" for k in KERNELS])
@pytest.mark.parametrize("name", ["seed", "bn256"])
def test_float_header_agrees_with_predict(tmp_path, mnist_dir, test_images, name, kernel):
    model = trained(name, str(mnist_dir))
    ann.export_c(ann.Network.load(model), tmp_path / "model.h", name="model")
    rows = run_header(tmp_path, (tmp_path / "model.h").read_text(), "model", test_images)
    assert len(rows) == 10_000
    classes, probs = predictions_on(kernel, model, str(mnist_dir))
    mismatches = [i for i, (k, _) in enumerate(rows) if k != classes[i]]
    ties = [i for i in mismatches if sorted(probs[i])[-1] == sorted(probs[i])[-2]]
    worst = max(abs(as_float(b) - p) for (_, row), ps in zip(rows, probs) for b, p in zip(row, ps))
    print(
        f"{name}, {kernel or 'default'} kernel: {len(mismatches)} class differences, "
        f"{len(ties)} of them exact ties; max |p_c - p_ann| {worst:.2g}"
    )
    assert mismatches == ties
    assert worst < 1e-5


@pytest.fixture(scope="module")
def seed_int8(mnist, mnist_dir):
    train, _ = mnist
    net = ann.Network.load(trained("seed", str(mnist_dir)))
    return net, ann.quantize(net, train)


@pytest.mark.parametrize("name", ["seed", "fast"])
def test_int8_accuracy_within_half_a_point(mnist, mnist_dir, seed_int8, name):
    train, test = mnist
    if name == "seed":
        net, q = seed_int8
    else:
        net = ann.Network.load(trained(name, str(mnist_dir)))
        q = ann.quantize(net, train)
    float_accuracy = net.evaluate(test)["accuracy"]
    int8_accuracy = q.evaluate(test)["accuracy"]
    print(f"{name}: float32 {float_accuracy:.2%}, int8 {int8_accuracy:.2%}")
    assert abs(int8_accuracy - float_accuracy) <= 0.005


def test_int8_header_equals_python_on_every_test_image(tmp_path, mnist, seed_int8, test_images):
    _, test = mnist
    _, q = seed_int8
    ann.export_c(q, tmp_path / "model.h", name="model")
    rows = run_header(tmp_path, (tmp_path / "model.h").read_text(), "model", test_images)
    assert len(rows) == 10_000
    for i, (k, score_bits) in enumerate(rows):
        cls, scores, _ = q.run(test[i][0])
        assert (k, score_bits) == (cls, [bits(s) for s in scores]), i


@pytest.mark.parametrize("kernel", KERNELS, ids=[k or "default" for k in KERNELS])
@pytest.mark.parametrize("name", ["seed", "fast"])
def test_onnx_runtime_agrees_with_predict_proba(tmp_path, mnist_dir, test_images, name, kernel):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    model = trained(name, str(mnist_dir))
    path = tmp_path / f"{name}.onnx"
    ann.export_onnx(ann.Network.load(model), path)
    checked = onnx.load(str(path))
    onnx.checker.check_model(checked, full_check=True)
    assert checked.opset_import[0].version >= 17
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.frombuffer(test_images, dtype=np.uint8).reshape(-1, 784).astype(np.float32)
    probs, classes = session.run(None, {"input": x})
    want_classes, want_probs = predictions_on(kernel, model, str(mnist_dir))
    worst = float(np.abs(probs - np.array(want_probs, dtype=np.float64)).max())
    print(f"{name}, {kernel or 'default'} kernel: max |p_onnx - p_ann| = {worst:.2g}")
    assert worst <= 1e-5
    mismatches = [i for i, k in enumerate(classes.tolist()) if k != want_classes[i]]
    assert all(sorted(want_probs[i])[-1] == sorted(want_probs[i])[-2] for i in mismatches)


@pytest.mark.parametrize("target", ["avr", "arm"])
def test_emulated_microcontrollers(tmp_path, mnist_dir, target):
    targets = load_tool("deploy/targets.py")
    tools = targets.AVR_TOOLS if target == "avr" else targets.ARM_TOOLS
    absent = targets.missing(tools)
    if absent:
        message = f"missing {', '.join(absent)} (tools/deploy/{target}.sh installs them)"
        if os.environ.get("ANN_REQUIRE_TARGETS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    model = trained("seed", str(mnist_dir))
    if target == "avr":
        report = targets.check_avr(model, tmp_path, 4, str(mnist_dir))
        size = report["size"]
        print(f"ATmega328P: flash {size['flash']}, RAM {size['ram']}, cycles {report['cycles']}")
        assert size["flash"] <= targets.AVR_FLASH_LIMIT
        assert size["ram"] <= targets.AVR_RAM_LIMIT
        assert len(report["cycles"]) == 4
    else:
        report = targets.check_arm(model, tmp_path, 20, str(mnist_dir))
        assert report["max_prob_diff"] <= 1e-5
