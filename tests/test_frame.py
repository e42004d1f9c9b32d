"""ann.Dataset and Network.predict from pandas DataFrames and Series, read through their own
NumPy arrays (ann imports neither pandas nor NumPy); skipped without pandas."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

import ann

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


def table(n=12):
    """A DataFrame of mixed numeric column types, and the same values as rows of floats."""
    frame = pd.DataFrame(
        {
            "alcohol": [12.5 + 0.25 * i for i in range(n)],
            "rings": np.arange(n, dtype=np.int16),
            "member": [i % 3 == 0 for i in range(n)],
            "hue": np.linspace(0.5, 1.5, n, dtype=np.float32),
            "count": pd.array([i * 7 for i in range(n)], dtype="UInt8"),
        }
    )
    rows = [
        [12.5 + 0.25 * i, float(i), 1.0 if i % 3 == 0 else 0.0, float(np.float32(v)), i * 7.0]
        for i, v in enumerate(np.linspace(0.5, 1.5, n, dtype=np.float32))
    ]
    return frame, rows


def test_a_dataframe_is_a_table_of_features_with_its_column_names():
    frame, rows = table()
    labels = pd.Series([i % 2 for i in range(12)], name="target")
    ds = ann.Dataset(frame, labels)
    assert (len(ds), ds.features, ds.dtype) == (12, 5, "float32")  # uint8 too: not pixels
    assert ds.feature_names == ["alcohol", "rings", "member", "hue", "count"]
    assert [list(ds[i][0]) for i in range(12)] == [
        [float(np.float32(v)) for v in row] for row in rows
    ]
    assert list(ds.labels) == [i % 2 for i in range(12)]
    # the same data as lists: the same data set, without names
    same = ann.Dataset(rows, [i % 2 for i in range(12)])
    assert same.images.tobytes() == ds.images.tobytes() and same.feature_names is None


def test_fortran_ordered_and_sliced_frames_read_row_by_row():
    values = np.asfortranarray(np.arange(24, dtype=np.float64).reshape(8, 3))
    frame = pd.DataFrame(values, columns=["a", "b", "c"]).iloc[2:7]
    ds = ann.Dataset(frame, [0, 1, 0, 1, 0])
    assert [list(ds[i][0]) for i in range(5)] == values[2:7].tolist()


def test_a_series_of_labels_and_bool_labels():
    frame, _ = table()
    ds = ann.Dataset(frame, pd.Series([i % 3 for i in range(12)], dtype="int8"))
    assert ds.num_classes == 3
    flags = ann.Dataset(frame, pd.Series([i % 2 == 0 for i in range(12)]))
    assert list(flags.labels) == [1, 0] * 6


def test_network_predict_takes_a_dataframe():
    frame, rows = table()
    net = ann.Network([5, 4, 2], seed=0)
    assert net.predict(frame) == net.predict(rows)


@pytest.mark.parametrize(
    "column, message",
    [
        (
            ["red", "green"] * 6,
            "column 'colour' holds text( or Python objects)? \\((str|object)\\), not numbers",
        ),
        ([{"a": 1}, 2] * 6, "column 'colour' holds text or Python objects \\(object\\)"),
        (pd.Categorical(["a", "b"] * 6), "column 'colour' is categorical"),
        (pd.date_range("2024-01-01", periods=12), "column 'colour' holds dates"),
        ([1.0, math.nan] * 6, "column 'colour', row 1 is a missing value \\(NaN\\)"),
        (pd.array([1, None] * 6, dtype="Int64"), "column 'colour', row 1 is a missing value"),
        ([1.0, math.inf] * 6, "column 'colour', row 1 is infinite"),
        ([1.0, 1e300] * 6, "column 'colour', row 1 is beyond float32's range"),
    ],
)
def test_a_column_that_is_not_finite_numbers_is_named(column, message):
    frame, _ = table()
    frame["colour"] = column
    with pytest.raises(ann.DataError, match=f"^X: images: {message}"):
        ann.Dataset(frame, [0, 1] * 6, name="X")
    with pytest.raises(ann.DataError, match=message):
        ann.Network([6, 2]).predict(frame)


def test_bad_label_series_are_named():
    frame, _ = table()
    with pytest.raises(ann.DataError, match="row 'b' is a missing value"):
        ann.Dataset(frame, pd.Series([0, None] * 6, index=list("abcdefghijkl"), name="y"))
    with pytest.raises(ann.DataError, match="column 'y' holds text"):
        ann.Dataset(frame, pd.Series(["yes", "no"] * 6, name="y"))
    with pytest.raises(ann.DataError, match="must be integers"):
        ann.Dataset(frame, pd.Series([0.5, 1.0] * 6, name="y"))


def test_reading_a_dataframe_imports_neither_pandas_nor_numpy_itself():
    # the frame is a stand-in with the DataFrame's shape: ann must ask it for its array and
    # read that through the buffer protocol, not import pandas or NumPy to do so
    code = (
        "import sys, array, ann\n"
        "class Frame:\n"
        "    columns = ['x', 'y']\n"
        "    dtypes = [type('T', (), {'kind': 'f'})()] * 2\n"
        "    index = [0, 1, 2]\n"
        "    def to_numpy(self, dtype=None, na_value=None):\n"
        "        flat = array.array('d', [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])\n"
        "        return memoryview(flat).cast('B').cast('d', (3, 2))\n"
        "ds = ann.Dataset(Frame(), [0, 1, 0])\n"
        "print(ds.feature_names, list(ds[2][0]), 'numpy' in sys.modules, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['x',", "'y']", "[5.0,", "6.0]", "False", "False"]


def test_targets_from_a_series_or_a_dataframe():
    frame, _ = table()
    one = ann.Dataset(frame, targets=pd.Series([0.5 * i for i in range(12)], name="y"))
    assert one.num_targets == 1 and list(one.targets) == [0.5 * i for i in range(12)]
    two = pd.DataFrame(
        {"y1": [float(i) for i in range(12)], "y2": pd.array(range(12), dtype="Int16")}
    )
    both = ann.Dataset(frame, targets=two)
    assert both.num_targets == 2 and list(both.targets)[:4] == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ann.DataError, match="column 'y2', row 3 is a missing value"):
        ann.Dataset(
            frame, targets=two.assign(y2=pd.array([*range(3), None, *range(4, 12)], "Int16"))
        )
    with pytest.raises(ann.DataError, match="column 'y' holds text"):
        ann.Dataset(frame, targets=pd.Series(["low", "high"] * 6, name="y"))
