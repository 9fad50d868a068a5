"""Scoring never destroys its input or others' files, resumes only from verified parts, flags bad Unicode,
and turns every read or write fault into one ``error:`` line (exit 1) naming the file."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from pathlib import Path

import pytest
from score_helpers import interrupted_job, read_table, review_rows, small_disks, write_table

from edge_runtime.scoring import score_file
from edge_runtime.scoring.tables import ScoreError
from mobilebert_edge.cli import main

ROWS = review_rows(120, seed=11)


def one_error(capsys, *argv: str) -> str:
    """Run the CLI; it must fail with exit 1 and exactly one ``error:`` line (no traceback)."""
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith(("note:", "profile:")) and "text column" not in line]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ---- 1. the input is never overwritten ------------------------------------------------------
@pytest.mark.parametrize("alias", ["dotdot", "symlink", "hardlink", "same-with-overwrite", "folder-holding-it"])
def test_an_output_that_is_the_input_is_refused_before_anything_is_made(tmp_path, tiny_bundle, capsys, alias):
    data = tmp_path / "data"
    data.mkdir()
    src = write_table(data / "in.csv", ROWS[:5])
    before = src.read_bytes()
    extra: list[str] = []
    if alias == "dotdot":
        out = data / "results" / ".." / "in.csv"  # results/ does not exist yet
    elif alias == "symlink":
        out = tmp_path / "link.csv"
        out.symlink_to(src)
    elif alias == "hardlink":
        out = tmp_path / "hard.csv"
        os.link(src, out)
        extra = ["--overwrite"]
    elif alias == "same-with-overwrite":
        out, extra = src, ["--overwrite"]
    else:
        out, extra = data, ["--overwrite"]
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(out), *extra, "--no-progress")
    if alias == "folder-holding-it":
        assert line == f"error: {data}: the job would replace this folder, which holds the input {src}; choose another --out"
    else:
        assert line == f"error: {out}: the output would overwrite the input; choose another --out"
    assert src.read_bytes() == before
    assert not (data / "results").exists() and not list(tmp_path.rglob("*.partial"))


def test_out_an_existing_folder_is_refused_even_with_overwrite(tmp_path, tiny_bundle, capsys):
    src = write_table(tmp_path / "in.csv", ROWS[:5])
    (tmp_path / "results.csv").mkdir()
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(tmp_path / "results.csv"), "--overwrite")
    assert line == (f"error: {tmp_path / 'results.csv'}: is a folder; --out names the file to write; "
                    "choose a file path such as results/scored.csv")


# ---- 2. resume verifies the finished parts and the input ---------------------------------------
def test_resume_scores_again_a_truncated_or_corrupted_finished_part(tmp_path, tiny_bundle, monkeypatch, capsys):
    src = write_table(tmp_path / "in.csv", ROWS)
    reference = tmp_path / "reference.csv"
    score_file(tiny_bundle, src, reference, chunk_rows=20, progress=False)
    out = tmp_path / "out.csv"
    interrupted_job(monkeypatch, tiny_bundle, src, out, parts=4, chunk_rows=20)
    work = tmp_path / "out.csv.partial"
    truncated, flipped = work / "part-000001.csv", work / "part-000002.csv"
    truncated.write_bytes(truncated.read_bytes()[:-40])
    data = bytearray(flipped.read_bytes())
    data[10] ^= 0x01  # same size, one bit
    flipped.write_bytes(bytes(data))
    assert main(["score", str(tiny_bundle), str(src), "--out", str(out), "--chunk-rows", "20", "--resume",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "scored 120 rows (0 errors, 40 from earlier runs)" in err
    assert "2 finished chunks scored again: their part files failed verification" in err
    assert out.read_bytes() == reference.read_bytes()


def test_resume_refuses_an_input_edited_in_place_with_its_mtime_restored(tmp_path, tiny_bundle, monkeypatch):
    src = write_table(tmp_path / "in.csv", ROWS)
    out = tmp_path / "out.csv"
    interrupted_job(monkeypatch, tiny_bundle, src, out, parts=2, chunk_rows=20)
    stat = src.stat()
    src.write_bytes(src.read_bytes().replace(b"good", b"bad!", 1))  # same size
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert src.stat().st_size == stat.st_size
    with pytest.raises(ScoreError, match=re.escape(f"cannot resume {out}: the input file changed since the job "
                                                   "started (sha256)")):
        score_file(tiny_bundle, src, out, chunk_rows=20, resume=True, progress=False)


def test_each_part_is_fsynced_before_its_marker_is_written(tmp_path, tiny_bundle, monkeypatch):
    import edge_runtime.scoring.journal as journal

    events: list[str] = []
    real_fsync, real_write = journal.fsync_path, journal._write_json
    monkeypatch.setattr(journal, "fsync_path", lambda path: (events.append(f"fsync {Path(path).name}"), real_fsync(path)))
    monkeypatch.setattr(journal, "_write_json", lambda path, value: (events.append(f"write {path.name}"),
                                                                     real_write(path, value)))
    src = write_table(tmp_path / "in.jsonl", ROWS[:50])
    score_file(tiny_bundle, src, tmp_path / "out.jsonl", chunk_rows=20, progress=False)
    for index in range(3):
        part, marker = f"part-{index:06d}.jsonl", f"part-{index:06d}.json"
        at = events.index(f"write {marker}")
        assert events[at - 2: at + 2] == [f"fsync {part}", "fsync out.jsonl.partial", f"write {marker}",
                                          "fsync out.jsonl.partial"], events


# ---- 6. cleanup touches only this job's files ----------------------------------------------
def test_concurrent_jobs_on_out_and_out_gz_both_finish(tmp_path, tiny_bundle, monkeypatch):
    import edge_runtime.scoring.files as scoring

    src = write_table(tmp_path / "in.csv", ROWS[:60])
    out, out_gz = tmp_path / "out.csv", tmp_path / "out.csv.gz"
    stranger = tmp_path / ".out.csv.notes.tmp"  # someone else's file that looks like a temporary
    stranger.write_text("keep me")
    real, paused, release = scoring.assemble, threading.Event(), threading.Event()

    def assemble(parts, tmp, *args):
        if args[1]:  # the gzip'd job stops halfway through writing its temporary file
            real(parts, tmp, *args)
            paused.set()
            assert release.wait(60)
            return None
        return real(parts, tmp, *args)

    monkeypatch.setattr(scoring, "assemble", assemble)
    failures: list[BaseException] = []

    def gz_job():
        try:
            score_file(tiny_bundle, src, out_gz, chunk_rows=20, progress=False)
        except BaseException as error:  # noqa: BLE001 (reported below)
            failures.append(error)

    job = threading.Thread(target=gz_job)
    job.start()
    assert paused.wait(60)
    score_file(tiny_bundle, src, out, chunk_rows=20, progress=False)
    release.set()
    job.join(60)
    assert not failures, failures
    assert stranger.read_text() == "keep me"
    with gzip.open(out_gz, "rb") as handle:
        assert handle.read() == out.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.csv.notes.tmp", "in.csv", "out.csv", "out.csv.gz"]


# ---- 7. a lone surrogate is a bad row, not a failed job --------------------------------------
LONE = '{"id": 1, "text": "fine \\ud800 words", "note": "ok"}\n'
NOTE_LONE = '{"id": 2, "text": "a good film", "note": "x\\udc00"}\n'
PAIR = '{"id": 3, "text": "a good film \\ud83d\\ude00", "note": "ok"}\n'


@pytest.mark.parametrize("target", ["out.csv", "out.jsonl", "out.parquet"])
def test_a_lone_surrogate_is_flagged_in_its_row(tmp_path, tiny_bundle, target):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 0, "text": "a good film", "note": "ok"}\n' + LONE + NOTE_LONE + PAIR, encoding="utf-8")
    summary = score_file(tiny_bundle, src, tmp_path / target, progress=False)
    rows = read_table(tmp_path / target)
    assert (summary.rows, summary.errors) == (4, 2)
    assert [row["error"] or "" for row in rows] == ["", "invalid Unicode (a lone surrogate) in field 'text'",
                                                    "invalid Unicode (a lone surrogate) in field 'note'", ""]
    assert rows[1]["text"] == "fine \ufffd words" and not rows[1]["label"]
    assert rows[2]["note"] == "x\ufffd" and not rows[2]["label"]
    assert rows[3]["label"] and rows[3]["text"].endswith("\U0001f600")  # a real pair is a character


def test_evaluate_skips_or_names_a_row_with_a_lone_surrogate(tmp_path, tiny_bundle, capsys):
    src = tmp_path / "test.jsonl"
    src.write_text('{"text": "a good film", "label": "positive"}\n{"text": "bad \\ud800", "label": "negative"}\n'
                   '{"text": "awful", "label": "negative"}\n', encoding="utf-8")
    line = one_error(capsys, "evaluate", str(tiny_bundle), str(src), "--no-progress")
    assert line == (f"error: {src}: row 2: invalid Unicode (a lone surrogate) in field 'text'; "
                    "fix the row, or pass --skip-bad-rows to skip such rows")
    assert main(["evaluate", str(tiny_bundle), str(src), "--skip-bad-rows", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == 2 and result["data"]["skipped_rows"] == {"invalid Unicode": 1}


# ---- 9. faults: one error line --------------------------------------------------------------
def _truncated_gzip(path: Path, rows: list[dict]) -> Path:
    write_table(path, rows)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


@pytest.mark.parametrize("name", ["in.csv.gz", "in.jsonl.gz"])
def test_a_truncated_gzip_is_one_error_in_score_evaluate_and_profile(tmp_path, tiny_bundle, capsys, name):
    rows = [{"text": row["text"] + " " + "x" * (i % 7), "label": "positive"} for i, row in enumerate(review_rows(3000))]
    src = _truncated_gzip(tmp_path / name, rows)
    expected = f"error: {src}: truncated or damaged gzip data ("
    for argv in (["score", str(tiny_bundle), str(src), "--out", str(tmp_path / "o.csv"), "--no-progress"],
                 ["evaluate", str(tiny_bundle), str(src), "--no-progress"],
                 ["profile", str(tiny_bundle), str(src)]):
        line = one_error(capsys, *argv)
        assert line.startswith(expected) and line.endswith("; the file is incomplete: copy or download it again"), line
    assert not (tmp_path / "o.csv").exists()


def test_a_corrupt_parquet_page_is_one_error(tmp_path, tiny_bundle, capsys):
    src = write_table(tmp_path / "in.parquet", review_rows(400, seed=2))
    data = bytearray(src.read_bytes())
    for at in range(200, len(data) // 2, 97):  # damage the first row groups' pages, not the footer
        data[at] ^= 0xFF
    src.write_bytes(bytes(data))
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(tmp_path / "o.csv"), "--no-progress")
    assert line.startswith(f"error: {src}: damaged or incomplete Parquet data ("), line
    assert line.endswith("; write the file again")


def test_a_wrong_encoding_is_one_error(tmp_path, tiny_bundle, capsys):
    src = write_table(tmp_path / "in.csv", ROWS[:10])
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(tmp_path / "o.csv"),
                     "--encoding", "utf-16", "--no-progress")
    assert line.startswith(f"error: {src}: "), line
    assert not (tmp_path / "o.csv").exists()


def test_mixed_types_going_to_parquet_are_one_error(tmp_path, tiny_bundle, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "a good film"}\n{"id": "two", "text": "awful"}\n', encoding="utf-8")
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(tmp_path / "o.parquet"), "--no-progress")
    assert line.startswith("error: column 'id' mixes types in its first 2 rows ("), line
    assert line.endswith("; write CSV or JSONL output instead, or make the column's type consistent")


def test_report_naming_an_existing_file_is_refused_before_evaluating(tmp_path, tiny_bundle, capsys, monkeypatch):
    import edge_runtime.evaluation.run as run

    src = tmp_path / "test.csv"
    src.write_text("text,label\na good film,positive\n", encoding="utf-8")
    (tmp_path / "report.html").write_text("mine")
    monkeypatch.setattr(run, "LabelledTable", None)  # the evaluation must not start
    line = one_error(capsys, "evaluate", str(tiny_bundle), str(src), "--report", str(tmp_path / "report.html"))
    assert line == (f"error: --report {tmp_path / 'report.html'}: {tmp_path / 'report.html'} is a file, not a folder; "
                    "name a folder for the report (it is created if needed)")
    assert (tmp_path / "report.html").read_text() == "mine"


# ---- 9. faults of the disk: a small tmpfs (needs root) ---------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    with small_disks(tmp_path) as mount:
        yield mount


def test_a_full_disk_while_writing_a_part_is_one_error(tmp_path, tiny_bundle, capsys, small_disk):
    src = write_table(tmp_path / "in.csv", review_rows(2000, seed=5))
    disk = small_disk(16)
    out = disk / "out.csv"
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(out), "--chunk-rows", "200", "--no-progress")
    assert re.fullmatch(rf"error: cannot write {re.escape(str(out))}\.partial/\S+: No space left on device; "
                        "free some space on that disk or write elsewhere", line), line
    assert not out.exists()


def test_a_full_disk_while_writing_a_parquet_part_is_one_error(tmp_path, tiny_bundle, capsys, small_disk):
    src = write_table(tmp_path / "in.csv", review_rows(2000, seed=5))
    disk = small_disk(16)
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(disk / "out.parquet"),
                     "--chunk-rows", "1000", "--no-progress")
    assert line.startswith(f"error: cannot write {disk / 'out.parquet'}.partial/"), line
    assert line.endswith("No space left on device; free some space on that disk or write elsewhere"), line


def test_a_full_disk_while_writing_the_final_output_is_one_error(tmp_path, tiny_bundle, capsys, small_disk):
    src = write_table(tmp_path / "in.csv", review_rows(1500, seed=5))
    score_file(tiny_bundle, src, tmp_path / "reference.csv", chunk_rows=500, progress=False)
    size_kib = (tmp_path / "reference.csv").stat().st_size // 1024
    disk = small_disk(size_kib * 3 // 2)  # the parts fit, the parts plus the assembled output do not
    out = disk / "out.csv"
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(out), "--chunk-rows", "500", "--no-progress")
    assert line == f"error: cannot write {out}: No space left on device; free some space on that disk or write elsewhere"
    assert not out.exists() and len(list((disk / "out.csv.partial").glob("part-*.json"))) == 3  # resumable


def test_a_read_only_output_folder_is_one_error(tmp_path, tiny_bundle, capsys, small_disk):
    src = write_table(tmp_path / "in.csv", ROWS[:5])
    disk = small_disk(64, "ro")
    out = disk / "out.csv"
    line = one_error(capsys, "score", str(tiny_bundle), str(src), "--out", str(out), "--no-progress")
    assert line == (f"error: cannot write {out}.partial: Read-only file system; "
                    "the file system is read-only; write elsewhere")
