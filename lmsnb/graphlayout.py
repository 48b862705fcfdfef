"""Graph geometry for ``GraphView``: positions computed in Python, and a static SVG picture.

Why our own layout: networkx's ``spring_layout`` took 6.6 s for 2,000 nodes on our machines.
Here each community is laid out on its own disc with a vectorised Fruchterman–Reingold, then
the discs are placed by how they link and pushed apart — fast enough for a first paint under
2 s, and deterministic (seeded). Pure numpy; nothing here knows about widgets.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

__all__ = ["fruchterman_reingold", "grouped_layout", "separate", "static_svg", "unit_disc"]


def fruchterman_reingold(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray, *,
                         seed: int = 0, init: np.ndarray | None = None) -> np.ndarray:
    """Dense Fruchterman-Reingold (networkx's algorithm, vectorised, float32).

    Used per community, where n is small; networkx's own layout of a 2,000-node graph takes
    ~6 s here, which is the whole first-paint budget three times over.
    """
    if n <= 1:
        return np.zeros((n, 2), np.float32)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 1, (n, 2)).astype(np.float32) if init is None else init.astype(np.float32)
    adj = np.zeros((n, n), np.float32)
    if len(src):
        np.add.at(adj, (src, dst), np.sqrt(w / w.max()).astype(np.float32))
        adj += adj.T
    iterations = 50 if n <= 600 else max(8, int(50 * (600 / n) ** 2))
    k = 1 / np.sqrt(n)
    temp = 0.1 if init is None else 0.03
    dt = temp / (iterations + 1)
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.hypot(delta[..., 0], delta[..., 1]), 0.01)
        force = k * k / (dist * dist) - adj * dist / k
        disp = np.einsum("ij,ijk->ik", force, delta)
        length = np.maximum(np.hypot(disp[:, 0], disp[:, 1]), 0.01)
        pos += disp * (temp / length)[:, None]
        temp -= dt
    return pos


def unit_disc(pos: np.ndarray, even: bool = False) -> np.ndarray:
    """Centre and scale into the unit disc. ``even`` keeps each point's angle and radial
    order but spreads radii uniformly over the area: FR leaves a dense core with a few far
    leaves, and scaling by the farthest leaf would crush the core's labels together."""
    pos = pos - pos.mean(0)
    r = np.hypot(pos[:, 0], pos[:, 1])
    if even and len(pos) > 2:
        target = np.sqrt((np.argsort(np.argsort(r)) + 0.5) / len(pos))
        return pos * (target / np.maximum(r, 1e-9))[:, None]
    return pos / r.max() if len(pos) and r.max() > 0 else pos


def separate(centres: np.ndarray, radii: np.ndarray, rounds: int = 60) -> np.ndarray:
    """Push discs apart until they do not overlap (or we run out of rounds)."""
    p = centres.astype(np.float64)
    for _ in range(rounds):
        delta = p[:, None, :] - p[None, :, :]
        dist = np.maximum(np.hypot(delta[..., 0], delta[..., 1]), 1e-6)
        overlap = np.maximum((radii[:, None] + radii[None, :]) * 1.08 - dist, 0)
        np.fill_diagonal(overlap, 0)
        if overlap.max() < 1:
            break
        p += (delta / dist[..., None] * overlap[..., None] * 0.25).sum(1)
    return p


def grouped_layout(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray, group: np.ndarray,
            spacing: float = 30.0, seed: int = 0) -> np.ndarray:
    """Two-level layout: each group (community) on its own disc, discs placed by their links.

    Cost is the sum of squared group sizes rather than n², so 10k entities stay interactive.
    """
    pos = np.zeros((n, 2))
    if n == 0:
        return pos
    labels, gi = np.unique(group, return_inverse=True)
    n_groups = len(labels)
    sizes = np.bincount(gi, minlength=n_groups)
    radii = spacing * np.sqrt(sizes) * 0.75 + spacing * 0.5
    same = gi[src] == gi[dst]
    order = np.argsort(gi, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    local_of = np.empty(n, np.int64)
    for g in range(n_groups):
        members = order[bounds[g]:bounds[g + 1]]
        local_of[members] = np.arange(len(members))
        if len(members) == 1:
            continue
        e = same & (gi[src] == g)
        sub = fruchterman_reingold(len(members), local_of[src[e]], local_of[dst[e]], w[e], seed=seed + g)
        pos[members] = unit_disc(sub, even=True) * (radii[g] - spacing * 0.5)
    if n_groups > 1:
        cross = ~same
        cen = unit_disc(fruchterman_reingold(n_groups, gi[src[cross]], gi[dst[cross]], w[cross], seed=seed),
                        even=True)
        cen *= 1.1 * np.sqrt((radii ** 2).sum())
        pos += separate(cen, radii, rounds=150)[gi]
    return pos


def static_svg(graph: Mapping, max_labels: int = 40, width: int = 900) -> str:
    """A static SVG of an already laid-out graph: enough to see the shape without JS."""
    nodes, edges = graph.get("nodes", []), graph.get("edges", [])
    if not nodes:
        return "<div><em>lmsnb GraphView: empty graph</em></div>"
    xs = np.array([n["x"] for n in nodes]); ys = np.array([n["y"] for n in nodes])  # noqa: E702
    pad = 40
    x0, y0 = xs.min() - pad, ys.min() - pad
    w, h = xs.max() - x0 + pad, ys.max() - y0 + pad
    at = {n["id"]: (n["x"], n["y"]) for n in nodes}
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='{x0:.0f} {y0:.0f} {w:.0f} {h:.0f}' "
           f"width='{width}' height='{int(width * min(h / w, 1.2))}' "
           "style='background:#fff;font-family:sans-serif'>",
           "<g stroke='#9aa0a6' stroke-opacity='0.45'>"]
    for e in edges[:4000]:
        (ax, ay), (bx, by) = at[e["source"]], at[e["target"]]
        out.append(f"<line x1='{ax}' y1='{ay}' x2='{bx}' y2='{by}' stroke-width='{e['width']}'/>")
    out.append("</g><g>")
    for n in nodes:
        out.append(f"<circle cx='{n['x']}' cy='{n['y']}' r='{n['size'] / 2}' "
                   f"fill='{n['color']}'><title>{html.escape(n['title'])}</title></circle>")
    out.append("</g><g fill='#1d1d1d' stroke='#fff' stroke-width='3' paint-order='stroke'>")
    for n in sorted(nodes, key=lambda n: -n["degree"])[:max_labels]:
        out.append(f"<text x='{n['x'] + n['size'] / 2 + 3}' y='{n['y'] + 4}' "
                   f"font-size='{n['font'] + 2}'>{html.escape(n['label'])}</text>")
    out.append("</g></svg>")
    caption = (f"<div style='color:#57606a;font:12px sans-serif'>lmsnb GraphView (static "
               f"snapshot): {len(nodes):,} nodes, {len(edges):,} edges. Run the notebook for "
               "the interactive view.</div>")
    return "<div class='lmsnb-graph-static'>" + "".join(out) + caption + "</div>"
