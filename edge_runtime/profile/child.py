"""One measured process of ``mobilebert-edge profile``: ``python -m edge_runtime.profile.child MODE SPEC``.

``SPEC`` is a JSON file written by the parent (bundle, texts, threads, settings). Modes:

- ``cold``: import the runtime, load the bundle, predict the first text; the seconds that took.
- ``latency``: load, one warm-up prediction, then ``repeat`` predictions of one text each (batch 1).
- ``scoring``: load, then score ``scoring_texts`` texts as the ``score`` command does (chunks of
  ``DEFAULT_CHUNK_ROWS`` texts, at the given rows and token caps).

Prints one JSON object on stdout; a user error is one line on stderr and exit code 1. Each mode is
its own fresh process, so the peak RSS the parent reads with ``os.wait4`` is that mode's alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def _chunks(texts: list[str], size: int):
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


def measure(mode: str, spec: dict[str, Any], started: float) -> dict[str, Any]:
    """Run ``mode`` (see the module doc); ``started`` is the perf_counter before the runtime's imports."""
    from edge_runtime.classifier import Classifier

    texts: list[str] = spec["texts"]
    clf = Classifier.load(spec["bundle"], threads=spec["threads"])
    loaded = time.perf_counter()
    result: dict[str, Any] = {"load_seconds": loaded - started}
    if mode == "cold":
        clf.predict(texts[0])
        result["seconds"] = time.perf_counter() - started
    elif mode == "latency":
        clf.predict(texts[0])  # warm-up: the first run allocates onnxruntime's buffers
        ms = []
        for i in range(spec["repeat"]):
            tick = time.perf_counter()
            clf.predict(texts[i % len(texts)])
            ms.append(1000 * (time.perf_counter() - tick))
        result["ms"] = ms
        result["tokens"] = [len(ids) for ids in clf.tokenizer_ids(texts)]
    elif mode == "scoring":
        from edge_runtime.scoring.base import DEFAULT_CHUNK_ROWS

        n = spec["scoring_texts"]
        scored = (texts * (n // len(texts) + 1))[:n]
        tick = time.perf_counter()
        for chunk in _chunks(scored, DEFAULT_CHUNK_ROWS):
            clf.predict_proba(chunk, batch_size=spec["batch_size"], batch_tokens=spec["batch_tokens"])
        result["seconds"] = time.perf_counter() - tick
        result["texts"] = n
    else:
        raise ValueError(f"unknown mode {mode!r}")
    import onnxruntime

    result["onnxruntime"] = onnxruntime.__version__
    return result


def main(argv: list[str]) -> int:
    from edge_runtime.errors import EdgeError

    mode, spec_file = argv
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    started = time.perf_counter()
    try:
        result = measure(mode, spec, started)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
