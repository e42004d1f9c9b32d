"""Classification or regression, as a user expects it from a table's label column
(ann/_task.py): the rule, the words ann train prints, and --task checked against the labels."""

from __future__ import annotations

import pytest

from ann._task import chosen_task, infer_task


def ints(values):
    return [str(v) for v in values]


@pytest.mark.parametrize(
    "values, task",
    [
        (["apple", "lemon", "orange"], "classification"),  # text
        (["1", "2", "x"], "classification"),  # any text cell makes the column text
        (ints(range(10)), "classification"),  # scikit-learn's digits
        (ints(range(3, 10)), "classification"),  # wine quality 3..9: few
        (ints([-1, 1]), "classification"),
        (["0.0", "1.0", "2.0"], "classification"),  # integral, written as floats
        (ints(range(47)), "classification"),  # EMNIST balanced: codes 0..46
        (ints(range(1, 27)), "classification"),  # letters 1..26
        (ints(range(100)), "classification"),  # codes up to MAX_CODES
        (ints(range(101)), "regression"),
        (ints(range(25, 347, 2)), "regression"),  # like diabetes' 214 integers, 25..346
        (ints(range(0, 30, 2)), "regression"),  # 15 even numbers: not codes, not few
        (["0.5", "1.5"], "regression"),  # fractions
        (["151.0", "75.0", "141.5"], "regression"),
    ],
)
def test_the_rule(values, task):
    assert infer_task(["y"], [values]).task == task


def test_the_reasons_say_what_was_seen_and_how_to_override():
    choice = infer_task(["target"], [ints(range(25, 347, 2))])
    assert choice.reason == (
        "label 'target' holds 161 distinct integers, from 25 to 345: too many to be classes; "
        "--task classification reads each as a class"
    )
    choice = infer_task(["target"], [["0", "1", "2"]])
    assert choice.reason == (
        "label 'target' holds 3 distinct integers, from 0 to 2: 3 classes; --task regression "
        "reads them as numbers"
    )
    assert infer_task(["fruit"], [["lemon", "apple"]]).reason == (
        "label 'fruit' holds text ('apple', 'lemon'): 2 classes"
    )
    two = infer_task(["Weight", "Waist"], [["191", "189"], ["36", "37"]])
    assert two.task == "regression" and two.reason == (
        "2 label columns ('Weight', 'Waist'): one output each"
    )
    assert infer_task(["y"], [["0.25", "1.5"]]).reason == (
        "label 'y' holds numbers with fractions, from 0.25 to 1.5"
    )


def test_task_given_is_checked_against_the_labels():
    assert chosen_task("regression", ["y"], [["1", "2"]]).task == "regression"
    assert chosen_task("classification", ["y"], [["0.5", "1.5"]]).task == "classification"
    assert not chosen_task("classification", ["y"], [["0.5"]]).inferred
    assert chosen_task("auto", ["y"], [["0.5"]]).inferred
    with pytest.raises(
        ValueError, match="--task regression needs numbers, but label 'y' holds text"
    ):
        chosen_task("regression", ["y"], [["1", "red", "blue"]])
    with pytest.raises(ValueError, match="--task classification takes one label column, got 2"):
        chosen_task("classification", ["a", "b"], [["1"], ["2"]])
    with pytest.raises(ValueError, match="task must be"):
        chosen_task("clustering", ["y"], [["1"]])
