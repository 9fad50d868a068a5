"""The IMDb Large Movie Review layout: folder, streamed tarball, checksum-verified download, CLI."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import urllib.error
from pathlib import Path

import pytest

import mobilebert_edge.data.imdb as imdb
from mobilebert_edge.data import DataError, load_labelled
from mobilebert_edge.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]

# (split, sentiment, file name, text)
REVIEWS = [
    ("train", "pos", "10_9.txt", "A wonderful film.<br /><br />Loved it."),
    ("train", "pos", "2_7.txt", "Quite good, «très bien»."),
    ("train", "neg", "3_1.txt", "Awful, just awful."),
    ("train", "neg", "11_4.txt", "Not for me, I'm afraid."),
    ("test", "pos", "0_10.txt", "Best of the year."),
    ("test", "neg", "5_2.txt", "Two hours I will never get back."),
    ("train", "unsup", "99_0.txt", "Unlabelled review."),
]


def build_folder(root: Path) -> Path:
    """A small aclImdb/ folder (with the extra files the real one has)."""
    base = root / "aclImdb"
    for split, sentiment, name, text in REVIEWS:
        folder = base / split / sentiment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    (base / "train" / "urls_pos.txt").write_text("http://example.invalid\n", encoding="utf-8")
    (base / "imdb.vocab").write_text("the\n", encoding="utf-8")
    return base


def build_tarball(path: Path) -> Path:
    """aclImdb_v1.tar.gz with the same reviews, built in memory."""
    with tarfile.open(path, "w:gz") as archive:
        for split, sentiment, name, text in REVIEWS:
            payload = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{split}/{sentiment}/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
        readme = b"Large Movie Review Dataset"
        info = tarfile.TarInfo("aclImdb/README")
        info.size = len(readme)
        archive.addfile(info, io.BytesIO(readme))
    return path


TRAIN = [  # label, rating, id, text: ordered by label then id
    (0, 1, 3, "Awful, just awful."),
    (0, 4, 11, "Not for me, I'm afraid."),
    (1, 7, 2, "Quite good, «très bien»."),
    (1, 9, 10, "A wonderful film.<br /><br />Loved it."),
]


@pytest.fixture()
def tarball(tmp_path: Path) -> Path:
    return build_tarball(tmp_path / "aclImdb_v1.tar.gz")


def as_tuples(reviews: list[imdb.Review]) -> list[tuple]:
    return [(r.label, r.rating, r.id, r.text) for r in reviews]


def test_folder_and_tarball_give_the_same_table(tmp_path: Path, tarball: Path) -> None:
    folder = build_folder(tmp_path / "extracted")
    assert as_tuples(imdb.load_reviews(folder, "train")) == TRAIN
    assert as_tuples(imdb.load_reviews(folder.parent, "train")) == TRAIN  # the folder holding aclImdb/
    assert as_tuples(imdb.load_reviews(tarball, "train")) == TRAIN
    assert as_tuples(imdb.load_reviews(tarball, "test")) == [(0, 2, 5, "Two hours I will never get back."),
                                                               (1, 10, 0, "Best of the year.")]
    table = imdb.read_imdb(tarball, "train")
    assert list(table.columns) == ["text", "label", "rating", "id"]
    assert table["label"].tolist() == [0, 0, 1, 1]


def test_tarball_is_streamed_not_extracted(tmp_path: Path, tarball: Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    imdb.load_reviews(tarball, "train")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_load_labelled_reads_the_train_split_of_folder_and_tarball(tmp_path: Path, tarball: Path) -> None:
    folder = build_folder(tmp_path / "extracted")
    for source in (folder, tarball):
        data = load_labelled(source, log=lambda _: None)
        assert data.texts == [t for *_, t in TRAIN]
        assert data.labels == [0, 0, 1, 1] and data.label_names == ["0", "1"]


def test_not_the_imdb_layout(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'other'}: not the IMDb layout")):
        imdb.load_reviews(tmp_path / "other")
    with pytest.raises(DataError, match=re.escape("unknown IMDb split 'dev' (expected train or test, found dev)")):
        imdb.load_reviews(tmp_path, "dev")


def test_damaged_tarball(tmp_path: Path, tarball: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tarball.read_bytes()[:200])
    with pytest.raises(DataError, match=re.escape(f"{cut}: cannot read the tarball")):
        imdb.load_reviews(cut)


def test_bad_review_file_name(tmp_path: Path) -> None:
    base = build_folder(tmp_path)
    (base / "train" / "pos" / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{base}: unexpected file 'notes.txt' among the reviews")):
        imdb.load_reviews(base)


# --- download ------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    headers: dict = {}


def fake_opener(payload: bytes, calls: list):
    def opener(url: str, timeout: float) -> FakeResponse:
        calls.append(url)
        return FakeResponse(payload)

    return opener


def test_download_verifies_caches_and_writes_atomically(tmp_path: Path, tarball: Path) -> None:
    payload = tarball.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    calls: list = []
    cache = tmp_path / "cache"
    path = imdb.download_imdb(cache, sha256=digest, opener=fake_opener(payload, calls))
    assert path == cache / "aclImdb_v1.tar.gz" and path.read_bytes() == payload
    again = imdb.download_imdb(cache, sha256=digest, opener=fake_opener(b"", calls))
    assert again == path and len(calls) == 1  # served from the cache
    assert [p.name for p in cache.iterdir()] == ["aclImdb_v1.tar.gz"]  # no temporary left behind
    path.write_bytes(b"corrupt")  # a damaged cached copy is downloaded again
    assert imdb.download_imdb(cache, sha256=digest, opener=fake_opener(payload, calls)).read_bytes() == payload
    assert len(calls) == 2


def test_download_checksum_mismatch_keeps_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=re.escape(
        f"checksum mismatch for the download of {imdb.IMDB_URL} (expected sha256 {imdb.IMDB_SHA256}, "
        f"found {hashlib.sha256(b'tampered').hexdigest()}); the download is incomplete or altered"
    )):
        imdb.download_imdb(cache, opener=fake_opener(b"tampered", []))
    assert list(cache.iterdir()) == []


def test_download_offline_is_a_clear_error(tmp_path: Path) -> None:
    def offline(url: str, timeout: float):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    with pytest.raises(DataError, match=re.escape(
        f"cannot download {imdb.IMDB_URL} ([Errno -3] Temporary failure in name resolution); check the network, "
        "or download it yourself and pass --source aclImdb_v1.tar.gz"
    )):
        imdb.download_imdb(tmp_path, opener=offline)
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MOBILEBERT_EDGE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert imdb.default_cache_dir() == tmp_path / "mobilebert-edge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert imdb.default_cache_dir() == tmp_path / "home" / ".cache" / "mobilebert-edge"


# --- CLI -----------------------------------------------------------------------------------------


def read_csv_rows(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_cli_writes_a_csv_that_load_labelled_accepts(tmp_path: Path, tarball: Path, capsys) -> None:
    out = tmp_path / "out" / "imdb_train.csv"
    assert main(["imdb", "--source", str(tarball), "--split", "train", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"wrote 4 train reviews (2 negative, 2 positive) from {tarball} to {out}"
    )
    rows = read_csv_rows(out)
    assert [(int(r["label"]), int(r["rating"]), int(r["id"]), r["text"]) for r in rows] == TRAIN
    data = load_labelled(out, log=lambda _: None)
    assert data.texts == [t for *_, t in TRAIN]
    assert [p.name for p in out.parent.iterdir()] == ["imdb_train.csv"]


def test_cli_gzip_output_and_folder_source(tmp_path: Path, capsys) -> None:
    folder = build_folder(tmp_path / "src")
    out = tmp_path / "test.csv.gz"
    assert main(["imdb", "--source", str(folder), "--split", "test", "--out", str(out)]) == 0
    assert [r["text"] for r in read_csv_rows(out)] == ["Two hours I will never get back.", "Best of the year."]


def test_cli_download_uses_the_cache(tmp_path: Path, tarball: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    payload = tarball.read_bytes()
    calls: list = []
    monkeypatch.setattr(imdb, "IMDB_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(imdb, "_urlopen", fake_opener(payload, calls))
    out = tmp_path / "train.csv"
    assert main(["imdb", "--download", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    assert len(read_csv_rows(out)) == 4
    assert (tmp_path / "cache" / "aclImdb_v1.tar.gz").read_bytes() == payload
    assert calls == [imdb.IMDB_URL]


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.tar.gz"
    assert main(["imdb", "--source", str(missing), "--out", str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {missing}: no such file or folder; pass aclImdb/ or aclImdb_v1.tar.gz, or --download\n"
    assert not (tmp_path / "o.csv").exists()


def test_cli_out_must_be_csv(tmp_path: Path, tarball: Path, capsys) -> None:
    assert main(["imdb", "--source", str(tarball), "--out", str(tmp_path / "o.parquet")]) == 1
    assert capsys.readouterr().err == (
        f"error: --out {tmp_path / 'o.parquet'}: the output is a CSV "
        "(expected a name ending in .csv or .csv.gz, found o.parquet)\n"
    )


def test_cli_subprocess_usage_and_error_exit_codes(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "mobilebert_edge", "imdb", "--source", str(tmp_path), "--out", str(tmp_path / "o.csv")]
    result = subprocess.run(run, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 1
    assert result.stderr == f"error: {tmp_path}: not the IMDb layout (expected a folder aclImdb/ with train/pos, " \
        "train/neg, test/pos, test/neg, or aclImdb_v1.tar.gz, found a folder without them)\n"
    usage = subprocess.run(run[:4] + ["--out", "x.csv"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert usage.returncode == 2 and "one of the arguments --source --download is required" in usage.stderr


def test_sample_is_seeded_balanced_and_in_order() -> None:
    reviews = [imdb.Review(f"review {i}", i % 3 == 0, 5, i) for i in range(300)]  # 100 positive, 200 negative
    sample = imdb.sample_reviews(reviews, 60, seed=1)
    assert len(sample) == 60 and sum(r.label for r in sample) == 30
    assert [r.id for r in sample] == sorted(r.id for r in sample)
    assert imdb.sample_reviews(reviews, 60, seed=1) == sample != imdb.sample_reviews(reviews, 60, seed=2)
    assert imdb.sample_reviews(reviews, 300) == reviews == imdb.sample_reviews(reviews, 1000)
    short = imdb.sample_reviews(reviews, 250, seed=0)  # 125 positive wanted, 100 exist: filled up with negatives
    assert len(short) == 250 and sum(r.label for r in short) == 100


def test_cli_sample(tmp_path: Path, tarball: Path, capsys) -> None:
    out = tmp_path / "sample.csv"
    assert main(["imdb", "--source", str(tarball), "--sample", "2", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"wrote 2 train reviews (1 negative, 1 positive, a sample of 4) from {tarball} to {out}"
    )
    assert len(read_csv_rows(out)) == 2
    assert main(["imdb", "--source", str(tarball), "--sample", "0", "--out", str(out)]) == 2
    assert "expected a positive integer, found '0'" in capsys.readouterr().err
