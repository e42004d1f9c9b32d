"""ann.load_csv and the CSV paths of ann train / evaluate / predict: quoting, BOM, CRLF,
header detection, the label column anywhere, string labels, and every strict error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import one_stderr_line, run_ann

import ann

HERE = os.path.dirname(os.path.abspath(__file__))
FRUIT = os.path.join(HERE, "data", "fruit.csv")
FRUIT_TEST = os.path.join(HERE, "data", "fruit-test.csv")
FRUIT_NEW = os.path.join(HERE, "data", "fruit-new.csv")


def write(tmp_path, text, name="t.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def features(ds):
    return [list(ds[i][0]) for i in range(len(ds))]


def test_plain_file_with_a_header_and_string_labels(tmp_path):
    path = write(tmp_path, "a,b,kind\n1,2,cat\n3,4.5,dog\n-1e2,0,cat\n")
    ds = ann.load_csv(path)
    assert ds.dtype == "float32" and ds.features == 2 and len(ds) == 3
    assert features(ds) == [[1.0, 2.0], [3.0, 4.5], [-100.0, 0.0]]
    assert ds.classes == ["cat", "dog"] and list(ds.labels) == [0, 1, 0]
    assert ds.feature_names == ["a", "b"] and ds.name == "t.csv"


def test_quoted_fields_bom_and_crlf(tmp_path):
    path = write(tmp_path, '\ufeff"w, cm","h",label\r\n"1.5","2","x y"\r\n"3",4,"z"\r\n')
    ds = ann.load_csv(path)
    assert ds.feature_names == ["w, cm", "h"]  # no BOM in the first name
    assert features(ds) == [[1.5, 2.0], [3.0, 4.0]] and ds.classes == ["x y", "z"]


def test_header_detection(tmp_path):
    no_header = write(tmp_path, "1,2,0\n3,4,1\n5,6,0\n", "n.csv")
    assert len(ann.load_csv(no_header)) == 3 and ann.load_csv(no_header).feature_names is None
    # string labels in the last column do not make the first row a header
    strings = write(tmp_path, "1,2,cat\n3,4,dog\n", "s.csv")
    assert len(ann.load_csv(strings)) == 2
    header = write(tmp_path, "x,y,label\n1,2,0\n3,4,1\n", "h.csv")
    assert len(ann.load_csv(header)) == 2
    assert len(ann.load_csv(header, header="auto", delimiter="auto")) == 2
    with pytest.raises(ValueError, match="header must be"):
        ann.load_csv(header, header="yes")
    # forced either way
    assert len(ann.load_csv(no_header, header=True)) == 2
    with pytest.raises(ann.DataError, match="line 1, column 1: 'x' is not a number"):
        ann.load_csv(header, header=False)


def test_label_column_in_the_middle_by_name_or_index(tmp_path):
    path = write(tmp_path, "a,species,b\n1,setosa,2\n3,virginica,4\n5,setosa,6\n")
    for label in ("species", 1, -2):
        ds = ann.load_csv(path, label=label)
        assert features(ds) == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
        assert ds.classes == ["setosa", "virginica"] and list(ds.labels) == [0, 1, 0]
        assert ds.feature_names == ["a", "b"]
    with pytest.raises(ann.DataError, match="no column named 'kind'"):
        ann.load_csv(path, label="kind")
    with pytest.raises(ann.DataError, match="label column 3 does not exist"):
        ann.load_csv(path, label=3)


def test_delimiters_are_detected_or_given(tmp_path):
    for d in (";", "\t", "|"):
        path = write(tmp_path, f"a{d}b{d}c\n1{d}2{d}0\n3{d}4{d}1\n")
        assert features(ann.load_csv(path)) == [[1.0, 2.0], [3.0, 4.0]]
    path = write(tmp_path, "1;5,2;0\n3;4,5;1\n")  # decimal commas are not numbers
    with pytest.raises(ann.DataError, match="line 1, column 2: '5,2' is not a number"):
        ann.load_csv(path, delimiter=";", header=False)
    with pytest.raises(ValueError, match="one character"):
        ann.load_csv(path, delimiter=";;")


def test_numeric_labels_map_in_numeric_order(tmp_path):
    path = write(tmp_path, "1,10\n2,2\n3,1.0\n4,2\n")
    ds = ann.load_csv(path)
    assert ds.classes == ["1", "2", "10"] and list(ds.labels) == [2, 1, 0, 1]
    # given classes fix the order, and a label outside them is an error
    again = ann.load_csv(path, classes=["10", "2", "1", "7"])
    assert list(again.labels) == [0, 1, 2, 1] and again.num_classes == 4
    with pytest.raises(ann.DataError, match="line 2: label '2' is not one of the classes"):
        ann.load_csv(path, classes=["1", "10"])


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("a,b,c\n", "header but no data rows"),
        ("a,b,c\n1,2,0\n3,4\n", "line 3: 2 fields, expected 3"),
        ("a,b,c\n1,2,0\n3,4,1,9\n", "line 3: 4 fields, expected 3"),
        ("a,b,c\n1,,0\n", "line 2, column 2 \\('b'\\): missing value \\(empty cell\\)"),
        ("a,b,c\n1,2, \n", "line 2, column 3 \\('c'\\): missing label"),
        ("a,b,c\n1,2,0\n1,NA,1\n", "line 3, column 2 \\('b'\\): 'NA' is not a number"),
        ("a,b,c\n1,2,0\n1,?,1\n", "'\\?' is not a number"),
        ("a,b,c\n1,nan,0\n2,3,1\n", "'nan' is not a finite number"),
        ("a,b,c\n1,inf,0\n2,3,1\n", "'inf' is not a finite number"),
        (
            "a,b,c\n1,1e39,0\n2,3,1\n",
            "line 2, column 2 \\('b'\\): '1e39' is beyond float32's range",
        ),
        ('a,b,c\n1,"2,0\n', "line \\d+: unexpected end of data"),
        ("a,b,c\n1,2,0\n3,4,0\n", "every row has the label '0'"),
        ("c\n0\n1\n", "no feature columns"),
    ],
)
def test_strict_errors_name_the_file_line_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ann.DataError, match=message) as info:
        ann.load_csv(path)
    assert str(info.value).startswith(str(path) + ": ")


def test_text_that_is_not_utf8_and_a_missing_file(tmp_path):
    path = write(tmp_path, "a,b\n1,\xe9\n", encoding="latin-1")
    with pytest.raises(ann.DataError, match="line 2: not UTF-8 text"):
        ann.load_csv(path)
    with pytest.raises(ann.DataError, match="missing.csv: no such file"):
        ann.load_csv(tmp_path / "missing.csv")


def test_a_csv_trains_standardised_and_predicts_new_rows_the_same_after_loading(tmp_path):
    ds = ann.load_csv(FRUIT)
    train, val = ds.split(0.2, seed=0)
    net = ann.Network(data=train, hidden=[16])
    net.fit(train, val, epochs=40, lr=0.05, progress=False)
    assert net.evaluate(val)["accuracy"] > 0.85  # three kinds that overlap a little
    mean, std = net.standardization
    assert 120 < mean[0] < 200 and 20 < std[0] < 50  # weight in grams, from the training rows
    path = tmp_path / "fruit.safetensors"
    net.save(path)
    same = ann.Network.load(path)
    assert same.classes == ["apple", "lemon", "orange"]
    test = ann.load_csv(FRUIT_TEST, classes=same.classes)
    assert same.predict(test) == net.predict(test)
    assert same.evaluate(test) == net.evaluate(test)
    from ann._csv import read_table

    rows = read_table(FRUIT_NEW, label=None).features
    assert same.predict_proba(rows) == net.predict_proba(rows)


# ---- the command line ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fruit_model(tmp_path_factory):
    model = tmp_path_factory.mktemp("fruit") / "fruit.safetensors"
    out = run_ann("train", "--data", FRUIT, "--layers", "16", "--lr", "0.05", "--save", str(model))
    assert out.returncode == 0, out.stderr
    return model, out


def test_cli_train_on_a_csv_file(fruit_model):
    model, out = fruit_model
    assert "240 train / 60 validation rows of 4 features" in out.stdout
    assert "3 classes (apple, lemon, orange)" in out.stdout
    assert "network: 4-16-3" in out.stdout
    line = next(x for x in out.stdout.splitlines() if x.startswith("validation: loss"))
    assert float(line.split("accuracy ")[1].split()[0]) > 0.85
    loaded = ann.Network.load(model)
    assert loaded.classes == ["apple", "lemon", "orange"] and loaded.standardization is not None


def test_cli_evaluate_and_predict_a_csv_file(fruit_model):
    model, _ = fruit_model
    out = run_ann("evaluate", str(model), "--data", FRUIT_TEST, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["images"] == 100 and result["classes"] == ["apple", "lemon", "orange"]
    assert result["accuracy"] > 0.85 and sum(map(sum, result["confusion_matrix"])) == 100
    out = run_ann("predict", str(model), FRUIT_NEW)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{FRUIT_NEW}:2: ")
    net = ann.Network.load(model)
    from ann._csv import read_table

    probs = net.predict_proba(read_table(FRUIT_NEW, label=None).features)
    for line, p in zip(lines, probs):
        best = max(range(3), key=p.__getitem__)
        assert line.endswith(f": {net.classes[best]} (p = {p[best]:.3f})")
    out = run_ann("predict", str(model), FRUIT_NEW, "--json")
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["line"] for r in rows] == [2, 3, 4]
    assert all(r["name"] == net.classes[r["class"]] for r in rows)
    out = run_ann("predict", str(model), FRUIT_TEST)  # rows with the label column are fine too
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 100


def test_cli_csv_errors_are_one_line(fruit_model, tmp_path):
    model, _ = fruit_model
    bad = write(tmp_path, "a,b,c\n1,2,x\n3,,y\n")
    out = run_ann("train", "--data", str(bad))
    assert out.returncode == 1
    one_stderr_line(out, str(bad), "line 3, column 2 ('b'): missing value")
    out = run_ann("train", "--data", FRUIT, "--label", "kind")
    one_stderr_line(out, "no column named 'kind'")
    out = run_ann("evaluate", str(model), "--data", FRUIT_NEW)
    one_stderr_line(out, "no label column")
    wide = write(tmp_path, "1,2,3,4,5,6\n", "wide.csv")
    out = run_ann("predict", str(model), str(wide))
    one_stderr_line(out, "rows have 6 columns, but the network takes 4 features")


def test_cli_label_option_by_index(tmp_path):
    path = write(
        tmp_path, "".join(f"{k},{i % 7},{k * 3 + i % 2}\n" for i in range(60) for k in (0, 1))
    )
    out = run_ann("train", "--data", str(path), "--label", "0", "--layers", "4", "--epochs", "2")
    assert out.returncode == 0, out.stderr
    assert "rows of 2 features" in out.stdout and "2 classes (0, 1)" in out.stdout


# ---- any table csv.writer writes reads back -------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FLOAT32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=8
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(FLOAT32, min_size=3, max_size=3), min_size=2, max_size=12),
    names=st.lists(
        NAMES.filter(lambda n: n.strip() and n.strip() == n), min_size=2, max_size=4, unique=True
    ),
    at=st.integers(0, 3),
    delimiter=st.sampled_from([",", ";", "\t"]),
    crlf=st.booleans(),
    quote_all=st.booleans(),
)
def test_tables_written_by_csv_writer_read_back(
    tmp_path_factory, rows, names, at, delimiter, crlf, quote_all
):
    """(A lone \r in a field is left out: csv.writer does not quote it when the lines end in
    \n, so such a file is ambiguous.)"""
    import csv

    names = [n for n in names if _not_number(n)] or ["a", "b"]
    labels = [names[i % len(names)] for i in range(len(rows))]
    if len(set(labels)) < 2:
        labels[0], labels[-1] = "a", "b"
    path = tmp_path_factory.mktemp("prop") / "t.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(
            f,
            delimiter=delimiter,
            lineterminator="\r\n" if crlf else "\n",
            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        )
        writer.writerow(
            [f"c{j}" for j in range(3)][:at] + ["label"] + [f"c{j}" for j in range(at, 3)]
        )
        for row, name in zip(rows, labels):
            cells = [repr(v) for v in row]
            writer.writerow(cells[:at] + [name] + cells[at:])
    ds = ann.load_csv(path, label="label", delimiter=delimiter)
    assert features(ds) == rows
    assert [ds.classes[k] for k in ds.labels] == labels and ds.classes == sorted(set(labels))


def _not_number(text):
    try:
        float(text)
    except ValueError:
        return True
    return False


# ---- issue 23, item 4: what used to be misread without an error -----------------------------


def rows_of(n, label=lambda i: "ab"[i % 2]):
    return "".join(f"{i}.5,{i % 3},{-i}.25,{label(i)}\n" for i in range(n))


@pytest.mark.parametrize(
    "first",
    [
        "0,1,2,species",  # column numbers with a text label name (pandas after a rename)
        "1,2,3,species",  # ... counted from 1
        "400,410,420,species",  # wavelengths: numbers, but the label name is text
        ",0,1,species",  # pandas' index column, then column numbers
    ],
)
def test_a_header_of_numbers_is_a_header_not_a_class(tmp_path, first):
    path = write(tmp_path, first + "\n" + rows_of(8))
    ds = ann.load_csv(path)
    assert len(ds) == 8 and ds.classes == ["a", "b"]
    assert ds.feature_names == first.split(",")[:3]


def test_column_numbers_over_numeric_labels_are_a_header(tmp_path):
    path = write(tmp_path, "0,1,2,3\n" + rows_of(9, label=lambda i: str(i % 3)))
    ds = ann.load_csv(path)
    assert len(ds) == 9 and ds.classes == ["0", "1", "2"] and ds.feature_names == ["0", "1", "2"]


def test_first_rows_that_are_data_stay_data(tmp_path):
    # two binary features, labels that repeat: "0,1,1" is a row (XOR), not column numbers
    xor = write(tmp_path, "0,1,1\n1,0,1\n0,0,0\n1,1,0\n", "xor.csv")
    ds = ann.load_csv(xor)
    assert len(ds) == 4 and ds.feature_names is None
    # every text label once: nothing says the first row is not a row
    assert len(ann.load_csv(write(tmp_path, "1,2,cat\n3,4,dog\n", "s.csv"))) == 2
    # a first label that other rows have is data
    assert len(ann.load_csv(write(tmp_path, "0,1,2,a\n" + rows_of(6), "d.csv"))) == 7
    # forced either way
    numbers = write(tmp_path, "0,1,2,species\n" + rows_of(6), "f.csv")
    with pytest.raises(ann.DataError, match="line 1: label 'species' is not one of the classes"):
        ann.load_csv(numbers, header=False, classes=["a", "b"])
    assert len(ann.load_csv(xor, header=True)) == 3


def test_a_first_row_with_a_missing_value_is_an_error_not_a_header(tmp_path):
    path = write(tmp_path, "1,NA,0\n3,4,1\n5,6,0\n")
    with pytest.raises(ann.DataError, match="line 1, column 2: 'NA' is not a number"):
        ann.load_csv(path)


def test_numeric_labels_are_compared_as_numbers(tmp_path):
    labels = ["0.1", "0.10", ".1", "1", "1.0", "01", "+1", "1e0", "-0", "0"]
    path = write(tmp_path, "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    ds = ann.load_csv(path)
    assert ds.classes == ["0", "0.1", "1"]
    assert list(ds.labels) == [1, 1, 1, 2, 2, 2, 2, 2, 0, 0]
    # given classes are matched by value too, and keep their names
    again = ann.load_csv(path, classes=["1.00", "0", ".1"])
    # (classes that repeat a value, as the old reader could make them, are compared as text)
    with pytest.raises(ann.DataError, match="line 3: label '.1' is not one of the classes"):
        ann.load_csv(path, classes=["0.1", "0.10", "1", "1.0", "01", "+1", "1e0", "-0", "0"])
    assert (
        again.classes == ["1.00", "0", ".1"] and list(again.labels) == [2] * 3 + [0] * 5 + [1] * 2
    )


def test_labels_with_any_text_are_compared_as_text(tmp_path):
    path = write(tmp_path, "1,1\n2,1.0\n3,cat\n4, cat \n")
    ds = ann.load_csv(path)
    assert ds.classes == ["1", "1.0", "cat"] and list(ds.labels) == [0, 1, 2, 2]
    with pytest.raises(ann.DataError, match="line 2: label '1.0' is not one of the classes"):
        ann.load_csv(path, classes=["1", "cat"])


@pytest.mark.parametrize(
    "cell",
    ["1_000", "\u0663", "\u0661\u0662", "\uff11", "\u0967", "1\u00a02", "0x10", "1,5", "--1", "1e"],
)
def test_what_float_takes_but_a_csv_number_is_not(tmp_path, cell):
    path = write(tmp_path, f'a,b,label\n1,"{cell}",x\n3,4,y\n')
    with pytest.raises(ann.DataError, match=r"line 2, column 2 \('b'\): .* is not a number"):
        ann.load_csv(path)


def test_spaces_around_numbers_and_labels_are_fine(tmp_path):
    path = write(tmp_path, "a;b;label\n 1 ;\t2.5;  x \n+3;.5e1;y\n")
    ds = ann.load_csv(path)
    assert features(ds) == [[1.0, 2.5], [3.0, 5.0]] and ds.classes == ["x", "y"]


# ---- item 4: columns matched by name at predict time ---------------------------------------


def _named_net(tmp_path):
    text = "a,b,c,label\n" + "".join(
        f"{3 * (i % 2) + i % 5 / 10},{i % 7 / 10},{-3 * (i % 2)},{'yn'[i % 2]}\n" for i in range(80)
    )
    ds = ann.load_csv(write(tmp_path, text, "train.csv"))
    net = ann.Network(data=ds, hidden=[4], seed=1)
    net.fit(ds, epochs=5, lr=0.05, progress=False)
    return net


def test_a_network_records_its_feature_names_in_the_model_file(tmp_path):
    net = _named_net(tmp_path)
    assert net.feature_names == ["a", "b", "c"]
    net.save(tmp_path / "m.safetensors")
    loaded = ann.Network.load(tmp_path / "m.safetensors")
    assert loaded.feature_names == ["a", "b", "c"]
    assert json.loads(loaded.metadata["feature_names"]) == ["a", "b", "c"]


def test_a_file_with_its_columns_in_another_order_is_reordered_or_refused(tmp_path):
    net = _named_net(tmp_path)
    same = ann.load_csv(write(tmp_path, "a,b,c,label\n3,0.1,-3,y\n0,0.2,0,n\n", "same.csv"))
    moved = write(tmp_path, "label,c,a,b\ny,-3,3,0.1\nn,0,0,0.2\n", "moved.csv")
    # read as the file says, a Dataset with other names is refused, never predicted silently
    with pytest.raises(ann.DataError, match="the same, in another order"):
        net.predict(ann.load_csv(moved, label="label"))
    # read with the network's names, the columns are found by name (the label: the other one)
    again = ann.load_csv(moved, feature_names=net.feature_names)
    assert features(again) == features(same) and again.feature_names == ["a", "b", "c"]
    assert net.predict_proba(again) == net.predict_proba(same)
    with pytest.raises(ann.DataError, match="network's feature 'c' is not in the header"):
        ann.load_csv(
            write(tmp_path, "a,b,d,label\n1,2,3,y\n", "d.csv"), feature_names=["a", "b", "c"]
        )
    with pytest.raises(ann.DataError, match="columns 'x', 'label' are not among the network's"):
        ann.load_csv(
            write(tmp_path, "a,x,b,c,label\n1,2,3,4,y\n", "x.csv"), feature_names=["a", "b", "c"]
        )


def test_a_malformed_feature_names_entry_is_a_model_file_error(tmp_path):
    from ann._modelfile import load_model, save_model

    _named_net(tmp_path).save(tmp_path / "m.safetensors")
    model = load_model(tmp_path / "m.safetensors")
    for bad in ('["a", "b"]', '{"a": 1}', "[1, 2, 3]", "not json"):
        path = tmp_path / "bad.safetensors"
        model.metadata["feature_names"] = bad
        save_model(path, model)
        with pytest.raises(ann.ModelFileError, match="metadata feature_names is"):
            ann.Network.load(path)


def test_cli_predict_and_evaluate_match_columns_by_name(tmp_path):
    train = write(
        tmp_path,
        "a,b,c,label\n"
        + "".join(f"{3 * (i % 2)},{i % 7 / 10},{-3 * (i % 2)},{'yn'[i % 2]}\n" for i in range(200)),
        "train.csv",
    )
    model = tmp_path / "m.safetensors"
    out = run_ann(
        "train", "--data", str(train), "--layers", "4", "--epochs", "20", "--save", str(model)
    )
    assert out.returncode == 0, out.stderr
    inorder = write(tmp_path, "a,b,c\n3,0,-3\n0,0,0\n", "in.csv")
    swapped = write(tmp_path, "c,b,a\n-3,0,3\n0,0,0\n", "sw.csv")
    a = run_ann("predict", str(model), str(inorder), "--json")
    b = run_ann("predict", str(model), str(swapped), "--json")
    assert a.returncode == b.returncode == 0, (a.stderr, b.stderr)
    strip = [{k: v for k, v in json.loads(x).items() if k != "file"} for x in a.stdout.splitlines()]
    assert strip == [
        {k: v for k, v in json.loads(x).items() if k != "file"} for x in b.stdout.splitlines()
    ]
    assert [r["name"] for r in strip] == ["n", "y"]
    labelled = write(tmp_path, "label,c,b,a\nn,-3,0,3\ny,0,0,0\n", "lab.csv")
    out = run_ann("evaluate", str(model), "--data", str(labelled), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["accuracy"] == 1.0
    missing = write(tmp_path, "a,b,d\n3,0,-3\n", "missing.csv")
    out = run_ann("predict", str(model), str(missing))
    one_stderr_line(out, "feature 'c' is not in the header")


def _columns(order, rows=200):
    """A table of columns a, b, c (c = -a, so the order matters) and a label, in ``order``."""
    values = [{"a": 3 * (i % 2), "b": i % 7 / 10, "c": -3 * (i % 2)} for i in range(rows)]
    lines = [",".join(str(v[k]) for k in order) + f",{'yn'[i % 2]}" for i, v in enumerate(values)]
    return "\n".join([",".join(order) + ",label", *lines]) + "\n"


@pytest.fixture(scope="module")
def abc_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("abc")
    train = write(folder, _columns("abc"), "abc.csv")
    model = folder / "abc.safetensors"
    out = run_ann(
        "train", "--data", str(train), "--layers", "4", "--epochs", "5", "--save", str(model)
    )
    assert out.returncode == 0, out.stderr
    assert ann.Network.load(model).feature_names == ["a", "b", "c"]
    return model


def test_cli_train_resume_finds_the_models_columns_by_name(abc_model, tmp_path):
    """--resume on a file with the columns in another order trains on them by name (it was
    read by position, so fit refused the names in another order); a missing one is an error."""
    swapped = write(tmp_path, _columns("cba"), "cba.csv")
    resumed = tmp_path / "resumed.safetensors"
    out = run_ann(
        "train", "--data", str(swapped), "--resume", str(abc_model), "--epochs", "6",
        "--save", str(resumed), "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert ann.Network.load(resumed).feature_names == ["a", "b", "c"]
    missing = write(tmp_path, _columns("ab"), "ab.csv")
    out = run_ann("train", "--data", str(missing), "--resume", str(abc_model), "--epochs", "6")
    one_stderr_line(out, "ab.csv", "feature 'c' is not in the header")


def test_cli_int8_calibration_rows_are_found_by_name(abc_model, tmp_path):
    """ann evaluate --int8 (as ann export-c --int8) calibrates on the rows of a CSV file: the
    model's columns by name, so their order in the file changes nothing."""
    inorder = write(tmp_path, _columns("abc"), "abc.csv")
    swapped = write(tmp_path, _columns("bca"), "bca.csv")
    results = []
    for calibration in (inorder, swapped):
        out = run_ann(
            "evaluate", str(abc_model), "--data", str(inorder), "--json", "--int8",
            "--calibration-data", str(calibration),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["calibration"].endswith(f"'{calibration.name}', drawn with seed 0")
        results.append({k: v for k, v in result.items() if k != "calibration"})
    assert results[0] == results[1]


def test_cli_header_option_says_whether_the_first_row_is_a_header(tmp_path):
    """--header yes/no/auto is load_csv's header=True/False/None on every command that reads
    a CSV file. "7,8,y" over rows of numbers is data to the rules; --header yes makes it the
    column names, --header no makes x,y,label a row of data (an error: 'x' is no number)."""
    rows = "".join(f"{i % 5},{i % 3},{'yn'[i % 2]}\n" for i in range(40))
    numbers = write(tmp_path, "7,8,y\n" + rows, "numbers.csv")
    named = write(tmp_path, "x,y,label\n" + rows, "named.csv")
    model = tmp_path / "m.safetensors"
    fit = ("--layers", "4", "--epochs", "1", "--val-fraction", "0")
    out = run_ann("train", "--data", str(numbers), *fit, "--save", str(model))
    assert out.returncode == 0, out.stderr
    assert "data: 41 train" in out.stdout, out.stdout
    assert ann.Network.load(model).feature_names is None  # no header: read by position
    out = run_ann("train", "--data", str(numbers), *fit, "--header", "yes", "--save", str(model))
    assert out.returncode == 0, out.stderr
    assert "data: 40 train" in out.stdout, out.stdout
    assert ann.Network.load(model).feature_names == ["7", "8"]
    out = run_ann("train", "--data", str(named), *fit, "--header", "no")
    one_stderr_line(out, "named.csv: line 1, column 1: 'x' is not a number")
    # the model names its columns 7 and 8: auto finds that header, --header no reads it as data
    for header, lines in (("auto", list(range(2, 42))), ("no", list(range(1, 42)))):
        out = run_ann("predict", str(model), str(numbers), "--json", "--header", header)
        assert out.returncode == 0, out.stderr
        assert [json.loads(x)["line"] for x in out.stdout.splitlines()] == lines
        out = run_ann("evaluate", str(model), "--data", str(numbers), "--json", "--header", header)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["images"] == len(lines)
    out = run_ann("evaluate", str(model), "--data", str(named), "--header", "no")
    one_stderr_line(out, "named.csv: line 1, column 1: 'x' is not a number")
    out = run_ann("predict", str(model), str(numbers), "--header", "maybe")
    assert out.returncode == 2
    one_stderr_line(out, "--header", "'maybe'", "'auto', 'yes', 'no'")
    # ann export-c --int8 calibrates on the rows of --data FILE.csv, read as --header says
    header = tmp_path / "m.h"
    out = run_ann(
        "export-c",
        str(model),
        "--int8",
        "--data",
        str(numbers),
        "--header",
        "no",
        "-o",
        str(header),
    )
    assert out.returncode == 0, out.stderr
    assert "calibrated on 41 of the 41 rows" in out.stdout, out.stdout
    out = run_ann("export-c", str(model), "--header", "no", "-o", str(header))
    assert out.returncode == 2
    one_stderr_line(out, "--header chooses the calibration rows of --int8")


# ---- item 5: only regular files are read ---------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_not_waited_on(tmp_path, fruit_model):
    model, _ = fruit_model
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(ann.DataError, match="fifo.csv: is not a regular file"):
        ann.load_csv(fifo)
    image = tmp_path / "fifo.png"
    os.mkfifo(image)
    for args in (
        ("train", "--data", str(fifo)),
        ("predict", str(model), str(fifo)),
        ("evaluate", str(model), "--data", str(fifo)),
        ("predict", str(model), str(image)),  # the image / IDX path of ann predict too
    ):
        try:
            out = run_ann(*args, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ann {' '.join(args)} waits on a named pipe")
        one_stderr_line(out, "is not a regular file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_link_to_an_endless_device_is_refused_before_reading(tmp_path):
    """The child caps its address space at 1 GiB, so that a reader that did read the device
    fails there instead of taking the machine's memory; except under AddressSanitizer
    (tools/sanitize.sh preloads it), which reserves terabytes of address space for its shadow
    memory at start and could not run under the cap (the reader's own limits, NUL and
    MAX_LINE, still bound it there)."""
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    code = (
        "import os, resource, sys, ann\n"
        "if 'libasan' not in os.environ.get('LD_PRELOAD', ''):\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "try:\n    ann.load_csv(sys.argv[1])\n"
        "except ann.DataError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(link)], capture_output=True, text=True, timeout=120
    )
    assert "zero.csv: is not a regular file" in out.stdout, out.stdout + out.stderr


def test_a_file_of_one_endless_line_is_refused_in_bounded_memory(tmp_path, monkeypatch):
    import ann._csv as reader

    monkeypatch.setattr(reader, "MAX_LINE", 1 << 16)
    path = write(tmp_path, "a,b,c\n" + "1," * 100_000)
    with pytest.raises(ann.DataError, match="line 2 is longer than 65536 characters"):
        ann.load_csv(path)
    monkeypatch.setattr(reader, "MAX_COLUMNS", 8)
    path = write(tmp_path, "\n" + ",".join("1" * 9) + "\n", "wide.csv")
    with pytest.raises(ann.DataError, match="line 2 has more than 8 fields"):
        ann.load_csv(path)
    path = write(tmp_path, "a,b,c\n1,\x002,3\n", "nul.csv")
    with pytest.raises(ann.DataError, match="line 2: a NUL character"):
        ann.load_csv(path)


# ---- item 7: streamed --------------------------------------------------------------------


def test_reading_holds_the_table_not_the_file(tmp_path):
    """tracemalloc's peak while a 6 MB file loads: the old reader held the bytes, the text,
    every row as a list of strings and a list of Python floats (about 20 times the file)."""
    import tracemalloc

    path = tmp_path / "big.csv"
    with open(path, "w") as f:
        f.write(",".join(f"f{j}" for j in range(16)) + ",label\n")
        for i in range(60_000):
            f.write(",".join(f"{(i * 7 + j) % 1000 / 100:.2f}" for j in range(16)) + f",{i % 3}\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        ds = ann.load_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(ds) == 60_000 and ds.features == 16
    assert peak < 2 * size, (peak, size)


# ---- items 9 and 12: messages stay one short line ------------------------------------------


def test_messages_quote_at_most_a_short_piece_of_a_cell_or_name(tmp_path):
    cell = write(tmp_path, "a,b,label\n1,2,x\n3," + "9" * 20 + "x" * 100_000 + ",y\n", "c.csv")
    with pytest.raises(ann.DataError) as info:
        ann.load_csv(cell)
    assert len(str(info.value)) < 200 + len(str(cell))
    assert "line 3, column 2 ('b'): '99999999999999999999xxxxxxxxxxxxxxxxxxxx'..." in str(
        info.value
    )
    head = write(tmp_path, "a," + "h" * 100_000 + ",label\n1,,x\n", "h.csv")
    for kwargs in ({}, {"label": "n" * 100_000}):
        with pytest.raises(ann.DataError) as info:
            ann.load_csv(head, **kwargs)
        assert len(str(info.value)) < 300 + len(str(head)), len(str(info.value))


def test_cli_label_nosuch_says_how_many_columns_it_leaves_out(tmp_path):
    path = write(tmp_path, ",".join(f"col{j}" for j in range(14)) + "\n" + "1," * 13 + "0\n")
    line = one_stderr_line(run_ann("train", "--data", str(path), "--label", "nosuch"))
    assert "'col0', 'col1'" in line and "'col9', ... (14 in all)" in line and "col10" not in line


# ---- the three ways a block is read agree ----------------------------------------------------


def read_four_ways(path, **kwargs):
    """read_table through the C core's bulk path, Python's bulk path and csv.reader alone, in
    blocks of 64 characters (so records and quoted fields cross blocks), and through
    csv.reader in one block: each result is the table's bytes, labels, names, lines and
    header, or the error message."""
    import ann._csv as reader

    saved = reader._BLOCK, reader._BULK, reader._USE_C
    results = []
    try:
        for reader._BLOCK, reader._BULK, reader._USE_C in (
            (64, True, True),
            (64, True, False),
            (64, False, False),
            (1 << 30, False, False),
        ):
            try:
                table = reader.read_table(path, **kwargs)
                labels = table.labels
                results.append(
                    (
                        table.features.tobytes(),
                        None if labels is None else [table.label_keys[k] for k in labels],
                        table.feature_names,
                        list(table.lines),
                        table.header,
                    )
                )
            except (ann.DataError, ValueError) as exc:
                results.append(str(exc))
    finally:
        reader._BLOCK, reader._BULK, reader._USE_C = saved
    return results


CELLS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    FLOAT32.map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: f"{v:.17g}"),
    st.floats(-1e4, 1e4).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["0", "-0", "+.5", "5.", "1e5", "1E-5", " 7 ", "007", "1e39", "3.4028236e38"]),
    st.sampled_from(["", "NA", "1_0", "\u0663", "nan", "1e", "--1", '"2"', "1 2"]),
    st.text(alphabet=' ,;"\r\n\t0123456789.eE+-_na', max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(CELLS, min_size=3, max_size=3), min_size=1, max_size=8),
    labels=st.lists(
        st.one_of(
            st.sampled_from(["a", "b", " a", "1", "1.0", ".1", "0.10", ""]), st.text(max_size=3)
        ),
        min_size=8,
        max_size=8,
    ),
    header=st.sampled_from([None, "x,y,z,label", "0,1,2,3", "0,1,2,k"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    blank=st.booleans(),
)
def test_the_c_core_python_bulk_and_csv_reader_paths_agree(
    tmp_path_factory, rows, labels, header, newline, blank
):
    lines = [header] if header else []
    for row, label in zip(rows, labels):
        lines.append(",".join(row + [label]))
        if blank:
            lines.append("")
    path = tmp_path_factory.mktemp("three") / "t.csv"
    path.write_bytes(newline.join(lines).encode("utf-8", "surrogatepass"))
    for kwargs in ({}, {"header": False}, {"label": 0}, {"label": None, "width": 4}):
        a, b, c, whole = read_four_ways(path, **kwargs)
        assert a == b == c == whole, kwargs


@pytest.mark.parametrize(
    "cell,message",
    [
        ("1e39", "'1e39' is beyond float32's range"),
        ("4" * 69, "'4444444444444444444444444444444444444444'... is beyond float32's range"),
        ("3.4028235677973366e38", "is beyond float32's range"),
        ("1e400", "'1e400' is beyond float32's range"),  # beyond float64 too: float() is inf
        ("1_000", "'1_000' is not a number"),
        ("\u0663", "'\u0663' is not a number"),
        ("nan", "'nan' is not a finite number"),
        ("-inf", "'-inf' is not a finite number"),
        ("", "missing value"),
        ("1 2", "'1 2' is not a number"),
        ("0x1", "'0x1' is not a number"),
    ],
)
def test_a_bad_cell_after_many_good_rows_is_found_by_every_path(tmp_path, cell, message):
    """The first two rows always take csv.reader (they decide the header); a bad cell further
    down is met by the C core and Python's bulk path first, which must hand it on."""
    good = "".join(f"{i}.5,{i % 9},{i}e-3,{'xy'[i % 2]}\n" for i in range(40))
    path = write(tmp_path, "a,b,c,label\n" + good + f"1,{cell},3,x\n" + good)
    results = read_four_ways(path)
    assert all(r == results[0] for r in results), results
    assert isinstance(results[0], str) and "line 42, column 2 ('b'): " in results[0]
    assert message in results[0]
    fine = write(tmp_path, "a,b,c,label\n" + good + "1,3.4028235e38,-3.4028235e38,x\n" + good)
    results = read_four_ways(fine)
    assert all(r == results[0] for r in results) and not isinstance(results[0], str)


def test_the_three_paths_agree_on_a_file_of_many_blocks(tmp_path):
    text = "a,b,c,label\n" + "".join(
        f"{i / 7:.6g},{i % 13}e-3,{(-1) ** i * i * 1e30:.9g},{'xyz'[i % 3]}\n" for i in range(500)
    )
    text += '"1.5","2",3,"x\ny"\n\n' + "".join(f"{i}.25,1,2,z\n" for i in range(100))
    text += "0.12345678901234567890123,1,2,x\n"  # a number the C core leaves to float()
    path = write(tmp_path, text)
    a, b, c, whole = read_four_ways(path)
    assert a == b == c == whole and isinstance(a, tuple)
    assert a[3][:3] == [2, 3, 4] and a[3][500] == 503  # the quoted line break: line 503


# ---- the seed corpus of the fuzzer ---------------------------------------------------------

CORPUS = os.path.join(HERE, "corpus", "csv")


def test_seed_corpus():
    names = sorted(os.listdir(CORPUS))
    assert (
        sum(n.startswith("ok-") for n in names) > 10
        and sum(n.startswith("bad-") for n in names) > 10
    )
    for name in names:
        path = os.path.join(CORPUS, name)
        if name.startswith("ok-"):
            ds = ann.load_csv(path)
            assert len(ds) >= 2 and ds.num_classes >= 2, name
        elif name.startswith("bad-"):
            with pytest.raises(ann.DataError):
                ann.load_csv(path)
        a, b, c, whole = read_four_ways(path)
        assert a == b == c == whole, name
