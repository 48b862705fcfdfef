"""What a query returns: the answer, the context that was sent (as DataFrames), the rows the
answer cites, and what it cost.

Keeping the context next to the answer is the point of GraphRAG in a notebook: a user can see
*why* the model said what it said, plot it, or diff it between two methods.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...events import Done, Event, PredictionStats
from .params import QueryConfig


@dataclass
class Context:
    """A context block as sent to the model: the text, and the rows behind it per dataset.

    ``tables`` maps a dataset name the model sees (``entities``, ``relationships``, ``reports``,
    ``sources``, ``claims``, ``history``) to the rows included, with ``short_id`` (the id the
    model cites) and ``id`` (the index row's id).
    """

    text: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    tokens: int = 0


def merge_tables(contexts: list[Context]) -> dict[str, pd.DataFrame]:
    """Union of several contexts' tables (DRIFT, global batches), de-duplicated by row id."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for ctx in contexts:
        for name, df in ctx.tables.items():
            parts.setdefault(name, []).append(df)
    out = {}
    for name, dfs in parts.items():
        df = pd.concat(dfs, ignore_index=True) if len(dfs) > 1 else dfs[0]
        key = "id" if "id" in df.columns else None
        out[name] = df.drop_duplicates(subset=key).reset_index(drop=True) if key else df
    return out


class CallLog:
    """Thread-safe record of every LLM/embedding call a query made (stage, tokens, seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def add(self, stage: str, *, prompt_tokens: int = 0, completion_tokens: int = 0,
            seconds: float = 0.0, kind: str = "chat", texts: int = 0) -> None:
        with self._lock:
            self.rows.append({"stage": stage, "kind": kind, "prompt_tokens": int(prompt_tokens),
                              "completion_tokens": int(completion_tokens),
                              "seconds": float(seconds), "texts": texts})

    def frame(self) -> pd.DataFrame:
        cols = ["stage", "kind", "prompt_tokens", "completion_tokens", "seconds", "texts"]
        with self._lock:
            return pd.DataFrame(list(self.rows), columns=cols)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class QueryResult:
    """The outcome of ``idx.query(...)``.

    ``answer`` is the text; ``context`` the rows sent to the model per dataset; ``context_text``
    the exact context string(s) (one per global map batch); ``citations`` one row per id the
    answer cites; ``calls`` one row per model call. ``follow_up()`` asks the next question with
    this exchange as conversation history.
    """

    question: str
    method: str
    answer: str
    context: dict[str, pd.DataFrame]
    context_text: list[str]
    citations: pd.DataFrame
    calls: pd.DataFrame
    seconds: float
    config: QueryConfig
    history: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    stopped: bool = False
    _index: Any = field(default=None, repr=False, compare=False)
    #: the chat model and embedder that answered, so ``follow_up`` asks the same ones
    _models: tuple[Any, Any] = field(default=(None, None), repr=False, compare=False)

    # ------------------------------------------------------------------ stats
    @property
    def llm_calls(self) -> int:
        return int((self.calls["kind"] == "chat").sum())

    @property
    def prompt_tokens(self) -> int:
        return int(self.calls.loc[self.calls["kind"] == "chat", "prompt_tokens"].sum())

    @property
    def completion_tokens(self) -> int:
        return int(self.calls.loc[self.calls["kind"] == "chat", "completion_tokens"].sum())

    @property
    def stats(self) -> dict[str, Any]:
        """Calls, tokens and wall time as a plain dict (easy to log or compare)."""
        return {"method": self.method, "llm_calls": self.llm_calls,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "embedding_calls": int((self.calls["kind"] == "embed").sum()),
                "seconds": round(self.seconds, 3)}

    def cited(self, dataset: str) -> pd.DataFrame:
        """The full index rows the answer cites from ``dataset`` (entities, reports, ...)."""
        from .citations import DATASETS

        table, _ = DATASETS[dataset]
        df = getattr(self._index, table, None)
        ids = self.citations.loc[(self.citations["dataset"] == dataset)
                                 & self.citations["found"], "id"]
        if df is None or not len(ids):
            return pd.DataFrame()
        return df[df["id"].astype(str).isin(set(ids))]

    def follow_up(self, question: str, **kw: Any) -> QueryResult | QueryStream:
        """Ask a follow-up with this exchange as history (same method and parameters)."""
        from . import run_query

        if self._index is None:
            from ...errors import GraphIndexError

            raise GraphIndexError("This result is not attached to an index",
                                  hint="ask with idx.query(question, history=result) instead")
        kw.setdefault("method", self.method)
        chat, embedder = self._models
        if chat is not None and "chat" not in kw and "model" not in kw:
            kw["chat"] = chat
        if embedder is not None and "embedder" not in kw and "embedding_model" not in kw:
            kw["embedder"] = embedder
        return run_query(self._index, question, history=self, config=self.config, **kw)

    # ---------------------------------------------------------------- display
    def citations_html(self) -> str:
        """An expandable ``<details>`` table of citations and context sizes (escaped)."""
        n_ctx = ", ".join(f"{k} {len(v)}" for k, v in self.context.items() if len(v))
        found = self.citations[self.citations["found"]] if len(self.citations) else self.citations
        left = ' style="text-align:left;vertical-align:top"'  # notebooks right-align cells
        rows = "".join(
            f"<tr><td{left}>{html.escape(str(r.dataset))}</td><td{left}>{int(r.short_id)}</td>"
            f"<td{left}>{html.escape(_clip(str(r.text), 300))}</td>"
            f"<td{left}>{'yes' if r.in_context else 'no'}</td></tr>"
            for r in found.itertuples())
        missing = len(self.citations) - len(found)
        extra = f" ({missing} cited ids not in the index)" if missing else ""
        s = self.stats
        return (
            "<details><summary>"
            f"{len(found)} citations{html.escape(extra)} · context: {html.escape(n_ctx or 'none')}"
            f" · {s['llm_calls']} LLM calls, {s['prompt_tokens']:,} prompt / "
            f"{s['completion_tokens']:,} completion tokens, {s['seconds']:.2f} s</summary>"
            f"<table><thead><tr><th{left}>dataset</th><th{left}>id</th><th{left}>text</th>"
            f"<th{left}>in context</th></tr></thead><tbody>{rows}</tbody></table></details>")

    def _repr_html_(self) -> str:
        return (f"<div><b>{html.escape(self.method)} search</b>: "
                f"{html.escape(self.question)}</div>"
                f"<div style='white-space:pre-wrap'>{html.escape(self.answer)}</div>"
                + self.citations_html())

    def __repr__(self) -> str:
        return (f"QueryResult(method={self.method!r}, answer={_clip(self.answer, 80)!r}, "
                f"citations={len(self.citations)}, stats={self.stats})")


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


class QueryStream:
    """An iterator of ``lmsnb.events`` for one query; the last event is ``Done`` whose
    ``parsed`` is the :class:`QueryResult` (also on ``.result`` once the stream ends).

    Only the final answer call streams tokens; the earlier stages (global map, DRIFT primer and
    follow-ups) report ``PromptProgress`` so a front end can show that work is happening.
    """

    def __init__(self, gen: Callable[[], Iterator[Event]],
                 cancel: Callable[[], None] | None = None) -> None:
        self._gen = gen
        self._cancel = cancel
        self._it: Iterator[Event] | None = None
        self.result: QueryResult | None = None

    def cancel(self) -> None:
        """Stop the query (any thread): the answer so far is kept, ``result.stopped`` is True."""
        if self._cancel is not None:
            self._cancel()

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._it is None:
            self._it = self._gen()
        ev = next(self._it)
        if isinstance(ev, Done):
            self.result = ev.parsed
        return ev

    def collect(self) -> QueryResult:
        """Run the stream to the end and return the result."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result


def done_event(result: QueryResult) -> Done:
    """The closing ``Done`` of a query stream: totals over all of the query's calls."""
    stats = PredictionStats(model=result.model or "", prompt_tokens=result.prompt_tokens,
                            predicted_tokens=result.completion_tokens,
                            total_seconds=result.seconds,
                            stop_reason="userStopped" if result.stopped else "eosFound",
                            kind="graphrag_query")
    if result.seconds > 0 and result.completion_tokens:
        stats.tokens_per_second = result.completion_tokens / result.seconds
    return Done(text=result.answer, stats=stats, parsed=result)
