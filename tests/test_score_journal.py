"""The scoring work folder: refusal to resume against a changed bundle, and its lock against a second job."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from score_helpers import interrupted_job, read_table, review_rows, write_table

from edge_runtime.scoring import score_file
from edge_runtime.scoring.journal import manifest_sha256
from edge_runtime.scoring.tables import ScoreError
from mobilebert_edge.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_resume_refuses_a_bundle_changed_between_runs(tmp_path, tiny_bundle, tiny_bundle_fp32, monkeypatch):
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))
    src = write_table(tmp_path / "in.csv", review_rows(200, seed=8))
    out = tmp_path / "out.csv"
    interrupted_job(monkeypatch, bundle, src, out, parts=2, chunk_rows=40)
    old = manifest_sha256(bundle)

    shutil.rmtree(bundle)  # re-exported in place: same labels, another model
    shutil.copytree(tiny_bundle_fp32, bundle)
    new = manifest_sha256(bundle)
    parts = sorted(p.name for p in (tmp_path / "out.csv.partial").iterdir())
    with pytest.raises(ScoreError, match=re.escape(
        f"cannot resume {out}: the bundle changed since the job started (manifest_sha256) (expected {old}, "
        f"found {new}); rerun with the same input, bundle and options, or use --overwrite to start again"
    )):
        score_file(bundle, src, out, chunk_rows=40, resume=True, progress=False)
    assert sorted(p.name for p in (tmp_path / "out.csv.partial").iterdir()) == parts  # nothing lost
    assert not out.exists()

    # the same bundle bytes again: resuming is allowed and finishes what the old bundle started
    shutil.rmtree(bundle)
    shutil.copytree(tiny_bundle, bundle)
    summary = score_file(bundle, src, out, chunk_rows=40, resume=True, progress=False)
    assert (summary.rows, summary.rows_resumed) == (200, 80)


@pytest.fixture()
def running_job(tmp_path, tiny_bundle):
    """A scoring job in a subprocess that has written a few parts and is still running."""
    src = write_table(tmp_path / "in.csv", review_rows(40000, seed=9))
    out = tmp_path / "out.csv"
    work = tmp_path / "out.csv.partial"
    job = subprocess.Popen([sys.executable, "-m", "mobilebert_edge", "score", str(tiny_bundle), str(src), "--out",
                            str(out), "--chunk-rows", "50", "--batch-size", "16", "--no-progress"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list(work.glob("part-*.json"))) < 2:
            assert job.poll() is None, job.stderr.read().decode()
            assert time.monotonic() < deadline, "the job wrote no parts"
            time.sleep(0.02)
        yield job, src, out, work
    finally:
        job.kill()
        job.wait()
        job.stderr.close()


@pytest.mark.parametrize("flag", ["--resume", "--overwrite"])
def test_a_second_job_on_the_same_output_is_refused(running_job, tiny_bundle, flag, capsys):
    job, src, out, work = running_job
    code = main(["score", str(tiny_bundle), str(src), "--out", str(out), "--chunk-rows", "50", "--batch-size", "16",
                 "--no-progress", flag])
    assert code == 1
    err = capsys.readouterr().err
    assert err.endswith(f"\nerror: {work}: another scoring job is writing this output; "
                        "wait for it to finish or choose another --out\n") and err.count("error:") == 1, err
    assert job.poll() is None  # the first job runs on, its work folder untouched
    done = len(list(work.glob("part-*.json")))
    time.sleep(0.5)
    assert (work / "journal.json").is_file() and len(list(work.glob("part-*.json"))) > done
