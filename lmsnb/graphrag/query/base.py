"""The state one query carries through its method, and how a method's answer becomes a result.

Each method is a generator of ``lmsnb.events`` ending in ``Done(parsed=QueryResult)``; the
non-streaming API simply drains it. One code path means ``stream=True`` and ``stream=False``
send exactly the same prompts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ...errors import ConfigError
from ...events import Event, Fragment
from ..budget import Window, words_for
from ..settings import ANSWER_STAGES, ModelSettings
from ..tokens import estimate_tokens
from . import calls
from .citations import parse_references, resolve_references
from .context import Counter
from .params import QueryConfig
from .result import CallLog, Context, QueryResult, done_event, merge_tables

#: the settings stage (graphrag/settings.py) of each call a query logs
SETTINGS_STAGE = {"local answer": "local", "basic answer": "basic", "global map": "global_map",
                  "global reduce": "global_reduce", "drift hyde": "drift_primer",
                  "drift primer": "drift_primer", "drift local": "drift_local",
                  "drift reduce": "drift_reduce"}
#: the stages each method runs, the prompt each fills, and the budget its context uses
METHOD_STAGES = {"local": ("local",), "basic": ("basic",),
                 "global": ("global_map", "global_reduce"),
                 "drift": ("drift_primer", "drift_local", "drift_reduce")}
_TEMPLATE = {"local": "local_system", "basic": "basic_system", "global_map": "global_map_system",
             "global_reduce": "global_reduce_system", "drift_primer": "drift_primer",
             "drift_local": "drift_local_system", "drift_reduce": "drift_reduce_system"}
_BUDGET = {"global_reduce": "data_max_tokens"}
#: room for a DRIFT follow-up question, which replaces the user's in the local steps
_FOLLOW_UP_TOKENS = 100
#: in a small window a query's context matters more than a long answer: the answer keeps at
#: most a third of the room (a third of 4,096 tokens is ~1,000 words)
QUERY_ANSWER_SHARE = 1 / 3


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
    #: each stage's model settings after fitting (fit_query); the model's context window
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    window: Window = field(default_factory=Window)
    #: fields repaired in the model's answers (scores clamped, answers not parsed)
    repairs: dict[str, int] = field(default_factory=dict)

    def config(self, stage: str) -> dict[str, Any] | None:
        """The model settings of the call logged as ``stage`` ("global map", ...)."""
        return self.configs.get(SETTINGS_STAGE.get(stage, stage))

    def repaired(self, what: str, n: int = 1) -> None:
        with _REPAIR_LOCK:
            self.repairs[what] = self.repairs.get(what, 0) + n

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
                                    config=self.config(stage),
                                    on_start=lambda ev: setattr(self, "live", ev))
            self.live = None
            return
        out["text"] = calls.complete(self.chat, msgs, stage=stage, log=self.log,
                                     config=self.config(stage))

    def history_text(self) -> str:
        """Earlier user turns + the question: what local/basic search embed (GraphRAG does)."""
        turns = [m["content"] for m in self.history if m.get("role") == "user"]
        turns = turns[-self.cfg.history_max_turns:] if self.cfg.history_max_turns > 0 else []
        return "\n".join([*turns, self.question])

    def finish(self, text: str, contexts: list[Context], *, stopped: bool = False,
               details: dict[str, Any] | None = None) -> Iterator[Event]:
        """Build the :class:`QueryResult` and yield the closing ``Done``."""
        stopped = stopped or self.cancelled.is_set()
        details = {**(details or {}), "context_window": {
            **self.window.as_dict(), "max_context_tokens": self.cfg.max_context_tokens,
            "data_max_tokens": self.cfg.data_max_tokens},
            "model_settings": dict(self.configs), "parse_report": dict(self.repairs)}
        tables = merge_tables(contexts)
        refs = parse_references(text)
        result = QueryResult(
            question=self.question, method=self.method, answer=text, context=tables,
            context_text=[c.text for c in contexts if c.text],
            citations=resolve_references(self.index, refs, tables), calls=self.log.frame(),
            seconds=self.log.elapsed(), config=self.cfg,
            history=[*self.history, {"role": "user", "content": self.question},
                     {"role": "assistant", "content": text}],
            details=details, model=getattr(self.chat, "key", None) if self.chat else None,
            stopped=stopped, _index=self.index, _models=(self.chat, self.embedder))
        if not self.streaming:
            yield Fragment(text)
        yield done_event(result)


_REPAIR_LOCK = threading.Lock()


def budget_too_small(cfg: QueryConfig, what: str, window: Window | None = None) -> ConfigError:
    """The error for a context budget that cannot hold a single row of ``what``."""
    if window is not None and "max_context_tokens" in window.cut:
        return ConfigError(f"{window.model or 'The model'} is loaded with a "
                           f"{window.context_length:,}-token context, which leaves "
                           f"{cfg.max_context_tokens:,} tokens for the query's context: too few "
                           f"for a single {what}",
                           hint="load the model with a larger context (%lms_models load KEY "
                                "--context 16384), or build with smaller chunks")
    return ConfigError(f"max_context_tokens={cfg.max_context_tokens} is too small to hold a "
                       f"single {what}, so the model would answer from nothing",
                       hint="raise it (GraphRAG's default is 12000; a text unit alone is "
                            "often 300-1200 tokens)")


def fit_query(cfg: QueryConfig, window: Window, method: str, question: str,
              chosen: set[str] | frozenset[str] = frozenset()
              ) -> tuple[QueryConfig, dict[str, dict[str, Any]]]:
    """The query's budgets and per-stage model settings, fitted into ``window``.

    ``max_context_tokens`` (and global's ``data_max_tokens``) shrink until every stage's
    prompt, context and answer fit; the ones in ``chosen`` (what the user passed) that had to
    be lowered are noted on ``window`` for one notice.
    """
    settings = ModelSettings(cfg.llm_config, kind="query")
    configs = settings.as_dict()
    for stage, conf in configs.items():
        if cfg.temperature is not None:
            conf["temperature"] = cfg.temperature
        if cfg.max_tokens is not None and stage in ANSWER_STAGES:
            conf["maxTokens"] = cfg.max_tokens
    budgets = {"max_context_tokens": cfg.max_context_tokens,
               "data_max_tokens": cfg.data_max_tokens}
    words = {"map_max_length": cfg.map_max_length, "reduce_max_length": cfg.reduce_max_length}
    if not window.known:
        return cfg, configs
    q_tokens = estimate_tokens(question) + (_FOLLOW_UP_TOKENS if method == "drift" else 0)
    for stage in METHOD_STAGES[method]:
        conf = configs[stage]
        prompt = calls.fill(_TEMPLATE[stage], context_data="", report_data="",
                            community_reports="", response_type=cfg.response_type,
                            max_length=max(words.values()), query=question,
                            global_query=question, followups=cfg.followups_per_answer)
        name = _BUDGET.get(stage, "max_context_tokens")
        got, answer = window.split(
            fixed=window.model_tokens(estimate_tokens(prompt) + q_tokens + 8),
            want=window.model_tokens(budgets[name]), answer=conf["maxTokens"],
            default_answer=settings.limits[stage], min_input=window.model_tokens(100),
            what=f"{stage} prompt", answer_share=QUERY_ANSWER_SHARE)
        got = min(budgets[name], window.estimated(got))
        if got < budgets[name]:
            window.note(name, budgets[name], got, user=name in chosen)
            budgets[name] = got
        if conf["maxTokens"] is not None and answer < conf["maxTokens"]:
            window.note(f"{stage} maxTokens", conf["maxTokens"], answer,
                        user=settings.user_set(stage, "maxTokens") or (
                            "max_tokens" in chosen and stage in ANSWER_STAGES))
            conf["maxTokens"] = answer
        if stage in ("global_map", "global_reduce"):
            key = "map_max_length" if stage == "global_map" else "reduce_max_length"
            words[key] = min(words[key], words_for(answer))
    return replace(cfg, **budgets, **words), configs
