"""Basic search: plain vector RAG over text units — the baseline users compare GraphRAG with.

The question (plus earlier user turns) is embedded, the ``k`` nearest text units (GraphRAG: 10)
are packed into ``max_context_tokens`` in similarity order, and one call answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...errors import GraphIndexError
from ...events import Event
from .. import sanity
from . import calls
from .base import QueryRun, budget_too_small
from .context import Counter, build_table, history_table, join, lookups
from .params import QueryConfig
from .result import Context
from .vectors import embed_query, nearest


def build_basic_context(index: Any, query_text: str, cfg: QueryConfig, *, embedder: Any,
                        count: Counter, history: list[dict[str, str]] | None = None,
                        log: Any = None) -> Context:
    """The ``k`` most similar text units as a Sources table, within the token budget."""
    hist = history_table(history or [], cfg.max_context_tokens, max_turns=cfg.history_max_turns,
                         user_only=cfg.history_user_turns_only, count=count)
    ids, scores = nearest(index, "text_unit_text", embed_query(embedder, query_text, log), cfg.k)
    lk = lookups(index)
    hits = [(lk.unit_pos[u], float(s)) for u, s in zip(ids, scores, strict=True)
            if u in lk.unit_pos]
    # text units an answer could not cite (no human_readable_id) are left out (sanity)
    units = sanity.usable_rows(index.text_units.iloc[[p for p, _ in hits]]
                               .assign(query_score=[s for _, s in hits]))
    rows = [((r.human_readable_id, r.text),
             {"short_id": r.human_readable_id, "id": str(r.id), "text": r.text,
              "score": r.query_score})
            for r in units.itertuples(index=False)]
    budget = cfg.max_context_tokens - hist.tokens - (1 if hist.text else 0)
    return join([hist, build_table("sources", ("id", "text"), rows, budget, count)])


def require_text_units(index: Any) -> None:
    if not len(index.text_units):
        raise GraphIndexError("This index has no text units for basic search",
                              hint="build the index from documents first")


def run(q: QueryRun) -> Iterator[Event]:
    ctx = build_basic_context(q.index, q.history_text(), q.cfg, embedder=q.embedder,
                              count=q.count, history=q.history, log=q.log)
    if "sources" not in ctx.tables:
        raise budget_too_small(q.cfg, "text unit", q.window)
    system = calls.fill("basic_system", response_type=q.cfg.response_type, context_data=ctx.text)
    out: dict[str, Any] = {}
    yield from q.answer(system, "basic answer", out)
    yield from q.finish(out["text"], [ctx], stopped=out.get("stopped", False),
                        details={"context_tokens": ctx.tokens})
