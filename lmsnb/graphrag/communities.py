"""Hierarchical Leiden communities, computed the way Microsoft GraphRAG computes them.

Same library (``graspologic_native.hierarchical_leiden``), same defaults (``max_cluster_size``
10, seed ``0xDEADBEEF``, the stable largest connected component), same bookkeeping (community
ids unique across levels, ``parent`` -1 at the top, ``children`` lists), so the same graph gives
the same communities as GraphRAG with the same graspologic-native version. Note GraphRAG pins
graspologic-native < 1.3 because 1.3 changes community counts; we use what is installed.
"""

from __future__ import annotations

import uuid
from datetime import date

import pandas as pd

from . import sanity

SEED = 0xDEADBEEF
MAX_CLUSTER_SIZE = 10


def stable_lcc(edges: pd.DataFrame) -> pd.DataFrame:
    """Edges of the largest connected component, undirected (lesser node first), de-duplicated
    (last wins) and sorted — GraphRAG's ``stable_lcc``, so Leiden sees a deterministic input."""
    if edges.empty:
        return edges.copy()
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, t in zip(edges["source"], edges["target"], strict=True):
        ra, rb = find(s), find(t)
        if ra != rb:
            parent[ra] = rb
    groups: dict[str, set[str]] = {}
    for node in list(parent):
        groups.setdefault(find(node), set()).add(node)
    lcc = max(groups.values(), key=len)
    e = edges[edges["source"].isin(lcc) & edges["target"].isin(lcc)]
    return _stabilise(e)


def _stabilise(e: pd.DataFrame) -> pd.DataFrame:
    e = e.copy()
    swap = e["source"] > e["target"]
    e.loc[swap, ["source", "target"]] = e.loc[swap, ["target", "source"]].to_numpy()
    e = e.drop_duplicates(subset=["source", "target"], keep="last")
    return e.sort_values(["source", "target"]).reset_index(drop=True)


def cluster_graph(edges: pd.DataFrame, max_cluster_size: int = MAX_CLUSTER_SIZE,
                  use_lcc: bool = True, seed: int = SEED
                  ) -> list[tuple[int, int, int, list[str]]]:
    """``[(level, community, parent, [node titles])]`` from hierarchical Leiden."""
    from graspologic_native import hierarchical_leiden

    open_end = sanity.blank(edges["source"]) | sanity.blank(edges["target"])
    edges = edges[~open_end].assign(source=lambda d: sanity.text(d["source"]),
                                    target=lambda d: sanity.text(d["target"]))
    e = stable_lcc(edges) if use_lcc else _stabilise(edges)
    if e.empty:
        return []
    # weights <= 0, NaN or infinite (a loaded or edited index) are made usable, as everywhere
    weight = sanity.weights(e["weight"]).summable()
    parts = hierarchical_leiden(
        [(s, t, float(w)) for s, t, w in zip(e["source"], e["target"], weight, strict=True)],
        max_cluster_size=max_cluster_size, seed=seed)
    levels: dict[int, dict[str, int]] = {}
    hierarchy: dict[int, int] = {}
    for p in parts:
        levels.setdefault(p.level, {})[p.node] = p.cluster
        hierarchy[p.cluster] = p.parent_cluster if p.parent_cluster is not None else -1
    out = []
    for level in sorted(levels):
        members: dict[int, list[str]] = {}
        for node, cluster in levels[level].items():
            members.setdefault(cluster, []).append(node)
        for cluster, nodes in members.items():
            out.append((level, cluster, hierarchy[cluster], nodes))
    return out


def create_communities(entities: pd.DataFrame, relationships: pd.DataFrame, *,
                       max_cluster_size: int = MAX_CLUSTER_SIZE, use_lcc: bool = True,
                       seed: int = SEED) -> pd.DataFrame:
    """GraphRAG's ``communities`` table for the given entities and relationships."""
    clusters = cluster_graph(relationships[["source", "target", "weight"]],
                             max_cluster_size, use_lcc, seed)
    cols = ["id", "human_readable_id", "community", "level", "parent", "children", "title",
            "entity_ids", "relationship_ids", "text_unit_ids", "period", "size"]
    if not clusters:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    id_of = dict(zip(entities["title"], entities["id"], strict=True))
    rel = relationships[["id", "source", "target", "text_unit_ids"]]
    children: dict[int, list[int]] = {}
    for _level, cluster, parent, _nodes in clusters:
        if parent != -1:
            children.setdefault(parent, []).append(cluster)
    period = date.today().isoformat()
    rows = []
    for level, cluster, parent, nodes in clusters:
        members = set(nodes)
        inside = rel[rel["source"].isin(members) & rel["target"].isin(members)]
        units = sorted({u for us in inside["text_unit_ids"] for u in us})
        entity_ids = sorted(id_of[n] for n in members if n in id_of)
        rows.append({"id": str(uuid.uuid4()), "human_readable_id": int(cluster),
                     "community": int(cluster), "level": int(level), "parent": int(parent),
                     "children": sorted(children.get(cluster, [])), "title": f"Community {cluster}",
                     "entity_ids": entity_ids, "relationship_ids": sorted(inside["id"]),
                     "text_unit_ids": units, "period": period, "size": len(entity_ids)})
    df = pd.DataFrame(rows, columns=cols).sort_values("community").reset_index(drop=True)
    for c in ("human_readable_id", "community", "level", "parent", "size"):
        df[c] = df[c].astype("int64")
    return df
