"""Byte sources: opening an input, and its bytes handed over block by block, checked as they arrive.

``open_checked`` opens a path (plain or ``.gz``/``.bz2``/``.xz``/``.zip``) or ``-`` (stdin,
spooled to a temporary file). A reader that checked its input only after reading it whole
could be made to hold any amount of it (a 2 MB gzip expands to 2 GiB of NUL bytes), so
:class:`CheckedReader` sits between the decompressed stream and the parser and rejects NUL
bytes, bytes that are not UTF-8 and damaged compression in the block where they occur.
:class:`Progress` says how far through the file on disk the reading is, from which
``rows.GrowingRows`` estimates the whole table and refuses it before it outgrows memory.
:func:`read_once` tells the inputs that can be read only once (stdin, pipes) and
:func:`spooled` gives a re-readable copy of them.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import os
import contextlib
import re
import stat
import sys
import tempfile
import zipfile
import zlib
from typing import Callable

import numpy as np

from vifit.errors import BadInput

BLOCK_BYTES = 1 << 20  # what stdin is spooled by; the parser asks for its own sizes

# what a damaged compressed stream raises while being read
DECOMPRESSION_ERRORS = (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error)

BINARY_MESSAGE = "looks like binary data (NUL bytes), not a CSV text file"
UTF8_HINT = "bytes are not valid UTF-8 text; convert the file to UTF-8 (for example with iconv -f latin1 -t utf-8)"


class ReadStream(io.RawIOBase):
    """A raw binary stream defined by its ``read(size)`` (the parser takes the bytes read
    without a copy): readinto fills a buffer from it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class CheckedReader(ReadStream):
    """A binary stream over ``stream`` that raises BadInput (naming ``name`` and the line) for
    NUL bytes, non-UTF-8 bytes and damaged compression, in the block that holds them."""

    def __init__(self, stream, name: str, also_close=None, close_stream: bool = True):
        self._stream, self._name, self._also_close = stream, name, also_close
        self._close_stream = close_stream  # False for stdin, which the process keeps
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._newlines = 0  # newlines in the blocks handed over before the latest one
        self._ended = False

    def read(self, size=-1) -> bytes:
        if self._ended:
            return b""
        try:
            data = self._stream.read(size)
        except DECOMPRESSION_ERRORS as exc:
            raise BadInput(f"{self._name}: compressed data is damaged or truncated ({exc})") from None
        self._check(data)
        return data

    def _check(self, data: bytes) -> None:
        if b"\x00" in data:
            raise BadInput(f"{self._name}: {BINARY_MESSAGE}")
        try:
            if not data:
                self._ended = True
                self._decoder.decode(b"", final=True)
            elif not data.isascii() or self._decoder.getstate()[0]:  # ASCII is UTF-8, unless it ends a character
                self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            # exc.object is the latest block after at most 3 carried bytes of one character (no newline)
            line = self._newlines + exc.object[: exc.start].count(b"\n") + 1
            raise BadInput(f"{self._name}: line {line}: {UTF8_HINT}") from None
        # numpy counts about 5x faster than bytes.count, which was a tenth of a whole-table read
        self._newlines += int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))

    def close(self) -> None:
        try:
            if self._close_stream:
                self._stream.close()
            if self._also_close is not None:  # the file under a decompressor given a file object
                self._also_close.close()
        finally:
            super().close()


class Progress:
    """The fraction of a file on disk read so far, through the file object that a decompressor
    (or the parser) reads from: stdin's spool, a zip archive, a plain or compressed file. None
    when its size is unknown."""

    def __init__(self, raw_file=None, size: int | None = None):
        self._raw, self._size = raw_file, size

    def fraction(self) -> float | None:
        if self._raw is None or not self._size:
            return None
        try:
            return min(self._raw.tell() / self._size, 1.0)
        except (OSError, ValueError):
            return None


def spool_stdin(stdin, name: str):
    """stdin copied block by block, checked as it arrives, into an anonymous temporary file
    (rewound): the table is parsed from it, and a suspect row re-read from it, without ever
    holding the input in memory. A NUL byte ends the copy at its block."""
    from vifit.errors import SystemFailure

    spool = tempfile.TemporaryFile(prefix="vifit-stdin-")
    checked = CheckedReader(stdin, name)
    # A buffered stream's read(n) is short only at the end of the input; reading once more there
    # would wait for a second end on a terminal, where Ctrl-D ends the input once.
    buffered = not isinstance(stdin, io.RawIOBase)
    try:
        while True:
            block = checked.read(BLOCK_BYTES)
            if not block:
                break
            try:
                spool.write(block)
            except OSError as exc:
                raise SystemFailure(f"{name}: cannot keep a copy of stdin in {tempfile.gettempdir()}: "
                                    f"{exc.strerror or exc}") from None
            if buffered and len(block) < BLOCK_BYTES:
                checked.read(0)  # the end's checks (a character cut short), without another read
                break
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


class PositionalReader(io.RawIOBase):
    """A second, independent reading of an open file (by its descriptor, with its own
    position), so that the spooled stdin can be re-read while the parser reads it."""

    def __init__(self, fd: int):
        self._fd, self._position = fd, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, len(buffer), self._position)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


NON_SPACE = re.compile(rb"\S")  # finds the first non-blank byte without copying the input
_LINE_END = re.compile(rb"[\r\n]")
_HEAD_LIMIT = 64 << 20


def read_head(reader, name: str) -> bytes:
    """The start of the input, read until it holds its first non-blank line whole (the header,
    or the first row), or to the end of a shorter input."""
    head = b""
    while True:
        block = reader.read(1 << 16)
        head = head + block if head else block
        first = NON_SPACE.search(head)
        if not block or (first is not None and _LINE_END.search(head, first.start())):
            return head
        if len(head) > _HEAD_LIMIT:
            raise BadInput(f"{name}: the first {_HEAD_LIMIT >> 20} MiB hold no complete line of data; not a CSV table")


def first_line(head: bytes) -> str:
    """The first non-blank line of the input's start (pandas skips blank lines before the header)."""
    first = NON_SPACE.search(head)
    if first is None:
        return ""
    start = max(head.rfind(b"\n", 0, first.start()), head.rfind(b"\r", 0, first.start())) + 1
    end = _LINE_END.search(head, start)
    return head[start : end.start() if end else len(head)].decode("utf-8-sig", errors="replace")


class Chain(ReadStream):
    """The bytes of ``head`` and then of ``stream`` (the header was read ahead to check it)."""

    def __init__(self, head: bytes, stream):
        self._head, self._stream = head, stream

    def read(self, size=-1):
        """The next bytes as they come (the parser's reads take them without a copy into a buffer)."""
        if self._head:
            n = len(self._head) if size is None or size < 0 else min(size, len(self._head))
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._stream.read(size)


def display_name(source: str) -> str:
    return "<stdin>" if source == "-" else source


def _check_readable(source: str) -> None:
    name = display_name(source)
    if os.path.isdir(source):
        raise BadInput(f"{name}: is a directory, not a data file")
    if not os.path.exists(source):
        raise BadInput(f"{name}: no such file")
    if not os.access(source, os.R_OK):
        raise BadInput(f"{name}: permission denied")


def _decompressed(source: str, target):
    """The decompressed stream of ``source`` (compression chosen by extension), reading
    ``target``: the path itself, or a file object opened on it."""
    name = display_name(source)
    lower = source.lower()
    try:
        if lower.endswith(".gz"):
            return gzip.open(target, "rb")
        if lower.endswith(".bz2"):
            return bz2.open(target, "rb")
        if lower.endswith(".xz"):
            return lzma.open(target, "rb")
        if lower.endswith(".zip"):
            archive = zipfile.ZipFile(target)
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise BadInput(f"{name}: a .zip input must hold exactly one file, found {len(members)}")
            if members[0].flag_bits & 0x1:
                raise BadInput(f"{name}: encrypted zip members are not supported; extract the file first")
            return archive.open(members[0])
        return open(target, "rb") if isinstance(target, str) else target
    except PermissionError:
        # os.access above says yes to root, and access can change between the two calls
        raise BadInput(f"{name}: permission denied; cannot read the file") from None
    except (OSError, zipfile.BadZipFile, EOFError, lzma.LZMAError, NotImplementedError) as exc:
        raise BadInput(f"{name}: cannot open: {exc}") from None


def open_bytes(source: str) -> io.BufferedIOBase:
    """A binary stream of the (decompressed) contents of ``source``.

    Compression is chosen by extension. Stdin is read whole into memory
    because it cannot be rewound; callers that stream use their own reader.
    """
    if source == "-":
        return io.BytesIO(sys.stdin.buffer.read())
    _check_readable(source)
    return _decompressed(source, source)


def open_checked(source: str) -> tuple[CheckedReader, Progress, Callable[[], io.BufferedIOBase]]:
    """(the decompressed bytes, checked block by block; how far through the file on disk the
    reading is; a function giving a fresh, independent stream of the same bytes).

    Stdin is spooled to an anonymous temporary file (checked as it arrives), which is read
    and re-read like a file and goes away when the reader is closed."""
    name = display_name(source)
    if source == "-":
        spool = spool_stdin(sys.stdin.buffer, name)
        progress = Progress(spool, os.fstat(spool.fileno()).st_size)
        return (CheckedReader(spool, name), progress,
                lambda: io.BufferedReader(PositionalReader(spool.fileno()), buffer_size=1 << 16))
    _check_readable(source)
    try:
        raw = open(source, "rb")
    except PermissionError:
        raise BadInput(f"{name}: permission denied; cannot read the file") from None
    except OSError as exc:
        raise BadInput(f"{name}: cannot open: {exc.strerror or exc}") from None
    try:
        stream = _decompressed(source, raw)
    except BaseException:
        raw.close()
        raise
    reader = CheckedReader(stream, name, also_close=raw if stream is not raw else None)
    return reader, Progress(raw, file_size(source)), lambda: open_bytes(source)


def open_once(source: str) -> CheckedReader:
    """The checked bytes of an input read only once (stdin, a pipe), read as they arrive:
    nothing is spooled, so a stream of stdin starts before its end; stdin is left open."""
    name = display_name(source)
    if source == "-":
        return CheckedReader(sys.stdin.buffer, name, close_stream=False)
    return CheckedReader(open_bytes(source), name)


def read_bytes(source: str) -> bytes:
    """The whole (decompressed) input, checked to be UTF-8 text (a BOM is accepted), block by
    block as it is read (a NUL byte stops the reading where it occurs).

    Kept as bytes, never decoded whole (pandas parses the bytes directly). Raises BadInput
    for binary data, broken compression and non-UTF-8 bytes.
    """
    reader, _, _ = open_checked(source)
    with reader:
        return b"".join(iter(lambda: reader.read(1 << 20), b""))


def read_once(source: str) -> bool:
    """True for stdin and for any DATA that is not a regular file (a FIFO, a pipe's
    ``/dev/fd/N``, a character device): opening it again would block for a writer that
    never comes, or find it empty, so it is read once, as stdin is. A missing path is
    a regular file's to report (``data.open_bytes``)."""
    if source == "-":
        return True
    try:
        mode = os.stat(source).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))  # a folder is open_bytes' to report


@contextlib.contextmanager
def spooled(source: str):
    """A path DATA can be read from any number of times: DATA itself when it is a regular file,
    else a temporary copy of its bytes (compressed as they came: the name keeps DATA's
    ending), removed on leaving. For commands that read DATA twice; BadInput naming the
    copy is reworded to name DATA."""
    if not read_once(source):
        yield source
        return
    import shutil

    name = display_name(source)
    ending = os.path.basename(source)[-8:] if source != "-" else ""  # stdin: no name, as "<stdin>" has none
    with tempfile.TemporaryDirectory(prefix="vifit-spool-") as folder:
        path = os.path.join(folder, "data" + ending)
        raw = sys.stdin.buffer if source == "-" else open(source, "rb")
        try:
            with open(path, "wb") as copy:
                shutil.copyfileobj(raw, copy, 1 << 20)
        finally:
            if raw is not sys.stdin.buffer:
                raw.close()
        try:
            yield path
        except BadInput as exc:
            raise BadInput(str(exc).replace(path, name)) from None


def once_name(name: str) -> str:
    """How messages say what can be read only once: stdin, or the pipe's name."""
    return "stdin" if name == "<stdin>" else f"{name} (not a regular file)"
