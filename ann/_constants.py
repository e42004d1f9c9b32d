"""The C core's enum constants (csrc/ann.h), under their C names, for every Python module.

csrc/ann.h is the one source. When the core is built, each value below is read from the cffi
``lib``; the reference backend must also run without the core, so each name carries the value
ann.h gives it, and that copy is what the module holds then. tests/test_core_ops.py checks
every copy against ``lib`` and that ``lib`` has no ``ANN_`` constant missing here, so a change
to ann.h that is not made here too fails a test.
"""

from __future__ import annotations

try:
    from ._core import lib as _lib
except ImportError:  # no C core: the reference backend uses the copies
    _lib = None

# name -> the value written in ann.h (filled in by _c, read by the test)
COPIES: dict[str, int] = {}


def _c(name: str, value: int) -> int:
    """lib's value of ``name`` when the core is built, else ``value`` (ann.h's, copied)."""
    COPIES[name] = value
    return value if _lib is None else int(getattr(_lib, name))


# status codes (ann_strerror turns them into text)
ANN_OK = _c("ANN_OK", 0)
ANN_E_NULL = _c("ANN_E_NULL", 1)
ANN_E_SIZE = _c("ANN_E_SIZE", 2)
ANN_E_INDEX = _c("ANN_E_INDEX", 3)
ANN_E_LABEL = _c("ANN_E_LABEL", 4)
ANN_E_NOMEM = _c("ANN_E_NOMEM", 5)
ANN_E_NONFINITE = _c("ANN_E_NONFINITE", 6)
ANN_E_ARG = _c("ANN_E_ARG", 7)

# tensor kinds of ann_net_tensor: 0-3 live in params, 4-5 in the state buffer
ANN_WEIGHTS = _c("ANN_WEIGHTS", 0)
ANN_BIASES = _c("ANN_BIASES", 1)
ANN_BN_GAMMA = _c("ANN_BN_GAMMA", 2)
ANN_BN_BETA = _c("ANN_BN_BETA", 3)
ANN_BN_MEAN = _c("ANN_BN_MEAN", 4)
ANN_BN_VAR = _c("ANN_BN_VAR", 5)

# how an ann_data holds its features
ANN_U8 = _c("ANN_U8", 0)
ANN_F32 = _c("ANN_F32", 1)

# update rules of ann_net_set_optimizer
ANN_SGD = _c("ANN_SGD", 0)
ANN_MOMENTUM = _c("ANN_MOMENTUM", 1)
ANN_NESTEROV = _c("ANN_NESTEROV", 2)
ANN_ADAM = _c("ANN_ADAM", 3)

#: The update rules by the name Network.fit, ann train and ann trace take.
OPTIMIZERS = {"sgd": ANN_SGD, "momentum": ANN_MOMENTUM, "nesterov": ANN_NESTEROV, "adam": ANN_ADAM}
