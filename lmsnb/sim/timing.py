"""Simulated timing and usage counters.

Why: tests want instant answers, benchmarks and demos want realistic pacing, and both want to know
how much work the "model" did (requests, prompt tokens, generated tokens per endpoint).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields

from .slots import PredictionCounts

__all__ = ["Timing", "EndpointCounts", "Counters", "PredictionCounts"]


@dataclass(frozen=True)
class Timing:
    """Simulated latencies. Zero or None means instant (the default, for tests)."""

    load_seconds: float = 0.0  # total time to load a model (progress is sent in quarters)
    prompt_tokens_per_second: float | None = None  # prompt processing speed
    tokens_per_second: float | None = None  # generation speed
    embed_seconds_per_text: float = 0.0  # per embedString / per REST input
    first_token_latency: float = 0.0  # extra wait before the first fragment

    def prompt_seconds(self, prompt_tokens: int) -> float:
        pps = self.prompt_tokens_per_second
        return prompt_tokens / pps if pps else 0.0

    def token_seconds(self) -> float:
        return 1.0 / self.tokens_per_second if self.tokens_per_second else 0.0


@dataclass
class EndpointCounts:
    requests: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    #: predictions whose (custom behaviour's) text did not fit the requested JSON schema and
    #: went to the client unchanged, as a model cut short by ``maxTokens`` would send it
    schema_misses: int = 0


@dataclass
class Counters:
    """Thread-safe usage counters keyed by endpoint.

    Keys are ``"<namespace>.<endpoint>"`` for websocket traffic (``"llm.predict"``,
    ``"embedding.embedString"``, ``"system.listDownloadedModels"``) and ``"rest.<path>"`` for HTTP
    (``"rest.chat.completions"``, ``"rest.embeddings"``, ``"rest.models"``, ``"rest.greeting"``).

    :meth:`predictions` tells what happened to the predictions of one loaded instance
    (queued, started, finished, cancelled, the most that ran at once), whichever API sent them.
    """

    _counts: dict[str, EndpointCounts] = field(default_factory=dict)
    _predictions: dict[str, PredictionCounts] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, *, prompt_tokens: int = 0, generated_tokens: int = 0,
               requests: int = 1, schema_misses: int = 0) -> None:
        with self._lock:
            c = self._counts.setdefault(endpoint, EndpointCounts())
            c.requests += requests
            c.prompt_tokens += prompt_tokens
            c.generated_tokens += generated_tokens
            c.schema_misses += schema_misses

    def predictions(self, identifier: str) -> PredictionCounts:
        """Prediction counts of a loaded-instance identifier (zeros if none yet); a copy."""
        with self._lock:
            return PredictionCounts(**asdict(self._predictions.get(identifier, PredictionCounts())))

    def prediction_counts(self, identifier: str) -> PredictionCounts:
        """The live counts object of ``identifier`` (the engine updates it under :attr:`lock`)."""
        with self._lock:
            return self._predictions.setdefault(identifier, PredictionCounts())

    def count_outcome(self, identifier: str, outcome: str) -> None:
        """One prediction of ``identifier`` ended: "finished", "cancelled", "unloaded", "failed"."""
        with self._lock:
            c = self._predictions.setdefault(identifier, PredictionCounts())
            setattr(c, outcome, getattr(c, outcome) + 1)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def __getitem__(self, endpoint: str) -> EndpointCounts:
        """Counts of one endpoint (zeros if never called); a copy."""
        with self._lock:
            return EndpointCounts(**asdict(self._counts.get(endpoint, EndpointCounts())))

    @property
    def total(self) -> EndpointCounts:
        with self._lock:
            out = EndpointCounts()
            for c in self._counts.values():
                out.requests += c.requests
                out.prompt_tokens += c.prompt_tokens
                out.generated_tokens += c.generated_tokens
                out.schema_misses += c.schema_misses
            return out

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {k: asdict(v) for k, v in sorted(self._counts.items())}

    def reset(self) -> None:
        """Zero every count (predictions still running or queued stay counted as such)."""
        with self._lock:
            self._counts.clear()
            for c in self._predictions.values():
                for f in fields(c):
                    if f.name not in ("running", "waiting"):
                        setattr(c, f.name, 0)
                c.max_running, c.max_waiting = c.running, c.waiting
