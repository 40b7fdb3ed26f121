"""Where a result goes, and how it gets there without destroying anything.

``-o PATH`` is resolved to what it really is before anything is written:

- a regular file, or a name that does not exist yet: written atomically (a temporary file in
  the destination folder, fsync'd, then renamed over the target), so a failed or interrupted
  run never leaves a half-written file nor truncates an old one;
- a symlink: followed; its final target is replaced atomically as above (the link stays a
  link, the target keeps its permission bits and, for root, its owner);
- a character device, FIFO or socket (``/dev/null``, ``/dev/stdout``, a named pipe): opened
  and written in place, streaming, with no temporary file, as a shell's ``>`` would;
- a directory or a block device: refused (exit 2).

A name ending in ``.gz``, ``.bz2`` or ``.xz`` is compressed, deterministically (gzip with
mtime 0 and no file name in its header), so the same seed gives the same bytes. The OS
refusing a write (full disk, file-size limit, read-only folder) is a SystemFailure naming the
file and the system's reason, never "a bug in vifit". Stdout is written in one go; a reader
that closed the pipe (``| head``) ends us quietly.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import re
import socket
import stat
import sys
import tempfile
from typing import Iterable

from vifit import interrupt
from vifit.errors import BadInput, SystemFailure

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}


def compression_of(path: str | None) -> str | None:
    """"gzip", "bz2" or "xz" when the name ends in .gz, .bz2 or .xz, else None."""
    if not path or path == "-":
        return None
    return COMPRESSIONS.get(os.path.splitext(path)[1].lower())


def strip_compression(path: str) -> str:
    """The name without its compression suffix: ``x.csv.gz`` -> ``x.csv``."""
    stem, ext = os.path.splitext(path)
    return stem if ext.lower() in COMPRESSIONS else path


# ---------------------------------------------------------------- what -o names


def destination_kind(output: str) -> str:
    """"fd" (/dev/stdout, /dev/fd/N), "file" (regular or new), "stream" (character device,
    FIFO), "socket"; BadInput otherwise.

    Symlinks are followed (os.stat), so a link to /dev/null is a stream and a dangling link a
    new file at the link's target.
    """
    if standard_fd(output) is not None:
        return "fd"
    try:
        mode = os.stat(output).st_mode
    except FileNotFoundError:
        return "file"
    except OSError as exc:
        raise SystemFailure(f"{output}: cannot write: {exc.strerror}") from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return "stream"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        raise BadInput(f"{output}: is a directory; give a file name for -o")
    raise BadInput(f"{output}: is a block device; vifit does not write over devices")


def standard_fd(output: str) -> int | None:
    """N when ``output`` names an open descriptor of ours (/dev/stdout, /dev/fd/N,
    /proc/self/fd/N), else None. Such a name means "that descriptor": written through it, a
    shell's ``> file`` or ``>> log`` is honoured instead of the file being replaced.
    """
    match = _FD_NAME.fullmatch(os.path.abspath(output))
    if match is None:
        return None
    return {"stdin": 0, "stdout": 1, "stderr": 2}.get(match.group(1)) if match.group(1) else int(match.group(2))


_FD_NAME = re.compile(r"/dev/(stdin|stdout|stderr)|(?:/dev/fd|/proc/self/fd)/(\d+)")


def check_writable(output: str) -> None:
    """Fail before any work when ``output`` cannot be written: BadInput for what -o must not
    name, SystemFailure (with the system's reason) for a folder the OS will not write in.

    A regular target's folder is probed by creating and removing a temporary file there: as
    root ``os.access`` says yes to every folder, even one on a read-only mount.
    """
    kind = destination_kind(output)
    if kind != "file":
        return
    folder = os.path.dirname(os.path.realpath(output))
    if not os.path.isdir(folder):
        raise BadInput(f"{output}: folder {folder} does not exist")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".vifit-probe.", suffix=".tmp")
    except OSError as exc:
        raise SystemFailure(f"{output}: cannot write in {folder}: {exc.strerror}") from None
    os.close(handle)
    os.unlink(probe)


# ---------------------------------------------------------------- writing


def write_text(text: str | bytes | Iterable[str | bytes], output: str | None, compress: bool = True) -> None:
    """Write text, bytes, or an iterable of pieces of either, to ``output``.

    output: a path (see the module docstring for what each kind of path gets), or None / "-"
    for stdout. compress: honour a .gz/.bz2/.xz name (False for files such as checkpoints
    whose name must not change their bytes).
    """
    pieces = [text] if isinstance(text, (str, bytes)) else text
    if output is None or output == "-":
        write_stdout(pieces)
        return
    kind = destination_kind(output)
    compression = compression_of(output) if compress else None
    try:
        if kind == "file":
            _write_atomically(pieces, output, compression)
        else:
            _write_in_place(pieces, output, compression, kind)
    except BrokenPipeError:  # a FIFO's or socket's reader went away: as `| head`, not an error
        return
    except OSError as exc:
        raise SystemFailure(f"{output}: cannot write: {exc.strerror or exc}") from None


def _write_atomically(pieces, output: str, compression: str | None) -> None:
    target = os.path.realpath(output)  # a symlink's final target: the link itself stays
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise BadInput(f"{output}: folder {folder} does not exist")
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    temporary = None
    try:
        # a signal must not fall between creating the file and learning its name; one held
        # here is handled on leaving the block, inside the try, so the cleanup below removes it
        with interrupt.deferred():
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.",
                                                 suffix=".tmp")
            interrupt.holding_temporary(temporary)
        with os.fdopen(handle, "wb") as raw:
            _copy(pieces, raw, compression)
            raw.flush()
            os.fsync(raw.fileno())
        if existing is not None:
            os.chmod(temporary, stat.S_IMODE(existing.st_mode))
            _keep_owner(temporary, existing)
        else:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
        interrupt.released_temporary(temporary)
    except BaseException:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            interrupt.released_temporary(temporary)
        raise
    _sync_folder(folder)


def _write_in_place(pieces, output: str, compression: str | None, kind: str) -> None:
    """Stream into a device, FIFO or socket: nothing to rename, nothing to replace."""
    if kind == "fd":
        fd = standard_fd(output)
        if fd == 1 and sys.stdout is None:
            raise SystemFailure(f"{output}: cannot write the result: stdout is closed")
        with open(os.dup(fd), "wb") as raw:
            _copy(pieces, raw, compression)
        return
    if kind == "socket":
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(output)
            with connection.makefile("wb") as raw:
                _copy(pieces, raw, compression)
        return
    # no O_CREAT (it exists), no O_TRUNC (meaningless on a device); a FIFO blocks until read
    with open(os.open(output, os.O_WRONLY | os.O_NOCTTY), "wb") as raw:
        _copy(pieces, raw, compression)


def _copy(pieces, raw, compression: str | None) -> None:
    """Write the pieces (str as UTF-8) to the binary file ``raw``, compressed if asked."""
    with _compressor(raw, compression) as sink:
        for piece in pieces:
            sink.write(piece if isinstance(piece, bytes) else piece.encode("utf-8"))


def _compressor(raw, compression: str | None):
    if compression is None:
        return contextlib.nullcontext(raw)
    if compression == "gzip":  # mtime 0 and no name in the header: same input, same bytes
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    if compression == "bz2":
        return bz2.BZ2File(raw, "wb")
    return lzma.LZMAFile(raw, "wb", format=lzma.FORMAT_XZ)


def _keep_owner(path: str, existing: os.stat_result) -> None:
    """Give the replacement the old file's owner when we may (root); otherwise it is ours."""
    if (existing.st_uid, existing.st_gid) == (os.geteuid(), os.getegid()):
        return
    with contextlib.suppress(OSError):
        os.chown(path, existing.st_uid, existing.st_gid)


def _sync_folder(folder: str) -> None:
    """Make the rename durable; some file systems refuse to fsync a folder, which is harmless."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- stdout


def write_stdout(text) -> None:
    """Write text, bytes or an iterable of them to stdout; a closed pipe ends us quietly.

    A stdout that was closed when vifit started (``>&-``), or that refuses the write (``>
    /dev/full``), is a SystemFailure: the result could not be delivered.
    """
    pieces = [text] if isinstance(text, (str, bytes)) else text
    if sys.stdout is None:
        raise SystemFailure("cannot write the result to stdout: it is closed; give -o PATH")
    try:
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        for piece in pieces:
            if buffer is not None:
                buffer.write(piece if isinstance(piece, bytes) else piece.encode("utf-8"))
            else:  # a text-only stream (a test's capture)
                sys.stdout.write(piece.decode("utf-8") if isinstance(piece, bytes) else piece)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    except OSError as exc:
        silence_stdout()  # so the interpreter's final flush does not fail again
        raise SystemFailure(f"cannot write the result to stdout: {exc.strerror or exc}") from None


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def protect_standard_streams() -> None:
    """Give a standard stream that was closed when vifit started a /dev/null descriptor.

    Python sets sys.stdin/stdout/stderr to None when fd 0/1/2 is closed at start
    (``>&-``, ``2>&-``), and the next file opened would then get that descriptor, so that
    anything written to "stderr" by a library could land in a data or output file. The fd is
    taken by /dev/null; stderr and stdin become streams on it (messages vanish, stdin is
    empty), while sys.stdout stays None so a result meant for stdout is reported undelivered.
    """
    for fd, name, flags in ((0, "stdin", os.O_RDONLY), (1, "stdout", os.O_WRONLY), (2, "stderr", os.O_WRONLY)):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
            continue  # the descriptor is open (something else took it): leave it alone
        except OSError:
            pass
        try:
            handle = os.open(os.devnull, flags)
            if handle != fd:
                os.dup2(handle, fd)
                os.close(handle)
        except OSError:
            continue
        if name == "stdin":
            sys.stdin = open(fd, "r", closefd=False)
        elif name == "stderr":
            sys.stderr = open(fd, "w", closefd=False)
