"""Helpers for the batch-scoring tests: a tiny bundle, review-like tables, reading outputs back."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
import random
from pathlib import Path
from typing import Any

WORDS = ("good bad great awful film movie plot actor boring brilliant waste loved hated "
         "music scene ending story funny dull superb mess charming slow").split()


def review_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` rows ``{id, text, stars}`` with texts of 1..60 words (so batches pad differently)."""
    rng = random.Random(seed)
    return [{"id": i, "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))), "stars": rng.randint(1, 10)}
            for i in range(n)]


def write_table(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as CSV/TSV/JSONL/Parquet by suffix (gzip'd when it ends in .gz)."""
    name = path.name.removesuffix(".gz")
    opener = gzip.open if path.name.endswith(".gz") else open
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=97)
    elif name.endswith(".jsonl"):
        with opener(path, "wt", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    else:
        with opener(path, "wt", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t" if name.endswith(".tsv") else ",")
            writer.writeheader()
            writer.writerows(rows)
    return path


def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a scored file (any of our formats) as dicts; CSV/TSV values stay strings."""
    name = path.name.removesuffix(".gz")
    opener = gzip.open if path.name.endswith(".gz") else open
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in handle]
        return list(csv.DictReader(handle, delimiter="\t" if name.endswith(".tsv") else ","))


def interrupted_job(monkeypatch: Any, bundle: Path, src: Path, out: Path, parts: int, **options: Any) -> None:
    """Run ``score_file`` until it dies (like a kill) after writing ``parts`` chunks; its work folder stays."""
    import pytest

    import edge_runtime.scoring.files as scoring

    real, calls = scoring.write_part, itertools.count()

    def write_part(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == parts:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "write_part", write_part)
    with pytest.raises(KeyboardInterrupt):
        scoring.score_file(bundle, src, out, progress=False, **options)
    monkeypatch.undo()


@contextmanager
def small_disks(root: Path) -> Iterator[Callable[..., Path]]:
    """``mount(kib, options="")``: a tmpfs of that size under ``root`` (a full disk, ``"ro"`` a read-only one).

    Every mount is undone on exit. Skips the test when it does not run as root or cannot mount.
    """
    import pytest

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounts: list[Path] = []

    def mount(kib: int, options: str = "") -> Path:
        point = root / f"disk{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k{',' + options if options else ''}",
                               "tmpfs", str(point)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
        mounts.append(point)
        return point

    try:
        yield mount
    finally:
        for point in mounts:
            subprocess.run(["umount", str(point)], check=False)
