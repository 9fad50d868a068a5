"""Every link from README.md into docs/ lands: the file exists and, for a #section, a heading has that anchor."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {anchor(line.lstrip("#")) for line in markdown.splitlines() if re.match(r"#{1,6} ", line)}


def broken_links(readme: str, root: Path) -> list[str]:
    broken = []
    for target, fragment in LINK.findall(readme):
        path = root / target
        if not path.is_file():
            broken.append(f"{target}: no such file")
        elif fragment and fragment not in anchors(path.read_text(encoding="utf-8")):
            broken.append(f"{target}#{fragment}: no heading with that anchor")
    return broken


def test_anchor_follows_github() -> None:
    assert anchor(" train-variants: how the presets' settings were chosen") == \
        "train-variants-how-the-presets-settings-were-chosen"
    assert anchor("edge-profile: what a bundle costs (`mobilebert-edge profile`)") == \
        "edge-profile-what-a-bundle-costs-mobilebert-edge-profile"


def test_a_wrong_section_or_file_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "B.md").write_text("# B\n\n## scoring: batch scoring\n", encoding="utf-8")
    readme = "[a](docs/B.md#scoring-batch-scoring) [b](docs/B.md#scoring) [c](docs/C.md) [d](docs/B.md)"
    assert broken_links(readme, tmp_path) == ["docs/B.md#scoring: no heading with that anchor",
                                              "docs/C.md: no such file"]


def test_every_readme_link_into_docs_lands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(LINK.findall(readme)) >= 8  # the measured numbers link to their sections
    assert broken_links(readme, REPO) == []
