"""--engine ray on a local Ray instance: same rows, same order, same scores and column types as the local
engine; the input is never replaced; bad rows are flagged as the local engine flags them; faults are one line."""

from __future__ import annotations

import gzip
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from score_helpers import read_table, review_rows, small_disks, write_table

from edge_runtime.scoring.tables import ScoreError
from edge_runtime.scoring import score_file
from mobilebert_edge.cli import main

ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed")


def _one_error(capsys, *argv: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "text column" not in line]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_an_unreachable_ray_cluster_is_one_error(tmp_path, tiny_bundle_fp32, capsys, monkeypatch):
    # first in this module: Ray is not running yet (the fixture below starts it)
    if ray.is_initialized():
        pytest.skip("Ray already runs in this process: RAY_ADDRESS would not be read")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    src = write_table(tmp_path / "in.csv", review_rows(3))
    line = _one_error(capsys, "score", str(tiny_bundle_fp32), str(src), "--out", str(tmp_path / "out.csv"),
                      "--engine", "ray")
    assert line == (f"error: cannot reach the Ray cluster at 127.0.0.1:{port} (Connection refused); check RAY_ADDRESS "
                    "(host:port of the cluster's head), or unset it to run Ray on this machine")
    assert not ray.is_initialized() and not (tmp_path / "out.csv").exists()


def test_a_ray_cluster_that_refuses_to_join_is_one_error(monkeypatch):
    from edge_runtime.scoring.ray_io import connect

    class RefusingRay:  # what ray.init does against a cluster that requires another token
        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**kwargs):
            raise ConnectionError("Authentication failed: the token is invalid.\nSee the logs.")

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = "127.0.0.1:%d" % server.getsockname()[1]
        monkeypatch.setenv("RAY_ADDRESS", address)
        with pytest.raises(ScoreError, match=re.escape(
                f"cannot join the Ray cluster at {address} (Authentication failed: the token is invalid.); check "
                "RAY_ADDRESS (host:port of the cluster's head), or unset it to run Ray on this machine; a cluster "
                "that requires authentication needs its token")):
            connect(RefusingRay)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _read_folder(folder: Path, suffix: str) -> list[dict]:
    files = sorted(folder.glob(f"*{suffix}"))
    assert files, f"no {suffix} files in {folder}"
    return [row for path in files for row in read_table(path)]


@pytest.mark.parametrize(
    ("source", "target", "suffix"),
    [("in.csv", "out.csv", ".csv"), pytest.param("in.jsonl.gz", "out.parquet", ".parquet", marks=pytest.mark.slow)],
)
def test_ray_engine_matches_local_engine(tmp_path, tiny_bundle_fp32, local_ray, source, target, suffix):
    rows = review_rows(700, seed=7) + [{"id": 700, "text": " ", "stars": 1}]
    src = write_table(tmp_path / source, rows)
    local = score_file(tiny_bundle_fp32, src, tmp_path / "local.jsonl", progress=False)
    dest = tmp_path / "results" / "ray" / target  # missing folders above OUTPUT are created
    summary = score_file(tiny_bundle_fp32, src, dest, engine="ray", workers=2, batch_size=16)
    assert (summary.rows, summary.errors) == (local.rows, local.errors) == (701, 1)
    got, expected = _read_folder(dest, suffix), read_table(tmp_path / "local.jsonl")
    assert [int(r["id"]) for r in got] == list(range(701))
    assert [r["label"] or None for r in got] == [r["label"] for r in expected]
    assert got[-1]["error"] == "empty text"
    np.testing.assert_allclose([float(r["prob_positive"] or "nan") for r in got],
                               [r["prob_positive"] if r["prob_positive"] is not None else np.nan for r in expected],
                               atol=1e-5)
    assert not list(dest.parent.glob(".*.tmp"))


def test_ray_engine_refuses_resume(tmp_path, tiny_bundle_fp32):
    src = write_table(tmp_path / "in.csv", review_rows(3))
    with pytest.raises(ScoreError, match=re.escape("--resume is not available with --engine ray")):
        score_file(tiny_bundle_fp32, src, tmp_path / "out.csv", engine="ray", resume=True)


def test_ray_never_replaces_its_input(tmp_path, tiny_bundle_fp32, capsys):
    data = tmp_path / "data.csv"  # a folder named like an output, holding the input
    data.mkdir()
    src = write_table(data / "in.csv", review_rows(5))
    before = src.read_bytes()
    line = _one_error(capsys, "score", str(tiny_bundle_fp32), str(src), "--out", str(src), "--engine", "ray", "--overwrite")
    assert line == f"error: {src}: the output would overwrite the input; choose another --out"
    line = _one_error(capsys, "score", str(tiny_bundle_fp32), str(src), "--out", str(data), "--engine", "ray", "--overwrite")
    assert line == f"error: {data}: the job would replace this folder, which holds the input {src}; choose another --out"
    other = tmp_path / "notes.csv"  # an existing folder that is not a scoring output
    other.mkdir()
    (other / "todo.txt").write_text("keep")
    line = _one_error(capsys, "score", str(tiny_bundle_fp32), str(src), "--out", str(other), "--engine", "ray", "--overwrite")
    assert line == (f"error: {other}: not a folder written by --engine ray (it holds todo.txt); "
                    "choose another --out, or remove the folder yourself")
    assert src.read_bytes() == before and (other / "todo.txt").read_text() == "keep"


def test_ray_writes_the_local_engines_column_types(tmp_path, tiny_bundle_fp32, local_ray):
    import pyarrow.parquet as pq

    src = tmp_path / "imdb.csv"
    src.write_text("text,label,rating,id\na good film,1,10,007\nawful,0,1.50,8\n", encoding="utf-8")
    score_file(tiny_bundle_fp32, src, tmp_path / "local.parquet", progress=False)
    score_file(tiny_bundle_fp32, src, tmp_path / "ray.parquet", engine="ray", workers=1)
    local = pq.read_table(tmp_path / "local.parquet")
    (part,) = sorted((tmp_path / "ray.parquet").glob("*.parquet"))
    remote = pq.read_table(part)
    assert remote.schema.names == local.schema.names
    for name in ("text", "label", "rating", "id"):
        assert remote.schema.field(name).type == local.schema.field(name).type, name
        assert remote.column(name).to_pylist() == local.column(name).to_pylist(), name
    assert remote.column("id").to_pylist() == ["007", "8"]


def test_ray_flags_bad_jsonl_rows_like_the_local_engine(tmp_path, tiny_bundle_fp32, local_ray):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"id": 0, "text": "a good film"}\n{"id": 1, "text": "bad \\ud800"}\n\n'
                    b'not json\n{"id": 3, "text": "awful \\ud83d\\ude00"}\n{"id": 4, "text": "caf\xe9"}\n')
    local = score_file(tiny_bundle_fp32, src, tmp_path / "local.jsonl", progress=False)
    remote = score_file(tiny_bundle_fp32, src, tmp_path / "ray.parquet", engine="ray", workers=1)
    (part,) = sorted((tmp_path / "ray.parquet").glob("*.parquet"))
    got, expected = read_table(part), read_table(tmp_path / "local.jsonl")
    assert (remote.rows, remote.errors) == (local.rows, local.errors) == (5, 3)
    assert [r["error"] for r in got] == [r["error"] for r in expected] == [
        "", "invalid Unicode (a lone surrogate) in field 'text'", "invalid JSON (Expecting value at column 1)", "",
        "undecodable bytes (utf-8) in the line"]
    assert [r["text"] for r in got] == [r.get("text") for r in expected]
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    assert "__mobilebert_edge_read_error__" not in got[0]


def test_ray_faults_are_one_error(tmp_path, tiny_bundle_fp32, local_ray, capsys):
    mixed = tmp_path / "mixed.jsonl"  # the first 2 rows (one chunk) type the column; the 3rd breaks it
    mixed.write_text('{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n{"id": "three", "text": "c"}\n', encoding="utf-8")
    line = _one_error(capsys, "score", str(tiny_bundle_fp32), str(mixed), "--out", str(tmp_path / "m.jsonl"),
                      "--engine", "ray", "--chunk-rows", "2")
    assert line.startswith(f"error: {mixed}: column 'id' changes type near row 3 ("), line
    assert line.endswith("(expected int64, found three); make the column's type consistent, or use --engine local "
                         "with CSV or JSONL output") or "make the column's type consistent" in line, line
    assert not (tmp_path / "m.jsonl").exists()

    truncated = write_table(tmp_path / "in.csv.gz", review_rows(3000))
    truncated.write_bytes(truncated.read_bytes()[:-400])
    line = _one_error(capsys, "score", str(tiny_bundle_fp32), str(truncated), "--out", str(tmp_path / "t.csv"),
                      "--engine", "ray")
    assert line.startswith(f"error: {truncated}: "), line
    assert not (tmp_path / "t.csv").exists()


def test_ray_on_a_full_disk_is_one_error(tmp_path, tiny_bundle_fp32, local_ray, capsys):
    src = write_table(tmp_path / "in.csv", review_rows(2000, seed=5))
    with small_disks(tmp_path) as mount:
        out = mount(16) / "out.csv"
        line = _one_error(capsys, "score", str(tiny_bundle_fp32), str(src), "--out", str(out), "--engine", "ray")
        assert line.startswith(f"error: cannot write {out}: "), line
        assert line.endswith("No space left on device; free some space on that disk or write elsewhere"), line
        assert not out.exists()
