"""The work folder of a resumable scoring job: ``OUTPUT.partial/``.

It holds ``journal.json`` (what the job is: input fingerprint, bundle manifest hash, options),
one part file per finished chunk and, written after it, a small ``part-NNNNNN.json`` that marks the
chunk done and counts its rows and errors. Every file is written atomically, so after a crash (even
SIGKILL) a chunk is either done or not at all; ``--resume`` skips the done chunks. An advisory lock
keeps two jobs from writing the same folder at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from edge_runtime.atomic import atomic_write
from edge_runtime.scoring.tables import ScoreError

JOURNAL = "journal.json"
JOURNAL_FORMAT = "mobilebert-edge-score-journal"
JOURNAL_VERSION = 1


def manifest_sha256(bundle: str | Path) -> str:
    """sha256 of the bundle's manifest.json bytes (it pins every file of the bundle)."""
    path = Path(bundle) / "manifest.json"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
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
        self._lock: Any = None

    def part(self, index: int) -> Path:
        return self.path / f"part-{index:06d}.{self.part_suffix}"

    def marker(self, index: int) -> Path:
        return self.path / f"part-{index:06d}.json"

    def done(self, index: int) -> dict[str, int] | None:
        """The marker of a finished chunk (``rows``, ``errors``, ``start``), or None."""
        marker = self.marker(index)
        if not marker.exists() or not self.part(index).exists():
            return None
        return json.loads(marker.read_text(encoding="utf-8"))

    def record(self, index: int, start: int, rows: int, errors: int, unsure: int = 0) -> None:
        _write_json(self.marker(index), {"start": start, "rows": rows, "errors": errors, "unsure": unsure})

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
