"""Every ``mobilebert-edge`` command in README.md parses with the real argument parser."""

from __future__ import annotations

import shlex
from pathlib import Path

from readme_commands import commands, problem

README = Path(__file__).resolve().parents[1] / "README.md"

SAMPLE = '''
Text with `mobilebert-edge predict` inline: not a command block.

```bash
# a comment line
MINILM=$(python -c "print(1)")
mobilebert-edge train --data reviews.csv --model "$MINILM" --out runs/x \\
    --label-names negative,positive      # trailing comment
cat texts.txt | mobilebert-edge predict bundles/x --json > out.jsonl 2>/dev/null
RAY_ADDRESS=auto mobilebert-edge score b in.parquet --out scored.parquet --engine ray && echo done
mobilebert-edge predict bundles/x --no-such-flag
mobilebert-edge score b in.parquet --out scored_parquet --engine ray
python -m mobilebert_edge trian --data x
```

```python
print("mobilebert-edge export is not a shell line here")
```
'''


def test_extraction_handles_continuations_placeholders_pipes_and_comments():
    assert commands(SAMPLE) == [
        ["train", "--data", "reviews.csv", "--model", "$MINILM", "--out", "runs/x", "--label-names", "negative,positive"],
        ["predict", "bundles/x", "--json"],
        ["score", "b", "in.parquet", "--out", "scored.parquet", "--engine", "ray"],
        ["predict", "bundles/x", "--no-such-flag"],
        ["score", "b", "in.parquet", "--out", "scored_parquet", "--engine", "ray"],
        ["trian", "--data", "x"],
    ]


def test_the_check_refuses_bad_flags_commands_and_table_names():
    found = [problem(args) for args in commands(SAMPLE)]
    assert found[:3] == [None, None, None]
    assert "unrecognized arguments: --no-such-flag" in found[3]
    assert "scored_parquet: cannot tell the table format from the file name" in found[4]
    assert "invalid choice: 'trian'" in found[5]


def test_every_readme_command_parses():
    found = commands(README.read_text(encoding="utf-8"))
    assert len(found) >= 10, found  # the quickstarts, batch scoring, ...
    assert {args[0] for args in found} >= {"train", "export", "predict", "check", "score", "imdb"}
    assert any("--unlabeled" in args and "--self-train-recipe" in args for args in found)  # learning from unlabelled texts
    bad = {" ".join(args): message for args in found if (message := problem(args))}
    assert not bad, "README commands that do not parse:\n" + "\n".join(f"  mobilebert-edge {c}\n    {m}" for c, m in bad.items())


def _pip_lines(text: str) -> list[str]:
    return [" ".join(shlex.split(line, comments=True)) for line in text.splitlines() if line.strip().startswith("pip install")]


def test_ci_installs_as_the_readme_says():
    readme = README.read_text(encoding="utf-8")
    install = readme[readme.index("## Install"):]
    install_block = install[install.index("```bash"):install.index("```", install.index("```bash") + 3)]
    newcomer = _pip_lines(install_block)
    assert newcomer and not any("ray" in line for line in newcomer)  # Ray is an explicit extra, not a default
    contributor = "pip install -e '.[train,ray,test]'"
    assert contributor in readme[readme.index("## Tests"):]  # the README tells contributors to add it
    ci = _pip_lines((README.parent / ".ci" / "run").read_text(encoding="utf-8"))
    assert ci == [line.replace(" .[train,test]", " .[train,ray,test]") for line in newcomer]
