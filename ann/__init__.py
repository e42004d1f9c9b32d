"""ann: multilayer perceptrons for learning and study, with a small C core and no NumPy.

    import ann
    train, test = ann.load_mnist()
    train, val = train.split(0.2, seed=0)      # the split ann train makes (--seed 0)
    net = ann.Network([784, 20, 7, 5, 10])
    history = net.fit(train, val, epochs=3, batch_size=64, lr=0.05)
    print(net.evaluate(test))

The public names are loaded on first use (PEP 562), so ``import ann`` itself costs about a
millisecond and a script pays only for the parts it touches.
"""

from __future__ import annotations

__all__ = [
    "AnnError",
    "Augment",
    "BackendError",
    "Cosine",
    "DataError",
    "Dataset",
    "EarlyStopping",
    "ExportError",
    "History",
    "MLPClassifier",
    "ModelFileError",
    "Network",
    "OneCycle",
    "Preset",
    "QuantizedNetwork",
    "ReduceLROnPlateau",
    "TrainingError",
    "Warmup",
    "backend_info",
    "export_c",
    "export_onnx",
    "get_num_threads",
    "load_csv",
    "load_dataset",
    "load_mnist",
    "normalize",
    "one_hot",
    "preset",
    "presets",
    "quantize",
    "set_num_threads",
]
__version__ = "0.2.0"

# where each public name lives
_WHERE = {
    "AnnError": "_errors",
    "Augment": "_augment",
    "BackendError": "_errors",
    "DataError": "_errors",
    "ModelFileError": "_errors",
    "TrainingError": "_errors",
    "Dataset": "_data",
    "load_csv": "_csv",
    "load_mnist": "_data",
    "load_dataset": "_datasets",
    "normalize": "_data",
    "one_hot": "_data",
    "EarlyStopping": "_network",
    "History": "_network",
    "Network": "_network",
    "ReduceLROnPlateau": "_schedules",
    "Cosine": "_schedules",
    "OneCycle": "_schedules",
    "Warmup": "_schedules",
    "Preset": "_presets",
    "preset": "_presets",
    "presets": "_presets",
    "MLPClassifier": "_sklearn",
    "set_num_threads": "_threads",
    "get_num_threads": "_threads",
    "backend_info": "_threads",
    # deployment: C headers, int8, ONNX
    "ExportError": "export",
    "QuantizedNetwork": "export",
    "export_c": "export",
    "export_onnx": "export",
    "quantize": "export",
}

TYPE_CHECKING = False  # true for type checkers only: they see the real imports below
if TYPE_CHECKING:
    from ._augment import Augment
    from ._csv import load_csv
    from ._data import Dataset, load_mnist, normalize, one_hot
    from ._datasets import load_dataset
    from ._errors import AnnError, BackendError, DataError, ModelFileError, TrainingError
    from ._network import EarlyStopping, History, Network
    from ._presets import Preset, preset, presets
    from ._schedules import Cosine, OneCycle, ReduceLROnPlateau, Warmup
    from ._sklearn import MLPClassifier
    from ._threads import backend_info, get_num_threads, set_num_threads
    from .export import ExportError, QuantizedNetwork, export_c, export_onnx, quantize


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ann' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
