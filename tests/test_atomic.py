"""Atomic writes leave either the old file or the complete new one, never a part."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edge_runtime.atomic import atomic_write


def test_replaces_only_when_complete(tmp_path: Path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("new, half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind

    with atomic_write(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert list(tmp_path.iterdir()) == [target]


def test_binary_mode(tmp_path: Path):
    with atomic_write(tmp_path / "b.bin", "wb") as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_a_killed_writer_leaves_the_old_file(tmp_path: Path):
    """SIGKILL after most of the new content is written and flushed: the target keeps the old bytes."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    child = (
        "import os, signal, sys\n"
        "from edge_runtime.atomic import atomic_write\n"
        "with atomic_write(sys.argv[1], 'wb') as handle:\n"
        "    handle.write(b'new' * 100000)\n"
        "    handle.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", child, str(target)], capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert target.read_bytes() == b"old"
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert [p.name.startswith(".out.bin.") and p.stat().st_size == 300000 for p in leftovers] == [True]
