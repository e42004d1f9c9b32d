"""Exception classes of ann.

Every error a user can cause is one of these. The ones about bad input also
subclass ``ValueError`` so generic ``except ValueError`` code keeps working.
Messages are one line and name the file (and byte offset) where that applies.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]


class AnnError(Exception):
    """Base class of every error raised by ann."""


def _where(message: str, path: PathLike | None, offset: int | None) -> str:
    text = message
    if offset is not None:
        text = f"{text} (at byte {offset})"
    if path is not None:
        text = f"{os.fspath(path)}: {text}"
    return text


class _LocatedError(AnnError, ValueError):
    """An error about a file (or in-memory data) that can say where: ``path`` and ``offset``
    are kept as attributes, and str() reads "path: message (at byte N)"."""

    def __init__(
        self, message: str, path: PathLike | None = None, offset: int | None = None
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.offset = offset
        self.reason = message
        super().__init__(_where(message, path, offset))


class DataError(_LocatedError):
    """A data file (IDX, image) or in-memory data set is malformed."""


class ModelFileError(_LocatedError):
    """A saved model file is malformed or does not describe a usable network (also raised
    when a network's own parameters make its outputs NaN or infinite)."""


class NonFiniteError(DataError):
    """Not public: the C core saw a NaN or infinity while predicting, in the input or in the
    network's outputs; ``Network`` tells which and raises the error that blames it."""


class MissingLabelError(DataError):
    """Not public: a row of a table has no label (an empty label cell). ``ann`` the command
    reports it as it reports the other labels that do not fit (a NaN or text target): one
    line, exit status 2."""


class TrainingError(AnnError, RuntimeError):
    """Training cannot go on (for instance the loss became NaN or infinite)."""


class BackendError(AnnError, RuntimeError):
    """The C core reported a failure that is not the caller's fault (e.g. out of memory)."""


# ---- scikit-learn's protocol (ann.MLPClassifier) ------------------------------------------------
# ann's own classes, so that code without scikit-learn can catch and filter them. When the
# program has loaded scikit-learn, MLPClassifier raises a class derived from both ann's and
# scikit-learn's, so either name catches it (and check_is_fitted recognises it).


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator ran before ``fit`` (a ValueError and an
    AttributeError, as scikit-learn's own ``NotFittedError`` is)."""


class ConvergenceWarning(UserWarning):
    """``fit`` stopped at ``max_iter`` before the loss (or validation score) settled."""


class DataConversionWarning(UserWarning):
    """``y`` came as a column vector (n, 1) and was read as 1-D."""


def sklearn_class(own: type) -> Any:
    """The class to raise or warn with: ``own``, or, when the program has loaded scikit-learn,
    one derived from both ``own`` and scikit-learn's class of the same name, so that
    ``except ann.NotFittedError``, scikit-learn's ``check_is_fitted`` and warning filters on
    either class all recognise it. Never imports scikit-learn."""
    module = sys.modules.get("sklearn.exceptions")
    theirs = getattr(module, own.__name__, None) if module is not None else None
    return own if theirs is None or issubclass(own, theirs) else _both(own, theirs)


@functools.cache
def _both(own: type, theirs: type) -> type:
    return type(own.__name__, (own, theirs), {"__module__": own.__module__, "__doc__": own.__doc__})
