"""The wheel carries every package of the repository: each folder with an ``__init__.py`` is listed in pyproject."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def installed_name(folder: Path, package_dir: dict[str, str]) -> str:
    """The import name setuptools gives ``folder`` under ``package-dir`` (``train/selftrain`` ->
    ``mobilebert_edge.train.selftrain``)."""
    relative = folder.relative_to(REPO).as_posix()
    for name, source in package_dir.items():
        if relative == source or relative.startswith(source + "/"):
            return name + relative[len(source):].replace("/", ".")
    return relative.replace("/", ".")


def missing_packages(listed: list[str], package_dir: dict[str, str], roots: list[str]) -> list[str]:
    found = {installed_name(init.parent, package_dir) for root in roots for init in (REPO / root).rglob("__init__.py")
             if "node_modules" not in init.parts}
    return sorted(found - set(listed))


def test_every_package_folder_is_in_the_wheel() -> None:
    setup = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    roots = ["mobilebert_edge", *setup["package-dir"].values(), "edge_runtime"]
    assert installed_name(REPO / "train" / "selftrain", setup["package-dir"]) == "mobilebert_edge.train.selftrain"
    assert missing_packages(setup["packages"], setup["package-dir"], roots) == []
    # a package left out is found
    listed = [name for name in setup["packages"] if name != "mobilebert_edge.train.selftrain"]
    assert missing_packages(listed, setup["package-dir"], roots) == ["mobilebert_edge.train.selftrain"]
