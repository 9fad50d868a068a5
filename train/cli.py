"""``mobilebert-edge train``: fine-tune an encoder on a labelled file (stdlib-only at import)."""

from __future__ import annotations

import argparse

from edge_runtime.options import positive_int

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
        "self-training", "learn from unlabelled texts too: teachers trained on --data label them, a student "
        "trains on --data plus the most confident pseudo-labels (validation stays on labelled texts)")
    selftrain.add_argument("--unlabeled", metavar="FILE", help="texts without labels (any --data format)")
    selftrain.add_argument("--unlabeled-text-column", metavar="NAME", help="text column of --unlabeled (default: inferred)")
    selftrain.add_argument("--self-train-recipe", choices=("standard", "best"),
                           help="standard (default): three teachers label, one student learns; best: the teachers "
                                "read 512 tokens of each unlabelled text and two students are averaged into one "
                                "model (+0.6 point on IMDb for 3.5 times the training time)")

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
    self_training = None
    if args.unlabeled is not None:
        from mobilebert_edge.train.selftrain.settings import SelfTrainConfig

        self_training = SelfTrainConfig.recipe(args.self_train_recipe or "standard")
    elif args.unlabeled_text_column is not None or args.self_train_recipe is not None:
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
