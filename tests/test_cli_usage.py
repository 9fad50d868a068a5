"""The command line as a newcomer meets it: usage errors name the command, shared runtime options, stdin."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from edge_runtime import Classifier
from edge_runtime.batching import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS
from mobilebert_edge.cli import main, parse_args


def stdin_of(data: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data))


def usage_error(capsys, argv: list[str]) -> str:
    """Run a command that must be refused as a usage error; its stderr."""
    assert main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "typo"),
    [
        (["predict", "B", "--thread", "2", "x"], "--thread"),  # an abbreviation of --threads
        (["predict", "B", "--js", "x"], "--js"),
        (["score", "B", "in.csv", "--out", "o.csv", "--batch", "4"], "--batch"),
        (["evaluate", "B", "test.csv", "--label", "y"], "--label"),
        (["train", "--data", "d.csv", "--out", "o", "--epoch", "2"], "--epoch"),
    ],
)
def test_a_mistyped_option_shows_the_commands_usage(capsys, argv: list[str], typo: str) -> None:
    err = usage_error(capsys, argv)
    assert err.startswith(f"usage: mobilebert-edge {argv[0]} ")
    assert f"mobilebert-edge {argv[0]}: error: unrecognized arguments: {typo}" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "B", "x", "--threads", "0"],
        ["predict", "B", "x", "--batch-size", "-1"],
        ["check", "B", "--batch-size", "0"],
        ["score", "B", "in.csv", "--out", "o.csv", "--workers", "0"],
        ["score", "B", "in.csv", "--out", "o.csv", "--chunk-rows", "-5"],
        ["score", "B", "in.csv", "--out", "o.csv", "--batch-tokens", "0"],
        ["evaluate", "B", "test.csv", "--batch-size", "0"],
        ["evaluate", "B", "test.csv", "--batch-tokens", "0"],
        ["evaluate", "B", "test.csv", "--chunk-rows", "0"],
        ["profile", "B", "--threads", "0"],
        ["train", "--data", "d.csv", "--out", "o", "--epochs", "0"],
        ["train", "--data", "d.csv", "--out", "o", "--batch-size", "-2"],
        ["export", "checkpoint", "--out", "b", "--max-length", "0"],
    ],
)
def test_zero_or_negative_counts_are_usage_errors(capsys, argv: list[str]) -> None:
    value = argv[-1]
    err = usage_error(capsys, argv)
    assert err.startswith(f"usage: mobilebert-edge {argv[0]} ")
    assert f"error: argument {argv[-2]}: expected a positive integer, found '{value}'" in err


def test_every_runtime_command_has_the_same_runtime_options() -> None:
    commands = {
        "predict": ["predict", "B", "x"],
        "score": ["score", "B", "in.csv", "--out", "o.csv"],
        "evaluate": ["evaluate", "B", "test.csv"],
        "profile": ["profile", "B"],
    }
    for name, argv in commands.items():
        args = parse_args(argv)
        found = (args.threads, args.batch_size, args.batch_tokens)
        assert found == (None, DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS), name
        args = parse_args([*argv, "--threads", "2", "--batch-size", "3", "--batch-tokens", "64"])
        assert (args.threads, args.batch_size, args.batch_tokens) == (2, 3, 64), name


def test_evaluate_reads_its_batch_options(capsys, monkeypatch, tiny_bundle_fp32: Path, tmp_path: Path) -> None:
    seen: dict = {}

    class Called(Exception):
        pass

    def fake_evaluate(bundle, data, **options):
        seen.update(options)
        raise Called

    monkeypatch.setattr("edge_runtime.evaluation.run.evaluate_file", fake_evaluate)
    with pytest.raises(Called):
        main(["evaluate", str(tiny_bundle_fp32), "t.csv", "--batch-tokens", "64"])
    assert (seen["batch_size"], seen["batch_tokens"]) == (DEFAULT_BATCH_SIZE, 64)


def test_options_may_follow_the_bundle(capsys, tiny_bundle_fp32: Path) -> None:
    assert main(["predict", str(tiny_bundle_fp32), "--json", "a fine film", "--batch-size", "1", "dull"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == ["a fine film", "dull"]
    probabilities = Classifier.load(tiny_bundle_fp32).predict_proba(["a fine film", "dull"])
    assert [r["score"] for r in records] == pytest.approx(probabilities.max(axis=1).tolist(), abs=1e-6)


def test_dash_reads_texts_from_stdin(capsys, monkeypatch, tiny_bundle_fp32: Path) -> None:
    monkeypatch.setattr("sys.stdin", stdin_of(b"a fine film\ndull\n"))
    assert main(["predict", str(tiny_bundle_fp32), "-"]) == 0
    assert [line.split("\t")[2] for line in capsys.readouterr().out.splitlines()] == ["a fine film", "dull"]


@pytest.mark.parametrize("extra", [[], ["-"]])
def test_empty_stdin_says_it_read_no_text(capsys, monkeypatch, tiny_bundle_fp32: Path, extra: list[str]) -> None:
    monkeypatch.setattr("sys.stdin", stdin_of(b""))
    assert main(["predict", str(tiny_bundle_fp32), *extra]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: read no text from stdin; pass texts as arguments, or pipe one text per line\n"


@pytest.mark.parametrize(
    "argv", [["predict", "{ck}", "a fine film"], ["check", "{ck}"], ["score", "{ck}", "{csv}", "--out", "{out}"],
             ["evaluate", "{ck}", "{csv}"], ["profile", "{ck}"]],
)
def test_a_checkpoint_folder_is_named_and_export_suggested(capsys, tmp_path: Path, tiny_mobilebert_dir: Path,
                                                           argv: list[str]) -> None:
    (tmp_path / "t.csv").write_text("text,label\na fine film,positive\n", encoding="utf-8")
    names = {"ck": tiny_mobilebert_dir, "csv": tmp_path / "t.csv", "out": tmp_path / "o.csv"}
    assert main([arg.format(**names) for arg in argv]) == 1
    assert capsys.readouterr().err == (
        f"error: {tiny_mobilebert_dir} is a training checkpoint, not a bundle (no manifest.json); export it first: "
        f"mobilebert-edge export {tiny_mobilebert_dir} --out BUNDLE, then pass BUNDLE\n"
    )


def test_top_level_help_and_unknown_commands_still_use_the_top_level_parser(capsys) -> None:
    err = usage_error(capsys, ["predcit", "B"])
    assert re.search(r"argument COMMAND: invalid choice: 'predcit'", err)
    assert main(["--version"]) == 0
