"""``ann trace`` and ``Network.trace``: one training step, every matrix of it.

Every number of a trace is recomputed here from the trace's own inputs with plain float64
arithmetic written out in this file (no ann function is used for it), for every combination
of the options; the new weights are compared with a real ``Network.fit`` step; the text is
checked to show the JSON's numbers; and bad options give one-line errors.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
from array import array

import pytest
from conftest import one_stderr_line, run_ann

TOL = 2e-5  # float32 values against float64 arithmetic, relative to max(1, |value|)


def main(capsys, *args):
    """(exit status, stdout, stderr) of `ann trace ARGS`, run in this process (fast)."""
    from ann.cli import main as ann_main

    status = ann_main(["trace", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def flat(values):
    if isinstance(values, (int, float)):
        return [float(values)]
    out = []
    for v in values:
        out.extend(flat(v) if isinstance(v, list) else [float(v)])
    return out


def close(got, want, what):
    got, want = flat(got), flat(want)
    assert len(got) == len(want), f"{what}: {len(got)} values, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert abs(g - w) <= TOL * max(1.0, abs(w)), f"{what}[{i}]: {g} != {w}"


def matmul(a, b, n, k, m):
    """(n, k) x (k, m), flat row-major lists."""
    return [sum(a[i * k + t] * b[t * m + j] for t in range(k)) for i in range(n) for j in range(m)]


def transpose(a, rows, cols):
    return [a[r * cols + c] for c in range(cols) for r in range(rows)]


def splitmix64_uniforms(state, n):
    """n draws of csrc/ops.c's generator, written out here: (top 24 bits of splitmix64) / 2^24."""
    mask, out = 2**64 - 1, []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(((z ^ (z >> 31)) >> 40) / 2**24)
    return out, state


def check_trace(r, seed=None, carried=None):
    """Recompute every matrix of trace r from its inputs (pixels, W, b, gamma, beta, running
    statistics, hyperparameters; with dropout, the network's seed) and from the matrices
    before it, by hand. A later step of a trace (``{**r, **r["later_steps"][k]}``) is checked
    from what the check of the step before returned (``carried``): the optimizer's state,
    recomputed here in float64, and the dropout stream."""
    sizes, B, labels = r["sizes"], r["batch"], r["labels"]
    t_step = r.get("step", 1)
    assert (carried is None) == (t_step == 1), "a later step is checked from the one before"
    optimizer_state = {} if carried is None else carried["optimizer"]
    p_drop = r.get("dropout", 0.0)
    stream = None
    if p_drop:
        assert seed is not None, "a dropout trace is checked from the network's seed"
        stream = (seed ^ 0xD80F0D80F) & (2**64 - 1)  # a new network's dropout stream
        if carried is not None:
            stream = carried["stream"]
        p32 = array("f", [p_drop])[0]
    L = len(sizes) - 1
    assert len(r["forward"]) == len(r["update"]) == len(r["backward"]) == L
    assert [s["layer"] for s in r["backward"]] == list(range(L - 1, -1, -1))
    eps_bn = 1e-5
    # ---- forward
    x = [v / 255.0 for v in flat(r["pixels"])]
    saved = []
    for l, section in enumerate(r["forward"]):
        t = section["tensors"]
        n_in, n_out = sizes[l], sizes[l + 1]
        assert t["x"]["shape"] == [B, n_in] and t["W"]["shape"] == [n_in, n_out]
        close(t["x"]["values"], x, f"x of layer {l}")
        x = flat(t["x"]["values"])
        W, b = flat(t["W"]["values"]), flat(t["b"]["values"])
        z = [v + b[j % n_out] for j, v in enumerate(matmul(x, W, B, n_in, n_out))]
        close(t["z"]["values"], z, f"z of layer {l}")
        z = flat(t["z"]["values"])
        saved.append({"x": x, "W": W, "z": z})
        if l == L - 1:
            assert "a" not in t
            break
        pre = z
        if r["batchnorm"]:
            mean = [sum(z[q * n_out + j] for q in range(B)) / B for j in range(n_out)]
            var = [
                sum((z[q * n_out + j] - mean[j]) ** 2 for q in range(B)) / B for j in range(n_out)
            ]
            close(t["mean"]["values"], mean, "mean")
            close(t["var"]["values"], var, "var")
            xhat = [
                (z[i] - mean[i % n_out]) / math.sqrt(var[i % n_out] + eps_bn)
                for i in range(B * n_out)
            ]
            close(t["xhat"]["values"], xhat, "xhat")
            gamma, beta = flat(t["gamma"]["values"]), flat(t["beta"]["values"])
            y = [gamma[i % n_out] * xhat[i] + beta[i % n_out] for i in range(B * n_out)]
            close(t["y"]["values"], y, "y")
            old_mean, old_var = flat(t["running_mean"]["values"]), flat(t["running_var"]["values"])
            close(
                t["running_mean_new"]["values"],
                [0.9 * o + 0.1 * m for o, m in zip(old_mean, mean)],
                "running mean",
            )
            close(
                t["running_var_new"]["values"],
                [0.9 * o + 0.1 * v * B / (B - 1) for o, v in zip(old_var, var)],
                "running var",
            )
            saved[l].update(
                xhat=flat(t["xhat"]["values"]), var=flat(t["var"]["values"]), gamma=gamma
            )
            pre = flat(t["y"]["values"])
        else:
            assert "xhat" not in t
        a = [max(0.0, v) for v in pre]
        close(t["a"]["values"], a, f"a of layer {l}")
        x = flat(t["a"]["values"])
        saved[l]["a"] = x
        if p_drop:
            u, stream = splitmix64_uniforms(stream, B * n_out)
            # 24-bit fractions, exact in float32 (the JSON writes the shortest float32 text)
            assert array("f", flat(t["u"]["values"])) == array("f", u), f"draws of layer {l}"
            keep = [1.0 if v >= p32 else 0.0 for v in u]
            assert flat(t["keep"]["values"]) == keep, f"dropout mask of layer {l}"
            close(t["h"]["values"], [v * k / (1 - p_drop) for v, k in zip(x, keep)], "h")
            x = flat(t["h"]["values"])
            saved[l]["keep"] = keep
        else:
            assert "keep" not in t
    # ---- loss
    K = sizes[-1]
    logits = saved[-1]["z"]
    p, loss = [], 0.0
    for q in range(B):
        row = logits[q * K : (q + 1) * K]
        e = [math.exp(v) for v in row]  # no shift needed for these small logits
        p += [v / sum(e) for v in e]
        loss -= math.log(e[labels[q]] / sum(e)) / B
    close(r["loss"]["p"]["values"], p, "p")
    assert r["loss"]["p"]["shape"] == [B, K]
    assert abs(r["loss"]["loss"]["values"] - loss) <= 1e-5
    # ---- backward
    grads = {}
    g = [(p[i] - (1.0 if i % K == labels[i // K] else 0.0)) / B for i in range(B * K)]
    for section in r["backward"]:
        l = section["layer"]
        t, s = section["tensors"], saved[l]
        n_in, n_out = sizes[l], sizes[l + 1]
        if l == L - 1:
            close(t["dz"]["values"], g, "dL/dlogits")
        else:
            if p_drop:
                close(t["dh"]["values"], g, f"dh of layer {l}")
                g = [v * k / (1 - p_drop) for v, k in zip(flat(t["dh"]["values"]), s["keep"])]
            close(t["da"]["values"], g, f"da of layer {l}")
            g = flat(t["da"]["values"])
            g = [v if av > 0 else 0.0 for v, av in zip(g, s["a"])]
            if r["batchnorm"]:
                close(t["dy"]["values"], g, "dy")
                dy = flat(t["dy"]["values"])
                # batch norm backward the long way: through xhat, var and mean, one at a time
                xh, var, gamma = s["xhat"], s["var"], s["gamma"]
                z, dz = s["z"], [0.0] * (B * n_out)
                dgamma, dbeta = [0.0] * n_out, [0.0] * n_out
                for j in range(n_out):
                    col = range(j, B * n_out, n_out)
                    mean = sum(z[i] for i in col) / B
                    inv = 1.0 / math.sqrt(var[j] + eps_bn)
                    dxhat = {i: dy[i] * gamma[j] for i in col}
                    dvar = sum(dxhat[i] * (z[i] - mean) for i in col) * -0.5 * inv**3
                    dmean = (
                        -inv * sum(dxhat.values())
                        + dvar * sum(-2.0 * (z[i] - mean) for i in col) / B
                    )
                    for i in col:
                        dz[i] = dxhat[i] * inv + dvar * 2.0 * (z[i] - mean) / B + dmean / B
                    dgamma[j] = sum(dy[i] * xh[i] for i in col)
                    dbeta[j] = sum(dy[i] for i in col)
                close(t["dgamma"]["values"], dgamma, "dgamma")
                close(t["dbeta"]["values"], dbeta, "dbeta")
                grads[(l, "gamma")], grads[(l, "beta")] = (
                    flat(t["dgamma"]["values"]),
                    flat(t["dbeta"]["values"]),
                )
                g = dz
            close(t["dz"]["values"], g, f"dz of layer {l}")
        dz = flat(t["dz"]["values"])
        close(t["dW"]["values"], matmul(transpose(s["x"], B, n_in), dz, n_in, B, n_out), "dW")
        close(t["db"]["values"], [sum(dz[j::n_out]) for j in range(n_out)], "db")
        grads[(l, "W")], grads[(l, "b")] = flat(t["dW"]["values"]), flat(t["db"]["values"])
        if l == 0:
            assert "dx" not in t
        else:
            close(
                t["dx"]["values"], matmul(dz, transpose(s["W"], n_in, n_out), B, n_out, n_in), "dx"
            )
            g = flat(t["dx"]["values"])
    # ---- L2 and the update
    lr, mu, (b1, b2), eps, l2 = r["lr"], r["momentum"], r["betas"], r["eps"], r["l2"]
    penalty = 0.0
    for section in r["update"]:
        l = section["layer"]
        t, f = section["tensors"], r["forward"][l]["tensors"]
        names = ["W", "b"] + (["gamma", "beta"] if r["batchnorm"] and l < L - 1 else [])
        assert sorted(k for k in t if k.endswith("_new")) == sorted(n + "_new" for n in names)
        for name in names:
            theta, gv = flat(f[name]["values"]), grads[(l, name)]
            if name == "W" and l2:
                penalty += 0.5 * l2 * sum(v * v for v in theta)
                close(t["gW"]["values"], [d + l2 * w for d, w in zip(gv, theta)], "dW + l2 W")
                gv = flat(t["gW"]["values"])
            else:
                assert name != "W" or "gW" not in t
            zeros = [0.0] * len(theta)
            m_old, v_old = optimizer_state.get((l, name), (zeros, zeros))
            if t_step > 1 and r["optimizer"] != "sgd":  # the state the step before left
                first = "v" if r["optimizer"] != "adam" else "m"
                close(t[f"{first}_{name}_prev"]["values"], m_old, "state carried over")
            if r["optimizer"] == "sgd":
                new = [w - lr * d for w, d in zip(theta, gv)]
            elif r["optimizer"] in ("momentum", "nesterov"):
                v = [mu * vo + d for vo, d in zip(m_old, gv)]
                close(t["v_" + name]["values"], v, "velocity")
                optimizer_state[(l, name)] = (v, zeros)
                if r["optimizer"] == "nesterov":
                    new = [w - lr * (d + mu * vv) for w, d, vv in zip(theta, gv, v)]
                else:
                    new = [w - lr * vv for w, vv in zip(theta, v)]
            else:
                m = [b1 * mo + (1 - b1) * d for mo, d in zip(m_old, gv)]
                v = [b2 * vo + (1 - b2) * d * d for vo, d in zip(v_old, gv)]
                close(t["m_" + name]["values"], m, "adam m")
                close(t["v_" + name]["values"], v, "adam v")
                if t_step > 1:
                    close(t[f"v_{name}_prev"]["values"], v_old, "adam v carried over")
                optimizer_state[(l, name)] = (m, v)
                # bias correction at step t (m, v as the trace stored them, float32)
                m, v = flat(t["m_" + name]["values"]), flat(t["v_" + name]["values"])
                c1, c2 = 1 - b1**t_step, 1 - b2**t_step
                new = [
                    w - lr * (mm / c1) / (math.sqrt(vv / c2) + eps)
                    for w, mm, vv in zip(theta, m, v)
                ]
            close(t[name + "_new"]["values"], new, f"new {name} of layer {l}")
    if l2:
        assert abs(r["loss"]["penalty"]["values"] - penalty) <= 1e-5
        assert abs(r["loss"]["total"]["values"] - loss - penalty) <= 2e-5
    else:
        assert "penalty" not in r["loss"]
    assert r["ok"] is True
    step = r["train_step"]
    assert step["ok"] and step["largest_difference"] <= 1e-6 and step["state_difference"] <= 1e-6
    return {"optimizer": optimizer_state, "stream": stream}


def f32(tensor):
    return array("f", flat(tensor["values"]))


def check_every_step(r, seed=None):
    """check_trace on each step of a --steps trace, each from the state the one before left,
    and each starting from the parameters and running statistics the one before ended with."""
    carried = check_trace(r, seed)
    before = r
    for later in r["later_steps"]:
        step = {**r, **later}
        for section in step["forward"]:
            now, then = section["tensors"], before["forward"][section["layer"]]["tensors"]
            update = before["update"][section["layer"]]["tensors"]
            # the same float32 numbers (the reference's float64 results are rounded to
            # float32 between steps, as the network holds them)
            for name in ("W", "b", "gamma", "beta"):
                if name in now:
                    assert f32(now[name]) == f32(update[name + "_new"]), name
            for name in ("running_mean", "running_var"):
                if name in now:
                    assert f32(now[name]) == f32(then[name + "_new"]), name
        carried = check_trace(step, seed, carried)
        before = step


# ---- every combination of the options --------------------------------------------------------

LAYERS = ["4,3,2", "3,4,3,2", "5,3"]  # one hidden layer, two, none
COMBOS = [
    (layers, batch, bn, drop, opt)
    for layers, batch, bn, drop, opt in itertools.product(
        LAYERS, [1, 2, 3], [False, True], [0.0, 0.4], ["sgd", "momentum", "nesterov", "adam"]
    )
    if not ((bn or drop) and layers == "5,3") and not (bn and batch == 1)
]  # refused: tested below


@pytest.mark.parametrize("layers,batch,bn,drop,opt", COMBOS)
def test_every_number_of_a_trace_checks_out_by_hand(capsys, core, layers, batch, bn, drop, opt):
    args = ["--layers", layers, "--batch", str(batch), "--optimizer", opt, "--seed", "3"]
    args += ["--batchnorm"] if bn else []
    args += ["--dropout", str(drop)] if drop else []
    args += ["--l2", "0.01"] if opt == "momentum" else []  # the L2 path too, once per grid
    status, out, err = main(capsys, *args, "--json")
    assert status == 0, err
    r = json.loads(out)
    assert r["sizes"] == [int(s) for s in layers.split(",")]
    assert r["batch"] == batch and r["batchnorm"] is bn and r["optimizer"] == opt
    assert r["dropout"] == drop
    assert "C core" in r["computed_by"]
    check_trace(r, seed=3)
    status, text, err = main(capsys, *args)
    assert status == 0, err
    check_text(text, r)


def test_the_digits_trace_on_real_mnist_for_every_option(capsys, core, mnist_dir):
    from ann._idx import read_images, read_labels

    images = read_images(str(mnist_dir / "train-images-idx3-ubyte.gz"))
    labels = read_labels(str(mnist_dir / "train-labels-idx1-ubyte.gz"))
    for bn, opt, batch in itertools.product(
        [False, True], ["sgd", "momentum", "nesterov", "adam"], [2, 3]
    ):
        args = ["--digits", "--data", str(mnist_dir), "--optimizer", opt, "--batch", str(batch)]
        args += ["--batchnorm"] if bn else []
        status, out, err = main(capsys, *args, "--json")
        assert status == 0, err
        r = json.loads(out)
        assert r["sizes"] == [784, 4, 10]
        # the first training images of the real files, with their labels
        assert flat(r["pixels"]) == list(images.data[: batch * 784])
        assert r["labels"] == list(labels.data[:batch])
        check_trace(r)
        status, text, err = main(capsys, *args)
        assert status == 0, err
        check_text(text, r)
        # wide matrices are summarized in text, narrow ones in full
        assert re.search(r"W \(784, 4\)\n\s+3136 values: min -0\.03", text)
        assert "dW (784, 4) = x^T dz" in text and "W (4, 10)" in text


def test_digits_from_the_built_in_sample(capsys, core):
    status, out, err = main(capsys, "--digits", "--data", "sample", "--json")
    assert status == 0, err
    r = json.loads(out)
    assert r["batch"] == 2 and r["images"].startswith("MNIST training images 0-1 from sample")
    check_trace(r)


def check_text(text, r):
    """The text shows each tensor of the JSON in the same order, under a heading with its
    shape, with numbers aligned in columns and equal to the JSON's to the digits shown; a
    later step (--steps) shows its loss, the gradients of the parameters and its update."""
    from ann._trace import tensors

    lines = text.splitlines()
    check_shown(lines, 0, tensors(r))
    for later in r["later_steps"]:
        at = lines.index(next(x for x in lines if x.startswith(f"STEP {later['step']}  ")))
        shown = [
            item
            for item in tensors(later)
            if item[0] in ("loss", "update")
            and item[2] != "p"
            or item[0] == "backward"
            and item[2] in ("dW", "db", "dgamma", "dbeta")
        ]
        check_shown(lines, at, shown)
    assert "check: largest difference from the float64 reference" in text
    assert re.search(
        r"training step \(ann_net_train_step, one call( per step, \d+ calls on a copy)?\).*: "
        r"(identical|largest difference \d\.\de-\d\d)$",
        text,
        re.M,
    )


def check_shown(lines, at, items):
    for phase, layer, name, t in items:
        shape = t["shape"]
        head = f"  {name} ({', '.join(map(str, shape))})" if shape else f"  {name} = "
        while not lines[at].startswith(head):
            at += 1
            assert at < len(lines), f"{phase} layer {layer}: no heading {head!r} in order"
        if t["difference"] is not None:
            assert re.search(r"vs float64 (0|\d\.\de-\d\d)\]$", lines[at]), lines[at]
        if not shape:
            shown = float(lines[at].split("=")[1].split()[0])
            assert abs(shown - t["values"]) <= 1e-8
            continue
        rows = t["values"] if len(shape) == 2 else [t["values"]]
        body = lines[at + 1 : at + 1 + len(rows)]
        if max(shape) > 12:
            assert body[0].strip().startswith(f"{len(flat(rows))} values: min")
            continue
        widths = {len(line) for line in body}
        assert len(widths) == 1, f"{name}: rows are not aligned:\n" + "\n".join(body)
        for line, row in zip(body, rows):
            cells = line.split()
            assert len(cells) == len(row)
            for cell, value in zip(cells, row):
                decimals = len(cell.split(".")[1].split("e")[0]) if "." in cell else 0
                assert abs(float(cell) - value) <= 0.6 * 10**-decimals * (
                    1 if "e" not in cell else 10 ** int(cell.split("e")[1])
                ), (name, cell, value)


# ---- what the trace shows is what training does ----------------------------------------------


def trace_params(net, r):
    """The trace's new parameters, in the layout of get_weights."""
    values = net.get_weights()
    for section in r["update"]:
        l = section["layer"]
        for name, kind in (
            ("W", "weight"),
            ("b", "bias"),
            ("gamma", "bn_gamma"),
            ("beta", "bn_beta"),
        ):
            if name + "_new" not in section["tensors"]:
                continue
            offset, count = net._net.tensor(l, net._KINDS[kind])
            values[offset : offset + count] = array(
                "f", flat(section["tensors"][name + "_new"]["values"])
            )
    return values


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov", "adam"])
def test_the_traced_step_is_the_step_fit_takes(bn, opt):
    import ann

    sizes, B = [6, 5, 4, 3], 4
    pixels = bytes((37 * i + 11) % 256 for i in range(B * sizes[0]))
    labels = bytes([2, 0, 1, 2])
    traced = ann.Network(sizes, batchnorm=bn, seed=5)
    before = (traced.get_weights(), traced.get_state())
    r = traced.trace(pixels, list(labels), optimizer=opt, lr=0.05, l2=0.001)
    assert (traced.get_weights(), traced.get_state()) == before  # trace changes nothing
    trained = ann.Network(sizes, batchnorm=bn, seed=5)
    data = ann.Dataset(pixels, labels, sizes[0], num_classes=3)
    history = trained.fit(
        data, epochs=1, batch_size=B, lr=0.05, l2=0.001, optimizer=opt, progress=False
    )
    assert history.steps[-1] == 1  # one step, one batch
    got, want = trained.get_weights(), trace_params(traced, r)
    assert got != before[0]
    noise = set()
    if bn and opt == "adam":
        # The bias of a batch-normalized layer has gradient 0 in exact arithmetic (batch norm
        # subtracts the mean), so its float32 gradient is rounding noise, which depends on the
        # order of the rows; Adam divides a gradient by its own size, so that bias moves by
        # about lr whatever the noise. Those are compared in the same row order below.
        for l in range(len(sizes) - 2):
            db = flat(next(s for s in r["backward"] if s["layer"] == l)["tensors"]["db"]["values"])
            assert max(map(abs, db)) < 1e-6
            offset, count = traced._net.tensor(l, 1)
            noise.update(range(offset, offset + count))
    # fit visits the rows in a shuffled order: the sums may round differently, nothing more
    assert max(abs(a - b) for i, (a, b) in enumerate(zip(got, want)) if i not in noise) <= 1e-6
    assert r["train_step"]["largest_difference"] <= 1e-6  # the same order: all of them
    if bn:
        new_state = []
        for section in r["forward"][:-1]:
            t = section["tensors"]
            new_state += flat(t["running_mean_new"]["values"]) + flat(
                t["running_var_new"]["values"]
            )
        assert max(abs(a - b) for a, b in zip(trained.get_state(), new_state)) <= 1e-6


def test_the_trace_matches_the_train_step_bit_for_bit_where_nothing_is_fused(core):
    """Momentum and Adam run net.c's plain path, the same C functions the trace calls: the new
    parameters are identical. Plain SGD folds the update into the weight-gradient GEMM, so
    there the two agree to rounding."""
    import ann

    sizes = [8, 6, 4]
    pixels = bytes((53 * i + 7) % 256 for i in range(3 * sizes[0]))
    for opt in ("momentum", "adam", "sgd"):
        net = ann.Network(sizes, seed=1)
        r = net.trace(pixels, [3, 1, 0], optimizer=opt)
        copy = ann.Network(sizes, seed=1)
        copy._net.set_optimizer(
            {"sgd": 0, "momentum": 1, "adam": 3}[opt], 0.9, 0.9, 0.999, 1e-8, 0.0
        )
        copy._net.train_step(pixels, bytes([3, 1, 0]), 3, array("i", range(3)), 0, 3, 0.1)
        diff = max(abs(a - b) for a, b in zip(copy.get_weights(), trace_params(net, r)))
        if opt == "sgd":
            assert diff <= 1e-6
        else:
            assert diff == 0.0 and r["train_step"]["identical"]


def test_the_dropout_mask_is_the_one_the_first_training_step_draws(core):
    """The trace draws its mask from a new network's dropout stream: a network trained one
    step from that stream ends where the trace says; from another stream, elsewhere."""
    import ann

    sizes, B = [6, 5, 4, 3], 4
    pixels = bytes((29 * i + 3) % 256 for i in range(B * sizes[0]))
    labels = [2, 0, 1, 2]
    net = ann.Network(sizes, dropout=0.5, seed=5)
    r = net.trace(pixels, labels, optimizer="momentum")
    check_trace(r, seed=5)
    keeps = [flat(s["tensors"]["keep"]["values"]) for s in r["forward"][:-1]]
    assert all(0.0 in k and 1.0 in k for k in keeps)  # some units dropped, some kept
    want = trace_params(net, r)
    for stream_seed, same in ((5, True), (6, False)):
        copy = ann.Network(sizes, dropout=0.5, seed=stream_seed)
        copy.set_weights(net.get_weights())
        copy._net.set_optimizer(1, 0.9, 0.9, 0.999, 1e-8, 0.0)
        copy._net.train_step(pixels, bytes(labels), B, array("i", range(B)), 0, B, 0.1)
        diff = max(abs(a - b) for a, b in zip(copy.get_weights(), want))
        assert (diff == 0.0) if same else (diff > 1e-3), (stream_seed, diff)


def test_dropout_on_the_reference_backend_and_on_digits(capsys, core):
    args = ("trace", "--layers", "4,3,3,2", "--batch", "3", "--dropout", "0.3", "--json")
    out = run_ann(*args, "--seed", "2", env={"ANN_BACKEND": "python"})
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["forward"][0]["tensors"]["h"]["function"] == "_reference.dropout_forward"
    check_trace(r, seed=2)
    with_c = json.loads(run_ann(*args, "--seed", "2").stdout)
    for section in (0, 1):  # the same mask on both backends
        keep = [run["forward"][section]["tensors"]["keep"]["values"] for run in (with_c, r)]
        assert keep[0] == keep[1]
    close(
        flat(with_c["update"][0]["tensors"]["W_new"]["values"]),
        flat(r["update"][0]["tensors"]["W_new"]["values"]),
        "C against reference",
    )
    status, out, err = main(capsys, "--digits", "--data", "sample", "--dropout", "0.5", "--json")
    assert status == 0, err
    check_trace(json.loads(out), seed=0)  # the default --seed with --digits


def test_the_trace_on_the_reference_backend(core):
    args = (
        "trace",
        "--layers",
        "4,3,3,2",
        "--batch",
        "3",
        "--batchnorm",
        "--optimizer",
        "momentum",
        "--json",
    )
    out = run_ann(*args, env={"ANN_BACKEND": "python"})
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert "reference" in r["computed_by"] and r["checked_against"] is None
    assert r["largest_difference"] is None
    assert r["forward"][0]["tensors"]["z"]["function"] == "_reference.dense_forward"
    assert r["train_step"]["function"] == "RefNet.train_step"
    check_trace(r)
    with_c = json.loads(run_ann(*args).stdout)
    close(
        flat(with_c["update"][0]["tensors"]["W_new"]["values"]),
        flat(r["update"][0]["tensors"]["W_new"]["values"]),
        "C against reference",
    )


def test_the_default_screen():
    out = run_ann("trace")
    assert out.returncode == 0 and out.stderr == ""
    text = out.stdout
    assert text.startswith("backend: ")
    for heading in (
        "FORWARD",
        "LOSS",
        "BACKWARD",
        "UPDATE (sgd",
        "layer 0: dense 4 -> 3",
        "x (2, 4) = pixels / 255",
        "W (4, 3)",
        "b (3)",
        "z (2, 3) = x W + b",
        "a (2, 3) = max(0, z)",
        "p (2, 2) = softmax(z)",
        "loss = ",
        "dz (2, 2) = dL/dz = (p - onehot(label)) / B",
        "dW (3, 2) = x^T dz",
        "db (2) = column sums of dz",
        "dx (2, 3) = dz W^T",
        "W_new (4, 3) = W - 0.1 dW",
    ):
        assert heading in text, heading
    assert (
        text.index("FORWARD") < text.index("LOSS") < text.index("BACKWARD") < text.index("UPDATE")
    )
    assert "FAILED" not in text


def test_the_defaults_are_the_docs_trace():
    """The pages' worked examples read `ann trace --seed 1` (and `--batchnorm --batch 3`): with
    no options, the trace is that one."""
    assert run_ann("trace").stdout == run_ann("trace", "--seed", "1").stdout
    with_bn = run_ann("trace", "--batchnorm")
    assert with_bn.returncode == 0 and with_bn.stderr == ""
    assert with_bn.stdout == run_ann("trace", "--batchnorm", "--batch", "3", "--seed", "1").stdout
    assert "batch of 3" in with_bn.stdout
    assert run_ann("trace").stdout != run_ann("trace", "--seed", "0").stdout
    digits = ("trace", "--digits", "--data", "sample", "--json")
    assert run_ann(*digits).stdout == run_ann(*digits, "--seed", "0").stdout


def test_the_help_says_what_the_command_does():
    out = run_ann("trace", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "Take one training step of a tiny network" in text
    assert "float64 reference" in text and "ann trace --seed 1" in text
    assert "--steps N" in text and "1 - beta^t" in text


def test_batchnorm_on_two_rows_warns_why_every_xhat_is_plus_or_minus_one(capsys, core):
    out = run_ann("trace", "--batchnorm", "--batch", "2", "--json")
    assert out.returncode == 0, out.stderr
    one_stderr_line(out, "--batch 2", "every x-hat is +-1", "--batch 3")
    r = json.loads(out.stdout)
    t = r["forward"][0]["tensors"]
    n = r["sizes"][1]
    z, xhat = flat(t["z"]["values"]), flat(t["xhat"]["values"])
    for j in range(n):  # what the note says: +-1 / sqrt(1 + 4 eps / d^2), whatever z is
        d = z[n + j] - z[j]
        size = 1 / math.sqrt(1 + 4 * 1e-5 / d**2)
        assert xhat[j] == pytest.approx(-math.copysign(size, d), rel=1e-5)
        assert xhat[n + j] == pytest.approx(math.copysign(size, d), rel=1e-5)
    check_trace(r)
    assert run_ann("trace", "--batchnorm", "--batch", "4").stderr == ""


def rel_close(got, want, what, tolerance=1e-6):
    """Equal to ``tolerance`` of the largest value of the matrix (float32 against float64)."""
    got, want = flat(got), flat(want)
    scale = max(map(abs, want))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert abs(g - w) <= tolerance * scale, f"{what}[{i}]: {g} != {w}"


def test_three_adam_steps_show_m_v_and_the_bias_correction_of_a_float64_recomputation(capsys):
    """`ann trace --steps 3 --optimizer adam`: at t = 3, m and v are the float64 averages of the
    three steps' gradients, the bias corrections are 1 - beta^t of the float32 betas the C core
    uses, and the new weights follow from them; the text shows all of it."""
    status, out, err = main(capsys, "--steps", "3", "--optimizer", "adam", "--json")
    assert status == 0, err
    r = json.loads(out)
    assert r["steps"] == 3 and [s["step"] for s in r["later_steps"]] == [2, 3]
    steps = [r, *r["later_steps"]]
    b1, b2 = array("f", r["betas"])  # what the C core holds: 0.9 and 0.999 in float32
    lr, eps = r["lr"], r["eps"]
    for t, step in enumerate(steps, 1):
        assert step["bias_corrections"] == pytest.approx([1 - b1**t, 1 - b2**t], rel=1e-7)
    third = steps[2]
    m_of, v_of = {}, {}
    for l in (0, 1):
        for name in ("W", "b"):
            m = v = [0.0] * len(flat(r["forward"][l]["tensors"][name]["values"]))
            for step in steps:
                g = flat(
                    next(s for s in step["backward"] if s["layer"] == l)["tensors"]["d" + name][
                        "values"
                    ]
                )
                m_prev, v_prev = m, v
                m = [b1 * mm + (1 - b1) * gg for mm, gg in zip(m, g)]
                v = [b2 * vv + (1 - b2) * gg * gg for vv, gg in zip(v, g)]
            shown = third["update"][l]["tensors"]
            rel_close(shown[f"m_{name}_prev"]["values"], m_prev, f"m_{name}_prev of layer {l}")
            rel_close(shown[f"v_{name}_prev"]["values"], v_prev, f"v_{name}_prev of layer {l}")
            rel_close(shown["m_" + name]["values"], m, f"m_{name} of layer {l} at t = 3")
            rel_close(shown["v_" + name]["values"], v, f"v_{name} of layer {l} at t = 3")
            theta = flat(third["forward"][l]["tensors"][name]["values"])
            c1, c2 = 1 - b1**3, 1 - b2**3
            new = [
                w - lr * (mm / c1) / (math.sqrt(vv / c2) + eps) for w, mm, vv in zip(theta, m, v)
            ]
            close(shown[name + "_new"]["values"], new, f"{name}_new of layer {l} at t = 3")
            m_of[l, name], v_of[l, name] = m, v
    assert all(s["train_step"]["identical"] for s in steps)  # net.c's Adam step by step

    status, text, err = main(capsys, "--steps", "3", "--optimizer", "adam")
    assert status == 0, err
    part = text.split("\nSTEP 3  ", 1)[1]
    assert (
        f"UPDATE (adam: step t = 3, m and v carried over from step 2; bias corrections "
        f"1 - 0.9^3 = {1 - b1**3:.6g}, 1 - 0.999^3 = {1 - b2**3:.6g})"
    ) in part
    # the decimal 1 - 0.999^3 and the C core's differ at the digits shown: a note says why
    assert f"1 - 0.999^3 is {1 - 0.999**3:.7g} in decimal" in part
    assert f"hence {array('f', [1 - b2**3])[0]:.6g}" in part
    lines = part.splitlines()
    at = lines.index("layer 0")
    for name, want in (("m_W", m_of[0, "W"]), ("v_W", v_of[0, "W"])):
        head = next(i for i in range(at, len(lines)) if lines[i].startswith(f"  {name} (4, 3)"))
        shown = [float(c) for row in lines[head + 1 : head + 5] for c in row.split()]
        # m is printed to 6 decimals, v (all below 1e-3) to 5 significant digits
        digits = {"abs": 0.6e-6} if name == "m_W" else {"rel": 1e-4, "abs": 1e-20}
        assert shown == pytest.approx(want, **digits)
    table = text.split("LOSS BY STEP", 1)[1].splitlines()
    assert table[1].split() == ["step", "loss", "1", "-", "0.9^t", "1", "-", "0.999^t"]
    for t, step in enumerate(steps, 1):
        cells = table[1 + t].split()
        assert cells[:2] == [str(t), f"{step['loss']['loss']['values']:.8f}"]
        assert [float(c) for c in cells[2:]] == pytest.approx([1 - b1**t, 1 - b2**t], rel=1e-5)
    losses = [s["loss"]["loss"]["values"] for s in steps]
    assert losses[0] > losses[1] > losses[2]  # the same batch: each step lowers its loss


@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("bn,drop", [(False, 0.0), (True, 0.0), (False, 0.4)])
def test_every_step_of_several_checks_out_by_hand(capsys, core, opt, bn, drop):
    args = ["--layers", "3,4,3,2", "--batch", "3", "--optimizer", opt, "--seed", "4"]
    args += ["--steps", "3"] + (["--batchnorm"] if bn else [])
    args += (["--dropout", str(drop)] if drop else []) + (["--l2", "0.01"] if bn else [])
    status, out, err = main(capsys, *args, "--json")
    assert status == 0, err
    r = json.loads(out)
    assert len(r["later_steps"]) == 2 and r["ok"]
    check_every_step(r, seed=4)
    status, text, err = main(capsys, *args)
    assert status == 0, err
    check_text(text, r)
    assert text.startswith("backend: ") and "3 training steps of a 3-4-3-2 network" in text
    assert "one call per step, 3 calls on a copy" in text


def test_several_steps_from_python_and_on_the_reference_backend(core):
    import ann

    pixels, labels = bytes((41 * i + 5) % 256 for i in range(3 * 5)), [2, 0, 1]
    r = ann.Network([5, 4, 3], seed=2).trace(pixels, labels, steps=4, optimizer="momentum")
    assert [s["step"] for s in r["later_steps"]] == [2, 3, 4]
    check_every_step(r)
    out = run_ann("trace", "--steps", "3", "--optimizer", "nesterov", "--batchnorm", "--json")
    with_c = json.loads(out.stdout)
    out = run_ann(
        "trace",
        "--steps",
        "3",
        "--optimizer",
        "nesterov",
        "--batchnorm",
        "--json",
        env={"ANN_BACKEND": "python"},
    )
    reference = json.loads(out.stdout)
    assert reference["later_steps"][1]["train_step"]["function"] == "RefNet.train_step"
    check_every_step(reference)
    close(
        flat(with_c["later_steps"][1]["update"][0]["tensors"]["W_new"]["values"]),
        flat(reference["later_steps"][1]["update"][0]["tensors"]["W_new"]["values"]),
        "C against reference at step 3",
    )


def test_json_is_one_line_for_tools_and_indented_on_request(capsys):
    from test_cli_terminal import run_on_pty

    piped = run_ann("trace", "--json")
    assert piped.returncode == 0 and piped.stdout.count("\n") == 1  # into a pipe: one line
    r = json.loads(piped.stdout)
    pretty = run_ann("trace", "--json", "--indent", "2").stdout
    assert json.loads(pretty) == r
    lines = pretty.splitlines()
    assert len(lines) > 50 and lines[1].startswith('  "sizes": ')
    assert "    [51, 204, 0, 102]," in lines  # the pixels, one row a line
    assert "            [0.0, 0.6, 0.6, 0.6]" in lines  # x of layer 0, likewise
    assert run_ann("trace", "--json", "--indent", "0").stdout == piped.stdout
    on_terminal = run_on_pty(["trace", "--json"], 24, 100).decode().replace("\r\n", "\n")
    assert json.loads(on_terminal) == r and on_terminal.count("\n") > 50
    assert '\n  "sizes": [4, 3, 2],\n' in on_terminal
    several = json.loads(run_ann("trace", "--steps", "2", "--json", "--indent", "4").stdout)
    assert several["later_steps"][0]["step"] == 2


def test_notes_say_which_printed_values_are_rounding():
    text = run_ann("trace").stdout
    # x = pixel * float32(1/255), rounded to float32: the largest error is the vs float64
    one_255 = array("f", [1 / 255])[0]
    pixels = [51, 204, 0, 102, 0, 153, 153, 153]
    errors = {k: abs(array("f", [k * one_255])[0] - k / 255) for k in pixels}
    worst = max(errors, key=errors.get)
    x_line = next(line for line in text.splitlines() if line.startswith("  x (2, 4)"))
    assert f"vs float64 {errors[worst]:.1e}]" in x_line
    note = text.split(x_line, 1)[1].splitlines()[3]
    assert note.startswith("note: x is each pixel times 1/255 in float32")
    assert f"{worst} gives {array('f', [worst * one_255])[0]:.9g}, not 0.8" in note
    assert f"that {errors[worst]:.1e} is the vs float64 beside x" in note
    # batch norm: db of the normalized layer is 0 in exact arithmetic, a residue in float32
    r = json.loads(run_ann("trace", "--batchnorm", "--json").stdout)
    tensors = next(s for s in r["backward"] if s["layer"] == 0)["tensors"]
    db, dz = flat(tensors["db"]["values"]), flat(tensors["dz"]["values"])
    assert 0 < max(map(abs, db)) < 1e-5 * max(map(abs, dz))
    text = run_ann("trace", "--batchnorm").stdout
    after_db = text.split("  db (3) = column sums of dz", 1)[1].splitlines()
    assert after_db[2].startswith("note: db is 0 in exact arithmetic (batch norm subtracts")
    assert "note: db is 0" not in run_ann("trace").stdout  # no batch norm, no residue


# ---- the Python API --------------------------------------------------------------------------


def test_trace_takes_a_dataset_rows_or_bytes():
    import ann

    pixels = bytes(range(0, 240, 10))  # 3 images of 8 pixels
    data = ann.Dataset(pixels, bytes([1, 0, 1]), 8, num_classes=2)
    net = ann.Network([8, 3, 2])
    from_bytes = net.trace(pixels, [1, 0, 1])
    from_data = net.trace(data)
    from_rows = net.trace([list(pixels[i : i + 8]) for i in range(0, 24, 8)], (1, 0, 1))
    assert from_bytes["update"] == from_data["update"] == from_rows["update"]
    assert from_data["labels"] == [1, 0, 1]
    json.dumps(from_bytes)  # JSON-ready as it is


@pytest.mark.parametrize(
    "call,error,needle",
    [
        (lambda n: n.trace(b"\0" * 8, [0, 1]), "DataError", "not 2 images of 8 pixels"),
        (lambda n: n.trace(b"\0" * 8, [2]), "DataError", "label 2 of image 0 is outside 0..1"),
        (lambda n: n.trace(b"\0" * 8), "ValueError", "needs the labels"),
        (lambda n: n.trace(b"", []), "DataError", "at least one image"),
        (lambda n: n.trace([[0] * 7], [0]), "DataError", "image 0 has 7 pixels"),
        (lambda n: n.trace(b"\0" * 8, [0], optimizer="rmsprop"), "ValueError", "optimizer must be"),
        (lambda n: n.trace(b"\0" * 8, [0], lr=-1), "ValueError", "lr"),
        (lambda n: n.trace(b"\0" * 8, [0], momentum=1.0), "ValueError", "momentum"),
        (lambda n: n.trace(b"\0" * 8, [0], l2=-0.1), "ValueError", "l2"),
        (lambda n: n.trace(b"\0" * 8, [0], steps=0), "ValueError", "steps must be a positive"),
        (lambda n: n.trace(b"\0" * 8, [0], steps=101), "ValueError", "so at most 100"),
    ],
)
def test_trace_refuses_bad_input(call, error, needle):
    import ann

    with pytest.raises(
        getattr(ann, error) if error != "ValueError" else ValueError,
        match=re.escape(needle) if needle != "lr" else "learning rate|lr",
    ):
        call(ann.Network([8, 3, 2]))


def test_trace_refuses_what_it_cannot_show():
    import ann

    with pytest.raises(ValueError, match="batch norm needs at least 2 rows"):
        ann.Network([8, 3, 2], batchnorm=True).trace(b"\0" * 8, [0])


# ---- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--layers", "4,0,2"], "--layers: layer sizes must be positive"),
        (["--layers", "4"], "--layers: needs at least two sizes"),
        (["--layers", "4,x"], "--layers: expected comma-separated"),
        (["--batch", "0"], "--batch: must be a finite number > 0"),
        (["--batch", "65"], "--batch 65"),
        (["--batchnorm", "--batch", "1"], "--batchnorm needs --batch 2 or more"),
        (["--batchnorm", "--layers", "4,2"], "--batchnorm needs a hidden layer"),
        (["--dropout", "0.5", "--layers", "4,2"], "--dropout needs a hidden layer"),
        (["--dropout", "1"], "--dropout: must be a finite number >= 0 and < 1"),
        (["--dropout", "-0.1"], "--dropout: must be a finite number >= 0"),
        (["--digits", "--layers", "784,4,5"], "--digits needs 10 outputs"),
        (["--layers", "4,2000,2"], "width 2000"),
        (["--optimizer", "rmsprop"], "invalid choice"),
        (["--lr", "0"], "--lr"),
        (["--steps", "0"], "--steps: must be a finite number > 0"),
        (["--steps", "101"], "--steps 101: a trace records every matrix of every step"),
        (["--steps", "2.5"], "--steps: expected a"),
        (["--indent", "2"], "--indent sets the layout of --json: give --json too"),
        (["--json", "--indent", "-1"], "--indent: must be a finite number >= 0"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args, needle):
    out = run_ann("trace", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    one_stderr_line(out, needle)


def test_digits_need_784_inputs(mnist_dir):
    out = run_ann("trace", "--digits", "--data", str(mnist_dir), "--layers", "100,4,10")
    assert out.returncode == 2
    one_stderr_line(out, "must start with 784, not 100")


def test_digits_with_the_largest_batch():
    out = run_ann("trace", "--digits", "--data", "sample", "--batch", "64", "--json")
    assert out.returncode == 0, out.stderr  # the sample has more than 64 images
    r = json.loads(out.stdout)
    assert r["batch"] == 64 and r["ok"]


def test_help_explains_every_option_and_shows_its_default():
    from ann.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    trace = sub.choices["trace"]
    for action in trace._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, action.option_strings
        if action.default not in (None, False, argparse.SUPPRESS):
            assert (
                f"default {action.default:g}" in action.help
                if isinstance(action.default, float)
                else f"default {action.default}" in action.help
            )
    layers = next(a for a in trace._actions if a.dest == "layers")
    assert "default 4,3,2" in layers.help and "784,4,10" in layers.help
    out = run_ann("trace", "--help")
    assert out.returncode == 0 and "--digits" in out.stdout
