"""Interactive view of a GraphRAG index (entities, relationships, communities) in a notebook.

``GraphView(idx)`` is one anywidget model carrying the whole visible graph as JSON, drawn by a
vendored copy of cytoscape.js (``lmsnb/static``). We measured ipycytoscape first: it makes one
widget model per node and per edge, and a 2,000-entity graph takes far longer than 2 s to paint
(``benchmarks/bench_graphview.py``); one model plus positions computed here paints it in well
under that. Python does the thinking (layout, colours, aggregation, details, highlight
resolution); the browser only renders, filters and searches what it was given. No network is
needed anywhere: the JS is inlined into the widget and into ``to_html`` pages.

``idx`` is duck-typed: any object (or mapping) with ``entities`` / ``relationships`` and, if it
has them, ``communities`` / ``community_reports`` / ``text_units`` DataFrames in Microsoft
GraphRAG's columns, e.g. ``lmsnb.graphrag.GraphIndex`` or a namespace of ``pd.read_parquet``.
"""

from __future__ import annotations

import functools
import html
import json
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import pandas as pd
import traitlets as t

from .graphlayout import fruchterman_reingold, grouped_layout, separate, static_svg, unit_disc

__all__ = ["GraphView", "LiveGraph", "synthetic_index"]

STATIC = Path(__file__).with_name("static")
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#2f4b7c", "#17becf", "#bcbd22", "#8c564b", "#e377c2",
           "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#7f7f7f"]
NO_COMMUNITY = -1
GREY = "#b8b8b8"


@functools.cache
def _bundle() -> str:
    """cytoscape's ESM build wrapped in a function (its minified top-level names must not
    clash with ours), its ``export default`` turned into a return, then our view."""
    cy = (STATIC / "cytoscape.esm.min.mjs").read_text(encoding="utf-8")
    cy, n = re.subn(r"export\s*\{\s*(\w+)\s+as\s+default\s*\}\s*;?\s*$",
                    r"return \1;\n", cy)
    cy = "const cytoscape = (() => {\n" + cy + "})();\n"
    if n != 1:  # a different cytoscape build was vendored; fail loudly, not blank
        raise RuntimeError("unexpected cytoscape bundle: no trailing default export")
    return cy + (STATIC / "graphview.js").read_text(encoding="utf-8")


def _view_error(message: str, hint: str) -> Exception:
    from .errors import GraphIndexError

    return GraphIndexError(message, hint=hint)


def _colour(community: int) -> str:
    return GREY if community == NO_COMMUNITY else PALETTE[community % len(PALETTE)]


def _clip(text: Any, n: int) -> str:
    s = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def _ids(value: Any) -> list[str]:
    """A GraphRAG list cell (numpy array, list or None) as a list of str."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [str(v) for v in value]


def _table(idx: Any, name: str) -> pd.DataFrame | None:
    value = idx.get(name) if isinstance(idx, Mapping) else getattr(idx, name, None)
    return value if isinstance(value, pd.DataFrame) else None


# ------------------------------------------------------------------------------- the data

class _Graph:
    """The index's tables, normalised once: ids, title lookup, community membership."""

    def __init__(self, idx: Any = None) -> None:
        if idx is not None and _table(idx, "entities") is None \
                and _table(idx, "relationships") is None:
            from .errors import GraphIndexError

            what = f"the string {idx!r}" if isinstance(idx, str) else f"a {type(idx).__name__}"
            raise GraphIndexError(f"GraphView needs a GraphRAG index, not {what}",
                                  hint="pass the index itself, e.g. GraphView(idx) with idx "
                                       "from build_index or GraphIndex.from_parquet(folder)")
        ent = _table(idx, "entities") if idx is not None else None
        rel = _table(idx, "relationships") if idx is not None else None
        self.communities = _table(idx, "communities") if idx is not None else None
        self.reports = _table(idx, "community_reports") if idx is not None else None
        self.text_units = _table(idx, "text_units") if idx is not None else None
        self.entities = pd.DataFrame(columns=["id", "title", "type", "description", "degree"])
        self.relationships = pd.DataFrame(columns=["id", "source", "target", "weight"])
        self.add(ent, rel, replace=True)

    def add(self, entities: pd.DataFrame | None, relationships: pd.DataFrame | None,
            replace: bool = False) -> None:
        ent = self._norm_entities(entities)
        rel = self._norm_relationships(relationships)
        if not replace:
            ent = pd.concat([self.entities, ent]).drop_duplicates("id", keep="last")
            rel = pd.concat([self.relationships, rel]).drop_duplicates("id", keep="last")
        # endpoints that are not (yet) entities become bare entities, so every edge is drawable
        known = set(ent["title"].str.upper())
        missing = sorted({x for x in (*rel["source"], *rel["target"]) if x.upper() not in known})
        if missing:
            ent = pd.concat([ent, self._norm_entities(pd.DataFrame({"title": missing}))])
        self.entities = ent.reset_index(drop=True)
        self.by_title = {str(ti).upper(): i for i, ti in zip(ent["id"], ent["title"], strict=True)}
        rel = rel.assign(src=rel["source"].str.upper().map(self.by_title),
                         dst=rel["target"].str.upper().map(self.by_title))
        self.relationships = rel.reset_index(drop=True)
        deg = pd.concat([rel["src"], rel["dst"]]).value_counts()
        computed = self.entities["id"].map(deg).fillna(0).astype(int)
        given = pd.to_numeric(self.entities["degree"], errors="coerce")
        self.entities["degree"] = given.fillna(computed).astype(int)
        self.row = {i: k for k, i in enumerate(self.entities["id"])}
        self._membership_cache: dict[int, pd.Series] = {}
        self.comm = self._communities()

    @staticmethod
    def _norm_entities(df: pd.DataFrame | None) -> pd.DataFrame:
        df = pd.DataFrame(columns=["title"]) if df is None else df.copy()
        if "title" not in df and "entity" in df:
            df["title"] = df["entity"]
        if "title" not in df:
            df["title"] = df["id"] if "id" in df else ""
        df = df[df["title"].notna()].copy()
        df["title"] = df["title"].astype(str)
        if "id" not in df:
            df["id"] = df["title"]
        for col, default in (("type", ""), ("description", ""), ("degree", None)):
            if col not in df:
                df[col] = default
            elif default is not None:  # NaN/None cells would show as "nan"
                df[col] = df[col].where(df[col].notna(), default)
        if "text_unit_ids" not in df:
            df["text_unit_ids"] = None
        df["id"] = df["id"].astype(str)
        return df

    @staticmethod
    def _norm_relationships(df: pd.DataFrame | None) -> pd.DataFrame:
        df = pd.DataFrame(columns=["source", "target"]) if df is None else df.copy()
        if "source" not in df or "target" not in df:
            df = df.assign(source=df.get("source"), target=df.get("target")).iloc[:0]
        df = df[df["source"].notna() & df["target"].notna()].copy()  # an edge needs both ends
        df["source"] = df["source"].astype(str)
        df["target"] = df["target"].astype(str)
        if "id" not in df:
            df["id"] = df["source"] + "->" + df["target"]
        df["id"] = df["id"].astype(str)
        weight = df["weight"] if "weight" in df else pd.Series(1.0, index=df.index)
        df["weight"] = pd.to_numeric(weight, errors="coerce").fillna(1.0)
        for col in ("description", "text_unit_ids"):
            if col not in df:
                df[col] = None
        return df

    def _communities(self) -> pd.DataFrame:
        """One row per community: level, parent, children, members, title, summary."""
        c = self.communities
        if c is None or c.empty:
            return pd.DataFrame(columns=["level", "parent", "children", "members", "title",
                                         "summary", "rank"])
        out = pd.DataFrame({
            "level": c["level"].astype(int).to_numpy(),
            "parent": c["parent"].fillna(-1).astype(int).to_numpy(),
            "children": [[int(x) for x in _ids(v)] for v in c["children"]],
            "members": [[i for i in _ids(v) if i in self.row] for v in c["entity_ids"]],
            "title": c["title"].astype(str).to_numpy(),
            "summary": "", "rank": np.nan,
        }, index=c["community"].astype(int).to_numpy())
        if self.reports is not None and not self.reports.empty:
            r = self.reports.set_index(self.reports["community"].astype(int))
            hit = out.index.intersection(r.index)
            out.loc[hit, "title"] = r.loc[hit, "title"].astype(str).to_numpy()
            out.loc[hit, "summary"] = r.loc[hit, "summary"].astype(str).to_numpy()
            out.loc[hit, "rank"] = r.loc[hit, "rank"].to_numpy()
        return out

    @property
    def levels(self) -> list[int]:
        return sorted(self.comm["level"].unique().tolist()) or [0]

    def membership(self, level: int) -> pd.Series:
        """entity id -> its community at ``level``, or at the deepest level above it."""
        if level not in self._membership_cache:
            m = pd.Series(NO_COMMUNITY, index=self.entities["id"], dtype=np.int64)
            for lv in [x for x in self.levels if x <= level]:
                rows = self.comm[self.comm["level"] == lv]
                pairs = [(i, cid) for cid, mem in zip(rows.index, rows["members"], strict=True)
                         for i in mem]
                if pairs:
                    ids, cids = zip(*pairs, strict=True)
                    m.loc[list(ids)] = list(cids)
            self._membership_cache[level] = m
        return self._membership_cache[level]


# ----------------------------------------------------------------------------- the widget

class GraphView(anywidget.AnyWidget):
    """A GraphRAG index as an interactive graph: one widget model, cytoscape.js in the page.

    Colour = community at ``level``; size = degree; edge width = weight. Above ``max_nodes``
    entities the view shows communities as aggregated nodes (double-click or ``drill`` to open
    one). Click for details, search to centre, filter by type/community/degree in the toolbar.
    """

    _esm = _bundle()
    _css = (STATIC / "graphview.css").read_text(encoding="utf-8")

    graph = t.Dict().tag(sync=True)  # {"nodes": [...], "edges": [...]} with positions
    info = t.Dict().tag(sync=True)  # scope, status line, filter choices
    level = t.Int(0).tag(sync=True)
    filters = t.Dict({"type": "", "community": None, "min_degree": 0}).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    details = t.Dict().tag(sync=True)
    highlighted = t.Dict({"nodes": [], "edges": []}).tag(sync=True)
    _static = t.Bool(False).tag(sync=True)

    def __init__(self, idx: Any = None, *, level: int = 0, max_nodes: int = 2500,
                 **kwargs: Any) -> None:
        self._g = _Graph(idx)
        self.max_nodes = max_nodes
        self._scope: list[int] = []  # drilled community ids, outermost first
        self._extra: set[str] = set()  # entities added by expand()
        self._pos: dict[str, tuple[float, float]] = {}
        self._hl: tuple[set[str], set[str]] = (set(), set())
        super().__init__(level=level, **kwargs)
        self.observe(lambda _: self._redraw(), names="level")
        self.observe(lambda _: self._update_details(), names="selected")
        self.on_msg(self._on_msg)
        self._redraw()

    # -- public API ---------------------------------------------------------------------
    def highlight(self, result: Any = None) -> GraphView:
        """Mark the entities/relationships an answer drew on; returns self for display.

        Accepts a query result with ``.context["entities"|"relationships"]`` (or
        ``.entities``/``.relationships``), DataFrames (GraphRAG tables or GraphRAG context
        tables with ``entity``/``in_context`` columns), or lists of ids, titles or
        human-readable ids. ``None`` clears it.
        """
        self._hl = _resolve(self._g, result)
        self._push_highlight()
        return self

    def find(self, query: str) -> str | None:
        """Select and centre the entity whose title matches ``query``, opening its community
        if the current view does not show it. Returns the entity id, or None."""
        q = str(query if query is not None else "").strip().upper()
        if not q:
            self.info = {**self.info, "status": "type part of an entity's title to find it"}
            return None
        titles = self._g.entities["title"].str.upper()
        hits = self._g.entities["id"][titles == q]
        if hits.empty:
            hits = self._g.entities["id"][titles.str.contains(q, regex=False)]
        if hits.empty:
            self.info = {**self.info, "status": f"no entity matches “{query}”"}
            return None
        eid = str(hits.iloc[0])
        if eid not in self._visible_entities():
            self._scope = self._path_to(eid)
            self._extra = {eid}
            self._redraw()
        self.selected = eid
        self.send({"event": "center", "id": eid})
        return eid

    def expand(self, entity: str) -> None:
        """Show the direct neighbours of ``entity`` (id or title) next to it."""
        eid = self._entity_id(entity)
        r = self._g.relationships
        nbrs = set(r["dst"][r["src"] == eid]) | set(r["src"][r["dst"] == eid])
        self._extra |= nbrs | {eid}
        self._redraw()
        self.highlight(sorted(nbrs | {eid}))

    def drill(self, community: int | str) -> None:
        """Open one aggregated community node (``"c:12"`` or ``12``)."""
        text = str(community).removeprefix("c:")
        cid = int(text) if text.lstrip("-").isdigit() else None
        if cid is None or (cid not in self._g.comm.index and cid != NO_COMMUNITY):
            known = ", ".join(map(str, self._g.comm.index[:8])) or "none in this index"
            raise _view_error(f"No community {community!r} in this view",
                              f"pass a community number (e.g. {known})")
        self._scope = [*self._scope, cid]
        self._extra = set()
        self._redraw()

    def back(self) -> None:
        """Leave the innermost opened community."""
        self._scope = self._scope[:-1]
        self._extra = set()
        self._redraw()

    def filter(self, *, type: str | None = None, community: int | None = None,
               min_degree: int | None = None) -> GraphView:
        """Hide entities in the browser (nothing is recomputed); ``""``/``0`` resets one."""
        patch = {k: v for k, v in (("type", type), ("community", community),
                                   ("min_degree", min_degree)) if v is not None}
        self.filters = {**self.filters, **patch}
        return self

    def add(self, entities: pd.DataFrame | None = None,
            relationships: pd.DataFrame | None = None) -> None:
        """Merge a batch (e.g. one chunk's extraction) and redraw now; see ``LiveGraph`` for a
        throttled feed. Entities need ``title``; relationships ``source``/``target`` titles."""
        self._g.add(entities, relationships)
        self._redraw()

    def to_svg(self, max_labels: int = 40) -> str:
        """The current layout as a standalone SVG (what nbconvert/GitHub show)."""
        return static_svg(self.graph, max_labels)

    def to_html(self, path: str | Path | None = None, *, title: str = "lmsnb graph") -> str:
        """A self-contained interactive page (cytoscape inlined, no network); written to
        ``path`` when given. Search, filters, click details and highlights work offline."""
        state = {"graph": self.graph, "info": self.info, "level": self.level,
                 "filters": self.filters, "selected": self.selected, "details": self.details,
                 "highlighted": self.highlighted, "_static": True}
        data = json.dumps(state).replace("</", "<\\/")
        boot = ("const STATE = " + data + ";\nconst model = { get: (k) => STATE[k], "
                "set: (k, v) => { STATE[k] = v; }, save_changes() {}, send() {}, on() {}, "
                "off() {} };\nrender({ model, el: document.getElementById('lmsnb-root') });\n")
        js = _bundle().replace("export default { render };", boot).replace("</script", "<\\/script")
        page = (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
                f"</title>\n<style>{self._css}</style></head>\n<body><div id='lmsnb-root'></div>\n"
                f"<script type='module'>\n{js}</script>\n</body></html>\n")
        if path is not None:
            try:
                Path(path).expanduser().write_text(page, encoding="utf-8")
            except OSError as exc:
                raise _view_error(f"Cannot write {path}: {exc.strerror or exc}",
                                  "pass a file path in a folder you can write to") from None
        return page

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The live widget, plus a static SVG as text/html for front ends without widgets."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = {**data, "text/html": self.to_svg()}
        return data, meta

    # -- what is visible --------------------------------------------------------------------
    def _scope_members(self) -> list[str]:
        if not self._scope:
            return self._g.entities["id"].tolist()
        cid = self._scope[-1]
        if cid == NO_COMMUNITY:
            m = self._g.membership(self._g.levels[0])
            return m.index[m == NO_COMMUNITY].tolist()
        return list(self._g.comm.at[cid, "members"])

    def _child_communities(self) -> list[int]:
        comm = self._g.comm
        if not self._scope:
            top = comm.index[comm["level"] == self._g.levels[0]].tolist()
            m = self._g.membership(self._g.levels[0])
            return top + ([NO_COMMUNITY] if (m == NO_COMMUNITY).any() else [])
        cid = self._scope[-1]
        return [] if cid == NO_COMMUNITY else [c for c in comm.at[cid, "children"] if c in comm.index]

    def _aggregated(self) -> bool:
        return len(self._scope_members()) > self.max_nodes and bool(self._child_communities())

    def _visible_entities(self) -> set[str]:
        if self._aggregated():
            return set(self._extra)
        members = self._scope_members()
        if len(members) > self.max_nodes:  # a leaf community that is still too big
            deg = self._g.entities.set_index("id").loc[members, "degree"]
            members = deg.nlargest(self.max_nodes).index.tolist()
        return set(members) | self._extra

    def _path_to(self, eid: str) -> list[int]:
        """The chain of communities to open so that ``eid`` becomes visible."""
        path: list[int] = []
        for lv in self._g.levels:
            cid = int(self._g.membership(lv).get(eid, NO_COMMUNITY))
            if cid == NO_COMMUNITY and path:
                break
            path = [*path, cid] if (not path or cid != path[-1]) else path
            members = self._g.comm.at[cid, "members"] if cid != NO_COMMUNITY else []
            if cid == NO_COMMUNITY or len(members) <= self.max_nodes:
                break
        return path

    def _entity_id(self, entity: str) -> str:
        if entity in self._g.row:
            return entity
        eid = self._g.by_title.get(str(entity).upper())
        if eid is None:
            raise _view_error(f"No entity {entity!r} in this view",
                              "pass an entity id or its exact title; find('part of a title') "
                              "searches")
        return eid

    # -- drawing ----------------------------------------------------------------------------
    def _redraw(self) -> None:
        if self._aggregated():
            graph, info = self._community_graph()
        else:
            graph, info = self._entity_graph()
        scope_key = "/".join(map(str, self._scope))
        info.update(scope=scope_key, levels=self._g.levels)
        with self.hold_sync():
            self.graph = graph
            self.info = info
            self._push_highlight()

    def _entity_graph(self) -> tuple[dict, dict]:
        g = self._g
        visible = self._visible_entities()
        ids = [i for i in g.entities["id"] if i in visible]
        ent = g.entities.iloc[[g.row[i] for i in ids]]
        rel = g.relationships[g.relationships["src"].isin(ids) & g.relationships["dst"].isin(ids)]
        local = {i: k for k, i in enumerate(ids)}
        src = rel["src"].map(local).to_numpy(np.int64)
        dst = rel["dst"].map(local).to_numpy(np.int64)
        w = rel["weight"].to_numpy(np.float64)
        colour_of = g.membership(self.level).reindex(ids).fillna(NO_COMMUNITY).astype(int)
        group_level = g.comm.at[self._scope[-1], "level"] + 1 if self._scope and \
            self._scope[-1] != NO_COMMUNITY else g.levels[0]
        groups = g.membership(int(group_level)).reindex(ids).fillna(NO_COMMUNITY).astype(int)
        groups = np.where(groups.to_numpy() == NO_COMMUNITY, -1 - np.arange(len(ids)), groups)
        key = (tuple(self._scope), len(g.entities), len(g.relationships))
        if getattr(self, "_pos_key", None) != key:
            self._pos_key, self._pos = key, {}
        new = [i for i in ids if i not in self._pos]
        if len(new) == len(ids):
            xy = grouped_layout(len(ids), src, dst, w, groups)
            self._pos = {i: (float(x), float(y)) for i, (x, y) in zip(ids, xy, strict=True)}
        else:  # expand(): new nodes on a ring around a neighbour that is already placed
            self._place_near(new, rel)
        deg = ent["degree"].to_numpy(np.float64)
        scale = np.sqrt(deg / max(deg.max(), 1)) if len(deg) else deg
        comm_title = g.comm["title"].to_dict()
        desc_len = 300 if len(ids) <= 1000 else 0  # kernel sends full details on click anyway
        nodes = []
        for k, row in enumerate(ent.itertuples(index=False)):
            cid = int(colour_of.iloc[k])
            x, y = self._pos[row.id]
            nodes.append({
                "id": row.id, "kind": "entity", "title": row.title, "label": _clip(row.title, 32),
                "type": str(row.type or ""), "degree": int(row.degree), "community": cid,
                "color": _colour(cid),
                "size": round(12 + 34 * float(scale[k]), 1),
                "font": round(9 + 9 * float(scale[k]), 1),
                "desc": _clip(row.description, desc_len) if desc_len else "",
                "x": round(x), "y": round(y)})
        wmax = max(float(w.max()), 1e-9) if len(w) else 1.0
        edges = [{"id": e.id, "source": e.src, "target": e.dst, "weight": float(e.weight),
                  "width": round(0.8 + 4 * float(np.sqrt(e.weight / wmax)), 2),
                  "desc": _clip(e.description, desc_len) if desc_len else ""}
                 for e in rel.itertuples(index=False)]
        present = sorted({int(c) for c in colour_of if c != NO_COMMUNITY})
        info = {"mode": "entities",
                "status": f"{len(nodes):,} entities · {len(edges):,} relationships",
                "types": sorted({n["type"] for n in nodes if n["type"]}),
                "communities": [[c, f"{c}: {_clip(comm_title.get(c, ''), 40)}"] for c in present],
                "community_titles": {str(c): comm_title.get(c, "") for c in present}}
        return {"nodes": nodes, "edges": edges}, info

    def _place_near(self, new: list[str], rel: pd.DataFrame) -> None:
        placed = self._pos
        for k, i in enumerate(new):
            nb = [j for j in pd.concat([rel["dst"][rel["src"] == i], rel["src"][rel["dst"] == i]])
                  if j in placed]
            cx, cy = placed[nb[0]] if nb else (0.0, 0.0)
            a = 2.4 * k
            placed[i] = (cx + 90 * np.cos(a), cy + 90 * np.sin(a))

    def _community_graph(self) -> tuple[dict, dict]:
        g = self._g
        cids = self._child_communities()
        lv = g.levels[0] if not self._scope else int(g.comm.at[self._scope[-1], "level"]) + 1
        memb = g.membership(lv)
        members = {c: (memb.index[memb == c].tolist() if c == NO_COMMUNITY
                       else g.comm.at[c, "members"]) for c in cids}
        of = {i: c for c, mem in members.items() for i in mem}
        r = g.relationships
        cs, ct = r["src"].map(of), r["dst"].map(of)
        keep = cs.notna() & ct.notna() & (cs != ct)
        agg = (pd.DataFrame({"a": cs[keep].astype(int), "b": ct[keep].astype(int),
                             "w": r["weight"][keep]})
               .assign(lo=lambda d: d[["a", "b"]].min(axis=1),
                       hi=lambda d: d[["a", "b"]].max(axis=1))
               .groupby(["lo", "hi"], as_index=False)["w"].agg(["sum", "count"]))
        index = {c: k for k, c in enumerate(cids)}
        sizes = np.array([len(members[c]) for c in cids], np.float64)
        radii = 10 + 40 * np.sqrt(sizes / max(sizes.max(), 1))
        xy = unit_disc(fruchterman_reingold(len(cids), agg["lo"].map(index).to_numpy(np.int64),
                            agg["hi"].map(index).to_numpy(np.int64),
                            agg["sum"].to_numpy(np.float64)))
        xy = separate(xy * 1.5 * np.sqrt((radii ** 2).sum()), radii, rounds=150)
        titles = g.comm["title"].to_dict()
        nodes = []
        for k, c in enumerate(cids):
            name = titles.get(c, "Unclustered entities") if c != NO_COMMUNITY else \
                "Unclustered entities"
            nodes.append({"id": f"c:{c}", "kind": "community", "community": c, "title": name,
                          "label": f"{_clip(name, 40)} ({len(members[c]):,})",
                          "degree": len(members[c]), "color": _colour(c),
                          "size": round(2 * radii[k], 1), "font": 14, "type": "",
                          "desc": _clip(g.comm.at[c, "summary"] if c in g.comm.index else "", 300),
                          "x": round(float(xy[k, 0]), 1), "y": round(float(xy[k, 1]), 1)})
        wmax = max(float(agg["sum"].max()), 1e-9) if len(agg) else 1.0
        edges = [{"id": f"c:{a}-{b}", "source": f"c:{a}", "target": f"c:{b}",
                  "weight": float(s), "desc": f"{int(n)} relationships",
                  "width": round(1 + 6 * float(np.sqrt(s / wmax)), 2)}
                 for a, b, s, n in agg.itertuples(index=False)]
        total = sum(len(m) for m in members.values())
        info = {"mode": "communities", "types": [], "communities": [],
                "status": f"{len(cids):,} communities of {total:,} entities (above the "
                          f"{self.max_nodes:,}-node budget) — double-click one to open it"}
        return {"nodes": nodes, "edges": edges}, info

    def _push_highlight(self) -> None:
        ents, rels = self._hl
        shown = {n["id"] for n in self.graph.get("nodes", [])}
        if self.info.get("mode") == "communities":
            nodes = sorted({n["id"] for n in self.graph["nodes"]
                            if set(self._members_of(n["community"])) & ents})
            self.highlighted = {"nodes": nodes, "edges": []}
            return
        self.highlighted = {"nodes": sorted(ents & shown),
                            "edges": sorted(e["id"] for e in self.graph.get("edges", [])
                                            if e["id"] in rels)}

    def _members_of(self, cid: int) -> list[str]:
        if cid == NO_COMMUNITY:
            m = self._g.membership(self._g.levels[0])
            return m.index[m == NO_COMMUNITY].tolist()
        return self._g.comm.at[cid, "members"]

    # -- details and browser events ---------------------------------------------------------
    def _on_msg(self, _widget: Any, msg: dict, _buffers: Any) -> None:
        from .errors import LmsnbError

        event, target = msg.get("event"), msg.get("id", "")
        try:
            if event == "expand":
                self.expand(target)
            elif event == "drill":
                self.drill(target)
            elif event == "back":
                self.back()
            elif event == "search":
                self.find(str(msg.get("query", "")))
        except LmsnbError as exc:  # a stale click: say so in the view, not in the kernel log
            self.info = {**self.info, "status": exc.message}

    def _update_details(self) -> None:
        self.details = _details(self._g, self.selected) if self.selected else {}


# ---------------------------------------------------------------------------- details etc.

def _text_unit_items(g: _Graph, ids: list[str], limit: int = 6) -> list[dict]:
    if g.text_units is None or not ids:
        return [{"label": "", "text": f"{len(ids)} text unit(s)"}] if ids else []
    tu = g.text_units.set_index("id")
    items = [{"label": f"#{tu.at[i, 'human_readable_id']}" if "human_readable_id" in tu else "",
              "text": _clip(" ".join(str(tu.at[i, "text"]).split()), 220)}
             for i in ids[:limit] if i in tu.index]
    if len(ids) > limit:
        items.append({"label": "", "text": f"… and {len(ids) - limit} more"})
    return items


def _details(g: _Graph, sel: str) -> dict:
    """What the side panel shows for a node, edge or community id (plain JSON)."""
    if sel.startswith("c:") and sel[2:].lstrip("-").isdigit():
        cid = int(sel[2:])
        if cid not in g.comm.index:
            return {"id": sel, "title": "Unclustered entities", "badges": [], "sections": [],
                    "actions": [["drill", "Open"]]}
        c = g.comm.loc[cid]
        top = g.entities.set_index("id").loc[c["members"]].nlargest(8, "degree")
        return {"id": sel, "title": c["title"],
                "badges": [f"level {c['level']}", f"{len(c['members'])} entities"]
                + ([f"rank {c['rank']}"] if pd.notna(c["rank"]) else []),
                "sections": [{"heading": "Summary", "text": c["summary"]},
                             {"heading": "Top entities", "items": [
                                 {"label": r.title, "text": str(r.type or "")}
                                 for r in top.itertuples()]}],
                "actions": [["drill", "Open community"]]}
    if sel in g.row:
        e = g.entities.iloc[g.row[sel]]
        r = g.relationships
        links = r[(r["src"] == sel) | (r["dst"] == sel)].nlargest(10, "weight")
        title_of = dict(zip(g.entities["id"], g.entities["title"], strict=True))
        sections = [{"heading": "Description", "text": str(e["description"] or "")}]
        comms = [(lv, int(g.membership(lv).get(sel, NO_COMMUNITY))) for lv in g.levels]
        comms = [(lv, c) for lv, c in comms if c != NO_COMMUNITY and c in g.comm.index]
        if comms:
            sections.append({"heading": "Communities", "items": [
                {"label": f"L{lv}", "text": g.comm.at[c, "title"]} for lv, c in comms]})
        sections.append({"heading": "Relationships", "items": [
            {"label": title_of[x.dst if x.src == sel else x.src],
             "text": _clip(x.description, 160)} for x in links.itertuples()]})
        units = _ids(e["text_unit_ids"])
        sections.append({"heading": f"Source text units ({len(units)})",
                         "items": _text_unit_items(g, units)})
        return {"id": sel, "title": e["title"],
                "badges": [b for b in (e["type"], f"degree {e['degree']}") if b],
                "sections": sections, "actions": [["expand", "Expand neighbourhood"]]}
    hit = g.relationships[g.relationships["id"] == sel]
    if len(hit):
        x = hit.iloc[0]
        units = _ids(x["text_unit_ids"])
        return {"id": sel, "title": f"{x['source']} — {x['target']}",
                "badges": [f"weight {x['weight']:g}"],
                "sections": [{"heading": "Description", "text": str(x["description"] or "")},
                             {"heading": f"Source text units ({len(units)})",
                              "items": _text_unit_items(g, units)}],
                "actions": []}
    return {}


def _resolve(g: _Graph, result: Any) -> tuple[set[str], set[str]]:
    """Entity and relationship ids named by a query result, DataFrame or list (duck-typed)."""
    if result is None:
        return set(), set()
    ents: Any = None
    rels: Any = None
    ctx = getattr(result, "context", None) or getattr(result, "context_data", None)
    if isinstance(result, Mapping):
        ctx = result
    if isinstance(ctx, Mapping):
        ents, rels = ctx.get("entities"), ctx.get("relationships")
    elif isinstance(result, pd.DataFrame):
        is_rel = {"source", "target"} <= set(result.columns)
        ents, rels = (None, result) if is_rel else (result, None)
    elif hasattr(result, "entities") or hasattr(result, "relationships"):
        ents, rels = getattr(result, "entities", None), getattr(result, "relationships", None)
    elif isinstance(result, str):
        ents = [result]
    elif isinstance(result, Iterable):
        ents = list(result)
    hrid_e = {str(h): i for h, i in zip(g.entities.get("human_readable_id", []),
                                        g.entities["id"], strict=False)}
    rel = g.relationships
    rel_ids = set(rel["id"])
    hrid_r = {str(h): i for h, i in zip(rel.get("human_readable_id", []), rel["id"], strict=False)}
    e_out: set[str] = set()
    r_out: set[str] = set()

    def entity_key(v: Any, allow_hrid: bool) -> None:
        s = str(v)
        if s in g.row:
            e_out.add(s)
        elif s.upper() in g.by_title:
            e_out.add(g.by_title[s.upper()])
        elif s in rel_ids:
            r_out.add(s)
        elif allow_hrid and s in hrid_e:
            e_out.add(hrid_e[s])

    if isinstance(ents, pd.DataFrame):
        df = ents[ents["in_context"].astype(bool)] if "in_context" in ents else ents
        for col in ("title", "entity"):
            if col in df:
                for v in df[col]:
                    entity_key(v, False)
        if "id" in df:
            for v in df["id"]:
                entity_key(v, True)
    elif ents is not None:
        for v in [ents] if isinstance(ents, str) else ents:
            entity_key(v, isinstance(v, (int, np.integer)))
    if isinstance(rels, pd.DataFrame):
        df = rels[rels["in_context"].astype(bool)] if "in_context" in rels else rels
        if "id" in df:
            r_out |= {hrid_r.get(str(v), str(v)) for v in df["id"]} & rel_ids
        if {"source", "target"} <= set(df.columns):
            pairs = {(str(a).upper(), str(b).upper()) for a, b in zip(df["source"], df["target"],
                                                                        strict=True)}
            su, tu = rel["source"].str.upper(), rel["target"].str.upper()
            mask = [(a, b) in pairs or (b, a) in pairs for a, b in zip(su, tu, strict=True)]
            r_out |= set(rel["id"][mask])
    elif rels is not None:
        r_out |= {str(v) for v in rels} & rel_ids
    chosen = rel[rel["id"].isin(r_out)]
    e_out |= set(chosen["src"]) | set(chosen["dst"])
    if not r_out:  # entities only: the relationships among them are what tied them together
        r_out = set(rel["id"][rel["src"].isin(e_out) & rel["dst"].isin(e_out)])
    return e_out, r_out


# ------------------------------------------------------------------------------ live view

class LiveGraph:
    """A ``GraphView`` fed in batches while an index is built, redrawn at most every
    ``interval`` seconds (each redraw resends the graph, so per-chunk redraws would flood the
    front end). Call ``close()`` (or use ``with``) for the final redraw.

    Hook for the indexer: ``live = LiveGraph(); display(live.view)``, then per extracted chunk
    ``live.add(entities_df, relationships_df)``, and ``live.close()`` at the end.
    """

    def __init__(self, view: GraphView | None = None, *, interval: float = 0.5) -> None:
        self.view = view if view is not None else GraphView()
        self.interval = interval
        self._last = 0.0
        self._dirty = False

    def add(self, entities: pd.DataFrame | None = None,
            relationships: pd.DataFrame | None = None) -> None:
        """Merge one batch; redraw if the last redraw is older than ``interval``."""
        self.view._g.add(entities, relationships)
        self._dirty = True
        if time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Redraw now if anything arrived since the last redraw."""
        if self._dirty:
            self.view._redraw()
            self._dirty = False
            self._last = time.monotonic()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> LiveGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view._repr_mimebundle_(**kwargs)


# ----------------------------------------------------------------------------- synthetic

def synthetic_index(n_entities: int, *, community_size: int = 40, edges_per_node: float = 2.0,
                    seed: int = 0) -> Any:
    """A GraphRAG-shaped index with planted communities (for benchmarks, tests, demos)."""
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
    src, dst = map(np.array, zip(*sorted(pairs), strict=True))
    entities = pd.DataFrame({
        "id": [f"e{i}" for i in range(n_entities)], "human_readable_id": range(n_entities),
        "title": titles, "type": rng.choice(["PERSON", "ORGANIZATION", "GEO", "EVENT"], n_entities),
        "description": [f"Synthetic entity {i} in community {c}." for i, c in enumerate(comm)],
        "text_unit_ids": [[] for _ in range(n_entities)],
        "frequency": 1, "degree": np.bincount(np.concatenate([src, dst]), minlength=n_entities)})
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
