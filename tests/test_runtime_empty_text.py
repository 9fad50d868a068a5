"""An empty or whitespace-only text is never classified: Classifier, predict, score_texts and score agree."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from score_helpers import read_table, write_table

from edge_runtime import Classifier
from edge_runtime.errors import InputError
from edge_runtime.scoring import score_texts
from mobilebert_edge.cli import main

# Texts with no content character: NUL, other control characters, zero-width space, BOM, soft hyphen, a
# combining accent alone, replacement characters; the tokenizer keeps nothing of them ([CLS] [SEP]).
NO_CONTENT = ["\x00", "\x00" * 5, "\x01\x07\x1b\x7f", "\u200b", "\ufeff", "\u00ad", "\u200b \ufeff\u00ad\x00\u2060",
              "\u0301", "\ufffd\ufffd", "\ue000"]
BLANKS = ["", " ", "  \t ", "\u3000\u00a0", *NO_CONTENT]  # the 4th: an ideographic and a no-break space


@pytest.fixture(scope="module")
def clf(tiny_bundle_fp32: Path) -> Classifier:
    return Classifier.load(tiny_bundle_fp32, threads=1)


class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize("blank", BLANKS)
def test_classifier_refuses_a_blank_text_naming_its_position(clf, blank):
    found = repr(blank)
    with pytest.raises(InputError, match=re.escape(f"text 0 is empty (expected at least one visible character, found {found})")):
        clf.predict(blank)
    with pytest.raises(InputError, match=re.escape("text 1 is empty")):
        clf.predict(["a great film", blank, "dull"])
    with pytest.raises(InputError, match=re.escape("text 2 is empty")):
        clf.predict_proba(["a", "b", blank])
    with pytest.raises(InputError, match=re.escape("text 12 is empty")):
        list(clf.iter_proba(["a"] * 12 + [blank], batch_size=2, chunk_size=5))
    with pytest.raises(InputError, match=re.escape("text 7 is empty")):
        list(score_texts(clf, ["a"] * 7 + [blank], batch_size=2, chunk_size=3))
    assert clf.predict(" a ").label in clf.labels  # one visible character is enough


def test_predict_arguments_report_each_blank_text_and_exit_1(tiny_bundle_fp32, clf, capsys):
    code = main(["predict", str(tiny_bundle_fp32), "a great film", "", "dull", "   "])
    out, err = capsys.readouterr()
    assert code == 1
    assert [line.split("\t")[2] for line in out.splitlines()] == ["a great film", "dull"]
    assert [line.split("\t")[0] for line in out.splitlines()] == [p.label for p in clf.predict(["a great film", "dull"])]
    assert err.splitlines() == ["error: text 2 is empty; not classified", "error: text 4 is empty; not classified"]
    assert main(["predict", str(tiny_bundle_fp32), "a great film"]) == 0


def test_predict_stdin_goes_on_after_a_blank_line_and_exits_1(tiny_bundle_fp32, clf, capsys, monkeypatch):
    lines = ["review one", "", "review three", " \t", "review five"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(("\n".join(lines) + "\n").encode())))
    assert main(["predict", str(tiny_bundle_fp32), "--json", "--batch-size", "2"]) == 1
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records] == ["review one", "review three", "review five"]
    expected = clf.predict(["review one", "review three", "review five"])
    for record, prediction in zip(records, expected, strict=True):
        assert record["probabilities"] == pytest.approx(prediction.probabilities, abs=1e-9)
    assert err.splitlines() == ["error: stdin line 2 is empty; not classified", "error: stdin line 4 is empty; not classified"]


def test_interactive_prompt_ends_on_a_blank_line(tiny_bundle_fp32, capsys, monkeypatch):
    answers = iter(["a great film", "   ", "never read"])
    monkeypatch.setattr("sys.stdin", _Stdin(tty=True, text=""))
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["predict", str(tiny_bundle_fp32)]) == 0
    assert [line.split("\t")[2] for line in capsys.readouterr().out.splitlines()] == ["a great film"]
    assert next(answers) == "never read"


def test_score_flags_the_same_texts_and_scores_the_rest_like_predict(tmp_path, tiny_bundle_fp32, clf):
    texts = ["a great film", *BLANKS, "dull"]
    src = write_table(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    assert main(["score", str(tiny_bundle_fp32), str(src), "--out", str(tmp_path / "out.jsonl"), "--no-progress"]) == 0
    out = read_table(tmp_path / "out.jsonl")
    assert [row["error"] for row in out] == ["", *["empty text"] * len(BLANKS), ""]
    expected = clf.predict(["a great film", "dull"])
    assert [out[0]["label"], out[-1]["label"]] == [p.label for p in expected]
    assert [out[0]["score"], out[-1]["score"]] == pytest.approx([p.score for p in expected], abs=1e-6)


def test_no_content_texts_tokenize_to_nothing_and_visible_ones_still_classify(clf):
    assert clf.encoder.encode_ids(NO_CONTENT) == [clf.encoder.prefix + clf.encoder.suffix] * len(NO_CONTENT)
    texts = ["a\x00", "\u200bfilm", "\ufeffgreat", "e\u0301", "soft\u00adhyphen"]
    assert [len(p.probabilities) for p in clf.predict(texts)] == [2] * len(texts)


def test_a_text_the_tokenizer_keeps_nothing_of_is_empty_too(clf):
    """The string rule cannot know every tokenizer: a text of which no token is left is refused all the same."""
    sign = "\u1734"  # a spacing mark (Mc) BERT's normalizer drops
    assert clf.encoder.encode_ids([sign]) == [clf.encoder.prefix + clf.encoder.suffix]
    with pytest.raises(InputError, match=re.escape("text 1 is empty (expected at least one token the model reads, found '\u1734')")):
        clf.predict(["a great film", sign])
