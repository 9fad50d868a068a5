"""The work folder of a resumable scoring job: ``OUTPUT.partial/``.

It holds ``journal.json`` (what the job is: input fingerprint, bundle manifest hash, options),
one part file per finished chunk and, written after it, a small ``part-NNNNNN.json`` that marks the
chunk done: its rows, errors, and the part's size and sha256. The part is fsynced (file, then
folder) before its marker is written, and the marker is fsynced too, so after a crash (even SIGKILL
or a power cut) a marker never names a part that is not on disk. ``--resume`` skips a done chunk
only when its part still has the size and sha256 its marker names, and scores it again otherwise;
the input must still have the path, size, modification time and content hash (the whole file up to
64 MiB, else its first and last MiB) the journal recorded. An advisory lock keeps two jobs from
writing the same folder at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from edge_runtime.atomic import atomic_write
from edge_runtime.bundle import sha256_file
from edge_runtime.scoring.tables import ScoreError

JOURNAL = "journal.json"
JOURNAL_FORMAT = "mobilebert-edge-score-journal"
JOURNAL_VERSION = 2
WHOLE_FILE_HASH_BYTES = 64 << 20  # inputs up to this size are hashed whole for resuming
EDGE_BLOCK_BYTES = 1 << 20  # else their first and last blocks of this size


def input_fingerprint(path: str | Path) -> dict[str, Any]:
    """What identifies an input for resuming: absolute path, size, mtime and a content hash.

    The hash covers the whole file up to ``WHOLE_FILE_HASH_BYTES``, else its first and last
    ``EDGE_BLOCK_BYTES`` (an edit in place that restores the mtime is still caught near either end).
    """
    path = Path(path)
    stat = os.stat(path)
    if stat.st_size <= WHOLE_FILE_HASH_BYTES:
        content = {"sha256": sha256_file(path), "hashed": "whole file"}
    else:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            digest.update(handle.read(EDGE_BLOCK_BYTES))
            handle.seek(-EDGE_BLOCK_BYTES, os.SEEK_END)
            digest.update(handle.read(EDGE_BLOCK_BYTES))
        content = {"sha256": digest.hexdigest(), "hashed": f"first and last {EDGE_BLOCK_BYTES} bytes"}
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, **content}


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's data and metadata to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def manifest_sha256(bundle: str | Path) -> str:
    """sha256 of the bundle's manifest.json bytes (it pins every file of the bundle)."""
    path = Path(bundle) / "manifest.json"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        from edge_runtime.bundle import read_manifest

        read_manifest(bundle)  # the message every command gives for no folder, a checkpoint, no manifest
        raise ScoreError(f"{bundle}: no bundle manifest ({error.strerror})", hint="pass a bundle folder made by export") from error


def _write_json(path: Path, value: Any) -> None:
    with atomic_write(path) as handle:
        handle.write(json.dumps(value, indent=1, sort_keys=True))


class WorkFolder:
    """``OUTPUT.partial/``: journal, part files and their done-markers."""

    def __init__(self, output: str | Path, part_suffix: str) -> None:
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".partial")
        self.part_suffix = part_suffix
        self.rescored = 0  # finished chunks whose part failed verification on resume
        self._lock: Any = None

    def part(self, index: int) -> Path:
        return self.path / f"part-{index:06d}.{self.part_suffix}"

    def marker(self, index: int) -> Path:
        return self.path / f"part-{index:06d}.json"

    def done(self, index: int) -> dict[str, int] | None:
        """The marker of a finished chunk (``rows``, ``errors``, ``start``), or None.

        None too when the part fails verification (missing, or another size or sha256 than its
        marker names): the chunk is then scored again, and counted in ``rescored``.
        """
        marker, part = self.marker(index), self.part(index)
        if not marker.exists():
            return None
        try:
            mark = json.loads(marker.read_text(encoding="utf-8"))
            intact = (part.stat().st_size == mark["bytes"] and sha256_file(part) == mark["sha256"]
                      and all(isinstance(mark.get(k), int) for k in ("start", "rows", "errors")))
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            self.rescored += 1
            return None
        return mark

    def record(self, index: int, start: int, rows: int, errors: int, unsure: int = 0) -> None:
        """Mark a chunk done once its part is durably on disk (fsynced before the marker is written)."""
        part = self.part(index)
        fsync_path(part)
        fsync_path(self.path)  # the part's rename
        _write_json(self.marker(index), {"start": start, "rows": rows, "errors": errors, "unsure": unsure,
                                         "bytes": part.stat().st_size, "sha256": sha256_file(part)})
        fsync_path(self.path)  # the marker's rename

    def check_free(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse to start over an unfinished job unless told to resume or overwrite it."""
        if self.path.exists() and not resume and not overwrite:
            raise ScoreError(
                f"{self.path}: an unfinished job's work folder exists",
                hint="rerun with --resume to continue it, or --overwrite to start again",
            )

    def open(self, journal: dict[str, Any], *, resume: bool, overwrite: bool) -> bool:
        """Create or reuse the folder for this job; True when resuming earlier work."""
        resuming = False
        if self.path.exists():
            self.check_free(resume=resume, overwrite=overwrite)
            self._lock_folder()  # refused while another job writes the folder, even to start it over
            if resume:
                self._verify(journal)
                resuming = True
            else:
                shutil.rmtree(self.path)
                self.close()
        if not resuming:
            self.path.mkdir(parents=True)
            self._lock_folder()
            _write_json(self.path / JOURNAL, {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, **journal})
        for stale in self.path.glob("*.tmp"):  # a write cut short by a crash
            stale.unlink(missing_ok=True)
        return resuming

    def _lock_folder(self) -> None:
        try:
            import fcntl
        except ModuleNotFoundError:  # pragma: no cover - not POSIX
            return
        self._lock = open(self.path / "lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            self._lock.close()
            self._lock = None
            raise ScoreError(f"{self.path}: another scoring job is writing this output",
                             hint="wait for it to finish or choose another --out") from error

    def _verify(self, journal: dict[str, Any]) -> None:
        try:
            found = json.loads((self.path / JOURNAL).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ScoreError(f"{self.path}: unreadable journal, cannot resume",
                             hint="rerun with --overwrite to start again") from error
        if found.get("format") != JOURNAL_FORMAT or found.get("version") != JOURNAL_VERSION:
            raise ScoreError(f"{self.path}: not a scoring journal of this version",
                             expected=f"{JOURNAL_FORMAT} v{JOURNAL_VERSION}",
                             found=f"{found.get('format')} v{found.get('version')}", hint="rerun with --overwrite")
        what = {"input": "the input file changed", "bundle": "the bundle changed", "options": "the options differ"}
        for key, meaning in what.items():
            if found.get(key) != journal[key]:
                old, new = found.get(key) or {}, journal[key]
                diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                first = diff[0] if diff else key
                raise ScoreError(
                    f"cannot resume {self.output}: {meaning} since the job started ({first})",
                    expected=old.get(first), found=new.get(first),
                    hint="rerun with the same input, bundle and options, or use --overwrite to start again",
                )

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
