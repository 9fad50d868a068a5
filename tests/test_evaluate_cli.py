"""``mobilebert-edge evaluate``: numbers equal to the classifier's own, labels mapped as in training,
bad input as one line, the report folder, the comparison of two bundles, the base install."""

from __future__ import annotations

import base64
import json
import re
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.bundle import write_manifest
from edge_runtime.classifier import Classifier
from edge_runtime.evaluation.metrics import confusion_matrix
from mobilebert_edge.cli import main
from runtime_helpers import copy_bundle, load_manifest, relabel
from test_runtime_imports import BLOCKER, FORBIDDEN, _python

LABELS = ["negative", "positive"]
TEXTS = [f"review {i}: " + " ".join(["great", "dull", "film", "plot", "acting"][(i * j) % 5] for j in range(i % 40 + 1))
         for i in range(60)]


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    path.write_text(header + "\n" + "".join(f'"{text}",{label}\n' for text, label in rows), encoding="utf-8")
    return path


@pytest.fixture()
def labelled_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "test.csv", [(text, LABELS[i % 2]) for i, text in enumerate(TEXTS)])


def run_json(capsys, *argv: str) -> dict:
    code = main(["evaluate", *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def error_line(capsys, *argv: str) -> str:
    code = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_numbers_are_the_classifiers_own(capsys, tiny_bundle: Path, labelled_csv: Path) -> None:
    result = run_json(capsys, str(tiny_bundle), str(labelled_csv), "--chunk-rows", "7", "--batch-size", "1")
    probs = Classifier.load(tiny_bundle).predict_proba(TEXTS, batch_size=1)
    gold = np.arange(len(TEXTS)) % 2
    predicted = probs.argmax(axis=1)
    assert result["examples"] == len(TEXTS)
    assert result["confusion_matrix"] == confusion_matrix(gold, predicted, 2).tolist()
    assert result["accuracy"] == pytest.approx((predicted == gold).mean())
    assert result["data"]["text_column"] == "text" and result["data"]["label_column"] == "label"
    mistake = result["mistakes"][0]
    assert mistake["text"] == TEXTS[mistake["row"] - 1] and LABELS.index(mistake["label"]) == gold[mistake["row"] - 1]
    # one pass over the whole file in one chunk gives the same numbers
    again = run_json(capsys, str(tiny_bundle), str(labelled_csv), "--batch-size", "1")
    assert again["confusion_matrix"] == result["confusion_matrix"]


def test_text_summary(capsys, tiny_bundle: Path, labelled_csv: Path) -> None:
    assert main(["evaluate", str(tiny_bundle), str(labelled_csv), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^60 examples: accuracy \d+\.\d\d%, macro-F1 0\.\d{4}$", out, re.M)
    assert re.search(r"^negative +\d\.\d{4} +\d\.\d{4} +\d\.\d{4} +30$", out, re.M)
    assert "confusion matrix (rows: true label, columns: predicted)" in out
    assert re.search(r"calibration: ECE 0\.\d{4} \(top-label confidence, 10 equal-width bins\), Brier score 0\.\d{4}", out)
    assert "text column 'text' (inferred), label column 'label' (inferred); override with" in err


def test_integer_labels_and_label_names(capsys, tmp_path: Path, tiny_bundle: Path, labelled_csv: Path) -> None:
    by_name = run_json(capsys, str(tiny_bundle), str(labelled_csv))
    ints = write_csv(tmp_path / "ints.csv", [(text, i % 2) for i, text in enumerate(TEXTS)], header="Text,Sentiment")
    assert run_json(capsys, str(tiny_bundle), str(ints))["confusion_matrix"] == by_name["confusion_matrix"]
    # 0 means positive in this file: the true labels swap, so the rows of the confusion matrix do
    swapped = run_json(capsys, str(tiny_bundle), str(ints), "--label-names", "positive,negative")
    assert swapped["confusion_matrix"] == by_name["confusion_matrix"][::-1]
    jsonl = tmp_path / "test.jsonl"
    jsonl.write_text("".join(json.dumps({"review": t, "sentiment": LABELS[i % 2].upper()}) + "\n" for i, t in enumerate(TEXTS)))
    assert run_json(capsys, str(tiny_bundle), str(jsonl))["confusion_matrix"] == by_name["confusion_matrix"]


def test_unknown_label_is_one_line_naming_file_and_row(capsys, tmp_path: Path, tiny_bundle: Path) -> None:
    path = write_csv(tmp_path / "three.csv", [("good", "positive"), ("bad", "negative"), ("meh", "neutral")])
    assert error_line(capsys, str(tiny_bundle), str(path)) == (
        f"error: {path}: row 3: label 'neutral' is not a label of the bundle (expected one of negative, positive); "
        "name the file's labels with --label-names, or evaluate a bundle trained on these labels"
    )
    ints = write_csv(tmp_path / "ints.csv", [("good", 1), ("bad", 0), ("odd", 2)])
    assert error_line(capsys, str(tiny_bundle), str(ints)).startswith(f"error: {ints}: row 3: label '2' is not a label")
    assert error_line(capsys, str(tiny_bundle), str(path), "--label-names", "bad,good") == (
        "error: --label-names: 'bad', 'good' not among the bundle's labels "
        "(expected negative, positive, found bad, good)"
    )
    # skipping bad rows never skips an unknown label
    assert "row 3: label 'neutral'" in error_line(capsys, str(tiny_bundle), str(path), "--skip-bad-rows")


def test_bad_rows_stop_or_are_skipped_and_counted(capsys, tmp_path: Path, tiny_bundle: Path) -> None:
    path = write_csv(tmp_path / "holes.csv", [("good", "positive"), ("  ", "negative"), ("fine", ""), ("bad", "negative")])
    assert error_line(capsys, str(tiny_bundle), str(path)) == (
        f"error: {path}: row 2: empty text; fix the row, or pass --skip-bad-rows to skip such rows")
    result = run_json(capsys, str(tiny_bundle), str(path), "--skip-bad-rows")
    assert result["examples"] == 2 and result["data"]["skipped_rows"] == {"empty text": 1, "missing label": 1}
    nocol = write_csv(tmp_path / "nocol.csv", [("good", "positive")], header="words,label")
    assert "cannot tell which column holds the texts" in error_line(capsys, str(tiny_bundle), str(nocol))


class Links(HTMLParser):
    """Every src and href of a page, and whether it parsed to the end."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.urls += [(tag, value) for name, value in attrs if name in ("src", "href") and value]


def test_report_folder_is_self_contained(capsys, tmp_path: Path, tiny_bundle: Path, tiny_bundle_fp32: Path) -> None:
    texts = TEXTS + ['<script>alert("x")</script> & <b>bold</b>']
    labels = [LABELS[i % 2] for i in range(len(TEXTS))]
    predicted = Classifier.load(tiny_bundle).predict([texts[-1]])[0].label
    labels.append(LABELS[1 - LABELS.index(predicted)])  # a mistake, so the report shows the text
    path = write_csv(tmp_path / "t.csv", [(t.replace('"', '""'), label) for t, label in zip(texts, labels)])
    report = tmp_path / "report"
    code = main(["evaluate", str(tiny_bundle), str(path), "--report", str(report), "--against", str(tiny_bundle_fp32)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"report: {report / 'report.html'}" in err
    page = (report / "report.html").read_text(encoding="utf-8")
    parser = Links()
    parser.feed(page)
    parser.close()
    assert parser.tags[0] == "html" and "body" in parser.tags
    images = [url for tag, url in parser.urls if tag == "img"]
    assert len(images) == 5  # confusion, reliability, confidence, coverage, length
    for url in images:
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    links = [url for tag, url in parser.urls if tag == "a"]
    assert links and all((report / url).is_file() for url in links)
    assert {p.name for p in report.iterdir()} == {"report.html", "report.json", "confusion_matrix.png", "reliability.png",
                                                  "confidence.png", "coverage.png", "accuracy_by_length.png"}
    assert "<script>" not in page and "&lt;script&gt;" in page
    saved = json.loads((report / "report.json").read_text())
    assert saved["comparison"]["models"] == ["int8", "fp32"] and "int8 vs fp32 on 61 texts" in out


def test_against_compares_on_the_same_texts(capsys, tmp_path: Path, tiny_bundle: Path, tiny_bundle_fp32: Path,
                                            labelled_csv: Path) -> None:
    result = run_json(capsys, str(tiny_bundle), str(labelled_csv), "--against", str(tiny_bundle_fp32), "--batch-size", "1")
    comparison = result["comparison"]
    a = Classifier.load(tiny_bundle).predict_proba(TEXTS, batch_size=1).argmax(1)
    b = Classifier.load(tiny_bundle_fp32).predict_proba(TEXTS, batch_size=1).argmax(1)
    gold = np.arange(len(TEXTS)) % 2
    assert comparison["label_agreement"] == pytest.approx((a == b).mean())
    assert comparison["accuracy"] == {"int8": pytest.approx((a == gold).mean()), "fp32": pytest.approx((b == gold).mean())}
    diff = comparison["accuracy_difference"]
    assert diff["low"] <= diff["value"] <= diff["high"]
    assert result["against"]["precision"] == "fp32"


def test_against_a_bundle_with_other_labels(capsys, tmp_path: Path, tiny_bundle: Path, tiny_bundle_fp32: Path,
                                            labelled_csv: Path) -> None:
    other = copy_bundle(tiny_bundle_fp32, tmp_path / "other")
    write_manifest(other, relabel(load_manifest(other), ["bad", "good"]))
    line = error_line(capsys, str(tiny_bundle), str(labelled_csv), "--against", str(other))
    assert line == (f"error: --against {other}: the bundles have different labels (expected negative, positive, "
                    "found bad, good); compare bundles trained on the same labels")


def test_evaluate_and_report_without_heavy_libraries_or_matplotlib(tmp_path: Path, tiny_bundle: Path,
                                                                  labelled_csv: Path) -> None:
    blocked = (*FORBIDDEN, "matplotlib")
    code = BLOCKER.format(forbidden=blocked) + textwrap.dedent(
        """
        from mobilebert_edge.cli import main
        code = main(sys.argv[1:])
        print("LOADED", [m for m in FORBIDDEN if m in sys.modules])
        sys.exit(code)
        """
    )
    report = tmp_path / "report"
    done = _python(code, "evaluate", str(tiny_bundle), str(labelled_csv), "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert "60 examples: accuracy" in done.stdout and done.stdout.splitlines()[-1] == "LOADED []"
    assert "note: the report's pictures need matplotlib: pip install 'mobilebert-edge[report]'" in done.stderr
    assert sorted(p.name for p in report.iterdir()) == ["report.html", "report.json"]
    assert "pip install &#x27;mobilebert-edge[report]&#x27;" in (report / "report.html").read_text()
