"""A one-line progress display on stderr (rows, rows/s, percent, ETA), standard library only."""

from __future__ import annotations

import sys
import time
from typing import Any


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressLine:
    """Redrawn in place on a terminal (every ``every`` s); one plain line per ``log_every`` s otherwise."""

    def __init__(self, enabled: bool = True, stream: Any = None, every: float = 0.5, log_every: float = 30.0) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every if self.tty else log_every
        self.start = time.perf_counter()
        self.last = 0.0
        self.resumed = 0.0  # fraction of the input done by earlier runs (skipped chunks)
        self.drawn = False
        self.closed = False

    def skip(self, fraction: float | None) -> None:
        """A chunk finished by an earlier run was skipped; the input was read up to ``fraction``."""
        if fraction is not None:
            self.resumed = fraction

    def update(self, rows: int, rows_now: int, fraction: float | None) -> None:
        """``rows`` done in all, ``rows_now`` scored by this run, ``fraction`` of the input read."""
        if not self.enabled or self.closed:
            return
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.start
        rate = rows_now / elapsed if elapsed > 0 else 0.0
        text = f"scoring: {rows:,} rows | {rate:,.0f} rows/s"
        if fraction is not None:
            text += f" | {100 * fraction:.0f}%"
            gained = fraction - self.resumed
            if gained > 0 and fraction < 1:
                text += f" | ETA {_clock(elapsed * (1 - fraction) / gained)}"
        if self.tty:
            self.stream.write("\r" + text.ljust(70))
            self.drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.drawn and not self.closed:
            self.stream.write("\n")
            self.stream.flush()
        self.closed = True
