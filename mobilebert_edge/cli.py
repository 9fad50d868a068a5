"""The ``mobilebert-edge`` command: one entry point, one subcommand per job.

Each area registers its own subcommands (``<package>/cli.py: register(subparsers)``); those
modules import only the standard library, and heavy libraries are imported inside the command,
so ``predict``/``check``/``score`` work on a device that has only the base install. A command
named in ``COMMAND_OWNERS`` imports only the module that registers it: ``predict``, ``check`` and
``score`` never import ``mobilebert_edge.train``, ``.export`` or ``.data``.

Exit codes: 0 success, 1 a user or data error (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from edge_runtime.errors import EdgeError, describe_os_error
from mobilebert_edge import __version__

# Modules that provide ``register(subparsers)``, in the order their commands are listed.
COMMAND_MODULES = (
    "mobilebert_edge.train.cli",
    "mobilebert_edge.export.cli",
    "edge_runtime.cli",
    "edge_runtime.scoring.cli",
    "edge_runtime.evaluation.cli",
    "edge_runtime.profile.cli",
    "mobilebert_edge.data.cli",
)

# The module that registers each command; a command not listed here builds the whole parser.
COMMAND_OWNERS = {
    "train": "mobilebert_edge.train.cli",
    "export": "mobilebert_edge.export.cli",
    "predict": "edge_runtime.cli",
    "check": "edge_runtime.cli",
    "score": "edge_runtime.scoring.cli",
    "evaluate": "edge_runtime.evaluation.cli",
    "profile": "edge_runtime.profile.cli",
    "imdb": "mobilebert_edge.data.cli",
}

# Libraries that come with an extra, and the extra that brings them.
EXTRAS = {
    "torch": "train",
    "transformers": "train",
    "pandas": "train",
    "onnx": "train",
    "optimum": "train",
    "matplotlib": "train",
    "tqdm": "train",
    "safetensors": "train",
    "pyarrow": "parquet",
    "ray": "ray",
}


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The top-level parser with the subcommands that ``modules`` register (default: every one)."""
    parser = argparse.ArgumentParser(
        prog="mobilebert-edge",
        description="Fine-tune, export and serve small text classifiers on ordinary CPUs.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--verbose", action="store_true", help="show full tracebacks for errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in modules:
        importlib.import_module(name).register(subparsers)
    for command in subparsers.choices.values():
        command.allow_abbrev = False  # '--thread' is a typo, not '--threads'
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line as ``main`` does.

    A command's options may come before, between or after its positionals (``predict BUNDLE --json
    TEXT``), and a usage error shows that command's usage, not the list of commands.
    """
    argv = list(argv)
    first = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), None)
    name = argv[first] if first is not None else ""
    parser = _parser_for(name)
    command = _subcommands(parser).get(name)
    if command is None or first:  # no or unknown command, or top-level options first (--help, --version)
        return parser.parse_args(argv)
    args = command.parse_intermixed_args(argv[1:])
    args.command = argv[0]
    return args


def _parser_for(command: str) -> argparse.ArgumentParser:
    """Only the module of ``command`` when it is known, else every module (help, typos)."""
    owner = COMMAND_OWNERS.get(command)
    return build_parser((owner,)) if owner in COMMAND_MODULES else build_parser()


def _missing_extra(error: ModuleNotFoundError) -> str | None:
    root = (error.name or "").split(".")[0]
    extra = EXTRAS.get(root)
    if extra is None:
        return None
    return (
        f"this command needs '{root}', which is not installed; "
        f"install the '{extra}' extra: pip install 'mobilebert-edge[{extra}]'"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv  # accepted before or after the subcommand
    argv = [arg for arg in argv if arg != "--verbose"]
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exit_.code or 0)
    try:
        return int(args.func(args) or 0)
    except EdgeError as error:
        if verbose:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:
        message = _missing_extra(error)
        if message is None:
            raise
        if verbose:
            traceback.print_exc()
        print(f"error: {message}", file=sys.stderr)
        return 1
    except OSError as error:  # a file that could not be read or written: named, with what to do
        if verbose:
            traceback.print_exc()
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
