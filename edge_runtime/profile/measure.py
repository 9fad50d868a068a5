"""Run each profile measurement in a fresh process and collect what it reports.

Peak RSS: on Linux a process's ``ru_maxrss`` starts from the high-water mark of the process that
forked it (the copied memory map carries it across fork and exec), so a child never reports less than
its parent's peak; and ``RUSAGE_CHILDREN`` is the maximum over every child reaped so far. Each
measured process is therefore started by a tiny launcher (``python -S``, a few MiB, see ``LAUNCH``)
that forks it, reaps it with ``os.wait4`` and writes that rusage's peak to a file: the number is the
measured process's own, however large the caller is (a notebook with torch loaded, a benchmark).
This module imports only the standard library.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_runtime.bundle import verify_bundle
from edge_runtime.errors import EdgeError

MIB = 2**20
CHILD = "edge_runtime.profile.child"
# argv: PEAK_FILE COMMAND...; runs COMMAND as its only child and writes that child's ru_maxrss.
LAUNCH = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    try:\n"
    "        os.execvp(sys.argv[2], sys.argv[2:])\n"
    "    except OSError as error:\n"
    "        sys.stderr.write(f'error: cannot start {sys.argv[2]} ({error})\\n')\n"
    "        os._exit(127)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


class ProfileError(EdgeError):
    """A measured process could not start or failed."""


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (x86 ``model name``, Raspberry Pi ``Model``), else the platform's."""
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 (linear interpolation between ranks) and the mean of ``values``."""
    if len(values) == 1:
        return {"p50": values[0], "p95": values[0], "p99": values[0], "mean": values[0]}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "mean": statistics.fmean(values)}


def run_child(
    mode: str, spec: dict[str, Any], work: Path, launcher: Sequence[str] = (), module: str = CHILD
) -> tuple[dict, float | None]:
    """Run ``python -m module mode spec.json`` (behind ``launcher``, e.g. an emulator): its JSON result
    and its own peak RSS in MiB (None where the platform has no ``os.wait4``)."""
    spec_file, out_file, err_file, peak_file = (work / f"{mode}.{suffix}" for suffix in ("json", "out", "err", "peak"))
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    peak_file.unlink(missing_ok=True)
    command = [*launcher, sys.executable, "-m", module, mode, str(spec_file)]
    if hasattr(os, "wait4") and hasattr(os, "fork"):
        command = [*launcher, sys.executable, "-S", "-c", LAUNCH, str(peak_file), *command]
    with open(out_file, "wb") as out, open(err_file, "wb") as err:
        try:
            proc = subprocess.run(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except OSError as error:
            raise ProfileError(
                f"cannot start the measured process {command[0]} ({error})",
                hint="under an emulator without binfmt_misc, pass its command line with --launcher",
            ) from error
    peak = None
    if peak_file.exists():
        peak = int(peak_file.read_text()) * (1 if sys.platform == "darwin" else 1024) / MIB
    if proc.returncode != 0:
        lines = err_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        message = lines[-1].removeprefix("error: ") if lines else f"exit code {proc.returncode}"
        raise ProfileError(f"the {mode} measurement failed: {message}")
    return json.loads(out_file.read_text(encoding="utf-8").strip().splitlines()[-1]), peak


def profile(
    bundle: str | os.PathLike[str], texts: list[str], *, threads: int, repeat: int = 50, cold_runs: int = 3,
    scoring_texts: int | None = None, batch_size: int, batch_tokens: int | None, launcher: Sequence[str] = (),
    log: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Measure ``bundle`` on ``texts``; the result as a JSON-able dict (see ``report.format_table``)."""
    bundle = Path(bundle)
    manifest = verify_bundle(bundle)  # a bad bundle is one clear error before any process starts
    model_file = bundle / manifest["model"]["file"]
    base = {"bundle": str(bundle), "threads": threads}
    n_scored = scoring_texts or len(texts)
    with tempfile.TemporaryDirectory(prefix="mbe-profile-") as tmp:
        work = Path(tmp)
        cold = []
        for i in range(cold_runs):
            log(f"cold start {i + 1}/{cold_runs}")
            cold.append(run_child("cold", {**base, "texts": texts[:1]}, work, launcher))
        log(f"latency: {repeat} predictions of one text")
        latency, latency_rss = run_child("latency", {**base, "texts": texts, "repeat": repeat}, work, launcher)
        log(f"scoring: {n_scored} texts")
        scoring, scoring_rss = run_child(
            "scoring", {**base, "texts": texts, "scoring_texts": n_scored, "batch_size": batch_size,
                        "batch_tokens": batch_tokens}, work, launcher,
        )
    cold_seconds = [result["seconds"] for result, _ in cold]
    peaks = [peak for _, peak in cold if peak is not None]
    return {
        "bundle": str(bundle),
        "precision": (manifest.get("model") or {}).get("precision"),
        "model_file": manifest["model"]["file"],
        "model_mib": model_file.stat().st_size / MIB,
        "bundle_mib": sum((bundle / name).stat().st_size for name in manifest["files"]) / MIB,
        "max_length": manifest["tokenizer"]["max_length"],
        "threads": threads,
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": latency["onnxruntime"],
        "texts": {"count": len(texts), "tokens": _summary(latency["tokens"])},
        "cold_start": {"seconds": statistics.median(cold_seconds), "runs": cold_seconds,
                       "load_seconds": statistics.median(result["load_seconds"] for result, _ in cold),
                       "peak_rss_mib": max(peaks) if peaks else None},
        "latency": {"batch_size": 1, "predictions": repeat, "ms": percentiles(latency["ms"]),
                    "peak_rss_mib": latency_rss},
        "scoring": {"texts": n_scored, "batch_size": batch_size, "batch_tokens": batch_tokens,
                    "seconds": scoring["seconds"], "ms_per_text": 1000 * scoring["seconds"] / n_scored,
                    "peak_rss_mib": scoring_rss},
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _summary(values: Sequence[int]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}
