"""What a loop does around its mathematics, passed in by its caller: the reaction to an
ELBO that decreases, when to stop early, and where checkpoints go.

The defaults are what a library caller wants: warn on a decrease, never stop early, no
checkpoints. The command line passes its own (vifit.fitflow.loop_policy): strict-ELBO mode,
the signal handler's stop request and the ``--checkpoint``/``--resume`` files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Checkpoints(Protocol):
    """Where a loop saves its state and resumes from (the CLI's: vifit.checkpoint.FILES)."""

    def enabled(self) -> bool: ...  # a state saved now would be kept

    def resuming(self) -> bool: ...  # a saved state is to be resumed

    def due(self) -> bool: ...  # enabled, and the interval since the last save has passed

    def save(self, kind: str, state: dict) -> None: ...

    def resume_state(self, kind: str, dimensions: Callable[[], dict] | None = None) -> dict | None:
        """The state to continue from, or None. dimensions(): what the state must fit (shapes,
        counts; called only when resuming), checked against the schema of ``kind``."""

    # optional: the file resumed from, for messages (see :func:`resume_name`)
    # def resume_path(self) -> str | None: ...


def resume_name(store: Checkpoints) -> str:
    """How a message names the checkpoint being resumed: ``--resume PATH`` when the store
    knows its file, else ``--resume``."""
    path = getattr(store, "resume_path", lambda: None)()
    return f"--resume {path}" if path else "--resume"


class NoCheckpoints:
    """Nothing is saved and nothing resumed."""

    def enabled(self) -> bool:
        return False

    def resuming(self) -> bool:
        return False

    def due(self) -> bool:
        return False

    def save(self, kind: str, state: dict) -> None:
        pass

    def resume_state(self, kind: str, dimensions: Callable[[], dict] | None = None) -> dict | None:
        return None


NO_CHECKPOINTS = NoCheckpoints()


def _never() -> bool:
    return False


@dataclass(frozen=True)
class LoopPolicy:
    """on_decrease: "warn" or "raise" (cavi.ElboDecreased) when the ELBO goes down between sweeps;
    should_stop(): True asks the loop to end after the current iteration/epoch ("interrupted");
    checkpoints: see :class:`Checkpoints`."""

    on_decrease: str = "warn"
    should_stop: Callable[[], bool] = _never
    checkpoints: Checkpoints = NO_CHECKPOINTS

    def __post_init__(self):
        if self.on_decrease not in ("warn", "raise"):
            raise ValueError(f"on_decrease must be 'warn' or 'raise', not {self.on_decrease!r}")


DEFAULT = LoopPolicy()
