"""Local search: entities that match the question, and everything around them.

GraphRAG's mixed context (graphrag-reference §1.10): the question (plus earlier user turns) is
embedded and matched against entity descriptions; the top entities pull in their community
reports (``community_prop`` of the budget), their relationships and claims (the remainder after
reports and text), and the text units they came from (``text_unit_prop``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ...errors import GraphIndexError
from ...events import Event
from .. import sanity
from . import calls
from .base import QueryRun, budget_too_small
from .context import (
    Counter,
    as_list,
    build_table,
    entities_named_in,
    history_table,
    join,
    lookups,
)
from .params import QueryConfig
from .result import Context
from .vectors import embed_query, nearest


def select_entities(index: Any, vector: np.ndarray, k: int, oversample: int = 2,
                    named_in: str | None = None) -> list[int]:
    """Row positions of the ``k`` entities whose description embeddings best match ``vector``.

    With ``named_in`` (the question), entities whose full title appears in it come first, most
    connected first
    among titles of the same length (longer titles are more specific). GraphRAG only does this for an explicit ``include_entity_names`` list; we
    do it always because a small local embedding model can rank "Scrooge" below ten entities
    that merely mention Christmas, and a user who names an entity expects it in the context.
    """
    lk = lookups(index)
    named: list[int] = []
    if named_in:
        named = entities_named_in(lk, named_in)  # longest titles first: most specific
        titles = sanity.text(index.entities["title"]).to_numpy()
        named.sort(key=lambda p: (-len(str(titles[p]).split()), -lk.ent_degree[p]))
    ids, _ = nearest(index, "entity_description", vector, k * max(1, oversample))
    pos = named[:k] + [p for p in (lk.entity_pos[i] for i in ids if i in lk.entity_pos)
                       if p not in named[:k]]
    return pos[:k]


def _reports(index: Any, ents: pd.DataFrame, budget: int, level: int, count: Counter) -> Context:
    """Reports of the selected entities' communities, by (matched entities, rank) descending."""
    by_entity, report_pos = lookups(index).communities(level)
    hits: dict[int, int] = {}
    for eid in ents["id"].astype(str):
        for c in by_entity.get(eid, ()):
            hits[c] = hits.get(c, 0) + 1
    if not hits:
        return Context("")
    reps = index.community_reports
    pos = [report_pos[c] for c in hits]
    sub = sanity.usable_rows(reps.iloc[pos], "community", floats=("rank",))
    sub = sub.assign(matched=[hits[c] for c in hits])
    sub = sub.sort_values(["matched", "rank"], ascending=False, kind="stable")
    rows = (((int(r.community), r.title, r.full_content),
             {"short_id": int(r.community), "id": str(r.id), "title": r.title,
              "matched_entities": int(r.matched), "rank": r.rank},
             (int(r.community), r.title, r.summary))
            for r in sub.itertuples(index=False))
    return build_table("reports", ("id", "title", "content"), rows, budget, count,
                       lookups(index).token_memo)


def _entities(ents: pd.DataFrame, budget: int, count: Counter,
              memo: dict | None = None) -> Context:
    rows = (((int(r.human_readable_id), r.title, r.description, int(r.degree)),
             {"short_id": int(r.human_readable_id), "id": str(r.id), "title": r.title,
              "type": r.type, "description": r.description, "degree": int(r.degree)})
            for r in ents.itertuples(index=False))
    return build_table("entities", ("id", "entity", "description", "number of relationships"),
                       rows, budget, count, memo)


def _relationships(index: Any, ents: pd.DataFrame, top_k: int, budget: int,
                   count: Counter) -> Context:
    """In-network relationships first, then the best-linked out-network ones (GraphRAG's order).

    In-network (both ends selected): by rank (combined degree), then weight. Out-network: by
    how many selected entities the other end links to, then rank and weight; at most
    ``top_k`` x the number of selected entities. Ranked on cached numpy columns: this runs on
    every query and must not touch the whole relationships table.
    """
    lk = lookups(index)
    titles = list(sanity.text(ents["title"]))
    chosen = set(titles)
    found = [lk.rels_by_title[t] for t in titles if t in lk.rels_by_title]
    if not found:
        return Context("")
    cand = np.unique(np.concatenate(found))
    src, tgt = lk.rel_source[cand], lk.rel_target[cand]
    in_src = np.fromiter((s in chosen for s in src), bool, len(cand))
    in_tgt = np.fromiter((t in chosen for t in tgt), bool, len(cand))
    inside = in_src & in_tgt
    rank, weight = lk.rel_rank[cand], lk.rel_weight[cand]
    in_pos = cand[inside][np.lexsort((-weight[inside], -rank[inside]))]
    out = ~inside
    other = np.where(in_src[out], tgt[out], src[out])
    _, inverse, counts = np.unique(other.astype(str), return_inverse=True, return_counts=True)
    links = counts[inverse]
    out_pos = cand[out][np.lexsort((-weight[out], -rank[out], -links))][:top_k * len(titles)]
    picked = sanity.usable_rows(index.relationships.iloc[np.concatenate([in_pos, out_pos])])
    rows = (((int(r.human_readable_id), r.source, r.target, r.description, r.weight),
             {"short_id": int(r.human_readable_id), "id": str(r.id), "source": r.source,
              "target": r.target, "description": r.description, "weight": r.weight,
              "in_network": r.source in chosen and r.target in chosen})
            for r in picked.itertuples(index=False))
    return build_table("relationships", ("id", "source", "target", "description", "weight"),
                       rows, budget, count, lk.token_memo)


def _claims(index: Any, ents: pd.DataFrame, budget: int, count: Counter) -> Context:
    covs = index.covariates
    if covs is None or not len(covs) or budget <= 0:
        return Context("")
    lk = lookups(index)
    pos = [p for t in sanity.text(ents["title"]) for p in lk.claims_by_title.get(t, ())]
    if not pos:
        return Context("")
    rows = (((int(r.human_readable_id), r.subject_id, r.object_id, r.type, r.status,
              r.description),
             {"short_id": int(r.human_readable_id), "id": str(r.id), "entity": r.subject_id,
              "type": r.type, "status": r.status, "description": r.description})
            for r in sanity.usable_rows(covs.iloc[pos]).itertuples(index=False))
    return build_table("claims", ("id", "entity", "object", "type", "status", "description"),
                       rows, budget, count, lk.token_memo)


def _text_units(index: Any, ents: pd.DataFrame, budget: int, count: Counter) -> Context:
    """Source chunks by (entity order, relationships of that entity inside the chunk desc)."""
    lk = lookups(index)
    units = index.text_units
    order: list[tuple[int, int, int]] = []  # (entity rank, -relationship count, unit position)
    seen: set[str] = set()
    for rank, (title, unit_ids) in enumerate(zip(sanity.text(ents["title"]),
                                                 ents["text_unit_ids"], strict=False)):
        rel_pos = lk.rels_by_title.get(title, ())
        for uid in as_list(unit_ids):
            if uid in seen or uid not in lk.unit_pos:
                continue
            seen.add(uid)
            n_rel = sum(1 for p in rel_pos if uid in lk.rel_units[p])
            order.append((rank, -n_rel, lk.unit_pos[uid]))
    order.sort()
    rows = (((int(r.human_readable_id), r.text),
             {"short_id": int(r.human_readable_id), "id": str(r.id), "text": r.text})
            for r in sanity.usable_rows(units.iloc[[o[2] for o in order]])
            .itertuples(index=False))
    return build_table("sources", ("id", "text"), rows, budget, count, lk.token_memo)


def build_local_context(index: Any, query_text: str, cfg: QueryConfig, *, embedder: Any,
                        history: list[dict[str, str]] | None = None, count: Counter,
                        text_unit_prop: float | None = None, community_prop: float | None = None,
                        log: Any = None) -> Context:
    """The mixed local-search context for ``query_text`` within ``cfg.max_context_tokens``.

    ``query_text`` is what gets embedded (the question plus earlier user turns); the proportions
    default to ``cfg``'s (DRIFT's follow-ups pass 0.9 / 0.1).
    """
    tu_prop = cfg.text_unit_prop if text_unit_prop is None else text_unit_prop
    co_prop = cfg.community_prop if community_prop is None else community_prop
    hist = history_table(history or [], cfg.max_context_tokens, max_turns=cfg.history_max_turns,
                         user_only=cfg.history_user_turns_only, count=count)
    budget = cfg.max_context_tokens - hist.tokens - (1 if hist.text else 0)
    vec = embed_query(embedder, query_text, log)
    pos = select_entities(index, vec, cfg.top_k_entities, cfg.oversample,
                          named_in=query_text if cfg.match_entity_names else None)
    lk = lookups(index)  # rows an answer cannot cite are left out; degrees are counts (sanity)
    ents = sanity.usable_rows(index.entities.iloc[pos].assign(degree=lk.ent_degree[pos]))
    # Each section has its share; the separators between up to 6 sections cost a token each.
    budget -= 5
    co_budget, tu_budget = int(budget * co_prop), int(budget * tu_prop)
    local_budget = budget - co_budget - tu_budget
    reports = _reports(index, ents, co_budget, cfg.community_level, count)
    ent_ctx = _entities(ents, local_budget, count, lk.token_memo)
    rel_ctx = _relationships(index, ents, cfg.top_k_relationships,
                             local_budget - ent_ctx.tokens, count)
    claim_ctx = _claims(index, ents, local_budget - ent_ctx.tokens - rel_ctx.tokens, count) \
        if cfg.include_claims else Context("")
    units = _text_units(index, ents, tu_budget, count)
    return join([hist, reports, ent_ctx, rel_ctx, claim_ctx, units])


def require_entities(index: Any) -> None:
    if not len(index.entities):
        raise GraphIndexError("This index has no entities, so local search has nothing to match",
                              hint="build the graph first, or use method='basic'")


def run(q: QueryRun) -> Iterator[Event]:
    """Local search: one context, one answer call."""
    ctx = build_local_context(q.index, q.history_text(), q.cfg, embedder=q.embedder,
                              history=q.history, count=q.count, log=q.log)
    if not set(ctx.tables) - {"history"}:
        raise budget_too_small(q.cfg, "entity, relationship, report or text unit", q.window)
    system = calls.fill("local_system", response_type=q.cfg.response_type,
                        context_data=ctx.text)
    out: dict[str, Any] = {}
    yield from q.answer(system, "local answer", out)
    yield from q.finish(out["text"], [ctx], stopped=out.get("stopped", False),
                        details={"context_tokens": ctx.tokens})
