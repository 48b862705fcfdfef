"""Prediction slots per loaded instance: LM Studio's "Max Concurrent Predictions".

Why: LM Studio runs at most N predictions of one loaded model at once (llama.cpp engine: 4 by
default, MLX: 1) and keeps the rest in a first-in-first-out queue, silently: a queued request
gets no prompt progress and no fragments until it starts. A simulator that answers everything
at once hides every queueing problem a client can have (timeouts while queued, retries that pile
up, cancels of requests that never started).

:class:`Slots` is that gate for one instance; :class:`PredictionCounts` is what a test reads
about it (``sim.counters.predictions("qwen2.5-7b-instruct")``). Thread-safe: the simulator's
loop acquires and releases, the test thread may unload the model (which wakes the queue).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

__all__ = ["Slots", "PredictionCounts", "Verdict", "default_max_concurrent"]

Verdict = Literal["run", "cancelled", "unloaded"]

#: Engine defaults of LM Studio: llama.cpp (GGUF) serves 4 predictions at once, MLX one.
LLAMA_CPP_DEFAULT = 4
MLX_DEFAULT = 1


def default_max_concurrent(format: str) -> int:
    """LM Studio's default "Max Concurrent Predictions" for a model file format."""
    return MLX_DEFAULT if format in ("safetensors", "mlx_placeholder") else LLAMA_CPP_DEFAULT


@dataclass
class PredictionCounts:
    """Predictions of one loaded-instance identifier, over the simulator's lifetime.

    ``started`` predictions got a slot and ran; each ends as ``finished`` (eos, maxTokens, stop
    string, tool calls, context length), ``cancelled`` (the client cancelled or disconnected),
    ``unloaded`` (the model went away) or ``failed`` (an error). ``cancelled`` and ``unloaded``
    also count requests that ended while still queued (``queued`` counts every request that
    had to wait). ``running``/``waiting`` are the current numbers, ``max_running`` and
    ``max_waiting`` the highest seen.
    """

    queued: int = 0
    started: int = 0
    finished: int = 0
    cancelled: int = 0
    unloaded: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    max_running: int = 0
    max_waiting: int = 0


class _Waiter:
    __slots__ = ("loop", "future", "granted")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Verdict] = loop.create_future()
        self.granted = False  # handed a slot by release(): it must run (or give it back)

    def wake(self, verdict: Verdict) -> None:
        """Resolve from any thread (first verdict wins)."""

        def settle() -> None:
            if not self.future.done():
                self.future.set_result(verdict)

        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(settle)


class Slots:
    """At most ``limit`` running predictions (None: no limit); the rest wait in FIFO order."""

    def __init__(self, limit: int | None, counts: PredictionCounts, lock: threading.Lock) -> None:
        self.limit = limit
        self.counts = counts
        self._lock = lock  # shared with the Counters that own ``counts``
        self._queue: deque[_Waiter] = deque()
        self._closed = False

    def _free(self) -> bool:
        return self.limit is None or self.counts.running < self.limit

    def _start(self) -> None:  # with the lock held
        c = self.counts
        c.started += 1
        c.running += 1
        c.max_running = max(c.max_running, c.running)

    async def acquire(self, on_cancel: list) -> Verdict:
        """Wait for a slot. ``on_cancel`` is the request's cancel-listener list: a cancel while
        queued removes the request from the queue and returns "cancelled"."""
        with self._lock:
            if self._closed:
                return "unloaded"
            if not self._queue and self._free():
                self._start()
                return "run"
            waiter = _Waiter(asyncio.get_running_loop())
            self._queue.append(waiter)
            c = self.counts
            c.queued += 1
            c.waiting += 1
            c.max_waiting = max(c.max_waiting, c.waiting)

        def cancel() -> None:
            waiter.wake("cancelled")

        on_cancel.append(cancel)
        try:
            verdict = await waiter.future
        except asyncio.CancelledError:  # the connection went away while queued
            with self._lock:
                self._leave(waiter)
            if waiter.granted:
                self.release()
            raise
        finally:
            if cancel in on_cancel:
                on_cancel.remove(cancel)
        with self._lock:
            if waiter.granted:  # a cancel that raced the hand-over: run, and stop at once
                return "run"
            self._leave(waiter)
        return verdict

    def _leave(self, waiter: _Waiter) -> None:  # with the lock held
        if waiter in self._queue:
            self._queue.remove(waiter)
            self.counts.waiting -= 1

    def release(self) -> None:
        """A running prediction ended: hand its slot to the longest-waiting request."""
        with self._lock:
            self.counts.running -= 1
            while self._queue and self._free() and not self._closed:
                waiter = self._queue.popleft()
                self.counts.waiting -= 1
                if waiter.future.done():  # cancelled, not yet resumed
                    continue
                waiter.granted = True
                self._start()
                waiter.wake("run")

    def close(self) -> None:
        """The instance was unloaded: every queued request ends now."""
        with self._lock:
            self._closed = True
            waiters = list(self._queue)
        for waiter in waiters:
            waiter.wake("unloaded")
