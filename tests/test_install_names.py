"""A user's own ``data/``, ``train/`` or ``export/`` package never shadows ours, nor ours theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_PACKAGES = ("data", "train", "export")


def _user_project(root: Path, body: str) -> Path:
    """A folder holding the user's own packages ``data``, ``train`` and ``export``."""
    for name in USER_PACKAGES:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(body.format(name=name), encoding="utf-8")
    return root


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # ``python -m`` puts the working folder first on sys.path, where the user's packages are
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_user_folders_in_the_working_directory_do_not_shadow_ours(tmp_path: Path):
    project = _user_project(tmp_path / "project", 'raise ImportError("the user\'s own {name} package was imported")\n')
    reviews = project / "aclImdb" / "train"
    for label, name in (("pos", "0_9.txt"), ("neg", "1_2.txt")):
        (reviews / label).mkdir(parents=True)
        (reviews / label / name).write_text(f"a {label} review", encoding="utf-8")

    done = _run(project, "-m", "mobilebert_edge", "imdb", "--source", "aclImdb", "--out", "out/imdb.csv")
    assert done.returncode == 0, done.stderr
    assert (project / "out" / "imdb.csv").is_file()
    for argv, message in (
        (["train", "--data", "missing.csv", "--out", "run"], "error: missing.csv: no such file; check the path"),
        (["export", "nothing", "--out", "bundle"], "error: checkpoint nothing: no such folder"),
    ):
        done = _run(project, "-m", "mobilebert_edge", *argv)
        assert done.returncode == 1 and "user's own" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith(message), done.stderr


def test_ours_do_not_shadow_the_users(tmp_path: Path):
    project = _user_project(tmp_path / "project", 'MINE = "{name}"\n')
    code = ("import mobilebert_edge.data, mobilebert_edge.train.config, mobilebert_edge.export.errors\n"
            "import data, train, export\n"
            "print(data.MINE, train.MINE, export.MINE)\n")
    done = _run(project, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == list(USER_PACKAGES)
