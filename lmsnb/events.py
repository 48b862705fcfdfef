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
    host: str = ""  # the server that ran it (with several hosts, calls are spread)
    queued_seconds: float = 0.0  # waited in LM Studio's queue before it started
    attempts: int = 1  # times it was sent (a host died midway, or it stalled)
    lost_on: tuple[str, ...] = ()  # hosts that went down while running it (it ran again)

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
    reasoning: str = ""  # the model's thinking, kept apart from the answer in ``text``

    @property
    def stopped(self) -> bool:
        return self.stats.stop_reason == "userStopped"


class ThinkSplitter:
    """Separates a leading ``<think>…</think>`` block from the answer, as text streams in.

    Reasoning models (Qwen3, DeepSeek-R1 distills, …) write their thinking inline when LM Studio
    is not set to parse it out. Tags may arrive split across fragments, so a possible tag prefix
    is held back until the next piece decides it. ``feed`` and ``flush`` return
    ``(text, is_reasoning)`` pieces.
    """

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self._state = "start"  # start → thinking → gap → answer, or start → answer
        self._held = ""

    def feed(self, text: str) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        buf = self._held + text
        self._held = ""
        while buf:
            if self._state == "start":
                stripped = buf.lstrip()
                if stripped.startswith(self.OPEN):
                    self._state, buf = "thinking", stripped[len(self.OPEN):]
                elif self.OPEN.startswith(stripped):
                    self._held = buf  # "<th…" or only whitespace: undecided yet
                    return out
                else:
                    self._state = "answer"
            elif self._state == "thinking":
                end = buf.find(self.CLOSE)
                if end >= 0:
                    if end:
                        out.append((buf[:end], True))
                    self._state, buf = "gap", buf[end + len(self.CLOSE):]
                    continue
                keep = _partial_suffix(buf, self.CLOSE)
                if len(buf) > keep:
                    out.append((buf[:len(buf) - keep], True))
                self._held = buf[len(buf) - keep:]
                return out
            elif self._state == "gap":  # the blank lines between thinking and answer
                buf = buf.lstrip()
                if buf:
                    self._state = "answer"
            else:
                out.append((buf, False))
                return out
        return out

    def flush(self) -> list[tuple[str, bool]]:
        held, self._held = self._held, ""
        return [(held, self._state == "thinking")] if held.strip() else []


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a start of ``tag`` (a tag split in two)."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


Event = PromptProgress | FirstToken | Fragment | ToolCall | LoadProgress | Done
