"""Resumable and parallel scoring: SIGKILL then --resume, journal checks, 1 worker vs 2 workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from score_helpers import interrupted_job, read_table, review_rows, write_table

from edge_runtime.scoring.tables import ScoreError
from edge_runtime.scoring import score_file
from mobilebert_edge.cli import main

REPO = Path(__file__).resolve().parents[1]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path, tiny_bundle):
    src = write_table(tmp_path / "in.csv", review_rows(6000, seed=3))
    reference = tmp_path / "reference.csv"
    score_file(tiny_bundle, src, reference, chunk_rows=100, batch_size=16, progress=False)
    out = tmp_path / "out.csv"
    work = tmp_path / "out.csv.partial"
    job = subprocess.Popen([sys.executable, "-m", "mobilebert_edge", "score", str(tiny_bundle), str(src), "--out", str(out),
                            "--chunk-rows", "100", "--batch-size", "16", "--workers", "2", "--no-progress"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while len(list(work.glob("part-*.json"))) < 5:
        assert job.poll() is None, job.stderr.read().decode()
        assert time.monotonic() < deadline, "the job wrote no parts"
        time.sleep(0.02)
    workers = _children(job.pid)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    deadline = time.monotonic() + 10  # the worker processes notice and exit too
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) >= 2 and not any(_alive(pid) for pid in workers)
    done_before = len(list(work.glob("part-*.json")))
    assert job.returncode == -signal.SIGKILL and not out.exists() and 5 <= done_before < 60

    assert main(["score", str(tiny_bundle), str(src), "--out", str(out), "--chunk-rows", "100",
                 "--batch-size", "16", "--resume", "--no-progress"]) == 0
    assert not work.exists()
    rows = read_table(out)
    assert [row["id"] for row in rows] == [str(i) for i in range(6000)]
    assert out.read_bytes() == reference.read_bytes()


def test_resume_checks_the_journal(tmp_path, tiny_bundle, monkeypatch, capsys):
    src = write_table(tmp_path / "in.jsonl", review_rows(300, seed=4))
    out = tmp_path / "out.parquet"
    interrupted_job(monkeypatch, tiny_bundle, src, out, parts=2, chunk_rows=40)
    assert not out.exists() and len(list((tmp_path / "out.parquet.partial").glob("part-*.parquet"))) == 2

    args = ["score", str(tiny_bundle), str(src), "--out", str(out), "--chunk-rows", "40", "--no-progress"]
    assert main(args) == 1
    assert capsys.readouterr().err == (f"error: {out}.partial: an unfinished job's work folder exists; "
                                       "rerun with --resume to continue it, or --overwrite to start again\n")
    with pytest.raises(ScoreError, match=re.escape("the options differ since the job started (chunk_rows) "
                                                   "(expected 40, found 50)")):
        score_file(tiny_bundle, src, out, chunk_rows=50, resume=True, progress=False)
    with src.open("a") as handle:  # the input changes
        handle.write('{"id": 300, "text": "one more"}\n')
    with pytest.raises(ScoreError, match=re.escape(f"cannot resume {out}: the input file changed since the job started")):
        score_file(tiny_bundle, src, out, chunk_rows=40, resume=True, progress=False)

    assert main([*args, "--overwrite"]) == 0  # start again
    assert len(read_table(out)) == 301


def test_resume_finishes_like_an_uninterrupted_run(tmp_path, tiny_bundle, monkeypatch, capsys):
    src = write_table(tmp_path / "in.tsv", review_rows(250, seed=5))
    reference = tmp_path / "reference.tsv.gz"
    score_file(tiny_bundle, src, reference, chunk_rows=30, progress=False)
    out = tmp_path / "out.tsv.gz"
    interrupted_job(monkeypatch, tiny_bundle, src, out, parts=3, chunk_rows=30)
    summary = score_file(tiny_bundle, src, out, chunk_rows=30, resume=True, progress=False)
    assert (summary.rows, summary.rows_resumed, summary.rows_scored_now) == (250, 90, 160)
    assert out.read_bytes() == reference.read_bytes()


def test_two_workers_write_what_one_worker_writes(tmp_path, tiny_bundle):
    src = write_table(tmp_path / "in.csv", review_rows(900, seed=6) + [{"id": 900, "text": "", "stars": 1}])
    one = score_file(tiny_bundle, src, tmp_path / "one.csv", chunk_rows=64, workers=1, progress=False)
    two = score_file(tiny_bundle, src, tmp_path / "two.csv", chunk_rows=64, workers=2, progress=False)
    assert (one.rows, one.errors) == (two.rows, two.errors) == (901, 1)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


def test_bad_bundle_with_workers_is_a_clear_error(tmp_path, capsys):
    src = write_table(tmp_path / "in.csv", review_rows(5))
    (tmp_path / "bundle").mkdir()
    code = main(["score", str(tmp_path / "bundle"), str(src), "--out", str(tmp_path / "o.csv"), "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: bundle {tmp_path / 'bundle'}: manifest.json is missing") and \
        err.count("\n") == 1, err
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.csv.partial").exists()
