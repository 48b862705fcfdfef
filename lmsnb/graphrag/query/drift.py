"""DRIFT search: a global primer, then rounds of local follow-ups, then one reduce.

As GraphRAG describes it (graphrag-reference §1.10):

1. **Primer** — the question is expanded HyDE-style into a hypothetical answer (shaped like a
   community report), embedded, and matched against ``community_full_content``; the top
   ``drift_k_followups`` reports are split into ``primer_folds`` groups, each answered with an
   intermediate answer, a score and follow-up questions.
2. **Follow-ups** — for ``n_depth`` rounds, the best-scored unanswered follow-ups (at most
   ``drift_k_followups`` a round) are answered concurrently by local search with DRIFT's
   proportions (text units 0.9, reports 0.1); each answer brings its own follow-ups.
3. **Reduce** — all answers, best first, within the budget, into one final (streamed) answer.

Depth is bounded by ``n_depth``; ``n_depth=0`` stops after the primer.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ...events import Event, PromptProgress
from .. import sanity
from ..tokens import cut_to_tokens
from . import calls
from .base import QueryRun, budget_too_small
from .context import build_table, lookups
from .global_search import clamp_score
from .local import build_local_context
from .result import Context
from .vectors import embed_query, nearest

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"response": {"type": "string"}, "score": {"type": "integer"},
                   "follow_up_queries": {"type": "array", "items": {"type": "string"}}},
    "required": ["response", "score", "follow_up_queries"],
}
PRIMER_SCHEMA = {
    "type": "object",
    "properties": {"intermediate_answer": {"type": "string"}, "score": {"type": "integer"},
                   "follow_up_queries": {"type": "array", "items": {"type": "string"}}},
    "required": ["intermediate_answer", "score", "follow_up_queries"],
}




def _followups(obj: dict[str, Any]) -> list[str]:
    qs = obj.get("follow_up_queries") or []
    return [str(x).strip() for x in qs if str(x).strip()] if isinstance(qs, list) else []


def hyde(q: QueryRun) -> str:
    """A hypothetical answer shaped like a real report (the top-ranked one as the template)."""
    reps = sanity.usable_rows(q.index.community_reports, "community", floats=("rank",))
    reps = reps.sort_values("rank", ascending=False, na_position="last")
    template = sanity.text(reps["full_content"]).iloc[0] if len(reps) else ""
    template = cut_to_tokens(template, q.cfg.max_context_tokens)  # a long report: its start
    prompt = calls.fill("drift_hyde", query=q.question, template=template)
    return calls.complete(q.chat, [{"role": "user", "content": prompt}], stage="drift hyde",
                          log=q.log, config=q.config("drift hyde"))


def primer_reports(q: QueryRun, expanded: str) -> pd.DataFrame:
    """The ``drift_k_followups`` reports nearest to the hypothetical answer, best first."""
    ids, scores = nearest(q.index, "community_full_content",
                          embed_query(q.embedder, expanded, q.log), q.cfg.drift_k_followups)
    reps = q.index.community_reports
    pos = pd.Series(np.arange(len(reps)), index=reps["id"].astype(str).to_numpy())
    pos = pos[~pos.index.duplicated()]
    keep = [i for i in ids if i in pos.index]
    out = reps.iloc[pos[keep].to_numpy()].copy()
    out["similarity"] = scores[[i in pos.index for i in ids]]
    return sanity.usable_rows(out, "community")  # reports without a number: left out


def _primer_fold(q: QueryRun, fold: pd.DataFrame) -> dict[str, Any]:
    ctx = build_table("reports", ("id", "title", "content"),
                      (((int(r.community), r.title, r.full_content),
                        {"short_id": int(r.community), "id": str(r.id), "title": r.title})
                       for r in fold.itertuples(index=False)), q.cfg.max_context_tokens, q.count)
    prompt = calls.fill("drift_primer", query=q.question, community_reports=ctx.text,
                        followups=q.cfg.followups_per_answer)
    text = calls.complete(q.chat, [{"role": "user", "content": prompt}], stage="drift primer",
                          log=q.log, json_schema=PRIMER_SCHEMA, config=q.config("drift primer"))
    obj = calls.parse_json(text) or {}
    return {"depth": 0, "query": q.question,
            "answer": str(obj.get("intermediate_answer") or text).strip(),
            "score": clamp_score(obj.get("score"), q.repaired), "follow_ups": _followups(obj),
            "context": ctx}


def _local_step(q: QueryRun, query: str, depth: int) -> dict[str, Any]:
    cfg = q.cfg
    ctx = build_local_context(q.index, query, cfg, embedder=q.embedder, count=q.count,
                              text_unit_prop=cfg.local_text_unit_prop,
                              community_prop=cfg.local_community_prop, log=q.log)
    system = calls.fill("drift_local_system", response_type=cfg.response_type,
                        context_data=ctx.text, global_query=q.question,
                        followups=cfg.followups_per_answer)
    text = calls.complete(q.chat, [{"role": "system", "content": system},
                                   {"role": "user", "content": query}],
                          stage="drift local", log=q.log, json_schema=ANSWER_SCHEMA,
                          config=q.config("drift local"))
    obj = calls.parse_json(text) or {}
    return {"depth": depth, "query": query, "answer": str(obj.get("response") or text).strip(),
            "score": clamp_score(obj.get("score"), q.repaired), "follow_ups": _followups(obj),
            "context": ctx}


def reduce_notes(q: QueryRun, nodes: list[dict[str, Any]]) -> str:
    """All answers, best score first, as notes within ``max_context_tokens``."""
    parts, used = [], 0
    for i, n in enumerate(sorted(nodes, key=lambda n: -n["score"]), 1):
        block = f"----Note {i}----\nQuestion: {n['query']}\nScore: {n['score']:g}\n{n['answer']}\n"
        cost = q.count(block)
        if used + cost > q.cfg.max_context_tokens:
            break
        parts.append(block)
        used += cost
    return "\n".join(parts)


def run(q: QueryRun) -> Iterator[Event]:
    cfg = q.cfg
    lookups(q.index)  # build the shared maps once, before the worker threads need them
    yield PromptProgress(0.0)
    expanded = hyde(q)
    reps = primer_reports(q, expanded)
    if not len(reps):
        from ...errors import GraphIndexError

        raise GraphIndexError("No community report matches the index's "
                              "'community_full_content' embeddings",
                              hint="the embeddings are out of date: re-embed with "
                                   "lmsnb.graphrag.embed_index(idx, <model>)")
    folds = [f for f in np.array_split(np.arange(len(reps)), min(cfg.primer_folds, len(reps)))
             if len(f)]
    total = 1 + len(folds) + cfg.n_depth
    nodes: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="lmsnb-drift") as pool:
        nodes += pool.map(lambda f: _primer_fold(q, reps.iloc[f]), folds)
        if not any(n["context"].text for n in nodes):
            raise budget_too_small(cfg, "community report", q.window)
        yield PromptProgress((1 + len(folds)) / total)
        asked = {q.question.strip().lower()}
        for depth in range(1, cfg.n_depth + 1):
            pending = sorted(((n["score"], f) for n in nodes for f in n["follow_ups"]
                              if f.strip().lower() not in asked), key=lambda x: -x[0])
            batch: list[str] = []
            for _, f in pending:
                if f.strip().lower() not in asked and len(batch) < cfg.drift_k_followups:
                    asked.add(f.strip().lower())
                    batch.append(f)
            if not batch:
                break
            nodes += pool.map(lambda f, d=depth: _local_step(q, f, d), batch)
            yield PromptProgress((1 + len(folds) + depth) / total)
    for n in nodes:  # only the newest follow-ups stay open; the tree keeps what was asked
        n["open_follow_ups"] = [f for f in n["follow_ups"] if f.strip().lower() not in asked]
    notes = reduce_notes(q, nodes)
    system = calls.fill("drift_reduce_system", context_data=notes,
                        response_type=cfg.response_type)
    out: dict[str, Any] = {}
    yield from q.answer(system, "drift reduce", out)
    tree = pd.DataFrame([{k: v for k, v in n.items() if k != "context"} for n in nodes])
    contexts: list[Context] = [n["context"] for n in nodes]
    yield from q.finish(out["text"], contexts, stopped=out.get("stopped", False),
                        details={"hypothetical_answer": expanded, "primer_reports": reps,
                                 "tree": tree, "reduce_context": notes})
