"""ann: multilayer perceptrons for learning and study, with a small C core and no NumPy.

    import ann
    train, test = ann.load_mnist()
    train, val = train.split(0.2, seed=42)
    net = ann.Network([784, 20, 7, 5, 10])
    history = net.fit(train, val, epochs=3, batch_size=64, lr=0.05)
    print(net.evaluate(test))
"""
from __future__ import annotations

from ._data import Dataset, load_mnist, normalize, one_hot
from ._errors import AnnError, BackendError, DataError, ModelFileError, TrainingError
from ._network import EarlyStopping, History, Network, ReduceLROnPlateau

__all__ = [
    "AnnError", "BackendError", "DataError", "Dataset", "EarlyStopping", "History",
    "ModelFileError", "Network", "ReduceLROnPlateau", "TrainingError", "backend_info", "load_mnist", "normalize", "one_hot", "set_num_threads",
    "get_num_threads",
]
__version__ = "0.1.0"


def set_num_threads(n: int) -> int:
    """Use ``n`` threads in the C kernels (``n <= 0``: one per core). Returns the count in force.

    Results do not depend on the thread count: every sum is taken in the same order."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"set_num_threads takes an int, got {n!r}")
    from ._backend import lib
    if lib is None:
        return 1
    return int(lib.ann_set_num_threads(n))


def get_num_threads() -> int:
    """The number of threads the C kernels use."""
    from ._backend import lib
    return 1 if lib is None else int(lib.ann_get_num_threads())


def backend_info() -> dict:
    """Which backend and kernel this installation runs: {"c_core": bool, "kernel": str, ...}."""
    from ._backend import c_available, ffi, lib
    if not c_available():
        return {"c_core": False, "kernel": "python-reference", "threads": 1}
    return {"c_core": True, "kernel": ffi.string(lib.ann_kernel_name()).decode(),
            "threads": int(lib.ann_get_num_threads())}
