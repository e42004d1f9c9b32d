"""``ann evaluate`` of a model with many classes (issue 23, item 9): the confusion matrix is a
table up to 64 classes; beyond, the text shows the most frequent confusions and the lowest
recalls, and --json lists every nonzero cell instead of K x K numbers (a 10,000-class model
printed 500 MB, one 300 MB line with --json)."""

from __future__ import annotations

import json
import random

import pytest
from conftest import run_ann

import ann

K = 1000


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    net = ann.Network([4, K], seed=0)
    net.classes = [f"class{k}" for k in range(K)]
    net.save(folder / "m.st", metadata={"dataset": "csv"})
    rng = random.Random(0)
    with open(folder / "rows.csv", "w") as f:
        f.write("a,b,c,d,label\n")
        for i in range(2 * K):
            f.write(",".join(f"{rng.random():.3f}" for _ in range(4)) + f",class{i % K}\n")
    return folder


def test_the_text_report_summarises_instead_of_a_million_cells(many):
    out = run_ann("evaluate", str(many / "m.st"), "--data", str(many / "rows.csv"))
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) < 5000
    lines = out.stdout.splitlines()
    assert any(
        f"confusion matrix: {K} classes, more than the 64 a table shows" in line
        and "--json lists every nonzero cell" in line
        for line in lines
    )
    confusions = [line for line in lines if line.startswith("  ") and " -> " in line]
    assert len(confusions) == 20 and all(line.startswith("  class") for line in confusions)
    assert lines[-1].startswith("accuracy: ") and lines[-1].endswith(f"/{2 * K})")


def test_json_lists_the_nonzero_cells(many):
    out = run_ann("evaluate", str(many / "m.st"), "--data", str(many / "rows.csv"), "--json")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) < 200_000
    report = json.loads(out.stdout)
    assert "confusion_matrix" not in report
    cells = report["confusion_cells"]
    assert sum(n for _, _, n in cells) == 2 * K
    assert all(0 <= t < K and 0 <= p < K and n > 0 for t, p, n in cells)
    correct = sum(n for t, p, n in cells if t == p)
    assert correct == round(report["accuracy"] * 2 * K)
    assert len(report["per_class_accuracy"]) == K and len(report["classes"]) == K
