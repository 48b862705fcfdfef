"""Fault injection: make the next matching request fail in a chosen way.

Why: lmsnb must survive a dropped websocket, a hung server and server-side errors; tests trigger
those on purpose with ``sim.inject(...)`` instead of relying on luck.

Kinds:
  ``drop``  abort the TCP connection (websocket) after ``after`` stream messages (fragments for
            predict, progress messages for loads; 0 = before anything is sent).
  ``error`` reply with an LM Studio error (rpcError / channelError / HTTP 500) after ``after``.
  ``stall`` stop answering after ``after`` messages, for ``seconds`` (None = forever).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["Fault", "FaultKind", "FaultInjector"]

FaultKind = Literal["drop", "error", "stall"]


@dataclass
class Fault:
    kind: FaultKind
    endpoint: str | None = None  # e.g. "predict", "embedString", "getOrLoad", "chat.completions"
    after: int = 0
    times: int | None = 1  # None = persistent
    seconds: float | None = None  # stall duration (None = forever)
    message: str = "Injected fault"
    code: str | None = None  # displayData code for "error"
    hits: int = 0

    def matches(self, endpoint: str) -> bool:
        if self.endpoint is None:
            return True
        return endpoint == self.endpoint or endpoint.endswith("." + self.endpoint)


class FaultInjector:
    """Holds pending faults; :meth:`take` consumes one matching fault for a new request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in ("drop", "error", "stall"):
            raise ValueError(f"unknown fault kind {fault.kind!r} (drop, error or stall)")
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(endpoint):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)
