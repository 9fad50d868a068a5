"""The report's pictures as PNG bytes, drawn with matplotlib (the ``report`` extra), from a result dict.

Every function takes the dict of ``Tally.result`` and returns the PNG; ``import matplotlib`` happens
inside ``figure_png`` so this module imports without it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

RIGHT, WRONG, ACCENT = "#2a9d8f", "#e76f51", "#264653"


def figure_png(draw: Callable[[Any, Any], None], size: tuple[float, float] = (6.0, 4.2)) -> bytes:
    """Run ``draw(figure, axes)`` on a fresh figure and return it as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=100)
    try:
        draw(fig, ax)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def confusion_png(result: dict[str, Any]) -> bytes:
    """Counts, coloured by the share of each true label (row)."""
    labels = result["labels"]
    counts = np.asarray(result["confusion_matrix"], dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(3.2 + 0.55 * len(labels), 9.0)

    def draw(fig: Any, ax: Any) -> None:
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true label")
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        if len(labels) <= 12:
            for i in range(len(labels)):
                for j in range(len(labels)):
                    color = "white" if shares[i, j] > 0.55 else "black"
                    ax.text(j, i, f"{int(counts[i, j]):,}\n{100 * shares[i, j]:.1f}%", ha="center", va="center",
                            color=color, fontsize=9)
        ax.set_title(f"Confusion matrix ({result['examples']:,} texts)", fontsize="medium")

    return figure_png(draw, (side + 1.4, side))


def reliability_png(result: dict[str, Any]) -> bytes:
    """Accuracy against mean confidence per confidence bin, with the diagonal of perfect calibration."""
    cal = result["calibration"]
    bins = [b for b in cal["reliability"] if b["count"]]

    def draw(fig: Any, ax: Any) -> None:
        width = 1.0 / cal["bins"]
        lows = [b["low"] for b in bins]
        ax.bar(lows, [b["accuracy"] for b in bins], width=width, align="edge", color=ACCENT, alpha=0.85,
               edgecolor="white", label="accuracy in the bin")
        for over, color, hatch, label in (
            (True, WRONG, "//", "confidence above accuracy (overconfident)"),
            (False, RIGHT, "\\\\", "accuracy above confidence (underconfident)"),
        ):  # the gap between a bin's accuracy and its mean confidence, one kind per legend entry
            gaps = [b for b in bins if (b["confidence"] - b["accuracy"]) * (1 if over else -1) > 0]
            if gaps:
                ax.bar([b["low"] for b in gaps], [abs(b["confidence"] - b["accuracy"]) for b in gaps],
                       bottom=[min(b["confidence"], b["accuracy"]) for b in gaps], width=width, align="edge",
                       color=color, alpha=0.35, edgecolor=color, hatch=hatch, label=label)
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        before = result.get("calibration_before")
        if before:
            shown = [b for b in before["reliability"] if b["count"]]
            ax.plot([b["confidence"] for b in shown], [b["accuracy"] for b in shown], "o:", color=WRONG,
                    label=f"without the calibration (ECE {before['ece']:.4f})")
        for b in bins:
            ax.text(b["low"] + width / 2, 0.02, f"{b['count']:,}", ha="center", va="bottom", fontsize=7,
                    color="white", rotation=90)
        floor = 1.0 / len(result["labels"])
        ax.set_xlim(max(0.0, floor - width), 1.0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence (top-label probability)")
        ax.set_ylabel("accuracy")
        ax.legend(loc="upper left", fontsize="small")
        ax.set_title(f"Reliability: ECE {cal['ece']:.4f}, Brier {cal['brier']:.4f} ({cal['bins']} bins; n per bar)",
                     fontsize="medium")

    return figure_png(draw)


def coverage_png(result: dict[str, Any]) -> bytes:
    """Share of texts accepted, and their accuracy, against the minimum confidence."""
    floor = 1.0 / len(result["labels"])
    curve = [c for c in result["coverage"]["curve"] if c["threshold"] >= floor - 1e-9]
    target = result.get("target")

    def draw(fig: Any, ax: Any) -> None:
        x = [c["threshold"] for c in curve]
        ax.plot(x, [c["coverage"] for c in curve], color=ACCENT, label="coverage (share of texts accepted)")
        ax.plot(x, [np.nan if c["accuracy"] is None else c["accuracy"] for c in curve], color=RIGHT,
                label="accuracy of the accepted texts")
        if target and target["reached"]:
            ax.axvline(target["threshold"], color=WRONG, linestyle="--",
                       label=f"{100 * target['target']:.1f}% accuracy from {target['threshold']:.3f} "
                             f"({100 * target['coverage']:.1f}% kept)")
        ax.set_xlim(floor, 1.0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("minimum confidence (top probability at least it)")
        ax.legend(loc="lower left", fontsize="small")
        ax.set_title("Coverage and accuracy by minimum confidence", fontsize="medium")

    return figure_png(draw)


def confidence_png(result: dict[str, Any]) -> bytes:
    """How confident the model is when it is right and when it is wrong (share of each group per bin)."""
    hist = result["confidence_histogram"]
    edges = np.asarray(hist["edges"])
    right, wrong = np.asarray(hist["right"], dtype=np.float64), np.asarray(hist["wrong"], dtype=np.float64)

    def draw(fig: Any, ax: Any) -> None:
        width = np.diff(edges)
        for counts, color, name in ((right, RIGHT, "right"), (wrong, WRONG, "wrong")):
            share = counts / counts.sum() if counts.sum() else counts
            ax.bar(edges[:-1], share, width=width, align="edge", color=color, alpha=0.55, edgecolor=color,
                   label=f"{name} ({int(counts.sum()):,})")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("confidence (top-label probability)")
        ax.set_ylabel("share of the group's predictions")
        ax.legend(loc="upper left", fontsize="small")
        ax.set_title("Confidence of right and wrong predictions", fontsize="medium")

    return figure_png(draw)


def length_png(result: dict[str, Any]) -> bytes:
    """Accuracy per bin of text length in tokens (bins of about equal count), the truncation limit marked."""
    info = result["by_length"]
    bins = info["bins"]
    limit = info["max_length"]

    def name(b: dict[str, Any]) -> str:
        return f">= {b['low']:,}" if b["high"] is None else f"{b['low']:,}-{b['high']:,}"

    def draw(fig: Any, ax: Any) -> None:
        x = np.arange(len(bins))
        over = [b["low"] > limit for b in bins]
        colors = [WRONG if o else ACCENT for o in over]
        ax.bar(x, [b["accuracy"] for b in bins], color=colors, alpha=0.85, edgecolor="white")
        for i, b in enumerate(bins):
            ax.text(i, b["accuracy"] + 0.01, f"{100 * b['accuracy']:.1f}%\nn={b['count']:,}", ha="center",
                    va="bottom", fontsize=7)
        ax.axhline(result["accuracy"], color="grey", linestyle=":", label=f"overall {100 * result['accuracy']:.1f}%")
        if any(over):
            cut = over.index(True) - 0.5
            ax.axvline(cut, color=WRONG, linestyle="--", label=f"truncation limit: {limit} tokens")
        else:
            ax.plot([], [], color=WRONG, linestyle="--", label=f"truncation limit: {limit} tokens (no text is longer)")
        ax.set_xticks(x, [name(b) for b in bins], rotation=30, ha="right", fontsize=8)
        ax.set_xlabel("text length in tokens (before truncation)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.32)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.legend(loc="upper left", fontsize="small", ncol=2)
        ax.set_title(f"Accuracy by text length ({info['truncated']:,} texts truncated)", fontsize="medium")

    return figure_png(draw, (6.4, 4.4))
