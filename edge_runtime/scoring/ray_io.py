"""Ray Data's side of ``--engine ray``: reading the input as the local engine does, writing, connecting.

- CSV/TSV: every column is read as text, so ``id``, ``label`` or ``rating`` come out as the local
  engine writes them (strings, exactly as in the file), not re-typed as int64.
- JSONL: ``JsonLinesDatasource`` reads each line with the local reader's rules (``TableReader.parse_line``):
  a line that is not a JSON object, undecodable bytes or a lone surrogate keeps its row, flagged in
  ``error``, never dropped or silently altered. Each column gets one Arrow type, from the first rows
  (as for the local engine's Parquet output); a value of another type stops the job with one error
  naming the column, so Ray never falls back to pickled Python objects.
- ``connect``: ``RAY_ADDRESS`` is probed first (an unreachable cluster is one error in seconds,
  where ``ray.init`` would retry for minutes), and a refused connection is one error too.
- ``ray_failure``: an error raised inside Ray's tasks becomes the ``ScoreError`` it carries, or one
  line naming the file and the cause.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge_runtime.errors import EdgeError, describe_os_error, os_errno
from edge_runtime.scoring.faults import ScoreError
from edge_runtime.scoring.tables import Chunk, TableReader

READ_ERROR = "__mobilebert_edge_read_error__"  # carries each row's read error from the reader to the scorer
CONNECT_TIMEOUT = 5.0
READ_BYTES = 1 << 20


def first_file(path: Path) -> Path:
    """``path`` itself, or the first file (by name) of a folder of input files."""
    if not path.is_dir():
        return path
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    if not files:
        raise ScoreError(f"{path}: an empty folder", hint="pass a table file or a folder of them")
    return files[0]


def input_columns(path: Path, fmt: str, chunk_rows: int) -> tuple[list[str], Chunk | None]:
    """The input's columns and first chunk, read by the local reader (a folder: its first file).

    CSV/TSV as UTF-8, the one encoding Ray's reader reads (no detection pass over the whole file).
    """
    reader = TableReader(first_file(path), fmt, chunk_rows, "utf-8" if fmt in ("csv", "tsv") else None)
    first = next(iter(reader), None) if fmt == "jsonl" else None
    return reader.columns, first


def _lines(f: Any) -> Iterator[bytes]:
    """The non-blank lines of a binary stream, as the local reader sees them (a leading BOM dropped)."""
    pending, first = b"", True
    while True:
        block = f.read(READ_BYTES)
        if not block:
            break
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if first and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            first = False
            if line.strip():
                yield line + b"\n"
    if pending.strip():
        yield pending[3:] if first and pending.startswith(b"\xef\xbb\xbf") else pending


def _jsonl_datasource() -> type:
    from ray.data.datasource import FileBasedDatasource

    class JsonLinesDatasource(FileBasedDatasource):
        """JSON Lines, one typed Arrow block per ``rows`` lines, each row's read error in ``READ_ERROR``."""

        def __init__(self, paths: str, schema: Any, rows: int, **kwargs: Any) -> None:
            super().__init__(paths, **kwargs)
            self.arrow_schema, self.rows = schema, rows

        def _block(self, path: str, records: list[dict], errors: list[str], start: int) -> Any:
            import pyarrow as pa

            arrays = []
            for field in self.arrow_schema:
                if field.name == READ_ERROR:
                    arrays.append(pa.array(errors, type=pa.string()))
                    continue
                try:
                    arrays.append(pa.array([r.get(field.name) for r in records], type=field.type))
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as error:
                    raise ScoreError(
                        f"{path}: column {field.name!r} changes type near row {start + 1} ({error})",
                        expected=str(field.type),
                        hint="make the column's type consistent, or use --engine local with CSV or JSONL output",
                    ) from None
            return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

        def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
            records: list[dict] = []
            errors: list[str] = []
            start = 0
            for line in _lines(f):
                value, error = TableReader.parse_line(line)
                records.append(value or {})
                errors.append(error)
                if len(records) == self.rows:
                    yield self._block(path, records, errors, start)
                    start, records, errors = start + len(records), [], []
            if records:
                yield self._block(path, records, errors, start)

    return JsonLinesDatasource


def read_input(ray: Any, path: Path, fmt: str, columns: list[str], jsonl_schema: Any, chunk_rows: int) -> Any:
    """The input as a Ray Dataset, typed as the local engine types it (see the module doc)."""
    if fmt == "parquet":
        return ray.data.read_parquet(str(path))
    if fmt == "jsonl":
        return ray.data.read_datasource(_jsonl_datasource()(str(path), jsonl_schema, chunk_rows, file_extensions=None))
    import pyarrow as pa
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
    convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in columns}, strings_can_be_null=False)
    return ray.data.read_csv(str(path), parse_options=parse, convert_options=convert, file_extensions=None)


def write_output(dataset: Any, folder: Path, fmt: str) -> None:
    if fmt == "parquet":
        dataset.write_parquet(str(folder))
    elif fmt == "jsonl":
        dataset.write_json(str(folder), lines=True, force_ascii=False)
    else:
        import pyarrow.csv as pacsv

        delimiter = "\t" if fmt == "tsv" else ","
        dataset.write_csv(str(folder), arrow_csv_args_fn=lambda: {"write_options": pacsv.WriteOptions(delimiter=delimiter)})


def count_rows(ray: Any, folder: Path, fmt: str, error_column: str) -> tuple[int, int]:
    """Rows and error rows of the written output (read back with Ray, one column)."""
    import pyarrow as pa

    def tally(table: Any) -> dict[str, list[int]]:
        values = table.column(error_column).to_pylist()
        return {"rows": [len(values)], "errors": [sum(1 for v in values if v)]}

    if fmt == "parquet":
        written = ray.data.read_parquet(str(folder)).select_columns([error_column])
    elif fmt == "jsonl":
        written = ray.data.read_json(str(folder), lines=True).select_columns([error_column])
    else:
        import pyarrow.csv as pacsv

        parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
        convert = pacsv.ConvertOptions(include_columns=[error_column], column_types={error_column: pa.string()})
        written = ray.data.read_csv(str(folder), parse_options=parse, convert_options=convert)
    totals = written.map_batches(tally, batch_format="pyarrow").sum(["rows", "errors"]) or {}
    return int(totals.get("sum(rows)") or 0), int(totals.get("sum(errors)") or 0)


def _host_port(address: str) -> tuple[str, int]:
    parts = urlsplit(address if "://" in address else f"//{address}")
    return parts.hostname or "", parts.port or 6379


def connect(ray: Any) -> None:
    """Start a local Ray, or join the cluster at ``RAY_ADDRESS``; one ``ScoreError`` when that fails."""
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS", "").strip()
    hint = "check RAY_ADDRESS (host:port of the cluster's head), or unset it to run Ray on this machine"
    if address and address not in ("auto", "local"):
        host, port = _host_port(address)
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as error:
            raise ScoreError(f"cannot reach the Ray cluster at {address} ({error.strerror or error})", hint=hint) from error
    try:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as error:  # noqa: BLE001 (Ray raises ConnectionError, RuntimeError, PermissionError, ...)
        where = f"join the Ray cluster at {address}" if address else "start Ray"
        raise ScoreError(f"cannot {where} ({_first_line(error)})",
                         hint=hint + "; a cluster that requires authentication needs its token") from error


@contextmanager
def quiet_ray_data() -> Iterator[None]:
    """Ray Data's own log lines (its progress, and a failed task's traceback) kept off stderr during a job.

    The job's progress is its summary line and a failure is one ``ScoreError``; Ray's session logs
    (``/tmp/ray/session_*/logs``) still hold everything.
    """
    logger = logging.getLogger("ray.data")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [getattr(item, "cause", None), item.__cause__, item.__context__]


WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def ray_failure(error: BaseException, path: Path, output: Path | None = None) -> EdgeError:
    """The user-facing error of a Ray job that failed: the ``EdgeError`` raised in a task, else one line.

    ``path`` is what was read; an ``OSError`` of a full or read-only disk names ``output`` instead.
    """
    from ray.exceptions import RayError

    causes = list(_chain(error))
    ours = [c for c in causes if isinstance(c, EdgeError) and not isinstance(c, RayError)]
    if ours:
        return ours[0]
    root = causes[-1]
    for cause in causes:
        if isinstance(cause, OSError) and not isinstance(cause, RayError):
            root = cause
            break
    if isinstance(root, OSError) and output is not None and os_errno(root) in WRITE_ERRNOS:
        return ScoreError(f"cannot write {describe_os_error(root, output)}")
    return ScoreError(f"{path}: Ray could not read or score it ({type(root).__name__}: {_first_line(root)})",
                      hint="check the file; --verbose shows Ray's report")

