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

__all__ = [
    "AnnError",
    "Augment",
    "BackendError",
    "ConvergenceWarning",
    "Cosine",
    "DataConversionWarning",
    "DataError",
    "Dataset",
    "EarlyStopping",
    "ExportError",
    "History",
    "MLPClassifier",
    "MLPRegressor",
    "ModelFileError",
    "Network",
    "NotFittedError",
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
    "get_preset",
    "list_presets",
    "load_csv",
    "load_dataset",
    "load_mnist",
    "one_hot",
    "quantize",
    "scale_pixels",
    "set_num_threads",
]
__version__ = "0.2.0"

# where each public name lives
_WHERE = {
    "AnnError": "_errors",
    "BackendError": "_errors",
    "ConvergenceWarning": "_errors",
    "DataConversionWarning": "_errors",
    "DataError": "_errors",
    "ModelFileError": "_errors",
    "NotFittedError": "_errors",
    "TrainingError": "_errors",
    "Augment": "_augment",
    "Dataset": "_data",
    "one_hot": "_data",
    "scale_pixels": "_data",
    "load_csv": "_csv",
    "load_dataset": "_load",
    "load_mnist": "_load",
    "Network": "_network",
    "EarlyStopping": "_fit",
    "History": "_fit",
    "ReduceLROnPlateau": "_schedules",
    "Cosine": "_schedules",
    "OneCycle": "_schedules",
    "Warmup": "_schedules",
    "Preset": "_presets",
    "get_preset": "_presets",
    "list_presets": "_presets",
    "MLPClassifier": "_sklearn",
    "MLPRegressor": "_sklearn",
    "backend_info": "_backend",
    "set_num_threads": "_threads",
    "get_num_threads": "_threads",
    # deployment: C headers, int8, ONNX
    "ExportError": "export",
    "QuantizedNetwork": "export",
    "export_c": "export",
    "export_onnx": "export",
    "quantize": "export",
}

# Old names, working for one more release with a DeprecationWarning:
# old name -> (module, the object it now names, what to use instead)
_DEPRECATED = {
    "normalize": (
        "_data",
        "scale_pixels",
        "ann.scale_pixels (it only divides by 255; standardisation is Network's)",
    ),
    "preset": ("_presets", "get_preset", "ann.get_preset"),
    "presets": ("_presets", "PRESETS", "ann.list_presets() and ann.get_preset(name)"),
}

TYPE_CHECKING = False  # true for type checkers only: they see the real imports below
if TYPE_CHECKING:
    from ._augment import Augment
    from ._backend import backend_info
    from ._csv import load_csv
    from ._data import Dataset, one_hot, scale_pixels
    from ._errors import (
        AnnError,
        BackendError,
        ConvergenceWarning,
        DataConversionWarning,
        DataError,
        ModelFileError,
        NotFittedError,
        TrainingError,
    )
    from ._fit import EarlyStopping, History
    from ._load import load_dataset, load_mnist
    from ._network import Network
    from ._presets import Preset, get_preset, list_presets
    from ._schedules import Cosine, OneCycle, ReduceLROnPlateau, Warmup
    from ._sklearn import MLPClassifier, MLPRegressor
    from ._threads import get_num_threads, set_num_threads
    from .export import ExportError, QuantizedNetwork, export_c, export_onnx, quantize
del TYPE_CHECKING  # not a name of ann


def __getattr__(name: str) -> object:
    from importlib import import_module

    if name in _DEPRECATED:
        home, new, instead = _DEPRECATED[name]
        import warnings

        warnings.warn(
            f"ann.{name} is deprecated: use {instead}; ann.{name} goes after 0.2",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(import_module(f"{__name__}.{home}"), new)  # not cached: warns each time
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ann' has no attribute {name!r}")
    if not globals().get("_checked_source"):  # the first public name used
        globals()["_checked_source"] = True
        _warn_if_unbuilt_checkout()
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def _warn_if_unbuilt_checkout() -> None:
    """Imported from a source checkout whose core is not built (Python run from the checkout
    root after `pip install .`), ann runs pure Python: say so at the first use, not only
    when a Network is built. A look at two files for any other ann."""
    from importlib import import_module
    from os.path import dirname, isdir, isfile, join

    here = dirname(__file__)
    if not (isfile(join(dirname(here), "pyproject.toml")) and isdir(join(dirname(here), "csrc"))):
        return
    backend = import_module(f"{__name__}._backend")  # as __getattr__ loads modules
    why = backend.unbuilt_checkout_problem()
    if why is not None:
        backend.warn_pure_python(why, stacklevel=4)


def __dir__() -> list[str]:
    """The public names and the module's own dunders: nothing private, no deprecated name."""
    dunders = {n for n in globals() if n.startswith("__") and n.endswith("__")}
    return sorted(set(__all__) | dunders)
