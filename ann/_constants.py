"""The C core's enum constants (csrc/ann.h), under their C names, for every Python module.

csrc/ann.h is the one source. When the core is built, each value below is read from it
(through the bindings, ``_c.constant``); the reference backend must also run without the
core, so each name carries the value ann.h gives it, and that copy is what the module holds
then. tests/test_core_ops.py checks
every copy against ``lib`` and that ``lib`` has no ``ANN_`` constant missing here, so a change
to ann.h that is not made here too fails a test.
"""

from __future__ import annotations

from . import _c

# name -> the value written in ann.h (filled in by _enum, read by the test)
COPIES: dict[str, int] = {}


def _enum(name: str, value: int) -> int:
    """The core's value of ``name`` when it is built, else ``value`` (ann.h's, copied)."""
    COPIES[name] = value
    built = _c.constant(name)
    return value if built is None else built


# status codes (ann_strerror turns them into text)
ANN_OK = _enum("ANN_OK", 0)
ANN_E_NULL = _enum("ANN_E_NULL", 1)
ANN_E_SIZE = _enum("ANN_E_SIZE", 2)
ANN_E_INDEX = _enum("ANN_E_INDEX", 3)
ANN_E_LABEL = _enum("ANN_E_LABEL", 4)
ANN_E_NOMEM = _enum("ANN_E_NOMEM", 5)
ANN_E_NONFINITE = _enum("ANN_E_NONFINITE", 6)
ANN_E_ARG = _enum("ANN_E_ARG", 7)

# tensor kinds of ann_net_tensor: 0-3 live in params, 4-5 in the state buffer
ANN_WEIGHTS = _enum("ANN_WEIGHTS", 0)
ANN_BIASES = _enum("ANN_BIASES", 1)
ANN_BN_GAMMA = _enum("ANN_BN_GAMMA", 2)
ANN_BN_BETA = _enum("ANN_BN_BETA", 3)
ANN_BN_MEAN = _enum("ANN_BN_MEAN", 4)
ANN_BN_VAR = _enum("ANN_BN_VAR", 5)

# how an ann_data holds its features
ANN_U8 = _enum("ANN_U8", 0)
ANN_F32 = _enum("ANN_F32", 1)

# activations of a hidden layer (ann_net_set_activation, ann_activation_forward)
ANN_IDENTITY = _enum("ANN_IDENTITY", 0)
ANN_RELU = _enum("ANN_RELU", 1)
ANN_LEAKY_RELU = _enum("ANN_LEAKY_RELU", 2)
ANN_SIGMOID = _enum("ANN_SIGMOID", 3)
ANN_TANH = _enum("ANN_TANH", 4)
ANN_GELU = _enum("ANN_GELU", 5)

# heads: the output function and the loss (ann_net_set_head)
ANN_SOFTMAX_CE = _enum("ANN_SOFTMAX_CE", 0)
ANN_SIGMOID_BCE = _enum("ANN_SIGMOID_BCE", 1)
ANN_IDENTITY_MSE = _enum("ANN_IDENTITY_MSE", 2)
ANN_SIGMOID_MSE = _enum("ANN_SIGMOID_MSE", 3)

# weight initialisation schemes (ann_net_init)
ANN_INIT_UNIFORM = _enum("ANN_INIT_UNIFORM", 0)
ANN_INIT_HE = _enum("ANN_INIT_HE", 1)
ANN_INIT_GLOROT = _enum("ANN_INIT_GLOROT", 2)
ANN_INIT_AUTO = _enum("ANN_INIT_AUTO", 3)

# update rules of ann_net_set_optimizer
ANN_SGD = _enum("ANN_SGD", 0)
ANN_MOMENTUM = _enum("ANN_MOMENTUM", 1)
ANN_NESTEROV = _enum("ANN_NESTEROV", 2)
ANN_ADAM = _enum("ANN_ADAM", 3)

#: The update rules by the name Network.fit, ann train and ann trace take.
OPTIMIZERS = {"sgd": ANN_SGD, "momentum": ANN_MOMENTUM, "nesterov": ANN_NESTEROV, "adam": ANN_ADAM}

#: The hidden activations by the name Network, ann train and ann trace take.
ACTIVATIONS = {
    "identity": ANN_IDENTITY,
    "relu": ANN_RELU,
    "leaky-relu": ANN_LEAKY_RELU,
    "sigmoid": ANN_SIGMOID,
    "tanh": ANN_TANH,
    "gelu": ANN_GELU,
}
#: The heads (output function + loss) by name.
HEADS = {
    "softmax-ce": ANN_SOFTMAX_CE,
    "sigmoid-bce": ANN_SIGMOID_BCE,
    "identity-mse": ANN_IDENTITY_MSE,
    "sigmoid-mse": ANN_SIGMOID_MSE,
}
#: The initialisation schemes by name ("auto": He for the ReLU family and GELU, else Glorot).
INITS = {
    "auto": ANN_INIT_AUTO,
    "he": ANN_INIT_HE,
    "glorot": ANN_INIT_GLOROT,
    "uniform": ANN_INIT_UNIFORM,
}

# Batch norm's running-average momentum and epsilon: #defines of csrc/net.c, not in ann.h (so
# not in the built core's constants); tests/test_docs.py holds these copies equal to them.
ANN_BN_MOMENTUM = 0.1
ANN_BN_EPS = 1e-5
