"""A network whose outputs overflow must not predict class 0 (issue 23, item 3): a model file
that save would refuse is refused by load too; NaN or infinite parameters are refused by
set_weights; and when the outputs still come out NaN or infinite, predict, predict_proba and
evaluate blame the network, not the (finite) data."""

from __future__ import annotations

import json
import struct

import pytest
from conftest import one_stderr_line, run_ann

import ann
from ann import DataError, ModelFileError


def overflowing_model(path, value=3e38):
    """A well-formed model file whose first layer's weights are all ``value`` (finite): a
    784-10 network on MNIST-sized inputs whose outputs reach 784 * 3e38, beyond float32."""
    ann.Network([784, 10], seed=0).save(path)
    raw = bytearray(path.read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    lo, hi = json.loads(raw[8 : 8 + n])["layers.0.weight"]["data_offsets"]
    raw[8 + n + lo : 8 + n + hi] = struct.pack("<f", value) * ((hi - lo) // 4)
    path.write_bytes(bytes(raw))
    return path


def test_load_refuses_what_save_refuses(tmp_path):
    path = overflowing_model(tmp_path / "big.st")
    with pytest.raises(ModelFileError, match=r"layer 0's outputs can reach 2.35e\+41"):
        ann.Network.load(path)
    out = run_ann("predict", str(path), str(tmp_path / "any.png"))
    one_stderr_line(out, "big.st: the weights are so large", "save refuses such a network")
    net = ann.Network([784, 10])  # and save says the same of such weights
    net.set_weights([3e38] * 7840 + [0.0] * 10)
    with pytest.raises(ModelFileError, match="so large that layer 0's outputs"):
        net.save(tmp_path / "again.st")


def test_set_weights_refuses_nan_and_takes_any_sequence():
    net = ann.Network([4, 3, 2], seed=0)
    values = list(net.get_weights())
    values[5] = float("nan")
    with pytest.raises(ValueError, match="set_weights: parameter 5 is nan"):
        net.set_weights(values)
    with pytest.raises(ValueError, match="expected 23 parameters, got 3"):
        net.set_weights([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sequence of 23 numbers"):
        net.set_weights(["a"] * 23)
    net.set_weights([0.5] * 23)  # a list, not only an array('f')
    assert list(net.get_weights()) == [0.5] * 23


@pytest.mark.parametrize("backend", ["c", "python"])
def test_outputs_that_overflow_blame_the_network_not_the_data(backend, core):
    net = ann.Network([4, 2], backend=backend)
    net.set_weights([3e38] * 4 + [-3e38] * 4 + [0.0, 0.0])  # finite, but x W overflows
    pixels = bytes([255] * 4)
    if backend == "python":  # the float64 reference does not overflow: a real answer
        assert net.predict(pixels) == [0]
        return
    for call in (net.predict, net.predict_proba):
        with pytest.raises(ModelFileError, match="outputs are NaN or infinite for finite inputs"):
            call(pixels)
    data = ann.Dataset(pixels * 3, [0, 1, 0], 4)
    with pytest.raises(ModelFileError, match="outputs are NaN or infinite for finite inputs"):
        net.evaluate(data)
    # NaN in the input is still the input's fault
    with pytest.raises(DataError, match="NaN"):
        ann.Network([2, 2]).predict([[float("nan"), 0.0]])


def test_a_network_of_usable_weights_predicts_as_before(mnist):
    _, test = mnist
    net = ann.Network([784, 32, 10], seed=3)
    classes = net.predict(test)
    probs = net.predict_proba(test[:2000])
    assert classes[:2000] == [max(range(10), key=row.__getitem__) for row in probs]
    assert len(classes) == len(test)
