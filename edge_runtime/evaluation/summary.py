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
    lines += ["", *format_calibration(result)]
    if result.get("coverage"):
        lines += ["", *format_coverage(result)]
    by_length = result.get("by_length")
    if by_length:
        limit = by_length["max_length"]
        lines.append(f"texts over the {limit}-token limit (truncated): {by_length['truncated']:,} of {result['examples']:,}")
    comparison = result.get("comparison")
    if comparison:
        lines += ["", *format_comparison(comparison)]
    return "\n".join(lines)


def format_calibration(result: dict[str, Any]) -> list[str]:
    """ECE, Brier and NLL; before and after the bundle's calibration when it has one."""
    cal, before = result["calibration"], result.get("calibration_before")
    bins = f"(top-label confidence, {cal['bins']} equal-width bins)"
    if not before:
        return [f"calibration: ECE {cal['ece']:.4f} {bins}, Brier score {cal['brier']:.4f}, NLL {cal.get('nll', 0):.4f}"]
    return [f"calibration with the bundle's {before['calibration']}: ECE {cal['ece']:.4f} {bins}, "
            f"Brier score {cal['brier']:.4f}, NLL {cal['nll']:.4f}",
            f"  without it (softmax of the logits): ECE {before['ece']:.4f}, Brier score {before['brier']:.4f}, "
            f"NLL {before['nll']:.4f}; labels and accuracy are the same"]


def format_coverage(result: dict[str, Any]) -> list[str]:
    """Coverage and accuracy at a few minimum confidences, and the answer to --target-accuracy."""
    rows = [[f"{row['threshold']:.2f}", f"{row['accepted']:,}", _pct(row["coverage"]),
             "-" if row["accuracy"] is None else _pct(row["accuracy"])] for row in result["coverage"]["table"]]
    lines = ["texts accepted at a minimum confidence (top probability at least it), and their accuracy",
             *_table(["min confidence", "accepted", "coverage", "accuracy"], rows)]
    target = result.get("target")
    if target:
        if target["reached"]:
            lines.append(f"target accuracy {_pct(target['target'])}: --min-confidence {target['threshold']:.3f} keeps "
                         f"{target['accepted']:,} of {result['examples']:,} texts ({_pct(target['coverage'])}), "
                         f"{_pct(target['accuracy'])} right on this file")
        else:
            lines.append(f"target accuracy {_pct(target['target'])}: no minimum confidence reaches it on this file "
                         f"(the best, {target['threshold']:.3f}, keeps {target['accepted']:,} texts, "
                         f"{_pct(target['accuracy'])} right)")
    return lines


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
