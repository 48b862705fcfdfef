"""The state one query carries through its method, and how a method's answer becomes a result.

Each method is a generator of ``lmsnb.events`` ending in ``Done(parsed=QueryResult)``; the
non-streaming API simply drains it. One code path means ``stream=True`` and ``stream=False``
send exactly the same prompts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigError
from ...events import Event, Fragment
from . import calls
from .citations import parse_references, resolve_references
from .context import Counter
from .params import QueryConfig
from .result import CallLog, Context, QueryResult, done_event, merge_tables


@dataclass
class QueryRun:
    """Everything a method needs: index, question, parameters, models, and the call log."""

    index: Any
    question: str
    method: str
    cfg: QueryConfig
    chat: Any
    embedder: Any
    history: list[dict[str, str]]
    count: Counter
    streaming: bool = False
    progress: Any = True
    log: CallLog = field(default_factory=CallLog)
    cancelled: threading.Event = field(default_factory=threading.Event)
    live: Any = None  # the answer's event stream while it runs (has cancel() when cancellable)

    def cancel(self) -> None:
        """Stop: the running answer stream is cancelled, and stages not yet started are skipped."""
        self.cancelled.set()
        cancel = getattr(self.live, "cancel", None)
        if cancel is not None:
            cancel()

    def messages(self, system: str) -> list[dict[str, str]]:
        """System prompt (with the context) + the question, as GraphRAG sends them."""
        return [{"role": "system", "content": system}, {"role": "user", "content": self.question}]

    def answer(self, system: str, stage: str, out: dict[str, Any]) -> Iterator[Event]:
        """The final answer call: streamed when the caller streams, one completion otherwise."""
        msgs = self.messages(system)
        if self.cancelled.is_set():
            out.update(text="", stopped=True)
            return
        if self.streaming:
            yield from calls.stream(self.chat, msgs, stage=stage, log=self.log, out=out,
                                    max_tokens=self.cfg.max_tokens,
                                    temperature=self.cfg.temperature,
                                    on_start=lambda ev: setattr(self, "live", ev))
            self.live = None
            return
        out["text"] = calls.complete(self.chat, msgs, stage=stage, log=self.log,
                                     max_tokens=self.cfg.max_tokens,
                                     temperature=self.cfg.temperature)

    def history_text(self) -> str:
        """Earlier user turns + the question: what local/basic search embed (GraphRAG does)."""
        turns = [m["content"] for m in self.history if m.get("role") == "user"]
        turns = turns[-self.cfg.history_max_turns:] if self.cfg.history_max_turns > 0 else []
        return "\n".join([*turns, self.question])

    def finish(self, text: str, contexts: list[Context], *, stopped: bool = False,
               details: dict[str, Any] | None = None) -> Iterator[Event]:
        """Build the :class:`QueryResult` and yield the closing ``Done``."""
        stopped = stopped or self.cancelled.is_set()
        tables = merge_tables(contexts)
        refs = parse_references(text)
        result = QueryResult(
            question=self.question, method=self.method, answer=text, context=tables,
            context_text=[c.text for c in contexts if c.text],
            citations=resolve_references(self.index, refs, tables), calls=self.log.frame(),
            seconds=self.log.elapsed(), config=self.cfg,
            history=[*self.history, {"role": "user", "content": self.question},
                     {"role": "assistant", "content": text}],
            details=details or {}, model=getattr(self.chat, "key", None) if self.chat else None,
            stopped=stopped, _index=self.index, _models=(self.chat, self.embedder))
        if not self.streaming:
            yield Fragment(text)
        yield done_event(result)


def budget_too_small(cfg: QueryConfig, what: str) -> ConfigError:
    """The error for a context budget that cannot hold a single row of ``what``."""
    return ConfigError(f"max_context_tokens={cfg.max_context_tokens} is too small to hold a "
                       f"single {what}, so the model would answer from nothing",
                       hint="raise it (GraphRAG's default is 12000; a text unit alone is "
                            "often 300-1200 tokens)")
