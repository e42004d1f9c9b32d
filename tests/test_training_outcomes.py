"""What `ann train` / `ann predict` report and keep when a run goes wrong (issue 12, items 2-6):
predictions that match their inputs, out-of-memory and divergence that say what happened and
keep the best model, resuming with the optimizer state, and test accuracy of what was saved."""

from __future__ import annotations

import pytest
from conftest import one_stderr_line, run_ann

import ann
from ann._png import encode_png_gray

# ---- item 2: ann predict checks image sizes against the model ---------------------------------


def model_and_pngs(tmp_path, inputs: int, count: int, side: int, step: int):
    """An untrained ``inputs``-8-10 network saved in tmp_path, and ``count`` gray PNGs
    p00.png, p01.png, ... of side x side pixels, image i counting up from i * step: (the model
    file, the PNG paths)."""
    model = tmp_path / "m.safetensors"
    ann.Network([inputs, 8, 10], seed=0).save(model)
    files = []
    for i in range(count):
        path = tmp_path / f"p{i:02}.png"
        path.write_bytes(encode_png_gray(side, side, bytes(range(i * step, i * step + side**2))))
        files.append(str(path))
    return str(model), files


def test_predict_refuses_images_for_a_model_whose_input_is_not_square(tmp_path):
    # 28 inputs and 28 PNGs of 5x5: the 700 pixels used to be re-cut into 25 rows of 28 and
    # printed as 25 predictions with exit status 0
    model, files = model_and_pngs(tmp_path, inputs=28, count=28, side=5, step=1)
    out = run_ann("predict", model, *files)
    assert out.returncode == 1, (out.returncode, out.stderr)
    one_stderr_line(out, "p00.png", "28 inputs", "not a square")
    assert out.stdout == ""


def test_predict_prints_one_result_per_image(tmp_path):
    model, files = model_and_pngs(tmp_path, inputs=16, count=3, side=4, step=10)
    out = run_ann("predict", model, *files)
    assert out.returncode == 0, out.stderr
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == files


# ---- helpers for the in-process runs -------------------------------------------------------


def train_in_process(capsys, *args):
    """ann train run by main() in this process (so a test can inject a failure): (status,
    stdout, stderr)."""
    from ann.cli import main

    status = main(["train", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def fail_on_call(monkeypatch, cls, name, number, exc):
    """Make cls.name raise exc on its number-th call (1-based)."""
    original = getattr(cls, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == number:
            raise exc
        return original(*args, **kwargs)

    monkeypatch.setattr(cls, name, wrapper)
    return calls


# ---- item 3: running out of memory says so and keeps the best model ---------------------------


def test_out_of_memory_names_what_ran_out_and_keeps_the_best_model(
    mnist_dir, tmp_path, monkeypatch, capsys
):
    # The bare MemoryError of the best-weights snapshot used to end the run with
    # "ann: error: " and nothing saved. Calls of get_weights: check 1 snapshot, check 1 save,
    # then check 2's snapshot fails (the loss still falls at step 200, so check 2 is a best).
    fail_on_call(monkeypatch, ann.Network, "get_weights", 3, MemoryError())
    model = tmp_path / "m.safetensors"
    status, out, err = train_in_process(
        capsys, "--data", str(mnist_dir), "--epochs", "1", "--quiet", "--save", str(model)
    )
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "out of memory at step 200" in lines[0] and "copying the best weights" in lines[0]
    assert "15947 parameters" in lines[0]
    assert "The best model (step 200, validation loss" in lines[0] and str(model) in lines[0]
    saved = ann.Network.load(model)
    assert saved.metadata["best_step"] == "200" and saved.metadata["steps"] == "200"


def test_fit_turns_memory_errors_into_a_training_error_with_the_history(monkeypatch):
    from test_network import synthetic

    train, val = synthetic(200, seed=1), synthetic(50, seed=2)
    net = ann.Network([30, 8, 4], seed=0)
    fail_on_call(monkeypatch, type(net._net), "train_step", 7, MemoryError())
    with pytest.raises(
        ann.TrainingError, match="out of memory at step 6 .* while a training step"
    ) as info:
        net.fit(
            train,
            val,
            epochs=2,
            batch_size=10,
            lr=0.1,
            progress=False,
            early_stopping=ann.EarlyStopping(check_every=5),
        )
    history = info.value.history
    assert history.stop_reason == "out_of_memory" and history.stopped_step == 6
    assert history.best_step == 5 and history.restored_best  # the best weights


# ---- item 4: divergence ------------------------------------------------------------------------


def test_an_exploding_loss_stops_training_not_only_nan():
    from test_network import synthetic

    train, val = synthetic(400, seed=1), synthetic(100, seed=2)
    net = ann.Network([30, 16, 4], seed=0)
    with pytest.raises(ann.TrainingError, match="exploding") as info:
        net.fit(
            train,
            val,
            epochs=5,
            batch_size=16,
            lr=20,
            progress=False,
            early_stopping=ann.EarlyStopping(patience=50, check_every=10),
        )
    history = info.value.history
    assert history.stop_reason == "diverged" and history.stopped_step == 10
    assert history.best_step is None  # an exploded check is never the best
    assert len(history.steps) == len(history.val_loss) == len(history.seconds) == 1


def test_divergence_after_a_check_keeps_the_best_model_saved(
    mnist_dir, tmp_path, monkeypatch, capsys
):
    # the C core reports a NaN loss at step 250; checks at 100 and 200 passed
    from ann._backend import CNet

    fail_on_call(
        monkeypatch,
        CNet,
        "train_step",
        250,
        ann.TrainingError("training step: the loss became NaN"),
    )
    model = tmp_path / "m.safetensors"
    status, out, err = train_in_process(
        capsys, "--data", str(mnist_dir), "--epochs", "1", "--quiet", "--save", str(model)
    )
    assert status == 1
    (line,) = err.strip().splitlines()
    assert "training diverged after step 249" in line and "NaN or infinite" in line
    assert "the network has the best weights, of step 200" in line
    assert "The best model (step 200, validation loss" in line
    assert ann.Network.load(model).metadata["best_step"] == "200"


def test_divergence_before_any_check_leaves_an_existing_file_alone(mnist_dir, tmp_path):
    model = tmp_path / "m.safetensors"
    ann.Network(seed=5).save(model)
    before = model.read_bytes()
    out = run_ann(
        "train", "--data", str(mnist_dir), "--lr", "1e30", "--quiet", "--save", str(model)
    )
    assert out.returncode == 1, (out.returncode, out.stderr)
    line = one_stderr_line(out, "training diverged", "Nothing was saved to")
    assert "left as it was" in line
    assert model.read_bytes() == before


def test_training_that_never_beats_guessing_is_reported(mnist_dir):
    # --lr 50 used to end at ~10 % accuracy with exit status 0 and no word
    out = run_ann(
        "train",
        "--data",
        str(mnist_dir),
        "--lr",
        "50",
        "--epochs",
        "1",
        "--patience",
        "0",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    assert "warning: training did not learn" in out.stderr and "ln 10 = 2.30" in out.stderr


def test_huge_finite_weights_are_refused_at_save(tmp_path):
    from array import array

    net = ann.Network(seed=0)
    net.set_weights(array("f", [v * 1e28 for v in net.get_weights()]))
    path = tmp_path / "big.safetensors"
    with pytest.raises(
        ann.ModelFileError,
        match="refusing to save: the weights are so large that layer 1's outputs",
    ):
        net.save(path)
    assert not path.exists()
    # the same weights scaled to a sane size save and load
    net.set_weights(array("f", [v * 1e-28 for v in net.get_weights()]))
    net.save(path)
    assert ann.Network.load(path).get_weights() == net.get_weights()


def test_nan_validation_loss_never_counts_as_the_best():
    from test_network import synthetic

    train = synthetic(100, seed=1)
    net = ann.Network([30, 8, 4], seed=0)
    original = net.evaluate
    net.evaluate = lambda ds: dict(original(ds), loss=float("nan"))
    history = net.fit(
        train,
        train,
        epochs=1,
        batch_size=10,
        progress=False,
        early_stopping=ann.EarlyStopping(patience=50, check_every=5),
    )
    assert history.best_step is None and not history.restored_best


# ---- item 6: the accuracy reported is that of the model saved --------------------------------


def test_patience_0_reports_the_accuracy_of_the_saved_model(mnist_dir, tmp_path):
    # lr 0.5 checked every 50 steps: the validation loss wanders, so the best check (what
    # --save keeps) is not the last one (the weights training ends with)
    model, log = tmp_path / "m.safetensors", tmp_path / "h.jsonl"
    out = run_ann(
        "train",
        "--data",
        str(mnist_dir),
        "--lr",
        "0.5",
        "--epochs",
        "2",
        "--patience",
        "0",
        "--check-every",
        "50",
        "--quiet",
        "--save",
        str(model),
        "--log",
        str(log),
    )
    assert out.returncode == 0, out.stderr
    import json

    summary = json.loads(log.read_text().splitlines()[-1])
    assert summary["best_step"] != summary["stopped_step"]  # the case being tested
    final = [l for l in out.stdout.splitlines() if l.startswith("test (final weights")]
    kept = [l for l in out.stdout.splitlines() if l.startswith("test (saved model")]
    assert len(final) == len(kept) == 1, out.stdout
    assert f"step {summary['stopped_step']})" in final[0]
    assert f"step {summary['best_step']}," in kept[0]
    evaluated = run_ann("evaluate", str(model), "--data", str(mnist_dir), "--json")
    accuracy = json.loads(evaluated.stdout)["accuracy"]
    assert f"accuracy {accuracy:.4f}" in kept[0]


# ---- item 5: --resume continues the optimizer and the counters --------------------------------


@pytest.mark.parametrize("backend", ["c", "python"])
@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
def test_resuming_from_a_file_continues_the_optimizer_state(tmp_path, backend, optimizer):
    # One full batch per epoch, so the shuffle cannot matter: three epochs in one fit must
    # equal one epoch, save, load, and two more. Restarting the velocity / Adam's moments and
    # step count from zero (what --resume did) makes the second half differ.
    from test_network import synthetic

    train = synthetic(40, seed=3)
    fit = dict(batch_size=40, lr=0.05, optimizer=optimizer, progress=False)
    straight = ann.Network([30, 6, 4], seed=1, backend=backend)
    straight.fit(train, epochs=3, **fit)
    first = ann.Network([30, 6, 4], seed=1, backend=backend)
    first.fit(train, epochs=1, **fit)
    path = tmp_path / "m.safetensors"
    first.save(path, optimizer_state=True)
    resumed = ann.Network.load(path, backend=backend)
    state = resumed.optimizer_state()
    assert state["optimizer"] == optimizer and state["step"] == (1 if optimizer == "adam" else 0)
    assert (state["v"] is None) == (optimizer != "adam")
    resumed.fit(train, epochs=2, **fit)
    a, b = straight.get_weights(), resumed.get_weights()
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-5 * max(abs(x) for x in a)
    fresh = ann.Network.load(path, backend=backend)
    fresh._pending_optimizer = None  # what --resume did: start from zero
    fresh.fit(train, epochs=2, **fit)
    assert max(abs(x - y) for x, y in zip(a, fresh.get_weights())) > 1e-3 * max(abs(x) for x in a)


def test_model_files_without_optimizer_state_load_and_bad_state_is_refused(tmp_path):
    from array import array

    from ann._modelfile import load_model, save_model

    net = ann.Network([4, 3, 2], seed=0)
    plain = tmp_path / "plain.safetensors"
    net.save(plain, optimizer_state=True)  # never trained: no state to store
    model = load_model(plain)
    assert model.optimizer is None and "optimizer_state" not in model.metadata
    assert ann.Network.load(plain).optimizer_state() is None
    P = net.num_params
    model.metadata.update(optimizer_state="adam", optimizer_step="3")
    model.optimizer = {"m": array("f", [0.1] * P), "v": array("f", [0.2] * P)}
    good = tmp_path / "good.safetensors"
    save_model(good, model)
    assert ann.Network.load(good).optimizer_state()["step"] == 3
    model.optimizer = {"m": array("f", [0.1] * P)}
    with pytest.raises(ann.ModelFileError, match="optimizer state adam needs the arrays m, v"):
        save_model(tmp_path / "bad.safetensors", model)
    model.optimizer = {"m": array("f", [0.1] * (P - 1)), "v": array("f", [0.2] * P)}
    with pytest.raises(ann.ModelFileError, match=rf"optimizer\['m'\] has {P - 1} values"):
        save_model(tmp_path / "bad.safetensors", model)
    model.optimizer = None
    with pytest.raises(ann.ModelFileError, match="give both or neither"):
        save_model(tmp_path / "bad.safetensors", model)


def test_resume_rejects_contradicting_flags_and_continues_the_counters(mnist_dir, tmp_path):
    first, second, log = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "h.csv"
    out = run_ann(
        "train",
        "--data",
        str(mnist_dir),
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--dropout",
        "0.1",
        "--epochs",
        "1",
        "--patience",
        "0",
        "--quiet",
        "--save",
        str(first),
    )
    assert out.returncode == 0, out.stderr
    saved = ann.Network.load(first)
    assert saved.metadata["steps"] == "750" and saved.metadata["optimizer_state"] == "adam"
    assert saved.optimizer_state()["step"] == 750
    for flags, needle in (
        (["--batchnorm"], "has no batch norm"),
        (["--dropout", "0.3"], "does not match the resumed model's dropout 0.1"),
        (["--layers", "30"], "does not match the resumed model's hidden"),
    ):
        bad = run_ann("train", "--data", str(mnist_dir), "--resume", str(first), "--quiet", *flags)
        assert bad.returncode == 2 and needle in bad.stderr, bad.stderr

    def resume(*flags: str):
        """One more epoch from the first model, logged to h.csv and saved as the second."""
        out = run_ann(
            "train",
            "--data",
            str(mnist_dir),
            "--resume",
            str(first),
            *flags,
            "--epochs",
            "1",
            "--patience",
            "0",
            "--quiet",
            "--log",
            str(log),
            "--save",
            str(second),
        )
        assert out.returncode == 0, out.stderr
        return out

    out = resume()
    assert "holds the state of the adam optimizer" in out.stderr  # sgd: explained
    out = resume("--optimizer", "adam", "--lr", "0.001")
    assert "optimizer" not in out.stderr and "dropout 0.1" in out.stdout
    rows = log.read_text().splitlines()
    assert rows[1].split(",")[:2] == ["1500", "2.0"]  # 750 + 750 steps
    resumed = ann.Network.load(second)
    assert resumed.metadata["steps"] == "1500" and resumed.optimizer_state()["step"] == 1500
