"""The evaluation as text for a terminal: a classification report, the confusion matrix, calibration."""

from __future__ import annotations

from typing import Any


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned first column, right-aligned others."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(row[0]).ljust(widths[0])] + [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_summary(result: dict[str, Any]) -> str:
    """What ``evaluate`` prints: accuracy, macro-F1, per class, the confusion matrix, calibration, comparison."""
    labels = result["labels"]
    lines = [f"{result['examples']:,} examples: accuracy {_pct(result['accuracy'])}, macro-F1 {result['macro_f1']:.4f}"]
    skipped = (result.get("data") or {}).get("skipped_rows") or {}
    if skipped:
        lines.append("skipped rows: " + ", ".join(f"{n:,} {kind}" for kind, n in skipped.items()))
    lines += ["", *_table(["label", "precision", "recall", "F1", "support"], [
        [c["label"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}", f"{c['support']:,}"]
        for c in result["per_class"]
    ])]
    lines += ["", "confusion matrix (rows: true label, columns: predicted)"]
    lines += _table(["", *labels], [[label, *[f"{n:,}" for n in row]] for label, row in zip(labels, result["confusion_matrix"])])
    cal = result["calibration"]
    lines += ["", f"calibration: ECE {cal['ece']:.4f} (top-label confidence, {cal['bins']} equal-width bins), "
                  f"Brier score {cal['brier']:.4f}"]
    by_length = result.get("by_length")
    if by_length:
        limit = by_length["max_length"]
        lines.append(f"texts over the {limit}-token limit (truncated): {by_length['truncated']:,} of {result['examples']:,}")
    comparison = result.get("comparison")
    if comparison:
        lines += ["", *format_comparison(comparison)]
    return "\n".join(lines)


def format_comparison(comparison: dict[str, Any], shown: int = 5) -> list[str]:
    """Agreement, both accuracies, the difference with its interval, and a few disagreements."""
    a, b = comparison["models"]
    diff = comparison["accuracy_difference"]
    acc = comparison["accuracy"]
    lines = [
        f"{a} vs {b} on {comparison['examples']:,} texts: label agreement {_pct(comparison['label_agreement'])} "
        f"({comparison['disagreements']:,} disagreements)",
        f"accuracy {a} {_pct(acc[a])}, {b} {_pct(acc[b])}; difference {100 * diff['value']:+.2f} points, "
        f"95% CI [{100 * diff['low']:+.2f}, {100 * diff['high']:+.2f}] ({diff['method']})",
    ]
    for item in comparison["disagreement_examples"][:shown]:
        text = " ".join(str(item["text"]).split())
        text = text if len(text) <= 70 else text[:67] + "..."
        lines.append(f"  row {item['row']}: true {item['label']}, {a} {item[a]}, {b} {item[b]}: {text}")
    return lines
