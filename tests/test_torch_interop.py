"""A model saved by ann loads with the public safetensors library into PyTorch, and a PyTorch
MLP with those weights predicts what ann predicts (optional: needs torch and safetensors)."""

from __future__ import annotations

import pytest

import ann

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")


def torch_mlp(tensors, sizes, batchnorm):
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
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


@pytest.mark.parametrize("batchnorm", [False, True])
def test_pytorch_predicts_what_ann_predicts(mnist, tmp_path, batchnorm):
    train, test = mnist
    net = ann.Network([784, 32, 16, 10], batchnorm=batchnorm, seed=0)
    net.fit(train[:12000], epochs=1, batch_size=64, lr=0.05, progress=False)
    path = tmp_path / "model.safetensors"
    net.save(path)
    tensors = st_torch.load_file(str(path))
    model = torch_mlp(tensors, net.sizes, batchnorm)
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
