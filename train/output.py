"""The checkpoint folder (docs/ARCHITECTURE.md): model, tokenizer, mobilebert_edge.json, validation
split, metrics history and training curve. Every file is written under a temporary name in the
same folder and moved into place; ``mobilebert_edge.json`` goes last and marks a complete run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edge_runtime.atomic import atomic_write
from mobilebert_edge.train.errors import OutputError

FORMAT_VERSION = 1
MANIFEST = "mobilebert_edge.json"
VALIDATION_FILE = "validation.jsonl"
METRICS_FILE = "metrics.json"
CURVE_FILE = "training_curve.png"
REPORT_FOLDER = "report"
RUN_MARKERS = (MANIFEST, ".resume", METRICS_FILE)


def write_text(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    with atomic_write(path) as handle:
        handle.write(text)


def is_previous_run(out: Path) -> bool:
    return any((out / marker).exists() for marker in RUN_MARKERS)


def prepare_output(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check that ``out`` may receive this run (it is created later, once data and model have loaded)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {str(out)!r} is a file", expected="a folder (new, empty, or a previous run)",
                          found="a file", hint="pass another --out")
    if resume:
        if not (out / ".resume").is_dir():
            done = (out / MANIFEST).is_file()
            raise OutputError(
                f"nothing to resume in {str(out)!r}",
                expected="an interrupted run (with .resume/)",
                found="a finished run" if done else "no epoch checkpoint",
                hint="run without --resume to start training",
            )
        return
    if out.is_dir() and any(out.iterdir()) and not is_previous_run(out) and not overwrite:
        raise OutputError(
            f"output folder {str(out)!r} is not empty and holds no previous run",
            hint="pass an empty or new --out, or --overwrite to write into it anyway",
        )


def save_checkpoint(
    out: Path,
    *,
    model: Any,
    tokenizer: Any,
    manifest: dict[str, Any],
    validation: list[dict[str, str]],
    history: list[dict[str, Any]],
    curve_title: str = "",
    extra_metrics: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the checkpoint folder; return the paths written. ``extra_metrics`` joins the history in metrics.json."""
    from mobilebert_edge.train.plot import plot_history

    staging = Path(tempfile.mkdtemp(dir=out, prefix=".save."))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if not (staging / "tokenizer.json").is_file():
            raise OutputError("the tokenizer did not save a tokenizer.json", hint="use a model with a fast tokenizer")
        for item in staging.iterdir():
            target = out / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            if item.is_file():  # safetensors writes its file 0600; every checkpoint file is world-readable
                os.chmod(item, 0o644)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_text(out / VALIDATION_FILE, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in validation))
    write_text(out / METRICS_FILE, json.dumps({"history": history, **(extra_metrics or {})}, indent=2) + "\n")
    plot_history(history, out / CURVE_FILE, curve_title)
    write_text(out / MANIFEST, json.dumps({"format_version": FORMAT_VERSION, **manifest}, indent=2, ensure_ascii=False) + "\n")
    return {"model": out / "model.safetensors", "manifest": out / MANIFEST, "metrics": out / METRICS_FILE,
            "curve": out / CURVE_FILE, "validation": out / VALIDATION_FILE}
