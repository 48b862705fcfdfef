"""Positions for ``GraphView``, computed in Python (pure numpy; nothing here knows widgets).

Why our own layout: networkx's ``spring_layout`` took 6.6 s for 2,000 nodes on our machines.
Here each community is laid out on its own disc with a vectorised Fruchterman–Reingold, its
nodes pushed apart until they do not overlap, then the discs are placed by how they link and
pushed apart too — fast enough for a first paint under 2 s, and deterministic (seeded).
Nodes without a community (an index without communities, a graph still being extracted) are
grouped for the layout only, by Leiden on their links, so they do not scatter as singletons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Layout", "fruchterman_reingold", "grouped_layout", "layout_groups", "separate",
           "unit_disc"]

PAD = 4.0  # model units between two node discs


def _weights(w: np.ndarray) -> np.ndarray:
    """Positive finite weights (the caller's data may hold anything; the maths may not)."""
    w = np.asarray(w, np.float64)
    ok = np.isfinite(w) & (w > 0)
    return np.where(ok, w, w[ok].min() if ok.any() else 1.0) if len(w) else w


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
        w = _weights(w)
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


def separate(centres: np.ndarray, radii: np.ndarray, rounds: int = 60,
             gap: float = 1.08, tol: float = 0.5) -> np.ndarray:
    """Push discs apart until no two overlap by more than ``tol`` (or we run out of rounds)."""
    p = centres.astype(np.float64)
    if len(p) < 2:
        return p
    jitter = np.random.default_rng(len(p)).normal(0, 1e-3, p.shape)  # coincident points
    p += jitter * np.maximum(radii.max(), 1.0)
    reach = (radii[:, None] + radii[None, :]) * gap
    np.fill_diagonal(reach, 0)
    for _ in range(rounds):
        delta = p[:, None, :] - p[None, :, :]
        dist = np.maximum(np.hypot(delta[..., 0], delta[..., 1]), 1e-6)
        overlap = np.maximum(reach - dist, 0)
        if overlap.max() < tol:
            break
        p += np.einsum("ij,ijk->ik", overlap / dist, delta) * 0.3
    return p


def layout_groups(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray,
                  group: np.ndarray) -> np.ndarray:
    """Groups for the layout: ``group`` where it is >= 0; nodes marked < 0 (no community) are
    grouped by Leiden on the links among them, and nodes without any link share one group.
    Returned labels are >= 0 for given groups and < 0 for the derived ones."""
    out = np.asarray(group, np.int64).copy()
    loose = out < 0
    if not loose.any():
        return out
    linked = np.zeros(n, bool)
    linked[src] = True
    linked[dst] = True
    out[loose & ~linked] = -1  # isolated nodes: one group
    inner = loose[src] & loose[dst] & (src != dst)
    derived = {}
    if inner.any() and len(src):
        ww = _weights(w)[inner]
        ww = np.clip(ww / ww.max(), 1e-6, 1.0)  # extreme weights make Leiden's sums overflow
        try:
            from graspologic_native import leiden

            edges = [(str(a), str(b), float(x)) for a, b, x in
                     zip(src[inner], dst[inner], ww, strict=True)]
            _, derived = leiden(edges, seed=7, trials=1)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - a layout nicety (a Rust panic is a BaseException)
            derived = {}
    nxt = -2
    labels: dict[int, int] = {}
    for i in np.flatnonzero(loose & linked):
        c = derived.get(str(i))
        if c is None:
            out[i], nxt = nxt, nxt - 1
        else:
            if c not in labels:
                labels[c], nxt = nxt, nxt - 1
            out[i] = labels[c]
    return out


@dataclass
class Layout:
    """Node positions, and each group's disc (label, centre x, centre y, radius)."""

    pos: np.ndarray
    groups: np.ndarray
    centres: np.ndarray
    radii: np.ndarray


def grouped_layout(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray, group: np.ndarray,
                   radius: np.ndarray | None = None, seed: int = 0) -> Layout:
    """Two-level layout: each group (community) on its own disc, discs placed by their links.

    ``radius`` is each node's drawn radius: a disc is sized to hold its nodes, and nodes in a
    disc of up to 1,500 are pushed apart until none overlaps another. Cost is the sum of
    squared group sizes rather than n², so 10k entities stay interactive.
    """
    radius = np.full(n, 10.0) if radius is None else np.asarray(radius, np.float64)
    labels, gi = np.unique(np.asarray(group), return_inverse=True)
    gi = gi.reshape(-1)
    n_groups = len(labels)
    pos = np.zeros((n, 2))
    if n == 0:
        return Layout(pos, labels, np.zeros((0, 2)), np.zeros(0))
    w = _weights(w)
    same = gi[src] == gi[dst]
    order = np.argsort(gi, kind="stable")
    sizes = np.bincount(gi, minlength=n_groups)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    local_of = np.empty(n, np.int64)
    g_radius = np.zeros(n_groups)
    for g in range(n_groups):
        members = order[bounds[g]:bounds[g + 1]]
        local_of[members] = np.arange(len(members))
        r = radius[members] + PAD
        if len(members) == 1:
            g_radius[g] = r[0]
            continue
        e = same & (gi[src] == g)
        sub = fruchterman_reingold(len(members), local_of[src[e]], local_of[dst[e]], w[e],
                                   seed=seed + g)
        disc = 1.3 * np.sqrt((r ** 2).sum())
        p = unit_disc(sub, even=True) * max(disc - r.max(), r.max())
        if len(members) <= 1500:
            p = separate(p, r, rounds=40 if len(members) <= 400 else 12, gap=1.0, tol=PAD)
            p -= p.mean(0)
        pos[members] = p
        g_radius[g] = float((np.hypot(p[:, 0], p[:, 1]) + r).max())
    centres = np.zeros((n_groups, 2))
    if n_groups > 1:
        cross = ~same
        cen = unit_disc(fruchterman_reingold(n_groups, gi[src[cross]], gi[dst[cross]], w[cross],
                                             seed=seed), even=True)
        cen *= 1.1 * np.sqrt((g_radius ** 2).sum())
        centres = separate(cen, g_radius + 6, rounds=150)
        pos += centres[gi]
    return Layout(pos, labels, centres, g_radius)
