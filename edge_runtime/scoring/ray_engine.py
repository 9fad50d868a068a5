"""``--engine ray``: the same scoring on Ray Data, from one laptop to a cluster.

Ray's readers stream the input in blocks, typed as the local engine types it (``ray_io``);
``map_batches`` runs ``RayScorer`` on a fixed pool of actors, each loading the bundle once; Ray's
writers write OUTPUT as a folder of files (``write_csv``/``write_json``/``write_parquet``), which
appears at OUTPUT only when complete (written to a hidden sibling folder, then renamed); an existing
OUTPUT is replaced (``--overwrite``) only when it is a file or a folder of such output files. Order is
preserved (``DataContext.execution_options.preserve_order``); files sort by name in row order.
Ray connects to ``RAY_ADDRESS`` when set (a cluster), else starts a local instance; a failure in
Ray's tasks is one ``ScoreError``. Ray is an optional extra: ``pip install 'mobilebert-edge[ray]'``.
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
from edge_runtime.scoring.faults import writing
from edge_runtime.scoring.output import OutputColumns, parquet_schema, scored_columns
from edge_runtime.scoring.paths import check_replaceable_folder
from edge_runtime.scoring.ray_io import (
    READ_ERROR, connect, count_rows, input_columns, quiet_ray_data, ray_failure, read_input, write_output,
)
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

        row_errors = [""] * table.num_rows
        if READ_ERROR in table.column_names:  # the JSONL reader's verdict on each row
            row_errors = [error or "" for error in table.column(READ_ERROR).to_pylist()]
            table = table.drop_columns([READ_ERROR])
        chunk = Chunk(0, 0, {self.text_column: table.column(self.text_column).to_pylist()}, row_errors)
        texts, rows, errors = texts_of(chunk, self.text_column)
        probs = (self.classifier.predict_proba(texts, batch_size=self.batch_size, batch_tokens=self.batch_tokens) if texts
                 else np.zeros((0, len(self.labels))))
        scored = scored_columns(chunk, self.names, self.labels, probs, rows, errors)
        types = [pa.string(), pa.float64(), *[pa.float64()] * len(self.labels), pa.string()]
        for name, kind in zip(self.names.all, types):
            table = table.append_column(name, pa.array(scored[name], type=kind))
        return table


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
    fmt, _ = table_format(input_path, input_format)
    out_format, out_gzipped = table_format(output_path)
    if out_gzipped:
        raise ScoreError(f"{output_path}: --engine ray writes a folder of files, not one gzip'd file",
                         found=output_path.name, hint="drop the .gz suffix")
    if output_path.exists() and not overwrite:
        raise ScoreError(f"{output_path}: already exists", hint="pass --overwrite to replace it")
    check_replaceable_folder(output_path, out_format)
    ray = import_ray()
    labels = list(load_classifier(bundle, 1).labels)  # checks the bundle before any actor starts
    columns, first = input_columns(input_path, fmt, chunk_rows)
    column = resolve_text_column(input_path, columns, text_column, log)
    names = OutputColumns.for_input(columns, labels)
    jsonl_schema = None
    if fmt == "jsonl":
        import pyarrow as pa

        typed = parquet_schema(None, first, columns, names)
        jsonl_schema = pa.schema([typed.field(name) for name in columns] + [pa.field(READ_ERROR, pa.string())])
    threads = threads_per_worker(workers, threads)
    connect(ray)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    dataset = read_input(ray, input_path, fmt, columns, jsonl_schema, chunk_rows)
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
    with quiet_ray_data():
        try:
            try:
                write_output(scored, tmp, out_format)
            except Exception as error:  # noqa: BLE001 (raised inside Ray's tasks, wrapped in Ray's errors)
                raise ray_failure(error, input_path, output_path) from error
            with writing(output_path):
                if output_path.exists():
                    shutil.rmtree(output_path) if output_path.is_dir() else output_path.unlink()
                os.replace(tmp, output_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            rows, errors = count_rows(ray, output_path, out_format, names.error)
        except Exception as error:  # noqa: BLE001
            raise ray_failure(error, output_path) from error
    summary = ScoreSummary(output_path, rows=rows, errors=errors, text_column=column, columns=columns + names.all)
    summary.rows_scored_now = summary.rows
    summary.seconds = time.perf_counter() - started
    return summary
