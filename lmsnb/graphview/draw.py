"""What the browser draws: nodes, edges and community labels as plain JSON, plus the legend.

Colour is the community (at the view's level), or the entity type when the index has no
communities yet (a graph still being extracted); gray is "no community". Size is degree.
Names that only relationships use are "mention" nodes, drawn hollow and counted apart.
Every node carries ``rank`` (0 = most important) so the browser and the static picture label
the same nodes first.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .data import NO_COMMUNITY, Graph, clip
from .layout import Layout

# Tableau-like colours without reds, pinks and grays: red is the query highlight, gray is
# "no community", so no community may look like either.
PALETTE = ["#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
           "#2f4b7c", "#17becf", "#bcbd22", "#8c564b", "#1f77b4", "#ff7f0e", "#2ca02c",
           "#9467bd", "#a0cbe8"]
GREY = "#b8b8b8"
HIGHLIGHT = "#e3120b"
LEGEND_ITEMS = 6


def colour(key: int) -> str:
    return GREY if key == NO_COMMUNITY else PALETTE[key % len(PALETTE)]


def num(x: Any) -> float | None:
    """A JSON-safe number (JSON has no NaN or infinity)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def node_sizes(degree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(size in model units, label font in screen px) from degree."""
    deg = np.maximum(np.asarray(degree, np.float64), 0)
    scale = np.sqrt(deg / max(deg.max(), 1)) if len(deg) else deg
    return 12 + 34 * scale, 11 + 5 * scale


def ranks(degree: np.ndarray, mention: np.ndarray, titles: list[str]) -> np.ndarray:
    """0 for the node to label first: highest degree, entities before mentions, then by title."""
    order = sorted(range(len(titles)), key=lambda k: (bool(mention[k]), -int(degree[k]),
                                                       len(titles[k]), titles[k]))
    out = np.empty(len(titles), np.int64)
    out[order] = np.arange(len(titles))
    return out


def colour_keys(g: Graph, ids: list[str], level: int) -> tuple[str, np.ndarray, list[str]]:
    """("community" | "type", a colour key per node, the type names when by type)."""
    if g.has_communities:
        m = g.membership(level).reindex(ids).fillna(NO_COMMUNITY).astype(np.int64)
        return "community", m.to_numpy(), []
    types = g.entities.set_index("id")["type"].reindex(ids).fillna("").astype(str)
    names = sorted({t for t in types if t})
    code = {t: k for k, t in enumerate(names)}
    return "type", np.array([code.get(t, NO_COMMUNITY) for t in types], np.int64), names


def entity_graph(g: Graph, ids: list[str], level: int, pos: dict[str, tuple[float, float]],
                 layout: Layout | None, desc_len: int) -> tuple[dict, dict]:
    """Nodes and edges for the entities ``ids`` (positions given), and the legend."""
    rows, rel = g.induced(ids)
    ent = g.entities.iloc[rows]
    by, keys, type_names = colour_keys(g, ids, level)
    deg = ent["degree"].to_numpy(np.int64)
    mention = ent["mention"].to_numpy(bool)
    size, lfs = node_sizes(deg)
    titles = ent["title"].tolist()
    rank = ranks(deg, mention, titles)
    descs = [clip(d, desc_len) for d in ent["description"].tolist()] if desc_len else \
        [""] * len(ids)
    nodes = []
    for k, (i, title, typ) in enumerate(zip(ids, titles, ent["type"].tolist(), strict=True)):
        x, y = pos[i]
        key = int(keys[k])
        nodes.append({
            "id": i, "kind": "mention" if mention[k] else "entity", "title": title,
            "label": clip(title, 32), "type": typ, "degree": int(deg[k]),
            "community": key if by == "community" else NO_COMMUNITY, "color": colour(key),
            "size": round(float(size[k]), 1), "lfs": round(float(lfs[k]), 1),
            "rank": int(rank[k]), "desc": descs[k], "x": round(float(x), 1),
            "y": round(float(y), 1)})
    w = rel["w"].to_numpy(np.float64)
    wmax = float(w.max()) if len(w) else 1.0
    widths = np.round(0.8 + 4 * np.sqrt(w / wmax), 2).tolist()
    edescs = [clip(d, desc_len) for d in rel["description"].tolist()] if desc_len else \
        [""] * len(rel)
    edges = [{"id": e, "source": a, "target": b, "weight": num(wt), "width": wd, "desc": de}
             for e, a, b, wt, wd, de in zip(rel["id"].tolist(), rel["src"].tolist(),
                                            rel["dst"].tolist(), rel["weight"].tolist(), widths,
                                            edescs, strict=True)]
    labels = community_labels(g, layout) if layout is not None else []
    n_ent = int((~mention).sum())
    n_men = int(mention.sum())
    status = f"{n_ent:,} entities" + (f" (+{n_men:,} names only in relationships)"
                                      if n_men else "") + f" · {len(edges):,} relationships"
    present = sorted({int(c) for c in keys if c != NO_COMMUNITY}) if by == "community" else []
    titles = g.comm["title"].to_dict()
    info = {"mode": "entities", "status": status,
            "types": sorted({n["type"] for n in nodes if n["type"]}),
            "communities": [[c, f"{c}: {clip(titles.get(c, ''), 40)}"] for c in present],
            "community_titles": {str(c): titles.get(c, "") for c in present},
            "legend": legend(by, pd.Series(keys[~mention]).value_counts(), n_men, titles,
                             type_names)}
    return {"nodes": nodes, "edges": edges, "labels": labels}, info


def community_labels(g: Graph, layout: Layout) -> list[dict]:
    """A title above each community's disc (communities of three or more entities)."""
    out = []
    titles = g.comm["title"].to_dict()
    for k, label in enumerate(layout.groups):
        c = int(label)
        if c < 0 or c not in titles or layout.radii[k] < 40:
            continue
        cx, cy = layout.centres[k]
        out.append({"id": f"l:{c}", "kind": "label", "label": clip(titles[c], 32),
                    "color": colour(c), "rank": -int(layout.radii[k]),
                    "x": round(float(cx), 1), "y": round(float(cy - layout.radii[k] - 10), 1)})
    return out


def legend(by: str, counts: pd.Series, mentions: int, titles: dict, type_names: list[str],
           size: str = "degree (relationships)") -> dict:
    """What the colours, grays, hollow nodes and sizes mean, biggest groups on screen first."""
    counts = counts.sort_values(ascending=False, kind="stable")
    items = []
    for key, n in counts.items():
        key = int(key)
        if key == NO_COMMUNITY:
            continue
        name = titles.get(key, f"community {key}") if by == "community" else type_names[key]
        items.append([colour(key), clip(name, 48), int(n)])
    shown = items[:LEGEND_ITEMS]
    return {"by": by, "items": shown, "more": len(items) - len(shown),
            "gray": int(counts.get(NO_COMMUNITY, 0)), "mentions": mentions, "size": size,
            "highlight": HIGHLIGHT}


def community_graph(g: Graph, cids: list[int], xy: np.ndarray, radii: np.ndarray,
                    members: dict[int, list[str]], agg: pd.DataFrame, budget: int
                    ) -> tuple[dict, dict]:
    """One node per community (sized by members), edges summing the relationships between."""
    titles = g.comm["title"].to_dict()
    order = np.argsort(-np.array([len(members[c]) for c in cids]), kind="stable")
    rank = np.empty(len(cids), np.int64)
    rank[order] = np.arange(len(cids))
    nodes = []
    for k, c in enumerate(cids):
        name = titles.get(c, "Unclustered entities") if c != NO_COMMUNITY else \
            "Unclustered entities"
        summary = g.comm.at[c, "summary"] if c in g.comm.index else ""
        nodes.append({"id": f"c:{c}", "kind": "community", "community": c, "title": name,
                      "label": f"{clip(name, 40)} ({len(members[c]):,})",
                      "degree": len(members[c]), "color": colour(c),
                      "size": round(2 * float(radii[k]), 1), "lfs": 13, "rank": int(rank[k]),
                      "type": "", "desc": clip(summary, 300),
                      "x": round(float(xy[k, 0]), 1), "y": round(float(xy[k, 1]), 1)})
    wmax = max(float(agg["sum"].max()), 1e-9) if len(agg) else 1.0
    edges = [{"id": f"c:{a}-{b}", "source": f"c:{a}", "target": f"c:{b}",
              "weight": num(s), "desc": f"{int(n)} relationships",
              "width": round(1 + 6 * math.sqrt(s / wmax), 2)}
             for a, b, s, n in agg.itertuples(index=False)]
    total = sum(len(m) for m in members.values())
    counts = pd.Series({c: len(members[c]) for c in cids}, dtype=np.int64)
    info = {"mode": "communities", "types": [], "communities": [],
            "status": f"{len(cids):,} communities of {total:,} entities (above the "
                      f"{budget:,}-node budget) — double-click one to open it",
            "legend": legend("community", counts, 0, titles, [], size="members (entities)")}
    return {"nodes": nodes, "edges": edges, "labels": []}, info
