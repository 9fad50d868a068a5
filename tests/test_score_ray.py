"""--engine ray on a local Ray instance: same rows, same order, same scores as the local engine."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from score_helpers import read_table, review_rows, write_table

from edge_runtime.scoring.tables import ScoreError
from edge_runtime.scoring import score_file

ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed")


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
