"""``--engine ray``: the same scoring on Ray Data, from one laptop to a cluster.

Ray's own readers (``read_csv``/``read_json``/``read_parquet``) stream the input in blocks;
``map_batches`` runs ``RayScorer`` on a fixed pool of actors, each loading the bundle once; Ray's
writers write OUTPUT as a folder of files (``write_csv``/``write_json``/``write_parquet``), which
appears at OUTPUT only when complete (written to a hidden sibling folder, then renamed). Order is
preserved (``DataContext.execution_options.preserve_order``); files sort by name in row order.
Ray connects to ``RAY_ADDRESS`` when set (a cluster), else starts a local instance.
Ray is an optional extra: ``pip install 'mobilebert-edge[ray]'``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.atomic import make_parent
from edge_runtime.scoring.base import ScoreSummary, load_classifier, texts_of, threads_per_worker
from edge_runtime.scoring.output import OutputColumns, scored_columns
from edge_runtime.scoring.tables import Chunk, ScoreError, resolve_text_column, table_format

RAY_HINT = "install the 'ray' extra: pip install 'mobilebert-edge[ray]'"


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or a ScoreError naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ModuleNotFoundError as error:
        raise ScoreError("--engine ray needs Ray Data, which is not installed", hint=RAY_HINT) from error
    return ray


class RayScorer:
    """A Ray Data actor: loads the bundle once, then scores Arrow batches (input columns kept)."""

    def __init__(self, bundle: str, threads: int, text_column: str, batch_size: int, names: OutputColumns,
                 batch_tokens: int | None = None) -> None:
        self.classifier = load_classifier(bundle, threads)
        self.labels = list(self.classifier.labels)
        self.text_column, self.batch_size, self.batch_tokens, self.names = text_column, batch_size, batch_tokens, names

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        chunk = Chunk(0, 0, {self.text_column: table.column(self.text_column).to_pylist()}, [""] * table.num_rows)
        texts, rows, errors = texts_of(chunk, self.text_column)
        probs = (self.classifier.predict_proba(texts, batch_size=self.batch_size, batch_tokens=self.batch_tokens) if texts
                 else np.zeros((0, len(self.labels))))
        scored = scored_columns(chunk, self.names, self.labels, probs, rows, errors)
        types = [pa.string(), pa.float64(), *[pa.float64()] * len(self.labels), pa.string()]
        for name, kind in zip(self.names.all, types):
            table = table.append_column(name, pa.array(scored[name], type=kind))
        return table


def _read(ray: Any, path: Path, fmt: str, gzipped: bool) -> Any:
    stream_args = {"compression": "gzip"} if gzipped else None
    if fmt == "parquet":
        return ray.data.read_parquet(str(path))
    if fmt == "jsonl":
        return ray.data.read_json(str(path), lines=True, file_extensions=None)  # detects .gz itself
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
    return ray.data.read_csv(str(path), parse_options=parse, arrow_open_stream_args=stream_args, file_extensions=None)


def _write(dataset: Any, folder: Path, fmt: str) -> None:
    if fmt == "parquet":
        dataset.write_parquet(str(folder))
    elif fmt == "jsonl":
        dataset.write_json(str(folder), lines=True, force_ascii=False)
    else:
        import pyarrow.csv as pacsv

        delimiter = "\t" if fmt == "tsv" else ","
        dataset.write_csv(str(folder), arrow_csv_args_fn=lambda: {"write_options": pacsv.WriteOptions(delimiter=delimiter)})


def _count(ray: Any, folder: Path, fmt: str, error_column: str) -> tuple[int, int]:
    """Rows and error rows of the written output (read back with Ray, one column)."""
    def tally(table: Any) -> dict[str, list[int]]:
        values = table.column(error_column).to_pylist()
        return {"rows": [len(values)], "errors": [sum(1 for v in values if v)]}

    counts = _read(ray, folder, fmt, False).select_columns([error_column]).map_batches(tally, batch_format="pyarrow")
    totals = counts.sum(["rows", "errors"]) or {}
    return int(totals.get("sum(rows)") or 0), int(totals.get("sum(errors)") or 0)


def score_file_ray(
    bundle: str | Path, input_path: Path, output_path: Path, *, text_column: str | None, batch_size: int,
    workers: int, threads: int | None, resume: bool, overwrite: bool, input_format: str = "auto",
    chunk_rows: int = 2048, batch_tokens: int | None = None, log: Callable[[str], object] | None = None,
) -> Any:
    """Score ``input_path`` into the folder ``output_path`` with Ray Data; returns a ScoreSummary."""
    started = time.perf_counter()
    if resume:
        raise ScoreError("--resume is not available with --engine ray",
                         hint="Ray retries failed tasks itself; rerun the job with --overwrite")
    if not input_path.exists():
        raise ScoreError(f"{input_path}: no such file or folder", hint="check the input path")
    fmt, gzipped = table_format(input_path, input_format)
    out_format, out_gzipped = table_format(output_path)
    if out_gzipped:
        raise ScoreError(f"{output_path}: --engine ray writes a folder of files, not one gzip'd file",
                         found=output_path.name, hint="drop the .gz suffix")
    if output_path.exists() and not overwrite:
        raise ScoreError(f"{output_path}: already exists", hint="pass --overwrite to replace it")
    ray = import_ray()
    labels = list(load_classifier(bundle, 1).labels)  # checks the bundle before any actor starts
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    dataset = _read(ray, input_path, fmt, gzipped)
    columns = list(dataset.schema().names)
    column = resolve_text_column(input_path, columns, text_column, log)
    names = OutputColumns.for_input(columns, labels)
    threads = threads_per_worker(workers, threads)
    scored = dataset.map_batches(
        RayScorer,
        fn_constructor_kwargs={"bundle": str(Path(bundle).resolve()), "threads": threads, "text_column": column,
                               "batch_size": batch_size, "names": names, "batch_tokens": batch_tokens},
        batch_size=chunk_rows, batch_format="pyarrow",
        # Half a CPU per session thread in Ray's accounting: actors that reserved every CPU would
        # starve Ray's own read and write tasks on a small machine (the job would never start).
        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=threads / 2,
    )
    make_parent(output_path)
    tmp = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write(scored, tmp, out_format)
        if output_path.exists():
            shutil.rmtree(output_path) if output_path.is_dir() else output_path.unlink()
        os.replace(tmp, output_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows, errors = _count(ray, output_path, out_format, names.error)
    summary = ScoreSummary(output_path, rows=rows, errors=errors, text_column=column, columns=columns + names.all)
    summary.rows_scored_now = summary.rows
    summary.seconds = time.perf_counter() - started
    return summary
