"""The runtime works from the base install alone: the wheel in a fresh venv with its three dependencies.

Slow: it builds the wheel and a virtual environment, and installs onnxruntime, tokenizers and numpy
from the index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("torch", "transformers", "pandas", "optimum")
NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs", "bundles", ".bench-cache")
NOT_ON_A_DEVICE = ("mobilebert_edge.train", "mobilebert_edge.export", "mobilebert_edge.data")
# Runs the command line, then lists the training, export and data modules that it loaded.
RUN_AND_LIST = (
    "import json, sys\n"
    "from mobilebert_edge.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print('LOADED ' + json.dumps(sorted(m for m in sys.modules if m.startswith({NOT_ON_A_DEVICE!r}))))\n"
    "sys.exit(code)\n"
)


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system packages) with the wheel of this repository, base install only."""
    root = tmp_path_factory.mktemp("base-install")
    # built from a copy: an in-tree build/ could carry stale modules into later wheels
    source = shutil.copytree(REPO_ROOT, root / "source", ignore=shutil.ignore_patterns(*NOT_SOURCE))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(root / "dist"), str(source)],
        capture_output=True, text=True, timeout=900,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (root / "dist").glob("mobilebert_edge-*.whl")
    env_dir = root / "device-venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    install = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=900,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return env_dir


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}


def _site_packages(env_dir: Path) -> Path:
    found = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, env=_env(),
    )
    return Path(found.stdout.strip())


@pytest.mark.slow
def test_the_wheel_installs_namespaced_packages_only(base_venv: Path):
    site = _site_packages(base_venv)
    ours = {path.name for path in site.iterdir() if path.name in ("data", "train", "export", "mobilebert_edge", "edge_runtime")}
    assert ours == {"mobilebert_edge", "edge_runtime"}  # no top-level data, train or export
    for sub in ("data", "train", "export"):
        assert (site / "mobilebert_edge" / sub / "__init__.py").is_file(), sub
    assert (site / "mobilebert_edge" / "cli.py").is_file()
    assert (site / "edge_runtime" / "classifier.py").is_file() and (site / "edge_runtime" / "scoring" / "files.py").is_file()
    (top_level,) = site.glob("mobilebert_edge-*.dist-info/top_level.txt")
    assert sorted(top_level.read_text().split()) == ["edge_runtime", "mobilebert_edge"]


@pytest.mark.slow
def test_predict_check_and_score_in_a_base_only_venv(tmp_path: Path, tiny_bundle: Path, base_venv: Path):
    python = base_venv / "bin" / "python"
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    names = {row["name"].lower() for row in json.loads(listed.stdout)}
    assert not names & set(FORBIDDEN), f"base install pulled in {sorted(names & set(FORBIDDEN))}"

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-c", RUN_AND_LIST, *argv],
                              capture_output=True, text=True, timeout=300, env=_env(), cwd=tmp_path)

    predicted = run("predict", "--json", str(tiny_bundle), "a wonderful film", "a dreadful film")
    assert predicted.returncode == 0, predicted.stderr
    *lines, loaded = predicted.stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 2 and all(set(row["probabilities"]) == {"negative", "positive"} for row in rows)
    assert loaded == "LOADED []"

    checked = run("check", str(tiny_bundle))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[-1] == "LOADED []"

    (tmp_path / "in.csv").write_text("id,text\n1,a great film\n2,\n3,dull\n", encoding="utf-8")
    scored = run("score", str(tiny_bundle), "in.csv", "--out", "out/scored.csv", "--no-progress")
    assert scored.returncode == 0, scored.stderr
    assert scored.stdout.splitlines()[-1] == "LOADED []"
    assert "scored 3 rows (1 errors)" in scored.stderr

    labelled = tmp_path / "test.csv"
    labelled.write_text("text,label\na wonderful film,positive\na dreadful film,negative\nfine,positive\n")
    evaluated = run("evaluate", str(tiny_bundle), str(labelled), "--report", str(tmp_path / "report"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.splitlines()[-1] == "LOADED []"
    assert evaluated.stdout.startswith("3 examples: accuracy ")
    assert "note: the report's pictures need matplotlib: pip install 'mobilebert-edge[report]'" in evaluated.stderr
    assert (tmp_path / "report" / "report.html").is_file()

    cli = base_venv / "bin" / "mobilebert-edge"
    untrained = subprocess.run(
        [str(cli), "train", "--data", "x.csv", "--out", "run"],
        capture_output=True, text=True, timeout=300, env=_env(), cwd=tmp_path,
    )
    assert untrained.returncode == 1
    assert untrained.stderr.splitlines() == [
        "error: this command needs 'torch', which is not installed; "
        "install the 'train' extra: pip install 'mobilebert-edge[train]'"
    ]
    assert sys.executable not in untrained.stderr
