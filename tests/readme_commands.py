"""The ``mobilebert-edge`` commands shown in a Markdown file's code blocks, and a check of each one.

A command may span lines joined by a trailing backslash, sit in a pipeline or after ``VAR=value``
assignments, carry ``$VAR`` placeholders and end in a ``#`` comment; redirections are dropped.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console", "zsh"}
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTIONS = {">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", ">|"}
PROGRAM = "mobilebert-edge"


def shell_lines(markdown: str) -> list[str]:
    """Logical lines of the shell code blocks (backslash continuations joined)."""
    lines: list[str] = []
    for language, body in FENCE.findall(markdown):
        if language.lower() not in SHELL_BLOCKS:
            continue
        pending = ""
        for raw in body.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            lines.append(pending + line)
            pending = ""
        if pending:
            lines.append(pending)
    return lines


def _segments(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segments: list[list[str]] = [[]]
    tokens = list(lexer)
    skip = False
    for i, token in enumerate(tokens):
        if skip:
            skip = False
        elif token in SEPARATORS:
            segments.append([])
        elif token in REDIRECTIONS:
            if segments[-1] and segments[-1][-1].isdigit() and i > 0 and tokens[i - 1] == segments[-1][-1]:
                segments[-1].pop()  # the file descriptor of 2> and the like
            skip = True  # the redirection's target
        else:
            segments[-1].append(token)
    return [segment for segment in segments if segment]


def commands(markdown: str) -> list[list[str]]:
    """The argument lists (after the program name) of every ``mobilebert-edge`` command in the code blocks."""
    found = []
    for line in shell_lines(markdown):
        for words in _segments(line):
            while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
                words = words[1:]  # VAR=value before the command
            if words and words[0] == PROGRAM:
                found.append(words[1:])
            elif words[:3] == ["python", "-m", "mobilebert_edge"]:
                found.append(words[3:])
    return found


def problem(args: list[str]) -> str | None:
    """Why ``mobilebert-edge ARGS`` would be refused before it starts (the real parser), or None."""
    from edge_runtime.errors import EdgeError
    from mobilebert_edge.cli import parse_args

    args = [arg for arg in args if arg != "--verbose"]  # main() accepts it anywhere
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parsed = parse_args(args)
    except SystemExit as exit_:
        if exit_.code in (0, None):  # --help, --version
            return None
        return stderr.getvalue().strip().splitlines()[-1]
    if parsed.command == "score":  # formats come from the file names: a typo there fails at once too
        from edge_runtime.scoring.tables import table_format

        try:
            table_format(Path(parsed.input), parsed.format)
            table_format(Path(parsed.out))
        except EdgeError as error:
            return str(error)
    return None
