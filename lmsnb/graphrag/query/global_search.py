"""Global search: map over community reports in batches, then reduce the scored points.

GraphRAG's recipe (graphrag-reference §1.10): reports at level <= ``community_level`` are
ranked by occurrence weight and rank, shuffled (seed 86), and packed into batches of
``max_context_tokens``; each batch is one map call (run concurrently) that returns JSON
``{"points": [{"description", "score"}]}``; points scoring 0 are dropped, the rest packed by
score into ``data_max_tokens`` for one reduce call. No point above 0 -> the canned "I do not
know" answer and no reduce call.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import pandas as pd

from ...errors import GraphIndexError
from ...events import Event, Fragment, PromptProgress
from .. import sanity
from . import calls
from .base import QueryRun, budget_too_small
from .context import Counter, as_list, build_table, history_table
from .params import NO_DATA_ANSWER, QueryConfig
from .result import Context

MAP_SCHEMA = {
    "type": "object",
    "properties": {"points": {"type": "array", "items": {
        "type": "object",
        "properties": {"description": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["description", "score"]}}},
    "required": ["points"],
}


def select_reports(index: Any, level: int) -> pd.DataFrame:
    """Reports at level <= ``level`` with GraphRAG's occurrence weight (text units, normalised)."""
    reps = index.community_reports
    if not len(reps):
        return reps
    # rows without a community number or level are skipped, ranks are numbers (sanity)
    reps = sanity.usable_rows(reps, "community", ints=("level",), fill={"level": -1},
                              floats=("rank",))
    reps = reps[(reps["level"] >= 0) & (reps["level"] <= level)]
    comms = index.communities
    weight = pd.Series(dtype=float)
    if len(comms):
        num = sanity.whole(comms["community"])
        weight = pd.Series([len(as_list(v)) for v in comms["text_unit_ids"][num.notna()]],
                           index=num.dropna().astype(int).to_numpy())
        weight = weight[~weight.index.duplicated()]
        if weight.max() > 0:
            weight = weight / weight.max()
    occ = reps["community"].map(weight).fillna(0.0).round(4)
    return reps.assign(occurrence_weight=occ.to_numpy()).sort_values(
        ["occurrence_weight", "rank"], ascending=False, kind="stable")


def build_batches(index: Any, cfg: QueryConfig, count: Counter,
                  history: list[dict[str, str]] | None = None) -> list[Context]:
    """The map contexts: shuffled report rows packed into ``max_context_tokens`` each."""
    reps = select_reports(index, cfg.community_level)
    records = list(reps.itertuples(index=False))
    if cfg.shuffle_seed is not None:
        random.Random(cfg.shuffle_seed).shuffle(records)
    hist = history_table(history or [], cfg.max_context_tokens // 4,
                         max_turns=cfg.history_max_turns,
                         user_only=cfg.history_user_turns_only, count=count)
    budget = cfg.max_context_tokens - hist.tokens - (1 if hist.text else 0)
    header = ("id", "title", "occurrence weight", "content", "rank")
    batches: list[Context] = []
    start = 0
    while start < len(records):
        rows = (((int(r.community), r.title, r.occurrence_weight, r.full_content, r.rank),
                 {"short_id": int(r.community), "id": str(r.id), "title": r.title,
                  "level": int(r.level), "rank": r.rank,
                  "occurrence_weight": r.occurrence_weight})
                for r in records[start:])
        ctx = build_table("reports", header, rows, budget, count)
        n = len(ctx.tables["reports"]) if ctx.tables else 0
        if n == 0:  # one report larger than the whole budget: skip it, as GraphRAG cannot fit it
            start += 1
            continue
        if hist.text:
            ctx = Context(hist.text + "\n" + ctx.text, {**hist.tables, **ctx.tables},
                          hist.tokens + 1 + ctx.tokens)
        batches.append(ctx)
        start += n
    return batches


#: GraphRAG's range for a map point's importance score
SCORE_RANGE = (0.0, 100.0)


def clamp_score(value: Any, repaired: Any = None) -> float:
    """A 0–100 score from a model's value (unreadable → 0); ``repaired(what)`` counts fixes."""
    try:
        score = float(value)
    except (TypeError, ValueError):
        score = float("nan")
    low, high = SCORE_RANGE
    if not low <= score <= high:  # also NaN
        if repaired is not None:
            repaired("scores_clamped")
        score = 0.0 if score != score else min(high, max(low, score))
    return score


def parse_points(text: str, repaired: Any = None) -> list[dict[str, Any]]:
    """Map answer -> ``[{"description", "score"}]``; unparseable answers give no points.

    Scores are clamped into GraphRAG's 0–100; ``repaired(what)`` counts clamped scores and
    answers that held no JSON.
    """
    obj = calls.parse_json(text)
    if obj is None and repaired is not None:
        repaired("map_answers_unparsed")
    obj = obj or {}
    points = []
    for p in obj.get("points", []) if isinstance(obj.get("points"), list) else []:
        if not isinstance(p, dict) or not str(p.get("description", "")).strip():
            continue
        points.append({"description": str(p["description"]).strip(),
                       "score": clamp_score(p.get("score", 0), repaired)})
    return points


def reduce_context(points: list[dict[str, Any]], budget: int, count: Counter) -> str:
    """Scored points, best first, as ``----Analyst n----`` blocks within ``budget`` tokens."""
    parts, used = [], 0
    for p in sorted(points, key=lambda p: -p["score"]):
        block = (f"----Analyst {p['batch'] + 1}----\nImportance Score: {p['score']:g}\n"
                 f"{p['description']}\n")
        n = count(block)
        if used + n > budget:
            break
        parts.append(block)
        used += n
    return "\n".join(parts)


def require_reports(index: Any, level: int) -> None:
    reps = index.community_reports
    if not len(reps):
        raise GraphIndexError("This index has no community reports, which global search maps over",
                              hint="build it with reports, or use method='local' or 'basic'")
    levels = sanity.whole(reps["level"])
    if not (levels <= level).any():
        if levels.isna().all():
            raise GraphIndexError("No community report has a level (a whole number), so global "
                                  "search cannot choose reports",
                                  hint="set community_reports['level'] (0 is the top level)")
        raise GraphIndexError(f"This index has no community reports at level <= {level}",
                              hint=f"use community_level={int(levels.min())} or higher")


def run(q: QueryRun) -> Iterator[Event]:
    """Map (concurrently, reporting progress), then reduce — or "I do not know"."""
    cfg = q.cfg
    batches = build_batches(q.index, cfg, q.count, q.history)
    if not batches:
        raise budget_too_small(cfg, "community report", q.window)
    system = [calls.fill("global_map_system", context_data=b.text, max_length=cfg.map_max_length)
              for b in batches]
    answers: list[str] = [""] * len(batches)
    yield PromptProgress(0.0)
    with ThreadPoolExecutor(max_workers=min(cfg.concurrency, max(1, len(batches))),
                            thread_name_prefix="lmsnb-global-map") as pool:
        futures = {pool.submit(calls.complete, q.chat, q.messages(s), stage="global map",
                               log=q.log, json_schema=MAP_SCHEMA,
                               config=q.config("global map")): i for i, s in enumerate(system)}
        for n, fut in enumerate(as_completed(futures), 1):
            answers[futures[fut]] = fut.result()
            yield PromptProgress(n / len(batches))
    points = [dict(p, batch=i) for i, a in enumerate(answers)
              for p in parse_points(a, q.repaired)]
    kept = [p for p in points if p["score"] > 0]
    details = {"map_answers": answers, "points": pd.DataFrame(
        points, columns=["batch", "score", "description"]), "batches": len(batches)}
    if not kept:
        if q.streaming:
            yield Fragment(NO_DATA_ANSWER)
        yield from q.finish(NO_DATA_ANSWER, batches, details=details)
        return
    report_data = reduce_context(kept, cfg.data_max_tokens, q.count)
    system = calls.fill("global_reduce_system", report_data=report_data,
                        response_type=cfg.response_type, max_length=cfg.reduce_max_length)
    out: dict[str, Any] = {}
    yield from q.answer(system, "global reduce", out)
    details["reduce_context"] = report_data
    yield from q.finish(out["text"], batches, stopped=out.get("stopped", False),
                        details=details)
