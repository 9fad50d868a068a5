"""Open a text file whatever its common encoding: gzip'd or not, UTF-8/UTF-16 with a BOM, UTF-8, cp949.

The encoding is chosen by decoding a sizable sample (``detect_encoding``); the whole file is then
read with that encoding through a strict stream (``open_text``) that turns a bad byte anywhere in
the file into an ``InputError`` naming the file, the line and the byte offset, never a traceback.
Standard library only: this module ships on devices.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from pathlib import Path
from typing import BinaryIO

from edge_runtime.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
SAMPLE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 16

# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Tried in order on a sample when there is no BOM.
FALLBACK_ENCODINGS = ("utf-8", "cp949")
_ASCII_COMPATIBLE_LINES = ("utf-8", "utf-8-sig", "cp949", "euc-kr", "latin-1", "cp1252", "ascii")


class UndecodableText(InputError):
    """A byte that the file's encoding cannot decode; ``where`` says at which line and byte."""

    def __init__(self, message: str, *, where: str, hint: str) -> None:
        self.where = where
        super().__init__(message, hint=hint)


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes (whatever its suffix)."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file", hint="check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file", hint="pass the path of a data file")


def open_binary(path: str | Path) -> BinaryIO:
    """Open a file for reading bytes, decompressing it on the fly when it is gzip'd."""
    path = Path(path)
    _check_file(path)
    try:
        if is_gzip(path):
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except PermissionError:
        raise InputError(f"{path}: permission denied", hint="check the file's permissions") from None


def _read_sample(path: Path, sample_bytes: int) -> bytes:
    try:
        with open_binary(path) as handle:
            return handle.read(sample_bytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot read the file ({error})", hint="is the gzip file complete?") from None


def _decodes(sample: bytes, encoding: str, final: bool) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        decoder.decode(sample, final=final)  # a partial sample may end inside a character
    except UnicodeDecodeError:
        return False
    return True


def _first_bad_byte(path: Path, encoding: str) -> UndecodableText | None:
    """Decode the whole file; the error at its first undecodable byte, or None when it all decodes."""
    with DecodedText(open_binary(path), encoding, str(path)) as stream:
        try:
            while stream.read(CHUNK_BYTES):
                pass
        except UndecodableText as error:
            return error
    return None


def detect_encoding(path: str | Path, sample_bytes: int = SAMPLE_BYTES, *, verify: bool = True) -> str:
    """The encoding of a text file (gzip'd or not): a BOM's, else the first of UTF-8, cp949 that decodes.

    The first ``sample_bytes`` bytes choose the candidates; with ``verify`` (the default) the whole
    file is then decoded with each candidate in turn, so a UTF-8-looking file with a stray byte far
    inside is read as cp949 when that decodes it all. Raises ``InputError`` naming the file (and the
    line of the first bad byte) when nothing decodes it.
    """
    path = Path(path)
    sample = _read_sample(path, sample_bytes)
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    whole = len(sample) < sample_bytes
    candidates = [e for e in FALLBACK_ENCODINGS if _decodes(sample, e, final=whole)]
    hint = "pass --encoding with the file's encoding (e.g. --encoding latin-1) or convert it to UTF-8"
    if not candidates:
        raise InputError(f"{path}: not UTF-8 or cp949 text", hint=hint)
    if whole or not verify:
        return candidates[0]
    first_error: UndecodableText | None = None
    for encoding in candidates:
        error = _first_bad_byte(path, encoding)
        if error is None:
            return encoding
        first_error = first_error or error
    assert first_error is not None
    raise InputError(f"{path}: not UTF-8 or cp949 text (first bad byte: {first_error.where})", hint=hint)


def encoding_note(source: str | Path, encoding: str) -> str | None:
    """The line every command prints when a file it detected is not UTF-8 (None when it is)."""
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return None
    return f"{source}: not UTF-8, read as {encoding} (pass --encoding to choose another)"


def check_encoding(encoding: str) -> str:
    """The normalised codec name of ``encoding``; ``InputError`` when Python does not know it."""
    try:
        return codecs.lookup(encoding).name
    except LookupError as error:
        raise InputError(
            f"unknown text encoding {encoding!r}", hint="use a Python codec name such as utf-8, cp949, latin-1"
        ) from error


class _CountingReader(io.BufferedIOBase):
    """A binary reader that remembers how many bytes and newlines came before its latest chunk."""

    def __init__(self, raw: BinaryIO, name: str) -> None:
        super().__init__()
        self._raw = raw
        self._read1 = getattr(raw, "read1", raw.read)
        self.name = name
        self.bytes_before = 0
        self.lines_before = 0
        self.last = b""

    def readable(self) -> bool:
        return True

    def _take(self, data: bytes) -> bytes:
        self.bytes_before += len(self.last)
        self.lines_before += self.last.count(b"\n")
        self.last = data
        return data

    def _damaged(self, error: Exception) -> InputError:
        return InputError(f"{self.name}: cannot read the file ({error})", hint="is the gzip file complete?")

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._take(self._raw.read(-1 if size is None else size))
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise self._damaged(error) from None

    def read1(self, size: int = -1) -> bytes:
        try:
            return self._take(self._read1(size if size and size > 0 else CHUNK_BYTES))
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise self._damaged(error) from None

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class DecodedText(io.TextIOWrapper):
    """A strict read-only text stream that reports an undecodable byte as ``InputError``.

    Newlines are passed through unchanged (``newline=""``), which is what ``csv`` and pandas expect.
    """

    def __init__(self, raw: BinaryIO, encoding: str, name: str) -> None:
        self._counter = _CountingReader(raw, name)
        self._ascii_lines = codecs.lookup(encoding).name in {codecs.lookup(e).name for e in _ASCII_COMPATIBLE_LINES}
        super().__init__(self._counter, encoding=encoding, errors="strict", newline="")  # type: ignore[arg-type]

    def _decode_error(self, error: UnicodeDecodeError) -> InputError:
        counter = self._counter
        # error.object is what the decoder saw: bytes it held back from earlier chunks, then the latest one
        pending = max(len(error.object) - len(counter.last), 0)
        offset = counter.bytes_before - pending + error.start
        where = f"byte {offset}"
        if self._ascii_lines:  # held-back bytes are part of a character, never a newline
            line = counter.lines_before + counter.last[: max(error.start - pending, 0)].count(b"\n") + 1
            where = f"line {line}, byte {offset}"
        return UndecodableText(
            f"{counter.name}: not valid {self.encoding} text at {where}",
            where=where,
            hint="fix or remove that line, or pass --encoding with the file's real encoding",
        )

    def read(self, size: int | None = -1) -> str:
        try:
            return super().read(size)
        except UnicodeDecodeError as error:
            raise self._decode_error(error) from None

    def readline(self, size: int = -1) -> str:  # type: ignore[override]
        try:
            return super().readline(size)
        except UnicodeDecodeError as error:
            raise self._decode_error(error) from None

    def __next__(self) -> str:
        try:
            return super().__next__()
        except UnicodeDecodeError as error:
            raise self._decode_error(error) from None


def open_text(
    path: str | Path, encoding: str | None = None, *, sample_bytes: int = SAMPLE_BYTES, verify: bool = True
) -> DecodedText:
    """Open a text file for reading: gzip by magic bytes, encoding detected unless given.

    ``verify=False`` skips the whole-file check of ``detect_encoding`` (one extra pass over the
    file). Either way, a byte that the encoding cannot decode raises ``InputError`` with the file
    name and line when the stream reaches it, never a bare ``UnicodeDecodeError``.
    """
    path = Path(path)
    chosen = check_encoding(encoding) if encoding else detect_encoding(path, sample_bytes, verify=verify)
    return DecodedText(open_binary(path), chosen, str(path))
