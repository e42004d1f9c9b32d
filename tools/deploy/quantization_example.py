"""The worked example of docs/quantization.md: one unit of the seed network through int8.

    python tools/deploy/quantization_example.py        # print it
    python tools/deploy/quantization_example.py --check   # exit 1 if the page's copy differs

The network is tests/data/seed-mnist.safetensors (784-20-7-5-10, trained by `ann train` with
its defaults), quantized as `ann export-c --int8` does (1,000 training rows, seed 0), on
full MNIST from $ANN_DATA. Every number is float64 or integer arithmetic, so the output is
the same on every machine; tests/test_export_docs.py compares it with the page.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests" / "data" / "seed-mnist.safetensors"
PAGE = ROOT / "docs" / "quantization.md"
MARK = "<!-- example: python tools/deploy/quantization_example.py -->"


def example() -> str:
    import ann
    from ann.export import _int8, _spec

    train, test = ann.load_mnist(download=False, progress=False)
    net = ann.Network.load(MODEL)
    q = ann.quantize(net, train)
    spec = q.spec
    out = []
    say = out.append
    say(f"model: {MODEL.relative_to(ROOT)} ({'-'.join(map(str, spec.sizes))})")
    say(f"calibration: {q.calibration}")
    l1 = q.layers[0]
    pixels, label = test[0]
    (z1, a1), *_ = _spec.forward(spec, pixels)
    j = max(range(l1.n_out), key=lambda u: z1[u])  # the unit test image 0 excites most
    row = spec.layers[0].weight[j]
    top = max(map(abs, row))
    s_j = l1.weight_scale[j]
    say("")
    say(
        f"layer 1, unit {j} (the one test image 0 excites most): {l1.n_in} weights, "
        f"max_i |W_{j},i| = {top:.6f}"
    )
    say(f"  s_{j} = max / 127 = {s_j:.6e}")
    lit = [i for i, p in enumerate(pixels) if p]
    picks = [row.index(top) if top in row else row.index(-top)] + lit[100:103]
    for i in picks:
        code = l1.weight[j * l1.n_in + i]
        say(
            f"  W_{j},{i:<3} = {row[i]:+.6f}  ->  q = round(W / s_{j}) = {code:+4d}"
            f"  ->  s_{j} q = {s_j * code:+.6f}"
        )
    b = spec.layers[0].bias[j]
    say(
        f"  b_{j} = {b:+.6f}  ->  B_{j} = round(b_{j} / (s_x s_{j})) - z_x sum_i q = "
        f"{l1.bias[j]}   (s_x = 1/255, z_x = 0)"
    )
    acc = l1.bias[j] + sum(p * l1.weight[j * l1.n_in + i] for i, p in enumerate(pixels))
    say("")
    say(f"test image 0 (label {label}): {len(lit)} of its {len(pixels)} pixels are not 0")
    say(f"  acc = B_{j} + sum_i p_i q_i = {acc}")
    say(f"  acc s_x s_{j} = {acc * l1.in_scale * s_j:.6f}   (float64: z = {z1[j]:.6f})")
    M = l1.in_scale * s_j / l1.out_scale
    say(
        f"  layer 1's ReLU outputs, calibrated on [0, {255 * l1.out_scale:.6f}]: "
        f"s_y = {l1.out_scale:.6f}, z_y = {l1.out_zero}"
    )
    say(f"  M = s_x s_{j} / s_y = {M:.9e} = {l1.multiplier[j]} / 2^{l1.shift[j]}")
    code = _int8.clamp(l1.out_zero + _int8.scale(acc, l1.multiplier[j], l1.shift[j]), l1.low, 127)
    say(
        f"  y = clamp(z_y + round(acc M), z_y..127) = {code}"
        f"  ->  s_y (y - z_y) = {l1.out_scale * (code - l1.out_zero):.6f}"
        f"   (float64: ReLU(z) = {a1[j]:.6f})"
    )
    cls, scores, logits = q.run(pixels)
    logits_f, probs_f = _spec.forward(spec, pixels)[-1]
    say("")
    say("output layer, test image 0:")
    say("  k   logit, float64   logit, int8 (Q16 / 2^16)   p, float64   p, int8")
    for k in range(len(logits)):
        say(
            f"  {k}   {logits_f[k]:+14.6f}   {logits[k] / 2**16:+24.6f}   {probs_f[k]:10.3e}"
            f"   {scores[k]:9.3e}"
        )
    say(f"  class: {cls} (float64: {ann.export._activations.argmax(logits_f)})")
    float_result = net.evaluate(test)
    int8_result = q.evaluate(test)
    say("")
    say(
        f"10,000 test images: float32 accuracy {float_result['accuracy']:.2%}, "
        f"int8 {int8_result['accuracy']:.2%}"
    )
    return "\n".join(out) + "\n"


def page_copy() -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(re.escape(MARK) + r"\n```text\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise SystemExit(f"{PAGE}: no block after {MARK}")
    return match.group(1)


def main(argv: list[str]) -> int:
    fresh = example()
    if "--check" in argv:
        if fresh != page_copy():
            print(f"{PAGE.name}: the worked example differs from what the script prints:")
            print(fresh)
            return 1
        print("the worked example is up to date")
        return 0
    print(fresh, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
