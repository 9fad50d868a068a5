"""Epoch checkpoints in ``OUT/.resume/``: enough to continue a killed run bit for bit.

Each epoch writes a folder ``epoch-NNNN/`` (built under a temporary name, then renamed) holding the
model weights, the best weights so far, the AdamW state (tensors as safetensors, the rest as JSON),
the RNG states and the loop state; ``latest.json`` (replaced atomically) names the newest complete
one. A self-training round keeps its epochs in ``round-NN/`` instead, and its number is checked on
load (``train/selftrain/rounds.py``). The learning rate is a pure function of the step and the batch order
of the (seed, epoch), so the step and epoch numbers are all the schedule and data order need. Only
safetensors and JSON are read back.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from edge_runtime.atomic import atomic_write
from mobilebert_edge.train.config import TrainConfig
from mobilebert_edge.train.errors import ResumeError
from mobilebert_edge.train.loop import TrainState

RESUME_DIR = ".resume"
FORMAT_VERSION = 1


def _write_json(path: Path, value: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(value, handle, indent=1)


def _tensors(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone().contiguous() for name, tensor in weights.items()}


def optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors and JSON."""
    state_dict = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}.{key}"] = value.detach().clone().contiguous()
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_states() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    return (
        {"torch": torch.get_rng_state()},
        {"python": [version, list(internal), gauss],
         "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]},
    )


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = meta["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))


class EpochCheckpoints:
    """Save and load the epoch checkpoints of one run (``out/.resume``)."""

    def __init__(self, out: Path, config: TrainConfig, fingerprint: str, *, round: int | None = None,
                 folder: str | None = None) -> None:
        """``round``: the self-training round these epochs belong to (kept in ``.resume/round-NN/``, or in
        ``.resume/FOLDER/`` when ``folder`` is given: an extra teacher of round 0)."""
        name = folder or (f"round-{round:02d}" if round is not None else "")
        self.root = Path(out) / RESUME_DIR / name
        self.config = config
        self.fingerprint = fingerprint
        self.round = round

    def latest(self) -> Path | None:
        pointer = self.root / "latest.json"
        if not pointer.is_file():
            return None
        folder = self.root / json.loads(pointer.read_text(encoding="utf-8"))["folder"]
        return folder if folder.is_dir() else None

    def resume_if_saved(self, resume: bool) -> Callable | None:
        """``fit``'s ``resume``: :meth:`load` when resuming and an epoch is saved here, else None (start afresh)."""
        return self.load if resume and self.latest() is not None else None

    def save(self, state: TrainState, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             best_weights: dict[str, torch.Tensor] | None) -> None:
        """Write the checkpoint of the epoch just finished; ``best_weights`` when it is the new best."""
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self.latest()
        name = f"epoch-{state.epoch:04d}"
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{name}."))
        tmp.chmod(0o755)
        try:
            save_file(_tensors(model.state_dict()), str(tmp / "model.safetensors"))
            if best_weights is not None:
                save_file(_tensors(best_weights), str(tmp / "best.safetensors"))
            elif previous is not None and (previous / "best.safetensors").is_file():
                shutil.copyfile(previous / "best.safetensors", tmp / "best.safetensors")
            opt_tensors, opt_meta = optimizer_to_files(optimizer)
            save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
            rng_tensors, rng_meta = rng_states()
            save_file(rng_tensors, str(tmp / "rng.safetensors"))
            _write_json(tmp / "state.json", {
                "format_version": FORMAT_VERSION, "config": self.config.to_dict(),
                "data_fingerprint": self.fingerprint, "round": self.round, "state": state.to_dict(),
                "optimizer": opt_meta, "rng": rng_meta,
            })
            final = self.root / name
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _write_json(self.root / "latest.json", {"folder": name})
        for old in self.root.glob("epoch-*"):  # keep only the newest
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def load(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[TrainState, dict | None]:
        """Restore model, optimizer and RNG states; return the loop state and the best weights so far."""
        folder = self.latest()
        if folder is None:
            raise ResumeError(f"nothing to resume in {self.root.parent}", expected="an epoch checkpoint in .resume/",
                              found="none", hint="run without --resume to start training")
        meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ResumeError("unknown epoch checkpoint format", expected=FORMAT_VERSION, found=meta.get("format_version"))
        saved = TrainConfig.from_dict(meta["config"])
        diff = self.config.differences(saved)
        if diff:
            changes = ", ".join(f"{key}: {old!r} -> {new!r}" for key, (new, old) in diff.items())
            raise ResumeError(f"the settings differ from the interrupted run ({changes})",
                              hint="resume with the same command and flags as the interrupted run")
        if meta.get("round") != self.round:
            raise ResumeError(f"the epoch checkpoint belongs to round {meta.get('round')}, not round {self.round}",
                              hint="resume with the same command and flags as the interrupted run")
        if meta["data_fingerprint"] != self.fingerprint:
            raise ResumeError("the training or validation data differ from the interrupted run",
                              hint="resume with the same --data/--val-data files and split")
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        optimizer.load_state_dict(optimizer_from_files(load_file(str(folder / "optimizer.safetensors")), meta["optimizer"]))
        restore_rng(load_file(str(folder / "rng.safetensors")), meta["rng"])
        best = folder / "best.safetensors"
        return TrainState.from_dict(meta["state"]), (load_file(str(best)) if best.is_file() else None)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
