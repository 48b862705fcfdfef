"""Events emitted while a prediction or a model load runs.

The Python API yields these; widgets and magics only render them. They are plain dataclasses so
any front end (a widget, a log line, a test) can consume them without touching the SDK.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PromptProgress:
    """Prompt processing progress, 0.0 … 1.0."""

    progress: float


@dataclass(frozen=True)
class FirstToken:
    """The first generated token arrived ``seconds`` after the request was sent."""

    seconds: float


@dataclass(frozen=True)
class Fragment:
    """A piece of generated text. ``reasoning`` is True inside a <think>/reasoning section."""

    text: str
    tokens: int = 1
    reasoning: bool = False


@dataclass(frozen=True)
class ToolCall:
    """A tool the model asked for (``act``), with the result our Python function returned."""

    name: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class LoadProgress:
    """Model load progress, 0.0 … 1.0."""

    model: str
    progress: float


@dataclass
class PredictionStats:
    """Stats of one prediction. ``total_seconds`` is measured by lmsnb (the SDK has none)."""

    model: str
    prompt_tokens: int = 0
    predicted_tokens: int = 0
    tokens_per_second: float | None = None
    time_to_first_token: float | None = None
    total_seconds: float = 0.0
    stop_reason: str = "eosFound"
    started_at: float = field(default_factory=time.time)
    kind: str = "chat"
    session: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a stats footer: tokens, tok/s, TTFT, total, stop reason."""
        parts = [f"{self.predicted_tokens} tokens"]
        if self.tokens_per_second is not None:
            parts.append(f"{self.tokens_per_second:.1f} tok/s")
        if self.time_to_first_token is not None:
            parts.append(f"first token {self.time_to_first_token:.2f} s")
        parts.append(f"total {self.total_seconds:.2f} s")
        parts.append(f"stop: {self.stop_reason}")
        return " · ".join(parts)


@dataclass(frozen=True)
class Done:
    """The prediction ended (normally, at a limit, or stopped by the user)."""

    text: str
    stats: PredictionStats
    parsed: Any = None
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def stopped(self) -> bool:
        return self.stats.stop_reason == "userStopped"


Event = PromptProgress | FirstToken | Fragment | ToolCall | LoadProgress | Done
