"""Stopping a build early when its model cannot extract — without calls the verdict does not need.

A model that cannot follow GraphRAG's record format fails on every chunk alike: after a few
chunks with no record the build stops with what the model said and what to try (issue #11), and
until a chunk gives records no chunk starts whose call could not change that verdict.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from typing import Any

from ..errors import Cancelled
from .extract import ParseResult, excerpt


class GiveUp:
    """Stops a build whose model gives no records for its first chunks.

    A model that cannot follow the record format fails on every chunk alike, so after
    ``after`` chunks with no record (and none with any) the build stops with what the model
    answered and what to try, instead of spending hours to find out. A chunk the model marked
    complete with no records (nothing to extract there) counts neither way. Until a chunk gave
    records, :meth:`start` holds back a chunk whose call could not change the outcome (the
    chunks already started would decide it) unless a slot would otherwise stay idle: on a
    one-slot server exactly ``after`` calls run. Thread-safe: the extraction stage's workers
    call :meth:`start` before a chunk and :meth:`chunk_done` (or :meth:`chunk_failed`) after.
    """

    def __init__(self, after: int | None, model: Any, temperature: Any = None,
                 slots: Callable[[], int] | None = None) -> None:
        self.after = after
        self.model = getattr(model, "key", None) or type(model).__name__
        self.temperature = temperature
        self.works = False
        self.failures: list[ParseResult] = []
        self.slots = slots or (lambda: 1)
        self._undecided = 0  # chunks started and not yet judged
        self._waiting: list[int] = []  # ranks of chunks waiting to start (a heap)
        self._stopped = False
        self._cond = threading.Condition()

    def _decided(self) -> bool:
        return self.works or not self.after

    def start(self, rank: int, abort: threading.Event | None = None) -> None:
        """Wait until chunk number ``rank`` (of the build's order; they pass in that order) may
        change the outcome or fill an idle slot."""
        with self._cond:
            heapq.heappush(self._waiting, rank)
            try:
                while not self._decided() and (self._waiting[0] != rank or len(self.failures)
                                               + self._undecided >= max(self.after or 0,
                                                                        self.slots())):
                    if self._stopped or (abort is not None and abort.is_set()):
                        raise Cancelled("The build stopped: its model gave no records")
                    self._cond.wait(0.05)
                self._undecided += 1
            finally:
                self._waiting.remove(rank)
                heapq.heapify(self._waiting)
                self._cond.notify_all()

    def chunk_failed(self) -> None:
        """A started chunk raised (the build is failing): it decides nothing."""
        with self._cond:
            self._undecided -= 1
            self._cond.notify_all()

    def chunk_done(self, res: ParseResult) -> None:
        with self._cond:
            self._undecided -= 1
            self._cond.notify_all()
            if res.n_records:
                self.works = True
            elif not res.complete:
                self.failures.append(res)
            if not self._decided() and len(self.failures) >= self.after:
                self._stopped = True
                raise self.error(len(self.failures), early=True)

    def error(self, n: int, *, early: bool) -> Exception:
        from ..errors import PredictionError

        said = excerpt(self.failures[0].raw if self.failures else "")
        tries = ["a bigger instruction model (7B or more)"]
        if self.temperature not in (0, 0.0):
            tries.append("temperature 0 (llm_config={'temperature': 0})")
        tries.append("method='fast' (no LLM extraction)")
        what = (f"its first {n} chunks, so the build stopped early" if early else
                "its only chunk" if n == 1 else f"any of its {n} chunks")
        return PredictionError(
            f"The model {self.model!r} gave no GraphRAG records for {what}. "
            f"It answered: {said!r}",
            hint=f"it does not follow the extraction format: try {', '.join(tries[:-1])} or "
                 f"{tries[-1]}. Replies so far are cached, so a re-run with the same model and "
                 "settings resumes (give_up_after=None never stops early)")
