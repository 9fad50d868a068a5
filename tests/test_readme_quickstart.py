"""The README's quickstart without the model hub, run line by line as written (slow: real MiniLM, real reviews).

One substitution, and only one: ``imdb --download`` becomes ``imdb --source <tarball>``, because tests
never use the network. The tarball has the IMDb layout and holds 1,200 real training reviews from the
shared data, so ``--sample 1000`` really samples and every later line runs on 1,000 IMDb reviews.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "### Without the model hub"
PER_LABEL = 600


def quickstart_script() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(HEADING)
    match = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL).search(text, start)
    assert match is not None, f"no bash block after {HEADING!r}"
    return match.group(1)


def imdb_tarball(source_csv: Path, path: Path) -> Path:
    """aclImdb_v1.tar.gz's layout with the first PER_LABEL reviews of each label of ``source_csv``."""
    taken = {"0": 0, "1": 0}
    with gzip.open(source_csv, "rt", encoding="utf-8", newline="") as handle, tarfile.open(path, "w:gz") as tar:
        for row in csv.DictReader(handle):
            if taken[row["label"]] >= PER_LABEL:
                if min(taken.values()) >= PER_LABEL:
                    break
                continue
            taken[row["label"]] += 1
            data = row["text"].encode("utf-8")
            member = tarfile.TarInfo(f"aclImdb/train/{'pos' if row['label'] == '1' else 'neg'}/{row['id']}_{row['rating']}.txt")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.slow
def test_the_offline_quickstart_runs_as_written(tmp_path: Path, shared_data: Path):
    script = quickstart_script()
    assert script.count(" --download ") == 1
    tarball = imdb_tarball(shared_data / "imdb_train.csv.gz", tmp_path / "aclImdb_v1.tar.gz")
    script = script.replace(" --download ", f" --source {tarball} ")
    work = tmp_path / "clone"
    work.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"wrote 1000 train reviews (500 negative, 500 positive, a sample of {2 * PER_LABEL})" in done.stdout
    assert (work / "runs" / "tutorial" / "mobilebert_edge.json").is_file()
    assert (work / "bundles" / "tutorial" / "manifest.json").is_file()
    label, score, text = done.stdout.strip().splitlines()[-1].split("\t")
    assert (label, text) == ("positive", "I loved every minute of it.") and float(score) > 0.5
