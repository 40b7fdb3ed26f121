"""Rows of a table appended block by block into one array that grows in place (the whole-table
reader's store), refused before it outgrows the memory left, with the whole table's estimate."""

from __future__ import annotations

from vifit.errors import BadInput

RESERVE_BYTES = 128 << 20  # memory left to the parser and the checks when the table array grows


class GrowingRows:
    """Rows of d float64 values appended block by block to one array, grown in place
    (``ndarray.resize`` reallocates without copying what is filled), and refused before
    growing past the memory this process can still use, with the whole table's estimate.

    array: (n, d) after :meth:`finish`. progress: the fraction of the input read so far,
    from which the table's final row count is extrapolated.
    """

    def __init__(self, d: int, name: str, progress):
        import numpy as np

        self.d, self.name, self._progress = d, name, progress
        self.n = 0
        self.array = np.empty((0, d), dtype=np.float64)

    def append(self, block) -> None:
        self.commit(block, self.reserve(block.shape[0]))

    def reserve(self, m: int):
        """The (m, d) view of the next m rows, to be filled and then given to :meth:`commit`
        (the array grown, or the table refused, first)."""
        self._check_or_grow(self.n + m)
        return self.array[self.n : self.n + m]

    def commit(self, block, reserved) -> None:
        """Append block (m', d), m' <= m: the ``reserved`` view itself when it was filled in
        place (nothing copied), or rows to copy to its start (those --dropna kept)."""
        if block is not reserved:
            reserved[: block.shape[0]] = block
        self.n += block.shape[0]

    def finish(self):
        """The (n, d) array of every row appended (the spare capacity is given back)."""
        self.array.resize((self.n, self.d), refcheck=False)
        return self.array

    def _check_or_grow(self, need: int) -> None:
        """Refuse when the rows so far, or the whole table extrapolated from them, cannot be
        held (checked at every block: the estimate sharpens as the reading goes on, and a
        decompressor's read-ahead makes the first ones low); grow the array when it is full."""
        from vifit.resources import available_memory

        row_bytes = 8 * max(self.d, 1)
        capacity = self.array.shape[0]
        fraction = self._progress.fraction()
        estimate = int(need / fraction) + 1 if fraction else None
        available = available_memory()
        # rows that can be held, keeping some room for the parser and the checks of the next chunk
        room = None if available is None else capacity + max(available - RESERVE_BYTES, 0) // row_bytes
        if room is not None and (need > room or (estimate is not None and estimate > room)):
            self._refuse(need, max(need, estimate or 0), room, row_bytes)
        if need <= capacity:
            return
        # To the estimate and 2% more, at least a sixteenth more (a few reallocations; realloc
        # moves the pages of a large array without copying them, but numpy zeroes what is new,
        # so capacity beyond the table costs memory until finish); by half when nothing
        # estimates the table; never past the room.
        if estimate is not None:
            target = max(need, int(estimate * 1.02), capacity + capacity // 16, 1024)
        else:
            target = max(need, int(capacity * 1.5), 1024)
        if room is not None:
            target = min(target, room)
        try:
            # (an array from np.empty, not from resize, was copied by its next resize)
            self.array.resize((target, self.d), refcheck=False)
        except MemoryError:  # an address-space limit that available_memory could not see
            self._refuse(need, need, capacity, row_bytes)

    def _refuse(self, read: int, rows: int, room: int, row_bytes: int):
        """BadInput: ``rows`` (read so far, or extrapolated from the ``read`` so far) do not fit in ``room``."""
        from vifit.resources import format_bytes

        how = (f"about {rows:,} rows x {self.d} columns, extrapolated from the first {read:,} rows"
               if rows > read else f"at least {rows:,} rows x {self.d} columns")
        raise BadInput(f"{self.name}: the table would need {format_bytes(rows * row_bytes)} as float64 ({how}); "
                       f"this machine has {format_bytes(room * row_bytes)} available; choose fewer columns "
                       f"with --columns, or stream the file (vifit gmm --method svi)")
