"""ann.load_csv and the CSV paths of ann train / evaluate / predict: quoting, BOM, CRLF,
header detection, the label column anywhere, string labels, and every strict error."""

from __future__ import annotations

import json
import os

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
        ("a,b,c\n1,1e39,0\n2,3,1\n", "line 2, column 2 \\('b'\\): 1e\\+39 is beyond float32"),
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
    with pytest.raises(ann.DataError, match="cannot read the file"):
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
