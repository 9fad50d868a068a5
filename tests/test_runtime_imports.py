"""The runtime never imports torch, transformers, pandas or optimum, and works without them."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import edge_runtime

REPO_ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("torch", "transformers", "pandas", "optimum")

# Installs an import hook that makes the forbidden libraries unimportable, like on a device
# with only the base install, then runs the given code.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    FORBIDDEN = {forbidden!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    """
)


def _python(code: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO_ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=120,
    )


def test_runtime_modules_leave_heavy_libraries_out():
    modules = sorted(m.name for m in pkgutil.walk_packages(edge_runtime.__path__, "edge_runtime."))
    assert {"edge_runtime.bundle", "edge_runtime.classifier", "edge_runtime.cli", "edge_runtime.text",
            "edge_runtime.scoring.files", "edge_runtime.scoring.ray_engine"} <= set(modules)
    code = textwrap.dedent(
        f"""
        import importlib, json, sys
        import edge_runtime
        light = "onnxruntime" not in sys.modules
        from edge_runtime import Classifier
        for name in {modules!r}:
            importlib.import_module(name)
        print(json.dumps({{"light": light, "loaded": [m for m in {FORBIDDEN!r} if m in sys.modules]}}))
        """
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loaded"] == [], f"edge_runtime imported {report['loaded']}"
    assert report["light"], "import edge_runtime imported onnxruntime eagerly"


def test_predict_and_check_work_with_heavy_libraries_blocked(tiny_bundle_fp32):
    code = BLOCKER.format(forbidden=FORBIDDEN) + textwrap.dedent(
        """
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker does not work")
        from mobilebert_edge.cli import main
        code = main(sys.argv[1:])
        print("LOADED", [m for m in FORBIDDEN if m in sys.modules])
        sys.exit(code)
        """
    )
    result = _python(code, "predict", str(tiny_bundle_fp32), "a great film", "dull")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[2] for line in lines[:2]] == ["a great film", "dull"]
    assert lines[2] == "LOADED []"

    result = _python(code, "predict", str(tiny_bundle_fp32), "--json", stdin="one\ntwo\n")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()[:2]] == ["one", "two"]

    result = _python(code, "check", str(tiny_bundle_fp32))
    assert result.returncode == 0, result.stderr
    assert "all passed" in result.stdout


OURS_NOT_ON_A_DEVICE = ("mobilebert_edge.train", "mobilebert_edge.export", "mobilebert_edge.data")
# Runs the command line in this process, then lists the training, export and data modules it loaded.
RUN_AND_LIST = textwrap.dedent(
    f"""
    import json, sys
    from mobilebert_edge.cli import main
    code = main(sys.argv[1:])
    loaded = sorted(m for m in sys.modules if m.startswith({OURS_NOT_ON_A_DEVICE!r}))
    print("LOADED " + json.dumps(loaded))
    sys.exit(code)
    """
)


def test_device_commands_never_import_training_export_or_data(tiny_bundle_fp32, tmp_path):
    table = tmp_path / "in.csv"
    table.write_text("id,text\n1,a great film\n2,dull\n", encoding="utf-8")
    for argv in (["predict", str(tiny_bundle_fp32), "a great film"], ["check", str(tiny_bundle_fp32)],
                 ["score", str(tiny_bundle_fp32), str(table), "--out", str(tmp_path / "o.csv"), "--no-progress"]):
        result = _python(RUN_AND_LIST, *argv)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "LOADED []", (argv[0], result.stdout.splitlines()[-1])
    result = _python(RUN_AND_LIST, "--help")  # the full list of commands still comes from every package
    assert all(name in result.stdout for name in ("train", "export", "predict", "check", "score", "imdb"))


def test_each_command_is_registered_by_its_owner():
    from mobilebert_edge.cli import COMMAND_MODULES, COMMAND_OWNERS, build_parser

    for command, owner in COMMAND_OWNERS.items():
        assert owner in COMMAND_MODULES
        subparsers = next(a for a in build_parser((owner,))._actions if a.dest == "command")
        assert command in subparsers.choices, (command, owner)
