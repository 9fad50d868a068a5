"""The ``score`` subcommand (registered by mobilebert_edge.cli)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the score subcommand."""
