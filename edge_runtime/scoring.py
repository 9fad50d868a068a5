"""Batch scoring: an iterable of texts lazily (``score_texts``) and whole table files (``score_file``).

``score_file`` streams the input in chunks of ``chunk_rows`` rows, scores each chunk (in this
process, or in ``workers`` spawned processes that each load the bundle once), writes each chunk to a
part file in ``OUTPUT.partial/`` and, when every chunk is done, assembles the parts into OUTPUT
with an atomic rename. Memory is bounded by a few chunks whatever the file size; a killed job
continues with ``resume=True``. ``engine="ray"`` hands the same work to Ray Data (``score_ray``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.score_journal import WorkFolder, manifest_sha256
from edge_runtime.score_output import OutputColumns, assemble, parquet_schema, scored_columns, write_part
from edge_runtime.score_progress import ProgressLine
from edge_runtime.score_tables import Chunk, ScoreError, TableReader, input_fingerprint, resolve_text_column, table_format

DEFAULT_BATCH_SIZE = 64
DEFAULT_CHUNK_ROWS = 2048
ENGINES = ("local", "ray")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Intra-op threads of each worker's session: given, else the cores split evenly (at least 1)."""
    return threads if threads else max(1, available_cores() // max(workers, 1))


def load_classifier(bundle: str | Path, threads: int | None = None) -> Any:
    """``Classifier.load(bundle, threads=threads)`` (imported here: it brings onnxruntime)."""
    from edge_runtime.classifier import Classifier

    return Classifier.load(bundle, threads=threads)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    block: list[Any] = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def score_texts(
    classifier_or_bundle: Any, texts: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
    chunk_size: int | None = None, threads: int | None = None,
) -> Iterator[Any]:
    """Predictions for ``texts`` in input order, lazily: ``chunk_size`` texts are read and scored at a time.

    ``classifier_or_bundle`` is a loaded ``Classifier`` or a bundle folder. Each item is a
    ``Prediction(label, score, probabilities)``; memory stays bounded for any length of ``texts``.
    """
    from edge_runtime.classifier import Prediction

    if isinstance(classifier_or_bundle, (str, os.PathLike)):
        classifier = load_classifier(classifier_or_bundle, threads)
    else:
        classifier = classifier_or_bundle
    labels = list(classifier.labels)
    for block in _batched(texts, chunk_size or batch_size * 16):
        for row in np.asarray(classifier.predict_proba(block, batch_size=batch_size), dtype=np.float64):
            best = int(row.argmax())
            yield Prediction(labels[best], float(row[best]), dict(zip(labels, map(float, row))))


# ---- predictors: this process, or a pool of spawned processes --------------------------------
class _LocalPredictor:
    window = 0

    def __init__(self, bundle: str | Path, threads: int, batch_size: int) -> None:
        self.classifier = load_classifier(bundle, threads)
        self.labels = list(self.classifier.labels)
        self.batch_size = batch_size

    def submit(self, texts: list[str]) -> Future:
        future: Future = Future()
        future.set_result(self.classifier.predict_proba(texts, batch_size=self.batch_size) if texts else None)
        return future

    def close(self, cancel: bool = False) -> None:
        pass


_WORKER: dict[str, Any] = {}


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent died (even by SIGKILL) exits instead of idling as an orphan."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(bundle: str, threads: int, parent: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        _WORKER["classifier"] = load_classifier(bundle, threads)
    except BaseException as error:  # reported with the first task, where the parent sees it
        _WORKER["error"] = error


def _worker_predict(texts: list[str], batch_size: int) -> np.ndarray:
    if "error" in _WORKER:
        raise _WORKER["error"]
    return _WORKER["classifier"].predict_proba(texts, batch_size=batch_size)


class _PoolPredictor:
    def __init__(self, bundle: str | Path, workers: int, threads: int, batch_size: int) -> None:
        probe = load_classifier(bundle, 1)  # a bad bundle fails here, with its own clear error
        self.labels = list(probe.labels)
        del probe
        self.window = 2 * workers
        self.batch_size = batch_size
        self.pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init, initargs=(str(bundle), threads, os.getpid()),
        )

    def submit(self, texts: list[str]) -> Future:
        if not texts:
            future: Future = Future()
            future.set_result(None)
            return future
        return self.pool.submit(_worker_predict, texts, self.batch_size)

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)


# ---- files --------------------------------------------------------------------------------
@dataclass
class ScoreSummary:
    """What a scoring job did."""

    output: Path
    rows: int = 0
    errors: int = 0
    rows_scored_now: int = 0
    rows_resumed: int = 0
    seconds: float = 0.0
    text_column: str = ""
    columns: list[str] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_scored_now / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        resumed = f", {self.rows_resumed:,} from earlier runs" if self.rows_resumed else ""
        return (f"scored {self.rows:,} rows ({self.errors:,} errors{resumed}) in {self.seconds:.1f} s, "
                f"{self.rows_per_second:,.0f} rows/s -> {self.output}")


def _texts_of(chunk: Chunk, text_column: str) -> tuple[list[str], list[int], list[str]]:
    """The texts to score, their row positions in the chunk, and every row's error ("" when fine)."""
    errors = list(chunk.row_errors)
    texts: list[str] = []
    rows: list[int] = []
    for i, value in enumerate(chunk.columns[text_column]):
        if errors[i]:
            continue
        if value is None:
            errors[i] = "missing text"
            continue
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                errors[i] = "undecodable bytes (utf-8) in the text"
                continue
        elif not isinstance(value, str):
            value = str(value)
        if not value.strip():
            errors[i] = "empty text"
            continue
        texts.append(value)
        rows.append(i)
    return texts, rows, errors


def _check_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ScoreError(f"--{name.replace('_', '-')} must be at least 1", expected=">= 1", found=value)


def score_file(
    bundle: str | Path, input_path: str | Path, output_path: str | Path, *,
    text_column: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE, chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = 1, threads: int | None = None, resume: bool = False, overwrite: bool = False,
    engine: str = "local", input_format: str = "auto", encoding: str | None = None, progress: bool = True,
) -> ScoreSummary:
    """Score every row of a table file into OUTPUT (format from its suffix); see the module doc."""
    _check_positive(batch_size=batch_size, chunk_rows=chunk_rows, workers=workers, threads=threads)
    if engine not in ENGINES:
        raise ScoreError(f"unknown engine {engine!r}", expected=" or ".join(ENGINES), found=engine)
    input_path, output_path = Path(input_path), Path(output_path)
    if engine == "ray":
        from edge_runtime.score_ray import score_file_ray

        return score_file_ray(
            bundle, input_path, output_path, text_column=text_column, batch_size=batch_size, workers=workers,
            threads=threads, resume=resume, overwrite=overwrite, input_format=input_format, chunk_rows=chunk_rows,
        )
    started = time.perf_counter()
    reader = TableReader(input_path, input_format, chunk_rows, encoding)
    out_format, gzipped = table_format(output_path)
    work = WorkFolder(output_path, out_format)
    if output_path.exists() and input_path.resolve() == output_path.resolve():
        raise ScoreError(f"{output_path}: the output would overwrite the input", hint="choose another --out")
    if output_path.exists() and not overwrite and not (resume and work.path.exists()):
        raise ScoreError(f"{output_path}: already exists", hint="pass --overwrite to replace it")
    if not output_path.parent.is_dir():
        raise ScoreError(f"{output_path.parent}: no such folder", hint="create it first")
    column = resolve_text_column(input_path, reader.columns, text_column)
    work.check_free(resume=resume, overwrite=overwrite)  # before the model loads
    bundle_hash = manifest_sha256(bundle)
    threads = threads_per_worker(workers, threads)
    predictor: Any = (_LocalPredictor(bundle, threads, batch_size) if workers == 1
                      else _PoolPredictor(bundle, workers, threads, batch_size))
    labels = predictor.labels
    names = OutputColumns.for_input(reader.columns, labels)
    order = reader.columns + names.all
    summary = ScoreSummary(output_path, text_column=column, columns=order)
    journal = {
        "input": input_fingerprint(input_path),
        "bundle": {"manifest_sha256": bundle_hash, "labels": labels},
        "options": {"text_column": column, "chunk_rows": chunk_rows, "batch_size": batch_size, "input_format": reader.format,
                    "encoding": reader.text_encoding() if reader.format in ("csv", "tsv") else None,
                    "output_format": out_format, "gzip": gzipped, "columns": order},
    }
    bar = ProgressLine(enabled=progress)
    cancel = True
    try:
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
            table = scored_columns(chunk, names, labels, probs, rows, errors)
            write_part(work.part(chunk.index), out_format, table, order, schema, chunk.start)
            bad = [e for e in errors if e]
            work.record(chunk.index, chunk.start, len(chunk), len(bad))
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
                summary.rows_resumed += mark["rows"]
                bar.skip(reader.fraction_done(chunk.start + len(chunk)))
                continue
            texts, rows, errors = _texts_of(chunk, column)
            pending.append((chunk, rows, errors, predictor.submit(texts)))
            while len(pending) > predictor.window:
                finish(*pending.popleft())
        while pending:
            finish(*pending.popleft())
        bar.close()
        if schema is None and out_format == "parquet":
            schema = parquet_schema(reader.arrow_schema, None, reader.columns, names)
        for stale in output_path.parent.glob(f".{output_path.name}.*.tmp"):  # an assembly cut short
            stale.unlink(missing_ok=True)  # (the work folder's lock makes this job the only writer)
        tmp = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
        try:
            assemble([work.part(i) for i in range(chunks)], tmp, out_format, gzipped, order, schema)
            os.replace(tmp, output_path)
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


def print_summary(summary: ScoreSummary, stream: Any = None) -> None:
    """The end-of-job lines: totals, throughput, output, and error counts by kind."""
    stream = stream or sys.stderr
    print(summary.line(), file=stream)
    for kind, count in sorted(summary.error_kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {count:,} rows: {kind}", file=stream)
