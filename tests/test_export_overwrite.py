"""Re-exporting over a bundle with --overwrite: a failure at any point leaves a complete, verifiable
bundle at --out (the old one until the new one is complete), whether by exception or SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mobilebert_edge.export.pipeline as pipeline
from edge_runtime import Classifier
from mobilebert_edge.cli import main
from mobilebert_edge.export import export_bundle

REPO = Path(__file__).resolve().parents[1]

# Run `mobilebert-edge export` in a child that kills itself (SIGKILL) at a chosen point:
#   "manifest": when the new bundle's manifest is about to be written (model.onnx already is);
#   "swap": at the first rename or removal once --out no longer holds the old bundle unchanged.
KILLING_EXPORT = r"""
import hashlib, os, signal, sys
from pathlib import Path

point, out = sys.argv[1], Path(sys.argv[2])
kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point == "manifest":
    import mobilebert_edge.export.pipeline as pipeline

    def write_manifest(folder, manifest):
        if not (Path(folder) / "model.onnx").is_file():
            sys.exit("model.onnx was not written before the manifest")
        kill()

    pipeline.write_manifest = write_manifest
else:
    old = hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()

    def unchanged() -> bool:
        try:
            return hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == old
        except OSError:
            return False

    def hook(event, args):
        if event in ("os.rename", "shutil.rmtree") and not unchanged():
            kill()

    sys.addaudithook(hook)
from mobilebert_edge.cli import main
sys.exit(main(["export", *sys.argv[3:]]))
"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture()
def old_bundle(tmp_path: Path, tiny_bundle: Path) -> Path:
    """An int8 bundle at tmp_path/"bundle"; the re-exports below write an fp32 one over it."""
    out = tmp_path / "parent" / "bundle"
    out.parent.mkdir()
    return Path(shutil.copytree(tiny_bundle, out))


def test_exception_after_the_model_is_written_keeps_the_old_bundle(old_bundle: Path, tiny_mobilebert_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(old_bundle)
    written: list[Path] = []

    def failing_manifest(folder, manifest):
        written.append(Path(folder) / "model.onnx")
        assert written[0].is_file()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "write_manifest", failing_manifest)
    with pytest.raises(OSError, match="No space left on device"):
        export_bundle(tiny_mobilebert_dir, old_bundle, precision="fp32", optimize=False, overwrite=True,
                      log=lambda _: None)
    assert written and snapshot(old_bundle) == before
    assert Classifier.load(old_bundle).manifest["model"]["precision"] == "int8"
    assert [p.name for p in old_bundle.parent.iterdir()] == ["bundle"]  # temporary folders removed


@pytest.mark.parametrize("point", ["manifest", "swap"])
def test_sigkill_during_reexport_leaves_a_complete_bundle(point: str, old_bundle: Path, tiny_mobilebert_dir: Path,
                                                          capsys) -> None:
    if point == "swap":
        from mobilebert_edge.export.bundle import exchange

        (old_bundle.parent / "a").mkdir()
        (old_bundle.parent / "b").mkdir()
        if not exchange(old_bundle.parent / "a", old_bundle.parent / "b"):
            pytest.skip("no atomic exchange of folders here: the old bundle is moved aside, then the new one in")
        (old_bundle.parent / "a").rmdir()
        (old_bundle.parent / "b").rmdir()
    before = snapshot(old_bundle)
    child = subprocess.run(
        [sys.executable, "-c", KILLING_EXPORT, point, str(old_bundle), str(tiny_mobilebert_dir), "--out",
         str(old_bundle), "--overwrite", "--precision", "fp32", "--no-optimize"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert (old_bundle / "manifest.json").is_file(), "no bundle left at --out"
    assert main(["check", str(old_bundle)]) == 0  # hashes and golden texts of whichever bundle is there
    precision = Classifier.load(old_bundle).manifest["model"]["precision"]
    if point == "manifest":
        assert snapshot(old_bundle) == before
    else:
        assert precision == "fp32"  # killed once the new bundle was in place
    capsys.readouterr()

    # a rerun replaces it
    assert main(["export", str(tiny_mobilebert_dir), "--out", str(old_bundle), "--overwrite", "--precision", "fp32",
                 "--no-optimize"]) == 0
    assert Classifier.load(old_bundle).manifest["model"]["precision"] == "fp32"
