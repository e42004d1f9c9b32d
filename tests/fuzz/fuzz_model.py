"""Coverage-guided fuzzing of the model file reader (atheris).

    pip install atheris
    PYTHONPATH=. python tests/fuzz/fuzz_model.py tests/corpus/model -max_total_time=60

The property: for any bytes, reading them as a model file either gives a
valid model or raises ModelFileError; any other exception, a hang or a large
allocation is a bug.  New inputs go to a fresh temporary folder (harness.py).
With --replay (implied when atheris is missing) the script instead runs the
files or folders named on the command line through the same check once, so a
crash input can be re-run anywhere:

    PYTHONPATH=. python tests/fuzz/fuzz_model.py --replay crash-1234 tests/corpus/model
"""

from __future__ import annotations

import io
import math

from harness import instrumented, main

with instrumented():
    from ann import _modelfile as _mf
    from ann import _safetensors as _sft
    from ann._errors import ModelFileError

# Small enough that the fuzzer cannot make us allocate much, large enough for
# every seed.
_MAX_HEADER = 1 << 16


def check(data: bytes) -> None:
    try:
        tensors, metadata = _sft._read(io.BytesIO(data), len(data), "fuzz", _MAX_HEADER)
        model = _mf._model_from_tensors(tensors, metadata, "fuzz")
    except ModelFileError as err:
        message = str(err)
        assert message.startswith("fuzz: ") and "\n" not in message, message
        return
    # Accepted: it must really be a consistent network.
    sizes = model.sizes
    assert len(sizes) >= 2 and all(n > 0 for n in sizes)
    for l, (w, b) in enumerate(zip(model.weights, model.biases)):
        assert len(w) == sizes[l] * sizes[l + 1] and len(b) == sizes[l + 1]
        assert all(math.isfinite(v) for v in w) and all(math.isfinite(v) for v in b)
    for layer in model.batchnorm or ():
        assert all(math.isfinite(v) for values in layer.values() for v in values)
        assert min(layer["running_var"], default=0.0) >= 0.0


if __name__ == "__main__":
    main("fuzz_model", check, "no unexpected exception")
