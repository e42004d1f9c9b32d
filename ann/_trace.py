"""``ann trace`` and ``Network.trace``: one training step, every matrix of it written down.

The step is the textbook one -- forward layer by layer, the head (softmax + cross-entropy, or
the network's other head against the targets it reads from the labels), backward layer by
layer, the optimizer's update -- driven from here one C function at a time
(``ann_dense_forward``, ``ann_relu_backward``, ``ann_sigmoid_forward``...: the ops of
``_ops.py``, on the C side ``_c/ops.py``), so the C core computes every number that is
shown. Each call is repeated in float64 by the twin function of ``ann/_reference.py`` on the
very same inputs, and the largest difference of each output is recorded: that checks each C
function on its own, without the rounding of the earlier steps piling up. At the end the
network's own training step (``ann_net_train_step``, with its fused kernels) runs on a copy of
the network and the same batch, and its new parameters are compared with the trace's: what
the trace shows is what training does.

Shapes use the core's names (ann.h): B rows in the batch, n_in / n_out a layer's fan-in and
fan-out, K classes. Batch norm's running statistics are the one part of the step that no
exported C function computes (net.c updates them inline), so the C side computes them in
float32 as net.c does (``CoreOps.running_average``).

With dropout (a network made with ``dropout=p``, ``ann trace --dropout P``), each hidden
layer's ReLU output a goes through inverted dropout: the uniform draws u of the dropout stream
(``ann_random_uniform``), the mask keep = [u >= p] and h = a keep / (1 - p)
(``ann_dropout_forward``), and back, da = dh keep / (1 - p) (``ann_dropout_backward``). The
stream is the one a new network with the network's seed starts from (``seed ^ 0xD80F0D80F``,
see ``ann_net_init``), so the mask is the one the first training step of that network draws,
and the training-step check runs a copy with that stream.

With ``steps=N`` (``ann trace --steps N``) the step is taken N times on the same batch, each
from the parameters, running statistics, dropout stream and optimizer state the one before
left: momentum's velocity and Adam's moments, which start at zero, build up, and Adam's bias
corrections 1 - beta^t shrink towards 1. Every step is checked as the first is; the network's
own training step runs N times on one copy.

``trace_step`` returns the recorded steps as a dict; ``_trace_format.py`` writes it out as JSON
or as the text ``ann trace`` prints.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from . import _c, _checks
from ._c.ops import ACTIVATION_FUNCTIONS, HEAD_FUNCTIONS
from ._constants import (
    ACTIVATIONS,
    ANN_BIASES,
    ANN_BN_BETA,
    ANN_BN_GAMMA,
    ANN_BN_MEAN,
    ANN_BN_VAR,
    ANN_GELU,
    ANN_IDENTITY,
    ANN_IDENTITY_MSE,
    ANN_LEAKY_RELU,
    ANN_RELU,
    ANN_SIGMOID,
    ANN_SIGMOID_BCE,
    ANN_SIGMOID_MSE,
    ANN_SOFTMAX_CE,
    ANN_TANH,
    ANN_WEIGHTS,
    HEADS,
    OPTIMIZERS,
)
from ._data import Dataset, _as_bytes
from ._defaults import TRACE_MAX_STEPS
from ._errors import DataError, TrainingError
from ._ops import Ops, ReferenceOps, core_ops
from ._rng import MASK64

Values = list[float]
Tensor = dict[str, Any]

# A trace passes when every C output is within this of the float64 reference given the same
# inputs, relative to the size of the values (|C - ref| <= TOLERANCE * max(1, max |ref|)),
# and the network's own training step gives the same new parameters to this tolerance.
TOLERANCE = 1e-4


class _Recorder:
    """Runs each step on the C core and on the reference with the same inputs, keeps the C
    outputs (the reference's when there is no C core) and the largest difference of each."""

    def __init__(self, core: Ops | None) -> None:
        self.core, self.reference = core, ReferenceOps()

    def run(self, op: str, *args: Any) -> tuple[Any, Any]:
        """(outputs, differences) of one op: each output (a list, a float, or None) paired with
        max |C - reference| (None without a C core)."""
        want = getattr(self.reference, op)(*args)
        if self.core is None:
            got = want
        else:
            got = getattr(self.core, op)(*args)
        if not isinstance(want, tuple):
            return got, self._difference(got, want)
        return got, tuple(self._difference(g, w) for g, w in zip(got, want))

    def _difference(self, got: Any, want: Any) -> float | None:
        if self.core is None or got is None:
            return None
        if isinstance(got, int):  # a generator state: the same or not
            return 0.0 if got == want else math.inf
        if isinstance(got, float):
            return abs(got - float(want))
        return max((abs(g - w) for g, w in zip(got, want)), default=0.0)


def _tensor(
    shape: Sequence[int], values: Any, formula: str, function: str, difference: float | None
) -> Tensor:
    """One recorded matrix: values as rows (2-D), a flat list (1-D) or a number (scalar)."""
    if len(shape) == 2:
        rows, cols = shape
        shown: Any = [list(values[r * cols : (r + 1) * cols]) for r in range(rows)]
    elif len(shape) == 1:
        shown = list(values)
    else:
        shown = values
    return {
        "shape": list(shape),
        "formula": formula,
        "function": function,
        "values": shown,
        "difference": difference,
    }


def _scale(values: Any) -> float:
    flat = flatten(values)
    return max((abs(v) for v in flat), default=0.0)


def flatten(values: Any) -> Values:
    if isinstance(values, (int, float)):
        return [float(values)]
    out: Values = []
    for v in values:
        out.extend(flatten(v) if isinstance(v, list) else [v])
    return out


def trace_step(
    net: Any,
    images: Any,
    labels: Any = None,
    *,
    lr: float,
    optimizer: str,
    momentum: float,
    betas: tuple[float, float],
    eps: float,
    l2: float,
    steps: int = 1,
) -> dict[str, Any]:
    """``Network.trace``: see its docstring."""
    optimizer = _checks.optimizer(optimizer, OPTIMIZERS)
    lr = _checks.learning_rate(lr)
    momentum = _checks.momentum(momentum)
    beta1, beta2 = _checks.adam_betas(betas)
    eps = _checks.adam_eps(eps)
    l2 = _checks.l2(l2)
    steps = _checks.positive_int(steps, "steps")
    if steps > TRACE_MAX_STEPS:
        raise ValueError(
            f"steps: a trace records every matrix of every step, so at most {TRACE_MAX_STEPS}, "
            f"got {steps}"
        )
    sizes = list(net.sizes)
    pixels, label_list = _batch(
        images, labels, sizes[0], sizes[-1], binary=net.head != "softmax-ce"
    )
    L = len(sizes) - 1
    if net.batchnorm and L > 1 and len(label_list) < 2:
        raise ValueError(
            "batch norm needs at least 2 rows in the batch (one row has no variance), got 1"
        )

    # what each step starts from: the network's parameters and running statistics, optimizer
    # state at zero (t = 0), the dropout stream of a new network (ann_net_init)
    params, state = net.get_weights(), net.get_state()
    carry = _Carry(
        params=params,
        state=state,
        m=array("f", bytes(4 * len(params))),
        v=array("f", bytes(4 * len(params))),
        stream=(int(net.seed) ^ 0xD80F0D80F) & MASK64,
    )
    core = core_ops() if net.backend == "c" else None
    records, after = [], []
    for t in range(1, steps + 1):
        # the textbook step: forward, loss, backward, update
        step = _Step(net, pixels, label_list, core, carry, t)
        x = step.gather()
        try:
            for l in range(L):
                x = step.forward(l, x)
            g = step.loss(x)
        except (TrainingError, OverflowError) as exc:
            if t == 1:
                raise
            raise TrainingError(
                f"step {t} of the trace: the loss became NaN or infinite after {t - 1} "
                f"update(s) at learning rate {lr:g} (--lr), too large a rate for this network "
                f"(give a smaller learning rate, or fewer steps)"
            ) from exc
        for l in range(L - 1, -1, -1):
            g = step.backward(l, g)
        for l in range(L):
            step.update(l, optimizer, lr, momentum, beta1, beta2, eps, l2)
        step.add_l2_penalty(l2)
        records.append(step.record(optimizer, beta1, beta2))
        carry = step.carried()
        after.append((carry.params, carry.state))

    compared = _compare_with_train_steps(
        net,
        pixels,
        label_list,
        optimizer,
        lr,
        momentum,
        beta1,
        beta2,
        eps,
        l2,
        params,
        state,
        after,
    )
    for record, check in zip(records, compared):
        record["train_step"] = check
        record["ok"] = (record["worst"] is None or record["worst"]["ok"]) and check["ok"]
    first = records[0]
    result: dict[str, Any] = {
        "sizes": sizes,
        "activations": list(net.activations),
        "negative_slope": net.negative_slope,
        "head": net.head,
        "batchnorm": first.pop("batchnorm"),
        "dropout": first.pop("dropout"),
        "batch": len(label_list),
        "labels": label_list,
        "pixels": [list(pixels[r * sizes[0] : (r + 1) * sizes[0]]) for r in range(len(label_list))],
        "optimizer": optimizer,
        "lr": lr,
        "momentum": momentum,
        "betas": [beta1, beta2],
        "eps": eps,
        "l2": l2,
        "computed_by": _computed_by(core),
        "checked_against": None
        if core is None
        else "ann/_reference.py (float64), each function given the same inputs",
        "steps": steps,
        **first,
    }
    for record in records[1:]:
        del record["batchnorm"], record["dropout"]
    # the steps after the first, each with the keys of the first step's (forward, loss,
    # backward, update, largest_difference, worst, train_step, ok) and its number t
    result["later_steps"] = records[1:]
    result["ok"] = all(record["ok"] for record in records)
    return result


class _Carry:
    """What one step leaves to the next: parameters, running statistics (state), the
    optimizer's m and v (momentum's velocity is m; all in the layout of get_weights) and the
    dropout stream."""

    def __init__(
        self,
        params: array[float],
        state: array[float],
        m: array[float],
        v: array[float],
        stream: int,
    ) -> None:
        self.params, self.state, self.m, self.v, self.stream = params, state, m, v, stream


class _Step:
    """One training step of a network, phase by phase, recording every matrix. Each method
    takes what flows in (x going up, the gradient g coming down) and returns what flows on."""

    def __init__(
        self,
        net: Any,
        pixels: bytes,
        labels: list[int],
        core: Ops | None,
        carry: _Carry,
        t: int,
    ) -> None:
        self.sizes, self.pixels, self.labels = list(net.sizes), pixels, labels
        self.B, self.L, self.t = len(labels), len(self.sizes) - 1, t
        # each hidden layer's activation, leaky ReLU's slope, and the head
        self.kinds = [ACTIVATIONS[name] for name in net.activations]
        self.slope = float(net.negative_slope)
        self.head = HEADS[net.head]
        # the float targets a head other than softmax reads: made from the labels, as the core
        # makes them (one-hot for K > 1, the label itself for K = 1)
        self.targets = None if self.head == ANN_SOFTMAX_CE else one_hot(labels, self.sizes[-1])
        self.bn = bool(net.batchnorm and self.L > 1)
        # dropout p after each hidden ReLU, drawn from the stream where the last step left it
        self.p = float(net.dropout) if self.L > 1 else 0.0
        self.stream = carry.stream
        self.keep: dict[int, Values] = {}  # the dropout mask of each hidden layer
        self.rec = _Recorder(core)
        self.params, self.state = carry.params, carry.state
        self.m, self.v = carry.m, carry.v  # the optimizer's state before this step
        self.new_params, self.new_state = array("f", self.params), array("f", self.state)
        self.new_m, self.new_v = array("f", self.m), array("f", self.v)
        self.low = net._net  # the backend's network: where each tensor sits
        self.inputs: list[Values] = []  # x of each layer
        self.acts: dict[int, Values] = {}  # a of each hidden layer
        self.pre: dict[int, Values] = {}  # the activation's input (z, or y after batch norm)
        self.bn_cache: dict[int, tuple[Values, Values]] = {}  # xhat, var
        self.grads: dict[tuple[int, int], Values] = {}
        self.forward_sections: list[dict[str, Any]] = []
        self.backward_sections: list[dict[str, Any]] = []
        self.update_sections: list[dict[str, Any]] = []
        self.loss_tensors: dict[str, Tensor] = {}
        self.penalty, self.penalty_difference = 0.0, 0.0

    def carried(self) -> _Carry:
        """What the next step starts from."""
        return _Carry(self.new_params, self.new_state, self.new_m, self.new_v, self.stream)

    def record(self, optimizer: str, beta1: float, beta2: float) -> dict[str, Any]:
        """This step as the trace's dict records it (without its train-step check)."""
        out: dict[str, Any] = {
            "batchnorm": self.bn,
            "dropout": self.p,
            "step": self.t,
            "forward": self.forward_sections,
            "loss": self.loss_tensors,
            "backward": self.backward_sections,
            "update": self.update_sections,
        }
        if optimizer == "adam":
            out["bias_corrections"] = list(bias_corrections(beta1, beta2, self.t))
        if self.rec.core is None:  # the reference computed everything: name its functions
            for _, _, _, tensor in tensors(out):
                if tensor["function"].startswith("ann_"):
                    tensor["function"] = "_reference." + tensor["function"][4:]
                elif tensor["function"]:
                    tensor["function"] = "RefNet._forward"
        out["largest_difference"], out["worst"] = _worst(out)
        return out

    def cut(self, layer: int, kind: int, source: Any = None) -> Values:
        """One tensor of layer ``layer`` from params (or from ``source``: the running
        statistics, or the optimizer's m or v)."""
        offset, count = self.low.tensor(layer, kind)
        return list((self.params if source is None else source)[offset : offset + count])

    def put(self, layer: int, kind: int, target: array[float], values: Values) -> None:
        offset, count = self.low.tensor(layer, kind)
        target[offset : offset + count] = array("f", values)

    # ---- forward

    def gather(self) -> Values:
        self.x0, self.x0_difference = self.rec.run("gather", self.pixels, self.B, self.sizes[0])
        return list(self.x0)

    def forward(self, l: int, x: Values) -> Values:
        """Layer l on its input x (B, n_in): z = x W + b, then for a hidden layer [batch norm]
        and its activation. Returns the layer's output (the logits z at the top)."""
        B, n_in, n_out = self.B, self.sizes[l], self.sizes[l + 1]
        W, b = self.cut(l, ANN_WEIGHTS), self.cut(l, ANN_BIASES)
        t: dict[str, Tensor] = {}
        if l == 0:
            t["x"] = _tensor((B, n_in), x, "pixels / 255", "ann_gather_u8", self.x0_difference)
        else:
            source = "h" if self.p else "a"
            t["x"] = _tensor((B, n_in), x, f"{source} of layer {l - 1}", "", None)
        t["W"] = _tensor((n_in, n_out), W, "", "", None)
        t["b"] = _tensor((n_out,), b, "", "", None)
        self.inputs.append(x)
        z, d = self.rec.run("dense_forward", x, W, b, B, n_in, n_out)
        t["z"] = _tensor((B, n_out), z, "x W + b", "ann_dense_forward", d)
        hidden = l < self.L - 1
        out = z
        if hidden:
            act_in, act_name = (self.batchnorm_forward(t, l, z), "y") if self.bn else (z, "z")
            kind = self.kinds[l]
            out, d = self.rec.run("activation_forward", act_in, kind, self.slope)
            formula = FORWARD_FORMULAS[kind].format(v=act_name, a=f"{self.slope:g}")
            t["a"] = _tensor((B, n_out), out, formula, ACTIVATION_FUNCTIONS[kind][0], d)
            self.acts[l], self.pre[l] = out, act_in
            if self.p:
                out = self.dropout_forward(t, l, out)
        self.forward_sections.append({"layer": l, "hidden": hidden, "tensors": t})
        return list(out)

    def batchnorm_forward(self, t: dict[str, Tensor], l: int, z: Values) -> Values:
        """Batch norm of layer l's z in training (recorded in t); returns y. Also moves the
        running statistics, as net.c's forward pass does."""
        B, n_out = self.B, self.sizes[l + 1]
        gamma, beta = self.cut(l, ANN_BN_GAMMA), self.cut(l, ANN_BN_BETA)
        (y, xhat, mean, var), ds = self.rec.run("batchnorm_forward", z, gamma, beta, B, n_out)
        fn = "ann_batchnorm_forward"
        t["mean"] = _tensor((n_out,), mean, "column means of z", fn, ds[2])
        t["var"] = _tensor((n_out,), var, "column variances of z (divided by B)", fn, ds[3])
        t["xhat"] = _tensor((B, n_out), xhat, "(z - mean) / sqrt(var + 1e-5)", fn, ds[1])
        t["gamma"] = _tensor((n_out,), gamma, "", "", None)
        t["beta"] = _tensor((n_out,), beta, "", "", None)
        t["y"] = _tensor((B, n_out), y, "gamma xhat + beta", fn, ds[0])
        self.bn_cache[l] = (xhat, var)
        # the running statistics inference uses; the variance's is unbiased (B / (B - 1))
        for kind, name, batch_stat, factor, words in (
            (ANN_BN_MEAN, "running_mean", mean, 1.0, "mean"),
            (ANN_BN_VAR, "running_var", var, B / (B - 1), f"var * {B}/{B - 1}"),
        ):
            old = self.cut(l, kind, self.state)
            new, d = self.rec.run("running_average", old, batch_stat, factor)
            t[name] = _tensor((n_out,), old, "", "", None)
            t[name + "_new"] = _tensor(
                (n_out,), new, f"{name} + 0.1 ({words} - {name})", "net.c, inline", d
            )
            self.put(l, kind, self.new_state, new)
        return list(y)

    def dropout_forward(self, t: dict[str, Tensor], l: int, a: Values) -> Values:
        """Inverted dropout of layer l's ReLU output a (recorded in t); returns h."""
        B, n_out, p = self.B, self.sizes[l + 1], self.p
        (u, keep, h, stream), ds = self.rec.run("dropout_forward", a, p, self.stream)
        self.stream = stream
        t["u"] = _tensor((B, n_out), u, "uniform [0, 1) draws", "ann_random_uniform", ds[0])
        t["keep"] = _tensor((B, n_out), keep, f"[u >= {p:g}]", "ann_dropout_forward", ds[1])
        t["h"] = _tensor((B, n_out), h, f"a * keep / (1 - {p:g})", "ann_dropout_forward", ds[2])
        self.keep[l] = keep
        return list(h)

    # ---- loss

    def loss(self, logits: Values) -> Values:
        """The head over the logits (B, K): softmax + cross-entropy, or another head against
        the targets; returns dL/dlogits (B, K)."""
        B, K = self.B, self.sizes[-1]
        if self.head == ANN_SOFTMAX_CE:
            (loss, p, dlogits), ds = self.rec.run(
                "softmax_cross_entropy", logits, self.labels, B, K
            )
            fn = "ann_softmax_cross_entropy"
            self.loss_tensors["p"] = _tensor((B, K), p, "softmax(z), row by row", fn, ds[1])
            self.loss_tensors["loss"] = _tensor(
                (), loss, "mean over rows of -log p[label]", fn, ds[0]
            )
            self.dlogits_difference = ds[2]
            return list(dlogits)
        (loss, out, dlogits), ds = self.rec.run("head", self.head, logits, None, self.targets, B, K)
        fn = HEAD_FUNCTIONS[self.head]
        made = "one-hot(label)" if K > 1 else "the label (0 or 1)"
        self.loss_tensors["t"] = _tensor((B, K), self.targets, f"targets: {made}", "", None)
        name, formula, loss_formula = HEAD_FORMULAS[self.head]
        self.loss_tensors[name] = _tensor((B, K), out, formula, fn, ds[1])
        self.loss_tensors["loss"] = _tensor((), loss, loss_formula, fn, ds[0])
        self.dlogits_difference = ds[2]
        return list(dlogits)

    # ---- backward

    def backward(self, l: int, g: Values) -> Values:
        """Layer l, given g = dL/d(its output) (B, n_out): back through ReLU and [batch norm]
        to dz, then dW, db and dx. Returns dx (B, n_in), the g of layer l - 1."""
        B, n_in, n_out = self.B, self.sizes[l], self.sizes[l + 1]
        t: dict[str, Tensor] = {}
        hidden = l < self.L - 1
        if not hidden:
            t["dz"] = _tensor(
                (B, n_out),
                g,
                DLOGITS_FORMULAS[self.head],
                HEAD_FUNCTIONS[self.head],
                self.dlogits_difference,
            )
        else:
            if l in self.keep:
                t["dh"] = _tensor((B, n_out), g, f"dL/dh = dx of layer {l + 1}", "", None)
                g, d = self.rec.run("dropout_backward", g, self.keep[l], self.p)
                t["da"] = _tensor(
                    (B, n_out),
                    g,
                    f"dL/da = dh * keep / (1 - {self.p:g})",
                    "ann_dropout_backward",
                    d,
                )
            else:
                t["da"] = _tensor((B, n_out), g, f"dL/da = dx of layer {l + 1}", "", None)
            kind = self.kinds[l]
            g, d = self.rec.run(
                "activation_backward", g, self.pre[l], self.acts[l], kind, self.slope
            )
            v = "y" if self.bn else "z"
            formula = f"dL/d{v} = " + BACKWARD_FORMULAS[kind].format(v=v, a=f"{self.slope:g}")
            t["d" + v] = _tensor((B, n_out), g, formula, ACTIVATION_FUNCTIONS[kind][1], d)
            if self.bn:
                g = self.batchnorm_backward(t, l, g)
        W = self.cut(l, ANN_WEIGHTS)
        (dx, dW, db), ds = self.rec.run(
            "dense_backward", g, self.inputs[l], W, B, n_in, n_out, l > 0
        )
        fn = "ann_dense_backward"
        t["dW"] = _tensor((n_in, n_out), dW, "x^T dz", fn, ds[1])
        t["db"] = _tensor((n_out,), db, "column sums of dz", fn, ds[2])
        if dx is not None:
            t["dx"] = _tensor((B, n_in), dx, "dz W^T", fn, ds[0])
        self.grads[(l, ANN_WEIGHTS)], self.grads[(l, ANN_BIASES)] = dW, db
        self.backward_sections.append({"layer": l, "hidden": hidden, "tensors": t})
        return list(dx) if dx is not None else []

    def batchnorm_backward(self, t: dict[str, Tensor], l: int, dy: Values) -> Values:
        B, n_out = self.B, self.sizes[l + 1]
        xhat, var = self.bn_cache[l]
        (dz, dgamma, dbeta), ds = self.rec.run(
            "batchnorm_backward", dy, xhat, var, self.cut(l, ANN_BN_GAMMA), B, n_out
        )
        fn = "ann_batchnorm_backward"
        t["dgamma"] = _tensor((n_out,), dgamma, "column sums of dy * xhat", fn, ds[1])
        t["dbeta"] = _tensor((n_out,), dbeta, "column sums of dy", fn, ds[2])
        t["dz"] = _tensor(
            (B, n_out), dz, "gamma / sqrt(var + 1e-5) / B * (B dy - dbeta - xhat dgamma)", fn, ds[0]
        )
        self.grads[(l, ANN_BN_GAMMA)], self.grads[(l, ANN_BN_BETA)] = dgamma, dbeta
        return list(dz)

    # ---- update

    def update(
        self,
        l: int,
        optimizer: str,
        lr: float,
        mu: float,
        beta1: float,
        beta2: float,
        eps: float,
        l2: float,
    ) -> None:
        """The optimizer's step t on layer l's W, b (and gamma, beta). Its state (velocity,
        Adam's moments) starts at zero at t = 1 and carries over from the step before after
        that, where it is shown (v_W_prev, ...) before the new state. With L2, W's gradient gets
        l2 W first."""
        t: dict[str, Tensor] = {}
        kinds = [(ANN_WEIGHTS, "W"), (ANN_BIASES, "b")]
        if self.bn and l < self.L - 1:
            kinds += [(ANN_BN_GAMMA, "gamma"), (ANN_BN_BETA, "beta")]
        first, before = self.t == 1, f"of step {self.t - 1}"
        for kind, name in kinds:
            theta, g = self.cut(l, kind), self.grads[(l, kind)]
            shape = (
                (self.sizes[l], self.sizes[l + 1]) if kind == ANN_WEIGHTS else (self.sizes[l + 1],)
            )
            gname = "d" + name
            if kind == ANN_WEIGHTS and l2 > 0:
                (penalty, g), (dp, d) = self.rec.run("l2_penalty", theta, g, l2)
                self.penalty += penalty
                self.penalty_difference = max(self.penalty_difference, dp or 0.0)
                t["gW"] = _tensor(shape, g, f"dW + {l2:g} W", "ann_l2_penalty", d)
                gname = "gW"
            m_old, v_old = self.cut(l, kind, self.m), self.cut(l, kind, self.v)
            if optimizer == "sgd":
                new, d = self.rec.run("sgd", theta, g, lr)
                t[name + "_new"] = _tensor(
                    shape, new, f"{name} - {lr:g} {gname}", "ann_sgd_update", d
                )
            elif optimizer in ("momentum", "nesterov"):
                nesterov = optimizer == "nesterov"
                (new, vel), (d, dv) = self.rec.run("momentum", theta, m_old, g, lr, mu, nesterov)
                fn = "ann_momentum_update"
                if first:
                    t["v_" + name] = _tensor(shape, vel, f"{mu:g} * 0 + {gname}", fn, dv)
                else:
                    t[f"v_{name}_prev"] = _tensor(shape, m_old, f"v_{name} {before}", "", None)
                    t["v_" + name] = _tensor(shape, vel, f"{mu:g} v_{name}_prev + {gname}", fn, dv)
                step = f"({gname} + {mu:g} v_{name})" if nesterov else f"v_{name}"
                t[name + "_new"] = _tensor(shape, new, f"{name} - {lr:g} {step}", fn, d)
                self.put(l, kind, self.new_m, vel)
            else:
                (new, m, v), (d, dm, dv) = self.rec.run(
                    "adam", theta, m_old, v_old, g, lr, beta1, beta2, eps, self.t
                )
                fn = "ann_adam_update"
                if first:
                    t["m_" + name] = _tensor(
                        shape,
                        m,
                        f"{1 - beta1:g} {gname}   ({beta1:g} * 0 + (1 - {beta1:g}) {gname})",
                        fn,
                        dm,
                    )
                    t["v_" + name] = _tensor(shape, v, f"{1 - beta2:g} {gname}^2", fn, dv)
                    c1, c2 = f"(1 - {beta1:g})", f"(1 - {beta2:g})"
                else:
                    t[f"m_{name}_prev"] = _tensor(shape, m_old, f"m_{name} {before}", "", None)
                    t[f"v_{name}_prev"] = _tensor(shape, v_old, f"v_{name} {before}", "", None)
                    t["m_" + name] = _tensor(
                        shape, m, f"{beta1:g} m_{name}_prev + {1 - beta1:g} {gname}", fn, dm
                    )
                    t["v_" + name] = _tensor(
                        shape, v, f"{beta2:g} v_{name}_prev + {1 - beta2:g} {gname}^2", fn, dv
                    )
                    c1, c2 = f"(1 - {beta1:g}^{self.t})", f"(1 - {beta2:g}^{self.t})"
                t[name + "_new"] = _tensor(
                    shape,
                    new,
                    f"{name} - {lr:g} (m_{name} / {c1}) / (sqrt(v_{name} / {c2}) + {eps:g})",
                    fn,
                    d,
                )
                self.put(l, kind, self.new_m, m)
                self.put(l, kind, self.new_v, v)
            self.put(l, kind, self.new_params, new)
        self.update_sections.append({"layer": l, "tensors": t})

    def add_l2_penalty(self, l2: float) -> None:
        """The loss with L2 (the penalties were taken with W's gradients, in update)."""
        if l2 <= 0:
            return
        checked = self.rec.core is not None
        self.loss_tensors["penalty"] = _tensor(
            (),
            self.penalty,
            f"({l2:g} / 2) * sum of W^2 over every layer",
            "ann_l2_penalty",
            self.penalty_difference if checked else None,
        )
        loss = self.loss_tensors["loss"]
        self.loss_tensors["total"] = _tensor(
            (),
            loss["values"] + self.penalty,
            "loss + penalty",
            "",
            (loss["difference"] or 0.0) + self.penalty_difference if checked else None,
        )


# What each activation and head computes, as the trace's text writes it ({v}: the activation's
# input, z or batch norm's y; {a}: leaky ReLU's slope).
FORWARD_FORMULAS = {
    ANN_IDENTITY: "{v}",
    ANN_RELU: "max(0, {v})",
    ANN_LEAKY_RELU: "{v} if {v} > 0, else {a} {v}",
    ANN_SIGMOID: "1 / (1 + e^-{v})",
    ANN_TANH: "tanh({v})",
    ANN_GELU: "{v} Phi({v})",
}
BACKWARD_FORMULAS = {
    ANN_IDENTITY: "da",
    ANN_RELU: "da * [a > 0]",
    ANN_LEAKY_RELU: "da * (1 if a > 0, else {a})",
    ANN_SIGMOID: "da * a (1 - a)",
    ANN_TANH: "da * (1 - a^2)",
    ANN_GELU: "da * (Phi({v}) + {v} phi({v}))",
}
# (name of the output, its formula, the loss's) of each head but softmax's
HEAD_FORMULAS = {
    ANN_SIGMOID_BCE: (
        "p",
        "1 / (1 + e^-z)",
        "mean over the B K entries of -t log p - (1-t) log(1-p)",
    ),
    ANN_IDENTITY_MSE: ("y", "z", "mean over the B K entries of (y - t)^2"),
    ANN_SIGMOID_MSE: ("p", "1 / (1 + e^-z)", "mean over the B K entries of (p - t)^2"),
}
DLOGITS_FORMULAS = {
    ANN_SOFTMAX_CE: "dL/dz = (p - onehot(label)) / B",
    ANN_SIGMOID_BCE: "dL/dz = (p - t) / (B K)",
    ANN_IDENTITY_MSE: "dL/dz = 2 (y - t) / (B K)",
    ANN_SIGMOID_MSE: "dL/dz = 2 (p - t) p (1 - p) / (B K)",
}


def one_hot(labels: Sequence[int], K: int) -> list[float]:
    """The targets a float head reads from labels (net.c's load_batch): one-hot(label) for
    K > 1, the label itself for K = 1; B K floats, row after row."""
    if K == 1:
        return [float(v) for v in labels]
    return [1.0 if k == v else 0.0 for v in labels for k in range(K)]


TRACE_PIXELS = (0, 51, 102, 153, 204, 255)  # / 255 = 0, 0.2, ..., 1: inputs easy to check


def random_batch(seed: int, batch: int, sizes: Sequence[int], head: str) -> tuple[bytes, list[int]]:
    """The batch ``ann trace`` makes without --digits: ``batch`` images of sizes[0] pixels,
    each 0, 51, ..., 255, and labels 0..K-1 (for a float head with one output, 0 or 1), drawn
    from ``random.Random(seed)``."""
    rng = random.Random(seed)
    pixels = bytes(rng.choice(TRACE_PIXELS) for _ in range(batch * sizes[0]))
    K = sizes[-1]
    classes = 2 if K == 1 and head != "softmax-ce" else K
    return pixels, [rng.randrange(classes) for _ in range(batch)]


def _computed_by(core: Ops | None) -> str:
    if core is None:
        return "the float64 reference backend (ann/_reference.py): this network runs on it"
    return f"the C core ({_c.kernel_name()} kernel)"


def _batch(
    images: Any, labels: Any, D: int, K: int, binary: bool = False
) -> tuple[bytes, list[int]]:
    """(pixels (B * D bytes), labels (B ints)) from a Dataset, or from images and labels
    (``binary``: a float head with one output reads labels 0 and 1)."""
    if isinstance(images, Dataset):
        if labels is not None:
            raise ValueError("trace takes the labels from the Dataset: pass labels=None")
        if images.dtype != "uint8":
            raise DataError("trace reads uint8 pixels; this data set holds float features")
        if images.features != D:
            raise DataError(
                f"the data set has {images.features} features per image but the "
                f"network takes {D} inputs"
            )
        pixels, label_list = images.images.tobytes(), list(images.labels)
    else:
        if labels is None:
            raise ValueError("trace needs the labels of the images")
        if not isinstance(images, (bytes, bytearray, memoryview, array)):
            try:
                rows = [bytes(row) for row in images]
            except (TypeError, ValueError) as exc:
                raise DataError(
                    f"images must be uint8 bytes, or rows of ints 0..255 ({exc})"
                ) from None
            for i, row in enumerate(rows):
                if len(row) != D:
                    raise DataError(f"image {i} has {len(row)} pixels but the network takes {D}")
            images = b"".join(rows)
        pixels = _as_bytes(images, "images")
        try:
            label_list = [int(v) for v in labels]
        except (TypeError, ValueError):
            raise DataError("labels must be a sequence of ints") from None
    if not label_list:
        raise DataError("trace needs at least one image")
    if len(pixels) != len(label_list) * D:
        raise DataError(
            f"{len(pixels)} bytes of pixels are not {len(label_list)} images of "
            f"{D} pixels (one per label)"
        )
    top = K if K > 1 or not binary else 2
    for i, v in enumerate(label_list):
        if not 0 <= v < top:
            raise DataError(f"label {v} of image {i} is outside 0..{top - 1}")
    return bytes(pixels), label_list


def _worst(result: dict[str, Any]) -> tuple[float | None, dict[str, Any] | None]:
    """(largest difference of any output, where it is and whether it is within tolerance);
    the tolerance is relative to each output's largest value (see TOLERANCE)."""
    largest: float | None = None
    worst: dict[str, Any] | None = None
    worst_ratio = -1.0
    for phase, layer, name, tensor in tensors(result):
        d = tensor["difference"]
        if d is None:
            continue
        largest = d if largest is None else max(largest, d)
        size = max(1.0, _scale(tensor["values"]))
        ratio = d / size
        if ratio > worst_ratio:
            worst_ratio = ratio
            worst = {
                "phase": phase,
                "layer": layer,
                "name": name,
                "difference": d,
                "relative": ratio,
                "size": size,  # what the difference is compared with: max(1, max |value|)
                "ok": ratio <= TOLERANCE,
            }
    return largest, worst


def tensors(result: dict[str, Any]) -> Iterator[tuple[str, int | None, str, Tensor]]:
    """(phase, layer or None, name, tensor) for every matrix of a trace, in the order shown."""
    for section in result["forward"]:
        for name, t in section["tensors"].items():
            yield "forward", section["layer"], name, t
    for name, t in result["loss"].items():
        yield "loss", None, name, t
    for phase in ("backward", "update"):
        for section in result[phase]:
            for name, t in section["tensors"].items():
                yield phase, section["layer"], name, t


def bias_corrections(beta1: float, beta2: float, t: int) -> tuple[float, float]:
    """Adam's 1 - beta1^t and 1 - beta2^t at step t, as ann_adam_update computes them: the
    powers in double of the float32 betas, each result rounded to float32."""
    f32 = array("f", [beta1, beta2])
    c = array("f", [1.0 - f32[0] ** t, 1.0 - f32[1] ** t])
    return c[0], c[1]


def _compare_with_train_steps(
    net: Any,
    pixels: bytes,
    labels: list[int],
    optimizer: str,
    lr: float,
    momentum: float,
    beta1: float,
    beta2: float,
    eps: float,
    l2: float,
    params: array[float],
    state: array[float],
    after: list[tuple[array[float], array[float]]],
) -> list[dict[str, Any]]:
    """Run the network's own training step (one foreign call, fused kernels and all) on a copy
    of the network and the same batch, once per traced step, and compare its new parameters
    and running statistics after each step with the trace's (``after``: the trace's, step by
    step)."""
    B = len(labels)
    copy = net._make_net(net._backend)
    copy.init(net.seed)  # the dropout stream of a new network, as the trace drew it
    copy.set_params(params)
    copy.set_state(state)
    copy.set_optimizer(OPTIMIZERS[optimizer], momentum, beta1, beta2, eps, l2)
    function = "ann_net_train_step" if net.backend == "c" else "RefNet.train_step"
    checks = []
    for want_params, want_state in after:
        loss, _ = copy.train_step(pixels, array("i", labels), B, array("i", range(B)), 0, B, lr)
        got_params, got_state = copy.get_params(), copy.get_state()
        diff = max((abs(a - b) for a, b in zip(got_params, want_params)), default=0.0)
        diff_state = max((abs(a - b) for a, b in zip(got_state, want_state)), default=0.0)
        scale = max(1.0, max((abs(v) for v in got_params), default=0.0))
        checks.append(
            {
                "function": function,
                "loss": loss,
                "largest_difference": diff,
                "state_difference": diff_state,
                "identical": diff == 0.0 and diff_state == 0.0,
                "size": scale,  # what the difference is compared with: max(1, max |param|)
                "ok": max(diff, diff_state) <= TOLERANCE * scale,
            }
        )
    return checks
