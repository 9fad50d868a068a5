"""Limits on what one process may ask of the device: onnxruntime threads and worker processes.

Threads beyond the cores buy no speed (onnxruntime's intra-op pool only spins and competes), and a
mistyped count cost a machine dearly: ``--threads 100000`` reached 6,180 threads and 16 GB before
answering. A thread or worker count above ``PER_CORE`` times the usable cores is refused with one
line. Standard library only: the command modules import this at startup.
"""

from __future__ import annotations

import os

from edge_runtime.errors import InputError

PER_CORE = 4


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells, else all of them)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def max_count() -> int:
    """The largest thread or worker count accepted on this machine."""
    return PER_CORE * usable_cores()


def limit_text() -> str:
    """``1..N (4 x the C usable cores)``, as the error lines say it."""
    return f"1..{max_count()} ({PER_CORE} x the {usable_cores()} usable cores)"


def check_count(value: object, name: str) -> int | None:
    """``value`` as a count of threads or workers (``None``: the default); else an ``InputError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer", expected=">= 1", found=repr(value))
    if value > max_count():
        raise InputError(f"{name} above the limit", expected=limit_text(), found=value,
                         hint="more threads than cores only slow onnxruntime down")
    return value
