"""The predict and check subcommands, through mobilebert_edge.cli.main."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import copy_bundle, flip_byte, load_manifest

from edge_runtime import Classifier
from edge_runtime.bundle import write_manifest
from mobilebert_edge.cli import main


@pytest.fixture(scope="module")
def clf(tiny_bundle_fp32: Path) -> Classifier:
    return Classifier.load(tiny_bundle_fp32)


class _Stdin(io.StringIO):
    def __init__(self, text: str = "", tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _rows(out: str) -> list[list[str]]:
    return [line.split("\t") for line in out.splitlines()]


def test_predict_texts_from_arguments(tiny_bundle_fp32, clf, capsys):
    texts = ["a great film", "dull\tand slow", "x"]
    assert main(["predict", str(tiny_bundle_fp32), *texts, "--threads", "1", "--batch-size", "2"]) == 0
    rows = _rows(capsys.readouterr().out)
    expected = clf.predict(texts)
    assert [r[0] for r in rows] == [p.label for p in expected]
    assert [float(r[1]) for r in rows] == pytest.approx([p.score for p in expected], abs=1e-4)
    assert [r[2] for r in rows] == ["a great film", "dull and slow", "x"]  # one line per text


def test_predict_lines_from_stdin_as_json(tiny_bundle_fp32, clf, capsys, monkeypatch):
    lines = [f"review number {i} " + "good " * (i % 7) for i in range(70)] + ["\t tabs and spaces \t"]
    monkeypatch.setattr("sys.stdin", _Stdin("\n".join(lines) + "\n"))
    assert main(["predict", str(tiny_bundle_fp32), "--json", "--batch-size", "4"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == lines  # none dropped, input order, spaces kept
    proba = np.array([[r["probabilities"][label] for label in clf.labels] for r in records])
    np.testing.assert_allclose(proba, clf.predict_proba(lines), atol=1e-9)
    assert all(r["score"] == max(r["probabilities"].values()) for r in records)


def test_predict_interactive_prompt(tiny_bundle_fp32, clf, capsys, monkeypatch):
    answers = iter(["a great film", "awful", ""])
    prompts = []

    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("sys.stdin", _Stdin(tty=True))
    monkeypatch.setattr("builtins.input", fake_input)
    assert main(["predict", str(tiny_bundle_fp32)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert prompts == ["Enter a sentence (empty line or Ctrl-D to quit): "] * 3
    assert [(r[0], r[2]) for r in rows] == [(clf.predict(t).label, t) for t in ("a great film", "awful")]


def test_predict_interactive_ends_on_eof(tiny_bundle_fp32, capsys, monkeypatch):
    def eof(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin", _Stdin(tty=True))
    monkeypatch.setattr("builtins.input", eof)
    assert main(["predict", str(tiny_bundle_fp32)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("fixture", ["tiny_bundle_fp32", "tiny_bundle"])
def test_check_passes_on_exported_bundles(fixture, request, capsys):
    bundle = request.getfixturevalue(fixture)
    assert main(["check", str(bundle)]) == 0
    out = capsys.readouterr().out
    n = len(load_manifest(bundle)["golden"]["examples"])
    # batch-invariant bundles replay one text per batch and all of them in one batch
    assert out.count("PASS  0  batch 1 ") == 1 and out.count(f"PASS  0  batch {n} ") == 1
    assert out.count("PASS") == 2 * n and "FAIL" not in out
    assert f"{n} golden examples at batch size 1 and {n}, all passed" in out


def test_check_replays_a_batch_larger_than_one(tiny_mobilebert_dir, tmp_path, capsys):
    """Dynamic int8 moves with its batch-mates: passes at batch 1, and fails once claimed batch-invariant."""
    from mobilebert_edge.export import export_bundle

    bundle = tmp_path / "dynamic"
    export_bundle(tiny_mobilebert_dir, bundle, quantization="dynamic", log=lambda _: None)
    manifest = load_manifest(bundle)
    assert manifest["golden"]["batch_invariant"] is False
    assert main(["check", str(bundle)]) == 0
    n = len(manifest["golden"]["examples"])
    assert f"{n} golden examples at batch size 1, all passed" in capsys.readouterr().out
    manifest["golden"]["batch_invariant"] = True
    write_manifest(bundle, manifest)
    assert main(["check", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert f"  batch {n}  " in out.split("FAIL  ", 1)[1].splitlines()[0] and "batch 1 " not in "".join(
        line for line in out.splitlines() if line.startswith("FAIL"))


def test_check_fails_on_a_wrong_golden_value(tiny_bundle_fp32, tmp_path, capsys):
    bundle = copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")
    manifest = load_manifest(bundle)
    example = manifest["golden"]["examples"][1]
    first = manifest["labels"][0]
    example["probabilities"] = {k: p + (0.01 if k == first else -0.01) for k, p in example["probabilities"].items()}
    write_manifest(bundle, manifest)  # hashes right, golden value wrong
    assert main(["check", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  1  batch 1  max|diff|=1.00e-02" in out
    assert out.count("PASS") == 2 * len(manifest["golden"]["examples"]) - 2
    assert "2 FAILED" in out


@pytest.mark.parametrize(("shift", "code"), [(0.01, 0), (0.03, 1)])
def test_int8_golden_tolerance_covers_another_cpu_only(tiny_bundle, tmp_path, capsys, shift, code):
    bundle = copy_bundle(tiny_bundle, tmp_path / "bundle")
    manifest = load_manifest(bundle)
    assert manifest["golden"]["atol"] == 0.02  # int8: other CPUs' int8 kernels differ by up to ~0.012
    example = manifest["golden"]["examples"][1]
    first = manifest["labels"][0]
    example["probabilities"] = {k: p + (shift if k == first else -shift) for k, p in example["probabilities"].items()}
    write_manifest(bundle, manifest)
    assert main(["check", str(bundle)]) == code
    capsys.readouterr()


@pytest.mark.parametrize("command", ["predict", "check"])
def test_tampered_bundle_is_one_error_line(tiny_bundle_fp32, tmp_path, capsys, command):
    bundle = copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")
    flip_byte(bundle / "model.onnx")
    argv = [command, str(bundle)] + (["some text"] if command == "predict" else [])
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: bundle {bundle}: model.onnx was modified or corrupted (sha256 mismatch); "
        "copy the bundle again or re-export it\n"
    )


def test_user_errors(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing"), "x"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: bundle {tmp_path / 'missing'}: no such folder; pass the folder written by 'mobilebert-edge export'\n"
    assert main(["predict", str(tmp_path), "x", "--batch-size", "0"]) == 2
    assert "expected a positive integer, found '0'" in capsys.readouterr().err


def test_stdin_bytes_are_utf8_with_line_numbers_in_errors(tiny_bundle_fp32, capsys, monkeypatch):
    data = "\ufeffcafé crème\r\nsecond line\nthird".encode("utf-8")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["predict", str(tiny_bundle_fp32)]) == 0
    assert [r[2] for r in _rows(capsys.readouterr().out)] == ["café crème", "second line", "third"]

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("ok\n나쁜 줄\n".encode("cp949"))))
    assert main(["predict", str(tiny_bundle_fp32)]) == 1
    assert capsys.readouterr().err == (
        "error: stdin line 2 is not valid UTF-8 (byte 1); convert the input to UTF-8 first, e.g. iconv -f cp949 -t utf-8\n"
    )
