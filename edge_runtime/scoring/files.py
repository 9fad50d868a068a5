"""Batch scoring: an iterable of texts lazily (``score_texts``) and whole table files (``score_file``).

``score_file`` streams the input in chunks of ``chunk_rows`` rows, scores each chunk (in this
process, or in ``workers`` spawned processes that each load the bundle once), writes each chunk to a
part file in ``OUTPUT.partial/`` and, when every chunk is done, assembles the parts into OUTPUT
with an atomic rename. Memory is bounded by a few chunks whatever the file size; a killed job
continues with ``resume=True``. ``engine="ray"`` hands the same work to Ray Data (``edge_runtime.scoring.ray_engine``).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.atomic import make_parent
from edge_runtime.confidence import check_min_confidence, unsure
from edge_runtime.limits import check_count
from edge_runtime.scoring.base import (
    DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS, DEFAULT_CHUNK_ROWS, ScoreSummary, check_positive, texts_of,
    threads_per_worker,
)
from edge_runtime.scoring.faults import writing
from edge_runtime.scoring.journal import WorkFolder, fsync_path, input_fingerprint, manifest_sha256
from edge_runtime.scoring.local import LocalPredictor, PoolPredictor
from edge_runtime.scoring.paths import check_file_output, check_not_input
from edge_runtime.scoring.output import OutputColumns, assemble, parquet_schema, scored_columns, write_part
from edge_runtime.scoring.progress import ProgressLine
from edge_runtime.scoring.tables import (
    Chunk, ScoreError, TableReader, column_note, resolve_text_column, table_format,
)

ENGINES = ("local", "ray")


def score_file(
    bundle: str | Path, input_path: str | Path, output_path: str | Path, *,
    text_column: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
    batch_tokens: int | None = DEFAULT_BATCH_TOKENS, chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = 1, threads: int | None = None, resume: bool = False, overwrite: bool = False,
    engine: str = "local", input_format: str = "auto", encoding: str | None = None, progress: bool = True,
    min_confidence: float | None = None, log: Callable[[str], object] | None = None,
) -> ScoreSummary:
    """Score every row of a table file into OUTPUT (format from its suffix); see the module doc.

    With ``min_confidence``, an ``unsure`` column flags the rows whose score is below it (``edge_runtime.confidence``).
    """
    check_positive(batch_size=batch_size, batch_tokens=batch_tokens, chunk_rows=chunk_rows, workers=workers,
                   threads=threads)
    check_count(workers, "workers")  # at most 4 per core, like threads (checked by Classifier.load)
    if engine not in ENGINES:
        raise ScoreError(f"unknown engine {engine!r}", expected=" or ".join(ENGINES), found=engine)
    input_path, output_path = Path(input_path), Path(output_path)
    check_not_input(input_path, output_path, replaced=(WorkFolder(output_path, "").path,))  # before anything is made
    min_confidence = check_min_confidence(min_confidence, "--min-confidence")
    if engine == "ray":
        if min_confidence is not None:
            raise ScoreError("--min-confidence is not available with --engine ray", hint="use --engine local")
        from edge_runtime.scoring.ray_engine import score_file_ray

        return score_file_ray(
            bundle, input_path, output_path, text_column=text_column, batch_size=batch_size,
            batch_tokens=batch_tokens, workers=workers,
            threads=threads, resume=resume, overwrite=overwrite, input_format=input_format, chunk_rows=chunk_rows,
            log=log,
        )
    started = time.perf_counter()
    reader = TableReader(input_path, input_format, chunk_rows, encoding)
    out_format, gzipped = table_format(output_path)
    work = WorkFolder(output_path, out_format)
    check_file_output(output_path)
    if output_path.exists() and not overwrite and not (resume and work.path.exists()):
        raise ScoreError(f"{output_path}: already exists", hint="pass --overwrite to replace it")
    column = resolve_text_column(input_path, reader.columns, text_column)
    work.check_free(resume=resume, overwrite=overwrite)  # before the model loads
    bundle_hash = manifest_sha256(bundle)
    threads = threads_per_worker(workers, threads)
    predictor: Any = (LocalPredictor(bundle, threads, batch_size, batch_tokens) if workers == 1
                      else PoolPredictor(bundle, workers, threads, batch_size, batch_tokens))
    labels = predictor.labels
    names = OutputColumns.for_input(reader.columns, labels, flag_unsure=min_confidence is not None)
    order = reader.columns + names.all
    summary = ScoreSummary(output_path, text_column=column, columns=order, min_confidence=min_confidence)
    journal = {
        "input": input_fingerprint(input_path),
        "bundle": {"manifest_sha256": bundle_hash, "labels": labels},
        "options": {"text_column": column, "chunk_rows": chunk_rows, "batch_size": batch_size,
                    "batch_tokens": batch_tokens, "input_format": reader.format,
                    "encoding": reader.text_encoding() if reader.format in ("csv", "tsv") else None,
                    "output_format": out_format, "gzip": gzipped, "columns": order,
                    **({} if min_confidence is None else {"min_confidence": min_confidence})},
    }
    make_parent(output_path)  # once the input, options and bundle are known to be good
    if log:  # how the input is read, once the job is known to start
        for note in (reader.encoding_note(), column_note(input_path, column, text_column)):
            if note:
                log(note)
    bar = ProgressLine(enabled=progress)
    cancel = True
    try:
        with writing(work.path):
            work.open(journal, resume=resume, overwrite=overwrite)
        schema: Any = None
        pending: deque[tuple[Chunk, list[int], list[str], Future]] = deque()
        chunks = 0

        def finish(chunk: Chunk, rows: list[int], errors: list[str], future: Future) -> None:
            probs = future.result()
            if probs is None:
                probs = np.zeros((0, len(labels)), dtype=np.float32)
            if probs.shape != (len(rows), len(labels)):
                raise ScoreError("the model returned probabilities of the wrong shape",
                                 expected=(len(rows), len(labels)), found=probs.shape)
            table = scored_columns(chunk, names, labels, probs, rows, errors, min_confidence)
            bad = [e for e in errors if e]
            flagged = int(unsure(probs.max(axis=1), min_confidence).sum())
            with writing(work.part(chunk.index)):
                write_part(work.part(chunk.index), out_format, table, order, schema, chunk.start)
                work.record(chunk.index, chunk.start, len(chunk), len(bad), flagged)
            summary.unsure += flagged
            for error in bad:
                kind = error.split(" (")[0]
                summary.error_kinds[kind] = summary.error_kinds.get(kind, 0) + 1
            summary.rows += len(chunk)
            summary.errors += len(bad)
            summary.rows_scored_now += len(chunk)
            bar.update(summary.rows, summary.rows_scored_now, reader.fraction_done(chunk.start + len(chunk)))

        for chunk in reader:
            chunks = chunk.index + 1
            if schema is None and out_format == "parquet":
                schema = parquet_schema(reader.arrow_schema, chunk, reader.columns, names)
            mark = work.done(chunk.index)
            if mark is not None:
                if (mark["start"], mark["rows"]) != (chunk.start, len(chunk)):
                    raise ScoreError(f"cannot resume {output_path}: chunk {chunk.index} differs from the journal",
                                     expected=f"rows {mark['start']}+{mark['rows']}",
                                     found=f"rows {chunk.start}+{len(chunk)}", hint="rerun with --overwrite")
                summary.rows += mark["rows"]
                summary.errors += mark["errors"]
                summary.unsure += mark.get("unsure", 0)
                summary.rows_resumed += mark["rows"]
                bar.skip(reader.fraction_done(chunk.start + len(chunk)))
                continue
            texts, rows, errors = texts_of(chunk, column)
            pending.append((chunk, rows, errors, predictor.submit(texts)))
            while len(pending) > predictor.window:
                finish(*pending.popleft())
        while pending:
            finish(*pending.popleft())
        bar.close()
        if schema is None and out_format == "parquet":
            schema = parquet_schema(reader.arrow_schema, None, reader.columns, names)
        summary.parts_rescored = work.rescored
        # Assembled inside the locked work folder, so no other job's file is ever touched or removed.
        tmp = work.path / f"assembled.{os.getpid()}.tmp"
        with writing(output_path):
            try:
                assemble([work.part(i) for i in range(chunks)], tmp, out_format, gzipped, order, schema)
                fsync_path(tmp)
                os.replace(tmp, output_path)
                fsync_path(output_path.parent)  # the rename
            finally:
                tmp.unlink(missing_ok=True)
        work.remove()
        cancel = False
    finally:
        bar.close()
        predictor.close(cancel=cancel)
        work.close()
    summary.seconds = time.perf_counter() - started
    return summary
