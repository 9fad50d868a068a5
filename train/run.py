"""One training run from files to a checkpoint folder: load data, split, encode, fit, save."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edge_runtime.atomic import make_parent
from mobilebert_edge.train.config import RESUME_FREE, TrainConfig
from mobilebert_edge.train.output import MANIFEST, REPORT_FOLDER, VALIDATION_FILE, prepare_output, save_checkpoint

if TYPE_CHECKING:
    from mobilebert_edge.train.selftrain.settings import SelfTrainConfig


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class RunResult:
    out: Path
    best_epoch: int | None
    saved_epoch: int
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float
    precision: str
    written: dict[str, Path] | None = None
    model: Any = None
    tokenizer: Any = None
    self_training: dict[str, Any] | None = None  # per round: pseudo-labels per class, validation, seconds


def data_fingerprint(train: Any, val: Any) -> str:
    payload = json.dumps([train.texts, train.labels, val.texts, val.labels, train.label_names], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def load_splits(data_path: str, val_path: str | None, config: TrainConfig, *, text_column: str | None,
                label_column: str | None, skip_bad_rows: bool, encoding: str | None = None,
                label_names: list[str] | None = None,
                log: Callable[[str], None] = _stderr) -> tuple[Any, Any]:
    """Training and validation sets: an explicit validation file, or a seeded stratified split.

    ``label_names`` fixes the classes and their order (integer labels ``i`` name ``label_names[i]``).
    """
    from mobilebert_edge.data import load_labelled, stratified_split

    data = load_labelled(data_path, text_column=text_column, label_column=label_column,
                         label_names=label_names, skip_bad_rows=skip_bad_rows, encoding=encoding, log=log)
    if val_path:
        val = load_labelled(val_path, text_column=text_column, label_column=label_column,
                            label_names=data.label_names, skip_bad_rows=skip_bad_rows,
                            encoding=encoding, log=log)
        return data, val
    return stratified_split(data, config.val_fraction, config.seed)


def train_run(
    config: TrainConfig,
    *,
    data: str,
    out: str | Path,
    val_data: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad_rows: bool = False,
    encoding: str | None = None,
    label_names: list[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    unlabeled: str | None = None,
    unlabeled_text_column: str | None = None,
    self_training: SelfTrainConfig | None = None,
    on_round: Callable[[int, Any, Any], None] | None = None,
    on_student: Callable[[int, int, Any, Any], None] | None = None,
    log: Callable[[str], None] = _stderr,
) -> RunResult:
    """Fine-tune ``config.model`` on ``data`` and write the checkpoint folder ``out``.

    With ``unlabeled`` (a file of texts) the run self-trains (``train/selftrain/``) under ``self_training``
    (the standard recipe when None); ``on_round(number, model, tokenizer)`` sees each round's model and
    ``on_student(number, index, model, tokenizer)`` each student before their weights are averaged.
    """
    started = time.perf_counter()
    out = Path(out)
    prepare_output(out, resume=resume, overwrite=overwrite)

    import torch

    from mobilebert_edge.train.encode import encode_texts
    from mobilebert_edge.train.evaluate import write_validation_report
    from mobilebert_edge.train.loop import fit, seed_everything
    from mobilebert_edge.train.model import check_length, load_model
    from mobilebert_edge.train.pooling import resolve_pooling
    from mobilebert_edge.train.precision import resolve_precision
    from mobilebert_edge.train.resume import EpochCheckpoints

    if config.threads:
        torch.set_num_threads(config.threads)
    precision = resolve_precision(config.precision)
    train_set, val_set = load_splits(data, val_data, config, text_column=text_column,
                                     label_column=label_column, skip_bad_rows=skip_bad_rows, encoding=encoding,
                                     label_names=label_names, log=log)
    unlabelled = None
    if unlabeled is not None:
        from mobilebert_edge.data.unlabelled import load_unlabelled
        from mobilebert_edge.train.selftrain.settings import SelfTrainConfig, check_label_length

        self_training = self_training or SelfTrainConfig()
        unlabelled = load_unlabelled(unlabeled, text_column=unlabeled_text_column, skip_bad_rows=skip_bad_rows,
                                     encoding=encoding, log=log)
    labels = list(train_set.label_names)
    log(f"{len(train_set.texts)} training / {len(val_set.texts)} validation texts, labels {labels}")
    seed_everything(config.seed)  # the new classification head (and any missing pooler) is drawn here
    pooling = resolve_pooling(config.pooling, config.model)
    model, tokenizer = load_model(config.model, labels, attention_dropout=config.attention_dropout, pooling=pooling)
    check_length(model, config.max_length, "--max-length")
    if unlabelled is not None and self_training.label_length:
        check_label_length(model, self_training.label_length)
    make_parent(out)
    out.mkdir(exist_ok=True)
    encode = dict(max_length=config.max_length, rule=config.truncation, head_tokens=config.head_tokens)

    checkpoints = EpochCheckpoints(out, config, data_fingerprint(train_set, val_set))
    if not resume:
        checkpoints.clear()
        (out / MANIFEST).unlink(missing_ok=True)
    log(f"training {config.model} ({config.preset} preset, {pooling} pooling, {precision}, "
        f"{torch.get_num_threads()} threads)")
    rounds = None
    if unlabelled is None:
        train_enc = encode_texts(tokenizer, train_set.texts, train_set.labels, **encode)
        val_enc = encode_texts(tokenizer, val_set.texts, val_set.labels, **encode)
        state = fit(model, train_enc, val_enc, config, pad_id=tokenizer.pad_token_id or 0, precision=precision,
                    save_epoch=checkpoints.save, resume=checkpoints.load if resume else None, log=log)
    else:
        from mobilebert_edge.train.selftrain.rounds import self_train, self_training_report

        def new_model() -> Any:
            return load_model(config.model, labels, attention_dropout=config.attention_dropout, pooling=pooling)[0]

        identity = {"config": {k: v for k, v in config.to_dict().items() if k not in RESUME_FREE},
                    "self_training": self_training.to_dict(), "labelled": data_fingerprint(train_set, val_set),
                    "unlabelled": unlabelled.fingerprint()}
        outcome = self_train(model, tokenizer, train_set, val_set, unlabelled, config, self_training, out=out,
                             identity=identity, precision=precision, new_model=new_model, fingerprint=data_fingerprint,
                             resume=resume, on_round=on_round, on_student=on_student, log=log)
        model, state, rounds = outcome.model, outcome.state, self_training_report(outcome.rounds, unlabelled,
                                                                                  self_training, config)

    saved_epoch, saved_metrics = state.saved_epoch(config.restore_best), state.saved_metrics(config.restore_best)
    if rounds is not None:
        saved_metrics = rounds["rounds"][-1]["metrics"]  # a soup of students: its own validation
    seconds = time.perf_counter() - started
    manifest = {
        "labels": labels,
        "max_length": config.max_length,
        "truncation": {"rule": config.truncation, "head_tokens": config.head_tokens},
        "text_column": train_set.text_column,
        "label_column": train_set.label_column,
        "config": {**config.to_dict(), "resolved_precision": precision, "resolved_pooling": pooling},
        "best_epoch": state.best_epoch,
        "saved_epoch": saved_epoch,
        "stopped_early": state.stopped_early,
        "metrics": saved_metrics,
        "validation_file": VALIDATION_FILE,
        "data": {"train": str(getattr(train_set, "source", data)), "train_rows": len(train_set.texts),
                 "validation": str(getattr(val_set, "source", val_data or data)), "validation_rows": len(val_set.texts)},
        "seconds": round(seconds, 1),
        "versions": _versions(),
    }
    if rounds is not None:
        manifest["self_training"] = {**rounds, "rounds": [{k: v for k, v in r.items() if k != "history"}
                                                          for r in rounds["rounds"]]}
    validation = [{"text": text, "label": labels[label]} for text, label in zip(val_set.texts, val_set.labels)]
    log(f"writing the validation report ({len(val_set.texts)} texts)")
    report = write_validation_report(
        out / REPORT_FOLDER, model, tokenizer, val_set.texts, val_set.labels, labels, max_length=config.max_length,
        rule=config.truncation, head_tokens=config.head_tokens, batch_size=max(16, config.batch_size),
        precision=precision, title=f"Validation split of {out} (epoch {saved_epoch})",
    )
    written = save_checkpoint(out, model=model, tokenizer=tokenizer, manifest=manifest, validation=validation,
                              history=state.history, curve_title=f"{Path(config.model).name}, {config.preset} preset",
                              extra_metrics=None if rounds is None else {"self_training": rounds})
    written["report"] = report
    checkpoints.clear()
    seconds = time.perf_counter() - started
    return RunResult(out, state.best_epoch, saved_epoch, saved_metrics, state.history, seconds, precision,
                     written, model, tokenizer, rounds)


def summary(result: RunResult) -> str:
    """The end-of-run report: best epoch, metrics, wall time, where things were written."""
    m, written = result.metrics, result.written or {}
    rounds = [] if result.self_training is None else result.self_training["rounds"]
    return "\n".join([
        *(f"round {r['round']}: {_pseudo_summary(r['pseudo_labels'])}, validation accuracy "
          f"{r['metrics']['val_accuracy']:.4f} ({r['seconds']:.0f} s)" for r in rounds),
        f"done in {result.seconds:.1f} s; best epoch {result.best_epoch}, saved epoch {result.saved_epoch}: "
        f"validation accuracy {m['val_accuracy']:.4f}, macro-F1 {m['val_macro_f1']:.4f}, loss {m['val_loss']:.4f}",
        f"checkpoint folder: {result.out}",
        f"  manifest {written['manifest'].name}, metrics {written['metrics'].name}, curve {written['curve'].name}, "
        f"validation split {written['validation'].name}",
        f"validation report: {written['report']}",
    ])


def _pseudo_summary(pseudo: dict[str, Any] | None) -> str:
    if pseudo is None:
        return "teacher, labelled texts only"
    return "pseudo-labels used " + ", ".join(f"{name} {n}" for name, n in pseudo["used"].items())


def _versions() -> dict[str, str]:
    import torch
    import transformers

    from mobilebert_edge import __version__

    return {"mobilebert_edge": __version__, "torch": torch.__version__, "transformers": transformers.__version__}
