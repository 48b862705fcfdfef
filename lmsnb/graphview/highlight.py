"""What a query result (or a table, or a list) points at in the graph, and a sentence saying so.

Local, DRIFT and basic results name entities and relationships; a global search reads
community reports, so its highlight is the communities whose reports were used. Results are
duck-typed: lmsnb's ``QueryResult`` (``.context`` tables with ``id``/``short_id``), Microsoft
GraphRAG's context tables (``entity``/``in_context`` columns, human-readable ids), GraphRAG
tables, or plain lists of ids, titles or human-readable ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .data import Graph, clip


@dataclass
class Highlight:
    entities: set[str] = field(default_factory=set)
    relationships: set[str] = field(default_factory=set)
    communities: set[int] = field(default_factory=set)
    text: str = ""


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def resolve(g: Graph, result: Any) -> Highlight:
    """The entity, relationship and community ids ``result`` names, and what to say about it."""
    if result is None:
        return Highlight()
    ents: Any = None
    rels: Any = None
    reps: Any = None
    ctx = getattr(result, "context", None) or getattr(result, "context_data", None)
    if isinstance(result, Mapping):
        ctx = result
    if isinstance(ctx, Mapping):
        ents, rels = ctx.get("entities"), ctx.get("relationships")
        reps = ctx.get("reports", ctx.get("community_reports"))
    elif isinstance(result, pd.DataFrame):
        cols = set(result.columns)
        if {"source", "target"} <= cols:
            rels = result
        elif "community" in cols and "title" in cols and "degree" not in cols:
            reps = result
        else:
            ents = result
    elif hasattr(result, "entities") or hasattr(result, "relationships"):
        ents, rels = getattr(result, "entities", None), getattr(result, "relationships", None)
    elif isinstance(result, str):
        ents = [result]
    elif isinstance(result, Iterable):
        ents = list(result)
    hl = Highlight()
    _entities(g, ents, hl)
    _relationships(g, rels, hl)
    rel = g.relationships
    chosen = rel[rel["id"].isin(hl.relationships)]
    hl.entities |= set(chosen["src"]) | set(chosen["dst"])
    if not hl.relationships:  # entities only: the relationships among them tied them together
        hl.relationships = set(rel["id"][rel["src"].isin(hl.entities) & rel["dst"].isin(hl.entities)])
    if not hl.entities:  # a global search: the communities whose reports it read
        hl.communities = _communities(g, reps)
    hl.text = _say(g, result, hl)
    return hl


def _in_context(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["in_context"].astype(bool)] if "in_context" in df else df


def _entities(g: Graph, ents: Any, hl: Highlight) -> None:
    hrid = {str(h): i for h, i in zip(g.entities["human_readable_id"], g.entities["id"],
                                      strict=True) if h is not None and not pd.isna(h)}
    rel_ids = set(g.relationships["id"])

    def key(v: Any, allow_hrid: bool) -> None:
        s = str(v)
        if s in g.row:
            hl.entities.add(s)
        elif (eid := g.entity_id(s)) is not None:
            hl.entities.add(eid)
        elif s in rel_ids:
            hl.relationships.add(s)
        elif allow_hrid and s in hrid:
            hl.entities.add(hrid[s])

    if isinstance(ents, pd.DataFrame):
        df = _in_context(ents)
        for col in ("title", "entity"):
            if col in df:
                for v in df[col]:
                    key(v, False)
        if "id" in df:
            for v in df["id"]:
                key(v, True)
    elif ents is not None:
        for v in [ents] if isinstance(ents, str) else ents:
            key(v, isinstance(v, (int, np.integer)))


def _relationships(g: Graph, rels: Any, hl: Highlight) -> None:
    rel = g.relationships
    rel_ids = set(rel["id"])
    if isinstance(rels, pd.DataFrame):
        df = _in_context(rels)
        hrid = {str(h): i for h, i in zip(rel["human_readable_id"], rel["id"], strict=True)
                if h is not None and not pd.isna(h)}
        if "id" in df:
            hl.relationships |= {hrid.get(str(v), str(v)) for v in df["id"]} & rel_ids
        if {"source", "target"} <= set(df.columns):
            pairs = {(str(a).upper(), str(b).upper())
                     for a, b in zip(df["source"], df["target"], strict=True)}
            su, tu = rel["source"].str.upper(), rel["target"].str.upper()
            mask = [(a, b) in pairs or (b, a) in pairs for a, b in zip(su, tu, strict=True)]
            hl.relationships |= set(rel["id"][mask])
    elif rels is not None:
        hl.relationships |= {str(v) for v in rels} & rel_ids


def _communities(g: Graph, reps: Any) -> set[int]:
    if not isinstance(reps, pd.DataFrame) or not len(reps):
        return set()
    col = "community" if "community" in reps else "short_id" if "short_id" in reps else None
    if col is None:
        return set()
    cids = pd.to_numeric(_in_context(reps)[col], errors="coerce").dropna().astype(int)
    return {c for c in cids if c in g.comm.index}


def _say(g: Graph, result: Any, hl: Highlight) -> str:
    method = getattr(result, "method", None)
    if hl.entities:
        source = f"the {method} search's context" if method else "the given rows"
        return (f"Highlighted {_count(len(hl.entities), 'entity', 'entities')} and "
                f"{_count(len(hl.relationships), 'relationship', 'relationships')} from {source}.")
    if hl.communities:
        names = [clip(g.comm.at[c, "title"], 40) for c in
                 sorted(hl.communities, key=lambda c: -len(g.comm.at[c, "members"]))]
        listed = "; ".join(names[:4]) + (f"; … {len(names) - 4} more" if len(names) > 4 else "")
        reader = f"the {method} search read" if method else "were given"
        return (f"Highlighted {_count(len(hl.communities), 'community', 'communities')} whose "
                f"reports {reader}: {listed}.")
    source = f"the {method} search's context" if method else "the given rows"
    return f"Nothing highlighted: {source} names no entity or community of this graph."
