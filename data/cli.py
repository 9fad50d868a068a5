"""The ``imdb`` subcommand: turn the IMDb Large Movie Review dataset into a CSV.

Standard library only, here and in what it imports, so the command list loads on a device.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
from collections import Counter
from pathlib import Path

from edge_runtime.atomic import atomic_write, make_parent
from edge_runtime.options import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``imdb`` subcommand."""
    parser = subparsers.add_parser(
        "imdb",
        help="write one split of the IMDb review dataset as a CSV (text,label,rating,id)",
        description=(
            "Read aclImdb/ or aclImdb_v1.tar.gz (or download it, checksum-verified and cached) "
            "and write one split as a CSV with columns text,label,rating,id (label 1 = positive). "
            "The CSV is ready for 'train --data'."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--source", type=Path, metavar="PATH", help="an aclImdb/ folder or aclImdb_v1.tar.gz")
    source.add_argument("--download", action="store_true", help="download aclImdb_v1.tar.gz (84 MB) first")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the CSV to write (.csv or .csv.gz)")
    parser.add_argument("--sample", type=positive_int, metavar="N",
                        help="keep a seeded sample of N reviews, half of each label (default: the whole split)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of --sample (default: 0)")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, metavar="DIR",
        help="where --download keeps the tarball (default: ~/.cache/mobilebert-edge)",
    )
    parser.set_defaults(func=run)


def write_csv_atomic(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    """Write a UTF-8 CSV (gzip'd when the name ends in .gz) via a temporary file and a rename."""
    make_parent(path)
    with atomic_write(path, "wb") as raw:
        binary = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if path.name.endswith(".gz") else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        text.flush()
        text.detach()
        if binary is not raw:
            binary.close()  # writes the gzip trailer; ``raw`` stays open for the sync and rename


def run(args: argparse.Namespace) -> int:
    """Read (or download) the dataset and write the CSV."""
    from mobilebert_edge.data.errors import DataError
    from mobilebert_edge.data.imdb import COLUMNS, download_imdb, load_reviews, sample_reviews

    if not args.out.name.lower().endswith((".csv", ".csv.gz")):
        raise DataError(f"--out {args.out}: the output is a CSV", expected="a name ending in .csv or .csv.gz",
                        found=args.out.name)
    source = download_imdb(args.cache_dir) if args.download else args.source
    reviews = load_reviews(source, args.split)
    total = len(reviews)
    if args.sample:
        reviews = sample_reviews(reviews, args.sample, args.seed)
    write_csv_atomic(args.out, COLUMNS, [(r.text, r.label, r.rating, r.id) for r in reviews])
    counts = Counter(r.label for r in reviews)
    sampled = f", a sample of {total}" if len(reviews) < total else ""
    print(
        f"wrote {len(reviews)} {args.split} reviews ({counts[0]} negative, {counts[1]} positive{sampled}) "
        f"from {source} to {args.out}"
    )
    return 0
