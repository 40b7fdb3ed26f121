"""Reading a JSON document that came from outside: bounded in size, depth and number length.

A model file is data from anyone (shared, downloaded), so nothing in it may make the reader
exhaust memory, overflow the parser's recursion or take quadratic time:

- size: at most ``MAX_BYTES`` (1 GiB, room for a network of ~50 million weights), and the
  parse must fit in the memory available (Python objects take ~``PARSE_FACTOR`` x the text);
- nesting: at most ``MAX_DEPTH`` brackets deep (vifit writes 5: params.variational.scale_inv
  is (k, d, d) inside two objects), checked by a scan before parsing, so 200,000 nested
  arrays are refused without the parser recursing;
- numbers: integers of at most ``MAX_INT_DIGITS`` digits (Python refuses to convert more than
  4,300 and would take quadratic time below that), floats finite, no NaN/Infinity tokens.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import re

import numpy as np

from vifit.errors import BadInput

MAX_BYTES = 1 << 30
MAX_DEPTH = 64
MAX_INT_DIGITS = 40
PARSE_FACTOR = 6
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCAN_CHUNK = 1 << 24


def read_bytes(path: str, what: str) -> bytes:
    """The file's bytes, refused before reading when larger than MAX_BYTES or than memory allows."""
    from vifit.resources import format_bytes, require_memory

    try:
        with open_model(path) as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_BYTES:
                raise BadInput(f"{path}: {what} is {format_bytes(size)}; vifit reads at most "
                               f"{format_bytes(MAX_BYTES)}")
            require_memory(PARSE_FACTOR * size, f"{path}: reading this {format_bytes(size)} {what}")
            raw = _read_at_most(stream, MAX_BYTES + 1)  # decompressed bytes: a bomb stops at the limit
    except FileNotFoundError:
        raise BadInput(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not a {what}") from None
    except (OSError, EOFError, lzma.LZMAError) as exc:  # a corrupt .gz is an OSError without strerror
        raise BadInput(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:  # a pipe or a file that grew: its size said nothing
        raise BadInput(f"{path}: {what} is larger than {format_bytes(MAX_BYTES)}, the most vifit reads")
    if len(raw) > size:  # decompressed: the parse's memory follows the text, not the file
        require_memory(PARSE_FACTOR * len(raw), f"{path}: reading this {format_bytes(len(raw))} {what}")
    return raw


def _read_at_most(stream, limit: int) -> bytes:
    """Up to ``limit`` bytes, read in blocks: ``read(limit)`` would allocate all of ``limit``
    at once (1 GiB for every model file, refused under a modest ``ulimit -v``)."""
    blocks, count = [], 0
    while count < limit:
        block = stream.read(min(_SCAN_CHUNK, limit - count))
        if not block:
            break
        blocks.append(block)
        count += len(block)
    return b"".join(blocks)


def open_model(path: str):
    """A binary stream of the file's bytes, decompressed when its name ends in .gz, .bz2 or .xz
    (vifit writes -o model.json.gz compressed). ``fileno()`` is the file's own descriptor."""
    from vifit.writing import compression_of

    compression = compression_of(path)
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


def nesting_depth(raw: bytes) -> int:
    """The deepest bracket nesting ([ and {) outside strings, by a vectorised scan in chunks."""
    text = _STRING.sub(b'""', raw)
    depth, deepest = 0, 0
    for start in range(0, len(text), _SCAN_CHUNK):
        chunk = np.frombuffer(text, dtype=np.uint8, count=min(_SCAN_CHUNK, len(text) - start), offset=start)
        opening = (chunk == ord("[")) | (chunk == ord("{"))
        brackets = chunk[opening | (chunk == ord("]")) | (chunk == ord("}"))]  # usually far fewer than bytes
        if brackets.size:
            running = depth + np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1))
            deepest = max(deepest, int(running.max()))
            depth = int(running[-1])
    return deepest


def parse(raw: bytes, path: str, what: str, hint: str = ""):
    """The JSON value of ``raw``; BadInput naming the problem (never a parser's exception)."""
    not_json = f"{path}: not a {what} (not JSON){hint}"
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise BadInput(f"{path}: {what} nests {depth:,} levels deep; vifit reads at most {MAX_DEPTH}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(not_json) from None
    try:
        return json.loads(text, parse_int=_integer(path), parse_float=_float(path), parse_constant=_constant(path))
    except (json.JSONDecodeError, RecursionError):
        raise BadInput(not_json) from None


def _integer(path: str):
    def convert(token: str) -> int:
        if len(token.lstrip("-")) > MAX_INT_DIGITS:
            raise BadInput(f"{path}: an integer of {len(token):,} digits; vifit reads at most {MAX_INT_DIGITS}")
        return int(token)
    return convert


def _float(path: str):
    def convert(token: str) -> float:
        value = float(token)
        if value in (float("inf"), float("-inf")):
            raise BadInput(f"{path}: the number {token[:40]}{'...' if len(token) > 40 else ''} is beyond the range of "
                           f"a 64-bit float")
        return value
    return convert


def _constant(path: str):
    def refuse(token: str):
        raise BadInput(f"{path}: {token} is not a JSON number (vifit never writes NaN or Infinity)")
    return refuse
