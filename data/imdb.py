"""The IMDb Large Movie Review dataset (Maas et al., 2011) as a table: text, label, rating, id.

Reads an ``aclImdb/`` folder (or a folder containing it) or the ``aclImdb_v1.tar.gz`` tarball,
streaming the tarball without extracting it. ``label`` is 1 for ``pos`` and 0 for ``neg``;
``rating`` (1-10) and ``id`` come from the file names ``<id>_<rating>.txt``; ``unsup`` is ignored.
Rows are ordered by label, then id. Standard library only (``read_imdb`` imports pandas).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mobilebert_edge.data.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# sha256 of aclImdb_v1.tar.gz (84,125,825 bytes) as published with the dataset's loaders
# (e.g. the Julia MLDatasets registration and several independent download scripts).
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_FILENAME = "aclImdb_v1.tar.gz"
SPLITS = ("train", "test")
COLUMNS = ("text", "label", "rating", "id")
_LABELS = {"neg": 0, "pos": 1}
_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/([^/]+)$")
_REVIEW_NAME = re.compile(r"(\d+)_(\d+)\.txt")
_urlopen = urllib.request.urlopen  # replaced in tests: nothing here reaches the network there


@dataclass(frozen=True)
class Review:
    """One review of the dataset."""

    text: str
    label: int
    rating: int
    id: int


def _is_tarball(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith((".tar.gz", ".tgz", ".tar"))


def _imdb_root(path: Path) -> Path | None:
    """The aclImdb folder at or directly under ``path``, if any."""
    for root in (path, path / "aclImdb"):
        if any((root / split / "pos").is_dir() for split in SPLITS):
            return root
    return None


def is_imdb_source(path: str | Path) -> bool:
    """True for a tarball (.tar.gz/.tgz/.tar) or a folder laid out like ``aclImdb/``."""
    path = Path(path)
    return _is_tarball(path) or (path.is_dir() and _imdb_root(path) is not None)


def _review(source: str, name: str, sentiment: str, raw: bytes) -> Review:
    match = _REVIEW_NAME.fullmatch(name)
    if match is None:
        raise DataError(f"{source}: unexpected file {name!r} among the reviews", expected="<id>_<rating>.txt")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{source}: review {sentiment}/{name} is not UTF-8 text ({error.reason})") from None
    return Review(text=text, label=_LABELS[sentiment], rating=int(match.group(2)), id=int(match.group(1)))


def _iter_folder(root: Path, split: str) -> Iterator[Review]:
    for sentiment in _LABELS:
        folder = root / split / sentiment
        if not folder.is_dir():
            continue
        for file in folder.iterdir():
            if file.is_file():
                yield _review(str(root), file.name, sentiment, file.read_bytes())


def _iter_tarball(path: Path, split: str) -> Iterator[Review]:
    try:
        with tarfile.open(path, mode="r|*") as archive:  # streaming: one pass, nothing extracted
            for member in archive:
                match = _MEMBER.search(member.name)
                if not member.isfile() or match is None or match.group(1) != split:
                    continue
                handle = archive.extractfile(member)
                assert handle is not None
                yield _review(str(path), match.group(3), match.group(2), handle.read())
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"{path}: cannot read the tarball ({error})", hint="download it again") from None


def iter_imdb(source: str | Path, split: str = "train") -> Iterator[Review]:
    """The reviews of one split, in the order they are stored (use ``load_reviews`` for a fixed order)."""
    source = Path(source)
    if split not in SPLITS:
        raise DataError(f"unknown IMDb split {split!r}", expected=" or ".join(SPLITS), found=split)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder", hint="pass aclImdb/ or aclImdb_v1.tar.gz, or --download")
    if _is_tarball(source):
        return _iter_tarball(source, split)
    root = _imdb_root(source) if source.is_dir() else None
    if root is None:
        raise DataError(
            f"{source}: not the IMDb layout",
            expected="a folder aclImdb/ with train/pos, train/neg, test/pos, test/neg, or aclImdb_v1.tar.gz",
            found="a folder without them" if source.is_dir() else "a file that is not a tarball",
        )
    return _iter_folder(root, split)


def load_reviews(source: str | Path, split: str = "train") -> list[Review]:
    """All reviews of one split ordered by label then id; ``DataError`` when there are none."""
    reviews = sorted(iter_imdb(source, split), key=lambda r: (r.label, r.id))
    if not reviews:
        raise DataError(f"{source}: no {split} reviews found", expected=f"aclImdb/{split}/pos and aclImdb/{split}/neg")
    return reviews


def sample_reviews(reviews: list[Review], size: int, seed: int = 0) -> list[Review]:
    """A seeded sample of ``size`` reviews, half of each label (all of them when there are fewer), in input order."""
    if size >= len(reviews):
        return list(reviews)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label, share in ((0, size // 2), (1, size - size // 2)):
        positions = [i for i, review in enumerate(reviews) if review.label == label]
        chosen.update(rng.sample(positions, min(share, len(positions))))
    if len(chosen) < size:  # one label ran short: fill up from the other
        rest = [i for i in range(len(reviews)) if i not in chosen]
        chosen.update(rng.sample(rest, size - len(chosen)))
    return [reviews[i] for i in sorted(chosen)]


def read_imdb(source: str | Path, split: str = "train") -> pd.DataFrame:
    """One split as a DataFrame with columns text, label, rating, id; index = 1-based row numbers."""
    import pandas as pd

    reviews = load_reviews(source, split)
    table = pd.DataFrame([(r.text, r.label, r.rating, r.id) for r in reviews], columns=list(COLUMNS))
    table.index = range(1, len(table) + 1)
    return table


def default_cache_dir() -> Path:
    """``$MOBILEBERT_EDGE_CACHE``, else ``$XDG_CACHE_HOME/mobilebert-edge``, else ``~/.cache/mobilebert-edge``."""
    if os.environ.get("MOBILEBERT_EDGE_CACHE"):
        return Path(os.environ["MOBILEBERT_EDGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mobilebert-edge"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(total: int | None) -> Callable[[int], object]:
    try:
        from tqdm import tqdm
    except ImportError:
        return lambda n: None
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=IMDB_FILENAME, leave=False, disable=None)  # terminal only
    return bar.update


def download_imdb(
    cache_dir: str | Path | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    opener: Callable[..., object] | None = None,
    timeout: float = 60.0,
) -> Path:
    """The path of ``aclImdb_v1.tar.gz`` in the cache, downloading and verifying it when needed.

    ``url``, ``sha256`` and ``opener`` default to ``IMDB_URL``, ``IMDB_SHA256`` and
    ``urllib.request.urlopen``. The file is written to a temporary name next to its final one and
    renamed only when its sha256 matches, so the cache never holds a partial or corrupt tarball.
    """
    url = url or IMDB_URL
    sha256 = sha256 or IMDB_SHA256
    opener = opener or _urlopen
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / IMDB_FILENAME
    if target.is_file() and sha256_of(target) == sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{IMDB_FILENAME}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = opener(url, timeout=timeout)
                with response as stream:  # type: ignore[attr-defined]
                    length = stream.headers.get("Content-Length") if hasattr(stream, "headers") else None
                    update = _progress(int(length) if length else None)
                    for block in iter(lambda: stream.read(1 << 20), b""):
                        out.write(block)
                        digest.update(block)
                        update(len(block))
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise DataError(
                    f"cannot download {url} ({reason})",
                    hint=f"check the network, or download it yourself and pass --source {IMDB_FILENAME}",
                ) from None
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch for the download of {url}",
                expected=f"sha256 {sha256}",
                found=digest.hexdigest(),
                hint="the download is incomplete or altered; try again",
            )
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target
