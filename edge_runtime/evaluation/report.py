"""The report folder: ``report.html`` (self-contained: pictures inlined as data URIs), the PNGs it
shows and ``report.json`` (every number). Pictures need matplotlib (the ``report`` extra); without
it the HTML still holds every table and says how to get the pictures.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.atomic import atomic_write
from edge_runtime.errors import InputError, describe_os_error

REPORT_FILE = "report.html"
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
JSON_FILE = "report.json"
PICTURES = (  # (file, caption, drawing function in plots.py, result key it needs)
    ("confusion_matrix.png", "Confusion matrix: counts, coloured by the share of each true label.", "confusion_png", None),
    ("reliability.png", "Reliability diagram: accuracy against confidence; bars on the diagonal are well calibrated.",
     "reliability_png", None),
    ("confidence.png", "Confidence of right and wrong predictions.", "confidence_png", None),
    ("coverage.png", "Coverage and accuracy: the texts whose top probability is at least the minimum confidence.",
     "coverage_png", "coverage"),
    ("accuracy_by_length.png", "Accuracy by text length in tokens; texts past the limit were truncated.", "length_png",
     "by_length"),
)
INSTALL_HINT = "pip install 'mobilebert-edge[report]'"
TEXT_SHOWN = 1500  # characters of a text shown in a table

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.5em .9em;min-width:7.5em}
.card b{display:block;font-size:1.5em}.card span{color:#666;font-size:.85em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}td.text,th.text{text-align:left}td.text div{max-height:9em;overflow:auto;max-width:60em}
.pictures{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1.2em}
figure{margin:0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.note{background:#fff8e1;border:1px solid #f0d890;padding:.6em 1em;border-radius:6px}
"""


@dataclass
class ReportFiles:
    """What ``write_report`` wrote; ``note`` says why pictures are missing."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    note: str | None = None

    @property
    def html(self) -> Path:
        return self.folder / REPORT_FILE


def draw_pictures(result: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes by file name, or ModuleNotFoundError when matplotlib is not installed."""
    import matplotlib  # noqa: F401  (fail before drawing anything)

    from edge_runtime.evaluation import plots

    return {name: getattr(plots, function)(result) for name, _, function, needs in PICTURES
            if needs is None or result.get(needs)}


def check_report_folder(folder: str | Path) -> Path:
    """The report folder, refused (``InputError``) when a file stands at its path or above it."""
    folder = Path(folder)
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise InputError(f"--report {folder}: {blocker} is a file, not a folder",
                         hint="name a folder for the report (it is created if needed)")
    return folder


def write_report(folder: str | Path, result: dict[str, Any], *, title: str = "Evaluation") -> ReportFiles:
    """Write the report folder (created if needed; our files in it are replaced atomically)."""
    folder = check_report_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--report {describe_os_error(error, folder)}") from error
    report = ReportFiles(folder)
    try:
        pictures = draw_pictures(result)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "matplotlib":
            raise
        pictures = {}
        report.note = f"the report's pictures need matplotlib: {INSTALL_HINT}"
    for name, png in pictures.items():
        with atomic_write(folder / name, "wb") as handle:
            handle.write(png)
        report.files.append(folder / name)
    with atomic_write(folder / JSON_FILE) as handle:
        handle.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    report.files.append(folder / JSON_FILE)
    with atomic_write(folder / REPORT_FILE) as handle:
        handle.write(render_html(result, pictures, title=title, note=report.note))
    report.files.append(folder / REPORT_FILE)
    return report


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _text_cell(text: Any) -> str:
    """A text as it reads: its own line breaks (and the ``<br />`` tags of scraped reviews) as breaks, the rest escaped."""
    text = "" if text is None else LINE_BREAK.sub("\n", str(text))
    shown = text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + " [...]"
    lines = "<br>".join(_e(line) for line in shown.splitlines())
    return f'<td class="text"><div>{lines}</div></td>'


def _card(value: str, name: str) -> str:
    return f'<div class="card"><b>{_e(value)}</b><span>{_e(name)}</span></div>'


def _rows(header: list[str], rows: list[list[str]], text_column: int | None = None) -> str:
    head = "".join(f'<th{" class=text" if i == text_column else ""}>{_e(h)}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell if i == text_column else f"<td>{_e(cell)}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _context(result: dict[str, Any]) -> str:
    bundle, data = result.get("bundle") or {}, result.get("data") or {}
    parts = []
    if bundle.get("path"):
        parts.append(f"bundle {bundle['path']} ({bundle.get('precision') or '?'}, max {bundle.get('max_length')} tokens, "
                     f"{bundle.get('truncation')} truncation)")
    if data.get("path"):
        columns = f" (text column {data['text_column']!r}, label column {data['label_column']!r})" if data.get("text_column") else ""
        parts.append(f"data {data['path']}{columns}")
    if data.get("skipped_rows"):
        parts.append("skipped rows: " + ", ".join(f"{n:,} {kind}" for kind, n in data["skipped_rows"].items()))
    return "; ".join(parts)


def _comparison(comparison: dict[str, Any]) -> str:
    a, b = comparison["models"]
    diff, acc = comparison["accuracy_difference"], comparison["accuracy"]
    only = diff["only_right"]
    cards = "".join([
        _card(_pct(comparison["label_agreement"]), "label agreement"),
        _card(_pct(acc[a]), f"accuracy {a}"), _card(_pct(acc[b]), f"accuracy {b}"),
        _card(f"{100 * diff['value']:+.2f}", f"points {a} - {b}"),
    ])
    interval = (f"95% confidence interval of the difference: [{100 * diff['low']:+.2f}, {100 * diff['high']:+.2f}] "
                f"points ({diff['method']}). Only {a} right: {only[a]:,}; only {b} right: {only[b]:,}.")
    rows = [[str(d["row"]), d["label"], d[a], d[b], f"{d['probability_difference']:.3f}", _text_cell(d["text"])]
            for d in comparison["disagreement_examples"]]
    shown = (f"Texts on which they disagree ({len(rows)} shown of {comparison['disagreements']:,}), the largest "
             "probability difference first:" if rows else "The two models agree on every text.")
    return (f"<h2>{_e(a)} against {_e(b)}</h2><div class=cards>{cards}</div><p>{_e(interval)}</p><p>{_e(shown)}</p>"
            + (_rows(["row", "true", a, b, "max |p diff|", "text"], rows, text_column=5) if rows else ""))


def _calibration_before(before: dict[str, Any] | None, cal: dict[str, Any]) -> str:
    if not before:
        return ""
    return (f"<p>These probabilities carry the bundle's calibration, {before['calibration']} (labels "
            f"unchanged). Without it: ECE {before['ece']:.4f} (with: {cal['ece']:.4f}), Brier "
            f"{before['brier']:.4f} ({cal['brier']:.4f}), NLL {before['nll']:.4f} ({cal['nll']:.4f}).</p>")


def _coverage(result: dict[str, Any]) -> str:
    if not result.get("coverage"):
        return ""
    rows = [[f"{r['threshold']:.2f}", f"{r['accepted']:,}", _pct(r["coverage"]),
             "-" if r["accuracy"] is None else _pct(r["accuracy"])] for r in result["coverage"]["table"]]
    target = result.get("target")
    line = ""
    if target and target["reached"]:
        line = (f"<p>Target accuracy {_pct(target['target'])}: minimum confidence {target['threshold']:.3f} keeps "
                f"{target['accepted']:,} texts ({_pct(target['coverage'])}), {_pct(target['accuracy'])} right.</p>")
    elif target:
        line = f"<p>No minimum confidence reaches {_pct(target['target'])} accuracy on these texts.</p>"
    return ("<h2>Coverage and accuracy</h2><p>A text is accepted at a minimum confidence when its top probability is "
            "at least that value (<code>--min-confidence</code>); the others are flagged unsure.</p>"
            + _rows(["min confidence", "accepted", "coverage", "accuracy"], rows) + line)


def render_html(result: dict[str, Any], pictures: dict[str, bytes], *, title: str = "Evaluation",
                note: str | None = None) -> str:
    """The report page; ``pictures`` (file name -> PNG bytes) are inlined and linked to their files."""
    labels = result["labels"]
    cal = result["calibration"]
    by_length = result.get("by_length")
    cards = [_card(_pct(result["accuracy"]), "accuracy"), _card(f"{result['macro_f1']:.4f}", "macro-F1"),
             _card(f"{cal['ece']:.4f}", f"ECE ({cal['bins']} bins)"), _card(f"{cal['brier']:.4f}", "Brier score"),
             _card(f"{result['examples']:,}", "texts")]
    if by_length:
        cards.append(_card(f"{by_length['truncated']:,}", f"texts over {by_length['max_length']} tokens"))
    per_class = _rows(["label", "precision", "recall", "F1", "support"], [
        [c["label"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}", f"{c['support']:,}"]
        for c in result["per_class"]])
    confusion = _rows(["true \\ predicted", *labels],
                      [[label, *[f"{n:,}" for n in row]] for label, row in zip(labels, result["confusion_matrix"])])
    figures = "".join(
        f'<figure><a href="{_e(name)}"><img alt="{_e(caption)}" src="data:image/png;base64,'
        f'{base64.b64encode(pictures[name]).decode("ascii")}"></a><figcaption>{_e(caption)}</figcaption></figure>'
        for name, caption, _, _ in PICTURES if name in pictures)
    mistakes = [[str(m["row"]), m["label"], m["predicted"], f"{m['confidence']:.3f}",
                 "" if m.get("tokens") is None else f"{m['tokens']:,}", _text_cell(m["text"])] for m in result["mistakes"]]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1><p class=sub>{_e(_context(result))}</p>",
        f"<div class=cards>{''.join(cards)}</div>",
        f"<p class=note>{_e(note)}</p>" if note else "",
        f"<div class=pictures>{figures}</div>" if figures else "",
        "<h2>Per label</h2>", per_class,
        "<h2>Confusion matrix</h2><p>Rows: the true label; columns: the predicted one.</p>", confusion,
        "<h2>Calibration</h2>",
        f"<p>Expected calibration error {cal['ece']:.4f}: the gap between confidence (the top label's probability) and "
        f"accuracy, averaged over {cal['bins']} equal-width confidence bins weighted by their counts. Brier score "
        f"{cal['brier']:.4f}: the mean squared error of the probabilities (0 is perfect).</p>",
        _rows(["confidence bin", "texts", "mean confidence", "accuracy"], [
            [f"{b['low']:.1f}-{b['high']:.1f}", f"{b['count']:,}", f"{b['confidence']:.3f}", f"{b['accuracy']:.3f}"]
            for b in cal["reliability"] if b["count"]]),
        _calibration_before(result.get("calibration_before"), cal),
        _coverage(result),
    ]
    if result.get("comparison"):
        parts.append(_comparison(result["comparison"]))
    parts += [
        "<h2>Most confident mistakes</h2>",
        _rows(["row", "true", "predicted", "confidence", "tokens", "text"], mistakes, text_column=5)
        if mistakes else "<p>No mistakes.</p>",
        f'<p class=sub>Every number: <a href="{JSON_FILE}">{JSON_FILE}</a>.</p>',
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"
