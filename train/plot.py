"""The training curve PNG: training loss and validation accuracy per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_history(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Write ``path`` (PNG): loss on the left axis, validation accuracy on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, left = plt.subplots(figsize=(6, 4), dpi=100)
    left.plot(epochs, [row["train_loss"] for row in history], "o-", color="tab:blue", label="training loss")
    left.plot(epochs, [row["val_loss"] for row in history], "s--", color="tab:cyan", label="validation loss")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.set_xticks(epochs)
    right = left.twinx()
    right.plot(epochs, [row["val_accuracy"] for row in history], "^-", color="tab:red", label="validation accuracy")
    right.set_ylabel("validation accuracy")
    lines = left.get_lines() + right.get_lines()
    left.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize="small")
    if title:
        left.set_title(title, fontsize="medium")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
