"""A model saved by ann loads with the public safetensors library into PyTorch, and a PyTorch
MLP with those weights predicts what ann predicts (optional: needs torch and safetensors)."""

from __future__ import annotations

import json

import pytest

import ann

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")


TORCH_ACTIVATIONS = {
    "relu": lambda slope: torch.nn.ReLU(),
    "leaky-relu": lambda slope: torch.nn.LeakyReLU(slope),
    "sigmoid": lambda slope: torch.nn.Sigmoid(),
    "tanh": lambda slope: torch.nn.Tanh(),
    "gelu": lambda slope: torch.nn.GELU(),  # approximate='none', the exact erf form
    "identity": lambda slope: torch.nn.Identity(),
}


def torch_mlp(tensors, sizes, batchnorm, activations, slope=0.01):
    """torch.nn.Sequential of ann's layers from the tensors of a model file: Linear, then on
    every hidden layer BatchNorm1d (when ``batchnorm``) and the layer's activation."""
    layers = []
    L = len(sizes) - 1
    for l in range(L):
        linear = torch.nn.Linear(sizes[l], sizes[l + 1])
        linear.weight.data = tensors[f"layers.{l}.weight"]
        linear.bias.data = tensors[f"layers.{l}.bias"]
        layers.append(linear)
        if l < L - 1:
            if batchnorm:
                bn = torch.nn.BatchNorm1d(sizes[l + 1], eps=1e-5)
                bn.weight.data = tensors[f"layers.{l}.bn.weight"]
                bn.bias.data = tensors[f"layers.{l}.bn.bias"]
                bn.running_mean = tensors[f"layers.{l}.bn.running_mean"]
                bn.running_var = tensors[f"layers.{l}.bn.running_var"]
                layers.append(bn)
            layers.append(TORCH_ACTIVATIONS[activations[l]](slope))
    return torch.nn.Sequential(*layers).eval()


@pytest.mark.parametrize("batchnorm", [False, True])
def test_pytorch_predicts_what_ann_predicts(mnist, tmp_path, batchnorm):
    train, test = mnist
    net = ann.Network([784, 32, 16, 10], batchnorm=batchnorm, seed=0)
    net.fit(train[:12000], epochs=1, batch_size=64, lr=0.05, progress=False)
    path = tmp_path / "model.safetensors"
    net.save(path)
    tensors = st_torch.load_file(str(path))
    model = torch_mlp(tensors, net.sizes, batchnorm, ["relu"] * (len(net.sizes) - 2))
    part = test[:2000]
    pixels = torch.tensor(list(part.images.tobytes()), dtype=torch.float32).reshape(-1, 784) / 255
    with torch.no_grad():
        probs = torch.softmax(model(pixels), dim=1)
    ours = net.predict_proba(part)
    assert probs.argmax(dim=1).tolist() == net.predict(part)
    worst = max(
        abs(a - b) for row_t, row_o in zip(probs.tolist(), ours) for a, b in zip(row_t, row_o)
    )
    assert worst < 1e-4


def torch_from_file(path):
    """The torch.nn.Sequential a user builds from an ann model file: the tensors with
    safetensors, the design from the file's metadata (activations, negative_slope)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = st_torch.load_file(str(path))
    sizes = json.loads(meta["layers"])
    names = json.loads(meta["activations"])
    slope = float(meta.get("negative_slope", "0.01"))
    model = torch_mlp(tensors, sizes, meta["batchnorm"] == "true", names, slope)
    return model, names[-1], meta["head"]


@pytest.mark.parametrize("head", ["softmax-ce", "sigmoid-bce", "identity-mse", "sigmoid-mse"])
@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
def test_pytorch_computes_every_activation_and_head_as_ann_does(tmp_path, activation, head):
    """Outputs (softmax, sigmoid or the identity's values) and the loss (PyTorch's
    CrossEntropyLoss, BCEWithLogitsLoss, MSELoss, all with their default mean) agree."""
    import random

    rng = random.Random(3)
    n, D, K = 64, 12, 3
    X = [[rng.uniform(-2, 2) for _ in range(D)] for _ in range(n)]
    labels = [rng.randrange(K) for _ in range(n)]
    targets = [[rng.random() for _ in range(K)] for _ in range(n)]
    ds = ann.Dataset(X, labels) if head == "softmax-ce" else ann.Dataset(X, targets=targets)
    net = ann.Network(
        [D, 16, 8, K],
        activation=activation,
        head=head,
        negative_slope=0.2,
        batchnorm=activation == "gelu",
        standardize=False,
        seed=1,
    )
    net.fit(ds, epochs=3, batch_size=16, lr=0.1, progress=False)
    path = tmp_path / "model.safetensors"
    net.save(path)
    model, output, saved_head = torch_from_file(path)
    assert saved_head == head
    x = torch.tensor(X, dtype=torch.float32)
    with torch.no_grad():
        z = model(x)
        outputs = {"softmax": torch.softmax(z, 1), "sigmoid": torch.sigmoid(z), "identity": z}
        mine = torch.tensor(net.predict_values(X))
        assert (outputs[output] - mine).abs().max().item() < 1e-5
        t = torch.tensor(targets, dtype=torch.float32)
        loss = {
            "softmax-ce": lambda: torch.nn.CrossEntropyLoss()(z, torch.tensor(labels)),
            "sigmoid-bce": lambda: torch.nn.BCEWithLogitsLoss()(z, t),
            "identity-mse": lambda: torch.nn.MSELoss()(z, t),
            "sigmoid-mse": lambda: torch.nn.MSELoss()(torch.sigmoid(z), t),
        }[head]()
    assert net.evaluate(ds)["loss"] == pytest.approx(loss.item(), rel=1e-5)
