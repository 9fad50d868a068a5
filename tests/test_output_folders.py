"""Every command that writes creates the missing folders above its --out (like save_pretrained and mkdir -p),
keeps its writes atomic, and says in one line when a file stands where a folder is needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from score_helpers import read_table, review_rows, write_table

from edge_runtime.atomic import make_parent
from edge_runtime.errors import InputError
from mobilebert_edge.cli import main


def _blocked(tmp_path: Path) -> tuple[Path, str]:
    """An output path under a regular file, and the error line every command gives for it."""
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    out = blocker / "sub" / "out"
    return out, f"error: cannot create the folder {blocker / 'sub'} for {out}: {blocker} is a file; choose another output path"


def test_make_parent(tmp_path: Path):
    assert make_parent(tmp_path / "a" / "b" / "c.csv") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and not (tmp_path / "a" / "b" / "c.csv").exists()
    assert make_parent(tmp_path / "a" / "b" / "c.csv") == tmp_path / "a" / "b"  # already there: fine
    out, line = _blocked(tmp_path)
    with pytest.raises(InputError) as caught:
        make_parent(out)
    assert f"error: {caught.value}" == line


def test_export_creates_missing_parent_folders(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    out = tmp_path / "bundles" / "nested" / "tutorial"
    code = main(["export", str(tiny_mobilebert_dir), "--out", str(out), "--precision", "fp32", "--no-optimize"])
    assert code == 0, capsys.readouterr().err
    assert (out / "manifest.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["tutorial"]  # no staging folder left behind
    assert main(["check", str(out)]) == 0


def test_export_under_a_file_is_one_error_line(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    out, line = _blocked(tmp_path)
    assert main(["export", str(tiny_mobilebert_dir), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == line


def test_score_creates_missing_parent_folders(tmp_path: Path, tiny_bundle_fp32: Path, capsys):
    src = write_table(tmp_path / "in.csv", review_rows(30))
    out = tmp_path / "dir" / "sub" / "scored.csv"
    assert main(["score", str(tiny_bundle_fp32), str(src), "--out", str(out), "--no-progress"]) == 0
    assert len(read_table(out)) == 30
    assert sorted(p.name for p in out.parent.iterdir()) == ["scored.csv"]  # work folder and temporaries gone
    blocked, line = _blocked(tmp_path)
    capsys.readouterr()
    assert main(["score", str(tiny_bundle_fp32), str(src), "--out", str(blocked) + ".csv", "--no-progress"]) == 1
    assert capsys.readouterr().err.strip() == line.replace(f"for {blocked}:", f"for {blocked}.csv:")


def test_train_creates_missing_parent_folders(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    model = shutil.copytree(tiny_mobilebert_dir, tmp_path / "model")
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"review number {i},{'positive' if i % 2 else 'negative'}\n" for i in range(10)))
    flags = ["--data", str(data), "--model", str(model), "--epochs", "1", "--max-length", "16", "--threads", "1"]
    out = tmp_path / "runs" / "deep" / "sentiment"
    assert main(["train", *flags, "--out", str(out)]) == 0, capsys.readouterr().err
    assert (out / "mobilebert_edge.json").is_file()
    blocked, line = _blocked(tmp_path)
    capsys.readouterr()
    assert main(["train", *flags, "--out", str(blocked)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == line and "Traceback" not in err


def test_imdb_under_a_file_is_one_error_line(tmp_path: Path, capsys):
    blocked, line = _blocked(tmp_path)
    source = tmp_path / "aclImdb"
    for split in ("train",):
        for label, name in (("pos", "0_9.txt"), ("neg", "1_2.txt")):
            folder = source / split / label
            folder.mkdir(parents=True)
            (folder / name).write_text(f"a {label} review")
    assert main(["imdb", "--source", str(source), "--out", str(tmp_path / "new" / "imdb.csv")]) == 0
    assert (tmp_path / "new" / "imdb.csv").is_file()
    assert main(["imdb", "--source", str(source), "--out", str(blocked) + ".csv"]) == 1
    assert capsys.readouterr().err.strip() == line.replace(f"for {blocked}:", f"for {blocked}.csv:")
