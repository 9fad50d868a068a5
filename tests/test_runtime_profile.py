"""mobilebert-edge profile: fresh measured processes, their own peak RSS, the table and --json, text inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_runtime.profile.measure import percentiles, run_child
from mobilebert_edge.cli import main

TESTS = Path(__file__).resolve().parent
FAST = ["--repeat", "4", "--cold-runs", "1", "--scoring-texts", "12", "--threads", "1"]


def test_peak_rss_is_the_measured_process_own(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    ballast = bytearray(400 * 2**20)  # this (measuring) process is large: children must not inherit its peak
    ballast[::4096] = b"x" * len(ballast[::4096])
    big, big_peak = run_child("hold", {"mib": 300}, tmp_path, module="profile_fake_child")
    small, small_peak = run_child("idle", {"mib": 0}, tmp_path, module="profile_fake_child")
    assert (small["mode"], big["held"]) == ("idle", 300 * 2**20)
    assert small_peak < 60  # a bare interpreter: neither inflated by the parent nor by the earlier child
    assert 300 <= big_peak < 360


def test_profile_json_on_built_in_samples(tiny_bundle, capsys):
    assert main(["profile", str(tiny_bundle), "--json", *FAST]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["source"] == "built-in samples" and result["texts"]["count"] == 9
    assert result["texts"]["tokens"]["min"] < 30 and result["texts"]["tokens"]["max"] == result["max_length"]
    assert result["precision"] == "int8" and result["threads"] == 1 and result["onnxruntime"]
    assert result["model_mib"] > 0 and result["bundle_mib"] > result["model_mib"]
    assert 0 < result["cold_start"]["load_seconds"] < result["cold_start"]["seconds"]
    ms = result["latency"]["ms"]
    assert 0 < ms["p50"] <= ms["p95"] <= ms["p99"] and result["latency"]["predictions"] == 4
    assert result["scoring"]["texts"] == 12 and result["scoring"]["ms_per_text"] > 0
    for measure in ("cold_start", "latency", "scoring"):  # onnxruntime + numpy + tokenizers alone are > 40 MiB
        assert 40 < result[measure]["peak_rss_mib"] < 1000
    assert "profile: cold start 1/1" in captured.err


def test_profile_table_on_a_text_file(tiny_bundle_fp32, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("a fine film\nawful, just awful\nI laughed, I cried\n", encoding="utf-8")
    assert main(["profile", str(tiny_bundle_fp32), str(source), *FAST]) == 0
    out = capsys.readouterr().out
    assert f"texts        {source}: 3 texts" in out
    assert "cold start: import + load + first prediction" in out and "p50 / p95 / p99" in out
    assert "scoring 12 texts (<= 32 texts, <= 1024 tokens per call)" in out


def test_profile_reads_a_table_and_names_a_bad_row(tiny_bundle_fp32, tmp_path, capsys):
    from edge_runtime.profile.cli import read_texts

    table = tmp_path / "reviews.csv"
    table.write_text("id,review\n1,good\n2,bad\n", encoding="utf-8")
    assert read_texts(table) == ["good", "bad"]
    table.write_text("id,review\n1,good\n2,\n", encoding="utf-8")
    assert main(["profile", str(tiny_bundle_fp32), str(table), *FAST]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {table}: row 2: empty text; profile needs a text in every row; fix or remove that row")
    lines = tmp_path / "texts.txt"
    lines.write_text("good\n\nbad\n", encoding="utf-8")
    assert main(["profile", str(tiny_bundle_fp32), str(lines), *FAST]) == 1
    assert capsys.readouterr().err.strip() == f"error: {lines}: line 2 is empty; one text per line, no blank lines"


def test_profile_of_a_missing_bundle_is_one_line(tmp_path, capsys):
    assert main(["profile", str(tmp_path / "nope"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: bundle ") and len(err.strip().splitlines()) == 1


def test_the_measuring_parent_stays_small(tiny_bundle_fp32, tmp_path):
    code = (
        "import sys\nfrom mobilebert_edge.cli import main\n"
        f"assert main(['profile', {str(tiny_bundle_fp32)!r}, *{FAST!r}]) == 0\n"
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'tokenizers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == pytest.approx({"p50": 50.5, "p95": 95.05, "p99": 99.01, "mean": 50.5})
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0, "mean": 7.0}
