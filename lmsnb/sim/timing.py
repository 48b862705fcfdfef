"""Simulated timing and usage counters.

Why: tests want instant answers, benchmarks and demos want realistic pacing, and both want to know
how much work the "model" did (requests, prompt tokens, generated tokens per endpoint).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

__all__ = ["Timing", "EndpointCounts", "Counters"]


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


@dataclass
class Counters:
    """Thread-safe usage counters keyed by endpoint.

    Keys are ``"<namespace>.<endpoint>"`` for websocket traffic (``"llm.predict"``,
    ``"embedding.embedString"``, ``"system.listDownloadedModels"``) and ``"rest.<path>"`` for HTTP
    (``"rest.chat.completions"``, ``"rest.embeddings"``, ``"rest.models"``, ``"rest.greeting"``).
    """

    _counts: dict[str, EndpointCounts] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, *, prompt_tokens: int = 0, generated_tokens: int = 0,
               requests: int = 1) -> None:
        with self._lock:
            c = self._counts.setdefault(endpoint, EndpointCounts())
            c.requests += requests
            c.prompt_tokens += prompt_tokens
            c.generated_tokens += generated_tokens

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
            return out

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {k: asdict(v) for k, v in sorted(self._counts.items())}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
