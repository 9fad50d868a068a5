"""Predictors for ``score_file``: the classifier in this process, or a pool of spawned processes.

Both take a list of texts and return a future of its probabilities; ``window`` is how many chunks
may be in flight before the oldest must be written.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.scoring.base import load_classifier


class LocalPredictor:
    window = 0

    def __init__(self, bundle: str | Path, threads: int, batch_size: int, batch_tokens: int | None) -> None:
        self.classifier = load_classifier(bundle, threads)
        self.labels = list(self.classifier.labels)
        self.batch_size, self.batch_tokens = batch_size, batch_tokens

    def submit(self, texts: list[str]) -> Future:
        future: Future = Future()
        future.set_result(self.classifier.predict_proba(texts, batch_size=self.batch_size, batch_tokens=self.batch_tokens)
                          if texts else None)
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


def _worker_predict(texts: list[str], batch_size: int, batch_tokens: int | None) -> np.ndarray:
    if "error" in _WORKER:
        raise _WORKER["error"]
    return _WORKER["classifier"].predict_proba(texts, batch_size=batch_size, batch_tokens=batch_tokens)


class PoolPredictor:
    def __init__(self, bundle: str | Path, workers: int, threads: int, batch_size: int, batch_tokens: int | None) -> None:
        probe = load_classifier(bundle, 1)  # a bad bundle fails here, with its own clear error
        self.labels = list(probe.labels)
        del probe
        self.window = 2 * workers
        self.batch_size, self.batch_tokens = batch_size, batch_tokens
        self.pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init, initargs=(str(bundle), threads, os.getpid()),
        )

    def submit(self, texts: list[str]) -> Future:
        if not texts:
            future: Future = Future()
            future.set_result(None)
            return future
        return self.pool.submit(_worker_predict, texts, self.batch_size, self.batch_tokens)

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)

