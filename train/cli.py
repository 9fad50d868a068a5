"""``mobilebert-edge train``: fine-tune an encoder on a labelled file (stdlib-only at import)."""

from __future__ import annotations

import argparse

from edge_runtime.options import positive_int

# SelfTrainConfig field -> the destination of its `train` flag (--pseudo-threshold sets pseudo_threshold)
SELF_TRAIN_OPTIONS = {"threshold": "pseudo_threshold", "fraction": "pseudo_fraction", "balance": "pseudo_balance",
                      "per_class": "pseudo_per_class", "rounds": "self_train_rounds", "student": "student",
                      "teachers": "pseudo_teachers", "student_mask": "student_mask",
                      "student_finetune": "student_finetune", "targets": "pseudo_targets",
                      "student_epochs": "student_epochs", "students": "students", "label_length": "pseudo_max_length"}


def _label_list(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",")]
    if len(names) < 2 or any(not name for name in names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected two or more distinct comma-separated names, found {value!r}")
    return names


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a classifier on a CSV/TSV/JSONL/Parquet file of texts and labels",
        description="Fine-tune a small pretrained encoder for text classification on the CPU and write "
        "a checkpoint folder (model, tokenizer, labels, config, metrics, training curve). Preset values "
        "apply unless a flag sets them explicitly.",
    )
    io = parser.add_argument_group("data and output")
    io.add_argument("--data", required=True, metavar="FILE", help="labelled texts (CSV, TSV, JSONL, Parquet, .gz)")
    io.add_argument("--out", required=True, metavar="DIR", help="checkpoint folder to write")
    io.add_argument("--val-data", metavar="FILE", help="explicit validation file (default: split --data)")
    io.add_argument("--val-fraction", type=float, metavar="F", help="validation share of --data (default 0.2)")
    io.add_argument("--text-column", metavar="NAME", help="text column (default: inferred)")
    io.add_argument("--label-column", metavar="NAME", help="label column (default: inferred)")
    io.add_argument("--encoding", metavar="NAME", help="text encoding of the data files (default: detected)")
    io.add_argument(
        "--label-names", metavar="A,B,...", type=_label_list,
        help="class names in logit order; integer labels i become the i-th name (e.g. negative,positive)",
    )
    io.add_argument("--skip-bad-rows", action="store_true", help="skip rows with missing text or label (reported)")
    io.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    io.add_argument("--overwrite", action="store_true", help="write into a non-empty --out that holds no previous run")

    model = parser.add_argument_group("model and recipe")
    model.add_argument("--model", metavar="ID_OR_PATH",
                       help="hub id or local Hugging Face folder (default google/mobilebert-uncased)")
    model.add_argument("--preset", choices=("fast", "tutorial", "accurate"),
                       help="fast (default): head+tail over 256 tokens, dynamic padding, warmup, bf16, no attention "
                       "dropout; tutorial: the original recipe; "
                       "accurate: head+tail over 512 tokens, up to 4 epochs")
    model.add_argument("--max-length", type=int, metavar="N", help="tokens per text, special tokens included")
    model.add_argument("--truncation", choices=("head", "tail", "head_tail"), help="which tokens of long texts to keep")
    model.add_argument("--head-tokens", type=int, metavar="N", help="head share for head_tail (default: a quarter)")
    model.add_argument("--batch-size", type=positive_int, metavar="N")
    model.add_argument("--lr", type=float, metavar="LR", help="peak learning rate")
    model.add_argument("--epochs", type=positive_int, metavar="N", help="maximum epochs")
    model.add_argument("--warmup-ratio", type=float, metavar="F", help="share of steps for linear warmup")
    model.add_argument("--schedule", choices=("linear", "constant"), help="learning rate after warmup")
    model.add_argument("--weight-decay", type=float, metavar="F", help="AdamW weight decay on matrices")
    model.add_argument("--max-grad-norm", type=float, metavar="F", help="gradient clipping norm (0: off)")
    model.add_argument("--patience", type=int, metavar="N", help="epochs without improvement before stopping (0: off)")
    model.add_argument("--padding", choices=("longest", "max_length"), help="pad each batch to its longest item or to --max-length")
    model.add_argument("--pooling", choices=("auto", "cls", "mean"),
                       help="what the classifier reads: cls, the model's [CLS] pooler; mean, the mean of the token "
                       "states; auto (default): what the model folder declares (a checkpoint of ours: its pooling; a "
                       "sentence-transformers folder: 1_Pooling/config.json, mean for all-MiniLM-L6-v2), else cls")
    model.add_argument("--attention-dropout", type=float, metavar="P",
                       help="dropout on attention probabilities (fast: 0, which lets PyTorch use its fused "
                       "attention kernel; default elsewhere: the model's own)")

    selftrain = parser.add_argument_group(
        "self-training", "learn from unlabelled texts too: a teacher trained on --data labels them, a student "
        "trains on --data plus the confident pseudo-labels (validation stays on labelled texts)")
    selftrain.add_argument("--unlabeled", metavar="FILE", help="texts without labels (any --data format)")
    selftrain.add_argument("--unlabeled-text-column", metavar="NAME", help="text column of --unlabeled (default: inferred)")
    selftrain.add_argument("--pseudo-fraction", type=float, metavar="F",
                           help="keep the most confident predictions, at most F of the unlabelled texts split "
                           "equally across classes (default 0.8)")
    selftrain.add_argument("--pseudo-threshold", type=float, metavar="P",
                           help="and only those whose probability is at least P (default 0: no threshold)")
    selftrain.add_argument("--pseudo-balance", choices=("equal", "none"),
                           help="equal (default): the same number per class, most confident first; none: "
                           "each class keeps what reaches P, up to its share")
    selftrain.add_argument("--pseudo-per-class", type=int, metavar="N",
                           help="at most N pseudo-labels per class, most confident first (default: no cap)")
    selftrain.add_argument("--self-train-rounds", type=int, metavar="N",
                           help="student rounds; each student labels for the next (default 1)")
    selftrain.add_argument("--pseudo-teachers", type=int, metavar="K",
                           help="label with the mean probabilities of K teachers trained on --data with other "
                                "seeds (default 3; 1: the round-0 model alone)")
    selftrain.add_argument("--student-mask", type=float, metavar="P",
                           help="input noise for the students: replace this share of their tokens with [MASK], "
                                "drawn afresh at each step (default 0: none)")
    selftrain.add_argument("--student-finetune", action="store_true", default=None,
                           help="then each student trains on the labelled texts alone (the preset's epochs again)")
    selftrain.add_argument("--pseudo-targets", choices=("hard", "soft"),
                           help="hard (default): a student learns each kept text's predicted class; soft: it matches "
                                "the teachers' class probabilities (distillation)")
    selftrain.add_argument("--student-epochs", type=int, metavar="N",
                           help="a student's epochs, its learning-rate schedule spanning them (default: the "
                                "preset's); the teachers keep the preset's")
    selftrain.add_argument("--students", type=int, metavar="K",
                           help="train K students per round from the same start with other seeds and keep the mean "
                                "of their weights: one model of the same size (default 1)")
    selftrain.add_argument("--pseudo-max-length", type=int, metavar="N",
                           help="the teachers read N tokens of each unlabelled text when they label it, e.g. 512 "
                                "to judge long reviews whole; every model still trains on --max-length (default: "
                                "--max-length)")
    selftrain.add_argument("--student", choices=("fresh", "continue"),
                           help="fresh (default): each student starts from --model; continue: from the teacher's weights")

    machine = parser.add_argument_group("machine")
    machine.add_argument("--seed", type=int, metavar="N", help="random seed (default 42)")
    machine.add_argument("--threads", type=positive_int, metavar="N", help="torch CPU threads (default: torch's choice)")
    machine.add_argument("--precision", choices=("auto", "bf16", "fp32"),
                         help="auto (default in fast/accurate): bf16 autocast when the CPU supports it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the config, train, print the summary."""
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.errors import ConfigError
    from mobilebert_edge.train.run import summary, train_run

    config = resolve_config(
        args.preset,
        model=args.model, max_length=args.max_length, truncation=args.truncation, head_tokens=args.head_tokens,
        batch_size=args.batch_size, lr=args.lr, epochs=args.epochs, warmup_ratio=args.warmup_ratio,
        schedule=args.schedule, weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm,
        patience=args.patience, padding=args.padding, seed=args.seed, threads=args.threads,
        precision=args.precision, val_fraction=args.val_fraction, attention_dropout=args.attention_dropout,
        pooling=args.pooling,
    )
    choices = {field: getattr(args, dest) for field, dest in SELF_TRAIN_OPTIONS.items()}
    self_training = None
    if args.unlabeled is not None:
        from mobilebert_edge.train.pseudo_labels import SelfTrainConfig

        self_training = SelfTrainConfig(**{key: value for key, value in choices.items() if value is not None})
    elif any(value is not None for value in [args.unlabeled_text_column, *choices.values()]):
        raise ConfigError("self-training flags need --unlabeled FILE", hint="pass --unlabeled or drop those flags")
    result = train_run(
        config, data=args.data, out=args.out, val_data=args.val_data, text_column=args.text_column,
        label_column=args.label_column, skip_bad_rows=args.skip_bad_rows, encoding=args.encoding,
        label_names=args.label_names, resume=args.resume,
        overwrite=args.overwrite, unlabeled=args.unlabeled, unlabeled_text_column=args.unlabeled_text_column,
        self_training=self_training,
    )
    print(summary(result))
    return 0
