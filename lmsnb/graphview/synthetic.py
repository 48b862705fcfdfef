"""A GraphRAG-shaped index with planted communities, for benchmarks, tests and demos."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def synthetic_index(n_entities: int, *, community_size: int = 40, edges_per_node: float = 2.0,
                    seed: int = 0) -> Any:
    """``n_entities`` entities in communities of about ``community_size``, ~85% of the
    relationships inside a community; an object with GraphRAG's tables as attributes."""
    rng = np.random.default_rng(seed)
    n_comm = max(1, n_entities // community_size)
    comm = rng.integers(0, n_comm, n_entities)
    titles = [f"ENTITY {i}" for i in range(n_entities)]
    m = int(n_entities * edges_per_node)
    a = rng.integers(0, n_entities, m)
    same = rng.random(m) < 0.85
    b = np.where(same, -1, rng.integers(0, n_entities, m))
    by_comm = [np.flatnonzero(comm == c) for c in range(n_comm)]
    for k in np.flatnonzero(same):
        pool = by_comm[comm[a[k]]]
        b[k] = pool[rng.integers(0, len(pool))]
    pairs = {(min(x, y), max(x, y)) for x, y in zip(a, b, strict=True) if x != y}
    src, dst = map(np.array, zip(*sorted(pairs), strict=True)) if pairs else (
        np.zeros(0, np.int64), np.zeros(0, np.int64))
    entities = pd.DataFrame({
        "id": [f"e{i}" for i in range(n_entities)], "human_readable_id": range(n_entities),
        "title": titles, "type": rng.choice(["PERSON", "ORGANIZATION", "GEO", "EVENT"], n_entities),
        "description": [f"Synthetic entity {i} in community {c}." for i, c in enumerate(comm)],
        "text_unit_ids": [[] for _ in range(n_entities)],
        "frequency": 1, "degree": np.bincount(np.concatenate([src, dst]).astype(np.int64),
                                              minlength=n_entities)})
    relationships = pd.DataFrame({
        "id": [f"r{k}" for k in range(len(src))], "human_readable_id": range(len(src)),
        "source": [titles[i] for i in src], "target": [titles[j] for j in dst],
        "description": "", "weight": rng.integers(1, 10, len(src)).astype(float),
        "combined_degree": 0, "text_unit_ids": [[] for _ in range(len(src))]})
    communities = pd.DataFrame({
        "id": [f"c{c}" for c in range(n_comm)], "human_readable_id": range(n_comm),
        "community": range(n_comm), "level": 0, "parent": -1,
        "children": [np.array([], dtype=int) for _ in range(n_comm)],
        "title": [f"Community {c}" for c in range(n_comm)],
        "entity_ids": [[f"e{i}" for i in p] for p in by_comm],
        "relationship_ids": [[] for _ in range(n_comm)],
        "text_unit_ids": [[] for _ in range(n_comm)], "period": "", "size": [len(p) for p in by_comm]})
    return type("SyntheticIndex", (), {
        "entities": entities, "relationships": relationships, "communities": communities,
        "community_reports": None, "text_units": None, "documents": None})()
