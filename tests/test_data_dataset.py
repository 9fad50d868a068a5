"""Column choice, label mapping, bad rows and the stratified split of load_labelled."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from mobilebert_edge.data import (
    DataError,
    LabelledTexts,
    infer_label_names,
    label_names_from_json,
    label_names_to_json,
    load_labelled,
    normalize_label,
    stratified_split,
)
from edge_runtime.columns import choose_columns


class Log(list):
    """A log callable that keeps the messages."""

    def __call__(self, message: str) -> None:
        self.append(message)


def csv_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- columns -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "text", "label"),
    [
        ("Text,Sentiment", "Text", "Sentiment"),
        ("id,review,sentiment", "review", "sentiment"),
        ("text,label", "text", "label"),
        ("sentence,label", "sentence", "label"),
        ("LABEL,TEXT", "TEXT", "LABEL"),
    ],
)
def test_columns_inferred_case_insensitively_and_reported(tmp_path: Path, header: str, text: str, label: str) -> None:
    values = {"id": "7", text: "a film", label: "1"}
    names = header.split(",")
    rows = [",".join({**values, label: str(i % 2)}.get(n, "x") for n in names) for i in range(2)]
    path = csv_file(tmp_path / "d.csv", header + "\n" + "\n".join(rows) + "\n")
    log = Log()
    data = load_labelled(path, log=log)
    assert data.texts == ["a film", "a film"]
    assert log[0] == (
        f"{path}: text column {text!r} (inferred), label column {label!r} (inferred); "
        "override with --text-column/--label-column"
    )


def test_explicit_columns(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "d.csv", "body,text,stars\ngood one,ignored,pos\nbad one,ignored,neg\n")
    log = Log()
    data = load_labelled(path, text_column="body", label_column="stars", log=log)
    assert data.texts == ["good one", "bad one"]
    assert data.label_names == ["neg", "pos"] and data.labels == [1, 0]
    assert log[0] == f"{path}: text column 'body' (given), label column 'stars' (given)"


@pytest.mark.parametrize(
    ("given", "line"),
    [
        ({"label_column": "y"}, "text column 'review' (inferred), label column 'y' (given); override with --text-column"),
        ({"text_column": "review"}, "text column 'review' (given), label column 'label' (inferred); override with --label-column"),
    ],
)
def test_each_column_says_whether_it_was_given_or_inferred(tmp_path: Path, given: dict, line: str) -> None:
    path = csv_file(tmp_path / "d.csv", "review,y,label\ngood one,pos,1\nbad one,neg,0\n")
    log = Log()
    load_labelled(path, log=log, **given)
    assert log[0] == f"{path}: {line}"


def test_explicit_column_missing_lists_available(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "d.csv", "review,stars\na,1\nb,0\n")
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: no label column 'label'; available columns: 'review', 'stars'; pass --label-column NAME"),
    ):
        load_labelled(path, label_column="label", log=Log())


def test_no_inferable_column_lists_available(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "d.csv", "words,stars\na,1\nb,0\n")
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: cannot tell which column holds the texts (expected one of text, review,"),
    ) as caught:
        load_labelled(path, log=Log())
    assert "found 'words', 'stars'); pass --text-column NAME" in str(caught.value)


def test_same_column_for_text_and_label_is_an_error() -> None:
    with pytest.raises(DataError, match=re.escape("d.csv: the text and label columns are the same column 'text'")):
        choose_columns(["text", "label"], text_column="text", label_column="TEXT", source="d.csv", log=Log())


# --- labels --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ([1, 0, 1], ["0", "1"]),
        (["10", "2", "1"], ["1", "2", "10"]),  # numeric, not string, order
        (["1.0", "0.0"], ["0", "1"]),
        ([1.0, 0.0, 2.0], ["0", "1", "2"]),
        (["positive", "negative"], ["negative", "positive"]),
        (["Positive", "NEGATIVE"], ["NEGATIVE", "Positive"]),
        (["pos", "neg"], ["neg", "pos"]),
        (["sports", "business", "world"], ["business", "sports", "world"]),
        (["positive", "neutral", "negative"], ["negative", "neutral", "positive"]),
    ],
)
def test_label_names_inferred(values: list, names: list[str]) -> None:
    assert infer_label_names(normalize_label(v) for v in values) == names


def test_normalize_label() -> None:
    assert [normalize_label(v) for v in (1, 1.0, "1", " 2.0 ", True, "-1")] == [1, 1, 1, 2, 1, -1]
    assert [normalize_label(v) for v in (None, float("nan"), "", "  ")] == [None] * 4
    pd = pytest.importorskip("pandas")
    assert normalize_label(pd.NA) is None and normalize_label(pd.array([2], dtype="Int64")[0]) == 2
    assert [normalize_label(v) for v in ("0.5", 0.5, " pos ", "1e3")] == ["0.5", "0.5", "pos", "1e3"]


def test_label_names_json_round_trip() -> None:
    names = ["negative", "positive"]
    assert label_names_from_json(json.loads(json.dumps(label_names_to_json(names)))) == names
    with pytest.raises(DataError, match=re.escape("label names must be distinct")):
        label_names_from_json(["a", "a"])
    with pytest.raises(DataError, match=re.escape("label names must be a list of strings")):
        label_names_from_json({"0": "a"})
    with pytest.raises(DataError, match=re.escape("a classifier needs at least two labels")):
        label_names_from_json(["only"])


def test_integer_labels_numeric_order(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "d.csv", "text,label\na,2\nb,10\nc,1.0\nd,2\n")
    data = load_labelled(path, log=Log())
    assert data.label_names == ["1", "2", "10"]
    assert data.labels == [1, 2, 0, 1]


def test_multiclass_strings(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "d.jsonl", "".join(
        json.dumps({"text": f"t{i}", "label": lab}) + "\n" for i, lab in enumerate(["world", "sports", "tech", "world"])
    ))
    data = load_labelled(path, log=Log())
    assert data.label_names == ["sports", "tech", "world"]
    assert data.labels == [2, 0, 1, 2]


def test_given_label_names_reused_for_a_validation_file(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "val.csv", "text,label\na,Positive\nb,negative\n")
    data = load_labelled(path, label_names=["negative", "positive"], log=Log())
    assert data.labels == [1, 0] and data.label_names == ["negative", "positive"]


def test_given_names_name_integer_labels_by_position(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "d.csv", "Text,Sentiment\na,1\nb,0\n")
    data = load_labelled(path, label_names=["negative", "positive"], log=Log())
    assert data.labels == [1, 0]


def test_single_label_is_an_error(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "d.csv", "text,label\na,pos\nb,pos\n")
    with pytest.raises(
        DataError,
        match=re.escape(f"{path}: column 'label' needs at least two different labels (expected two or more, found only 'pos')"),
    ):
        load_labelled(path, log=Log())


# --- bad rows ------------------------------------------------------------------------------------

BAD = "text,label\ngood,pos\n,neg\n   ,neg\nno label,\nfine,neg\nodd,neutral\n"


def test_bad_rows_listed_with_file_and_row(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "bad.csv", BAD)
    with pytest.raises(DataError, match=re.escape(
        f"{path}: 4 bad rows (row 2 (line 3): empty text; row 3 (line 4): empty text; "
        "row 4 (line 5): missing label; row 6 (line 7): unknown label 'neutral' (known: neg, pos)); "
        "fix them, or pass --skip-bad-rows to skip them"
    )):
        load_labelled(path, label_names=["neg", "pos"], log=Log())


def test_many_bad_rows_are_counted(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "bad.csv", "text,label\na,1\nb,0\n" + ",1\n" * 8)
    with pytest.raises(DataError, match=re.escape("row 7 (line 8): empty text; and 3 more)")) as caught:
        load_labelled(path, log=Log())
    assert str(caught.value).startswith(f"{path}: 8 bad rows (row 3 (line 4): empty text;")


def test_missing_text_and_label_in_jsonl(tmp_path: Path) -> None:
    lines = [{"text": "a", "label": 1}, {"text": None, "label": 0}, {"text": "c"}, {"text": "b", "label": 0}]
    path = csv_file(tmp_path / "d.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(DataError, match=re.escape(
        f"{path}: 2 bad rows (row 2 (line 2): missing text; row 3 (line 3): missing label)"
    )):
        load_labelled(path, log=Log())


def test_skip_bad_rows_reports_the_count(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "bad.csv", BAD)
    log = Log()
    data = load_labelled(path, label_names=["neg", "pos"], skip_bad_rows=True, log=log)
    assert data.texts == ["good", "fine"] and data.labels == [1, 0] and data.rows == [1, 5]
    assert log[1].startswith(f"{path}: skipped 4 bad rows (row 2 (line 3): empty text;")
    assert log[2] == f"{path}: 2 rows (neg: 1, pos: 1)"


def test_skipping_everything_is_an_error(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "bad.csv", "text,label\na,x\nb,y\n")
    with pytest.raises(DataError, match=re.escape(f"{path}: no usable rows left after skipping bad rows")):
        load_labelled(path, label_names=["neg", "pos"], skip_bad_rows=True, log=Log())


# --- split ---------------------------------------------------------------------------------------


def make_data(counts: dict[int, int]) -> LabelledTexts:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return LabelledTexts(
        texts=[f"text {i}" for i in range(len(labels))],
        labels=labels,
        label_names=[str(k) for k in sorted(counts)],
        source="d.csv",
        rows=list(range(1, len(labels) + 1)),
    )


def test_split_is_stratified_and_partitions_the_rows() -> None:
    data = make_data({0: 60, 1: 30, 2: 10})
    train, val = stratified_split(data, 0.2, seed=0)
    assert Counter(val.labels) == {0: 12, 1: 6, 2: 2}
    assert Counter(train.labels) == {0: 48, 1: 24, 2: 8}
    assert sorted(train.rows + val.rows) == data.rows
    assert train.label_names == val.label_names == data.label_names
    assert all(data.texts[r - 1] == t for r, t in zip(val.rows, val.texts))


def test_split_is_reproducible_and_depends_on_seed() -> None:
    data = make_data({0: 50, 1: 50})
    first = stratified_split(data, 0.3, seed=7)
    assert stratified_split(data, 0.3, seed=7) == first
    assert stratified_split(data, 0.3, seed=8)[1].rows != first[1].rows


def test_every_class_in_both_parts_when_possible() -> None:
    train, val = stratified_split(make_data({0: 40, 1: 2}), 0.1, seed=0)
    assert Counter(val.labels)[1] == 1 and Counter(train.labels)[1] == 1


def test_split_class_with_one_row_is_an_error() -> None:
    with pytest.raises(DataError, match=re.escape(
        "d.csv: label '1' has only 1 row, too few to appear in both training and validation"
    )):
        stratified_split(make_data({0: 10, 1: 1}), 0.2, seed=0)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_fraction_must_be_between_0_and_1(fraction: float) -> None:
    with pytest.raises(DataError, match=re.escape("the validation fraction must be between 0 and 1")):
        stratified_split(make_data({0: 10, 1: 10}), fraction, seed=0)


def test_chosen_columns_travel_with_the_data_and_its_split(tmp_path):
    from mobilebert_edge.data import load_labelled, stratified_split

    path = tmp_path / "reviews.csv"
    path.write_text("Review,Sentiment\n" + "".join(f"text {i},{i % 2}\n" for i in range(10)))
    data = load_labelled(path, log=lambda _: None)
    assert (data.text_column, data.label_column) == ("Review", "Sentiment")
    train, val = stratified_split(data, 0.2, seed=1)
    assert (train.text_column, val.label_column) == ("Review", "Sentiment")
