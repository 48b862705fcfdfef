"""``GraphView``: one anywidget model carrying the visible graph as JSON, drawn by cytoscape.js.

Python does the thinking (layout, colours, aggregation, details, highlight resolution, the
saved picture); the browser renders, filters, searches and labels what it was given.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import pandas as pd
import traitlets as t

from . import draw, picture
from .data import NO_COMMUNITY, Graph, clip
from .details import details
from .highlight import Highlight, resolve
from .layout import fruchterman_reingold, grouped_layout, layout_groups, separate, unit_disc

STATIC = Path(__file__).parents[1] / "static"


@functools.cache
def bundle() -> str:
    """cytoscape's ESM build wrapped in a function (its minified top-level names must not
    clash with ours), its ``export default`` turned into a return, then the style (shared with
    ``to_ipycytoscape``) and our view."""
    cy = (STATIC / "cytoscape.esm.min.mjs").read_text(encoding="utf-8")
    cy, n = re.subn(r"export\s*\{\s*(\w+)\s+as\s+default\s*\}\s*;?\s*$",
                    r"return \1;\n", cy)
    if n != 1:  # a different cytoscape build was vendored; fail loudly, not blank
        raise RuntimeError("unexpected cytoscape bundle: no trailing default export")
    cy = "const cytoscape = (() => {\n" + cy + "})();\n"
    style = "const STYLE = " + json.dumps(style_sheet()) + ";\n"
    return cy + style + (STATIC / "graphview.js").read_text(encoding="utf-8")


@functools.cache
def style_sheet() -> list[dict]:
    """The cytoscape.js style (``static/graphstyle.json``), with the highlight colour filled in."""
    text = (STATIC / "graphstyle.json").read_text(encoding="utf-8")
    return json.loads(text.replace("HIGHLIGHT", draw.HIGHLIGHT).replace("GREY", draw.GREY))


def _view_error(message: str, hint: str) -> Exception:
    from ..errors import GraphIndexError

    return GraphIndexError(message, hint=hint)


class GraphView(anywidget.AnyWidget):
    """A GraphRAG index as an interactive graph: one widget model, cytoscape.js in the page.

    Colour = community at ``level`` (entity type while an index has no communities; gray = no
    community); size = degree; edge width = weight; hollow nodes are names that only
    relationships use. Above ``max_nodes`` entities the view shows communities as aggregated
    nodes (double-click or ``drill`` to open one). Click for details, search to centre, filter
    by type/community/degree in the toolbar. After the cell that shows it finishes, a picture
    of the view is added as its own output, so a saved notebook keeps the graph.
    """

    _esm = bundle()
    _css = (STATIC / "graphview.css").read_text(encoding="utf-8")

    graph = t.Dict().tag(sync=True)  # {"nodes", "edges", "labels"} with positions
    info = t.Dict().tag(sync=True)  # scope, status, legend, notes, message, filter choices
    level = t.Int(0).tag(sync=True)
    filters = t.Dict({"type": "", "community": None, "min_degree": 0}).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    details = t.Dict().tag(sync=True)
    highlighted = t.Dict({"nodes": [], "edges": []}).tag(sync=True)
    _static = t.Bool(False).tag(sync=True)
    _picture_key = t.Unicode("").tag(sync=True)

    def __init__(self, idx: Any = None, *, level: int = 0, max_nodes: int = 2500,
                 **kwargs: Any) -> None:
        self._g = Graph(idx)
        self._idx = idx
        self.max_nodes = max_nodes
        self._scope: list[int] = []  # drilled community ids, outermost first
        self._extra: set[str] = set()  # entities added by expand()
        self._pos: dict[str, tuple[float, float]] = {}
        self._pos_key: tuple | None = None
        self._hl = Highlight()
        self._message = ""
        self._matches: list[list[str]] = []
        super().__init__(level=level, _picture_key=secrets.token_hex(8), **kwargs)
        self.observe(lambda _: self._redraw(), names="level")
        self.observe(lambda _: self._update_details(), names="selected")
        self.on_msg(self._on_msg)
        self._redraw()

    # -- public API ---------------------------------------------------------------------
    @property
    def notes(self) -> list[str]:
        """One line per kind of odd row the view clamped, skipped or drew apart."""
        return list(self._g.notes.values())

    def highlight(self, result: Any = None) -> GraphView:
        """Mark what a query result drew on, say so in the view; returns self for display.

        Local, DRIFT and basic results mark their entities and relationships; a global search
        marks the communities whose reports it read. Also accepts DataFrames (GraphRAG tables or
        GraphRAG context tables with ``entity``/``in_context`` columns) and lists of ids, titles
        or human-readable ids. ``None`` clears it. The sentence is ``view.info["highlight"]``.
        """
        self._hl = resolve(self._g, result)
        with self.hold_sync():
            self._push_highlight()
            self.info = {**self.info, "highlight": self._hl.text}
        return self

    def find(self, query: str) -> str | None:
        """Select and centre the entity whose title best matches ``query`` (exact, then
        starting with it, then containing it; more relationships first), opening its community
        if the view does not show it. Other matches are listed in the view
        (``view.info["matches"]``). Returns the entity id, or None."""
        q = str(query if query is not None else "").strip()
        if not q:
            self._say("type part of an entity's title to find it")
            return None
        ent = self._g.entities
        titles = ent["title"].str.upper()
        hit = titles.str.contains(q.upper(), regex=False)
        if not hit.any():
            self._say(f"no entity matches “{q}”")
            return None
        cand = ent[hit].assign(_exact=titles[hit] != q.upper(),
                               _start=~titles[hit].str.startswith(q.upper()),
                               _deg=-ent["degree"][hit], _len=titles[hit].str.len())
        cand = cand.sort_values(["_exact", "_start", "_deg", "_len"], kind="stable")
        eid = str(cand["id"].iloc[0])
        matches = [[str(i), str(ti)] for i, ti in zip(cand["id"][:20], cand["title"][:20],
                                                      strict=True)]
        more = (f"{len(cand):,} entities match “{q}”: showing {cand['title'].iloc[0]}"
                if len(cand) > 1 else "")
        self._say(more, matches if len(cand) > 1 else [])
        self._show(eid)
        return eid

    def _show(self, eid: str) -> None:
        """Select and centre ``eid``, opening its community if the view does not show it."""
        eid = self._entity_id(eid)
        if eid not in self._visible_entities():
            self._scope = self._path_to(eid)
            self._extra = {eid}
            self._redraw()
        self.selected = eid
        self.send({"event": "center", "id": eid})

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
        """Hide entities in the browser (nothing is recomputed); ``""``/``0`` resets one.
        The view re-frames what is left and counts it."""
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

    def set_index(self, idx: Any) -> None:
        """Show ``idx`` instead (e.g. the finished index after a live build), framed anew."""
        self._g = Graph(idx)
        self._idx = idx
        self._scope, self._extra, self._pos_key = [], set(), None
        self._hl = Highlight()
        self.selected = ""
        self._redraw(fit=True)

    # -- corrections: the index's own edits, drawn in place ---------------------------------
    @property
    def editable(self) -> bool:
        """Whether the index can be corrected from the view (a ``GraphIndex`` can)."""
        return all(callable(getattr(self._idx, m, None))
                   for m in ("merge_entities", "rename_entity"))

    def rename(self, entity: str, title: str) -> Any:
        """Give ``entity`` (id or title) the title ``title`` in the index
        (``idx.rename_entity``), redraw in place and select it; returns the index's ``Edit``."""
        eid = self._entity_id(entity)
        edit = self._edit("rename_entity", self._g.entities.iloc[self._g.row[eid]]["title"],
                          title)
        self._after_edit(edit, eid)
        return edit

    def merge(self, entities: list[str], into: str | None = None) -> Any:
        """Fold ``entities`` (ids or titles) into one in the index (``idx.merge_entities``),
        redraw in place and select the result; returns the index's ``Edit``."""
        titles = [self._g.entities.iloc[self._g.row[self._entity_id(e)]]["title"]
                  for e in entities]
        edit = self._edit("merge_entities", titles, into)
        self._after_edit(edit, None)
        return edit

    def _edit(self, method: str, *args: Any) -> Any:
        if not self.editable:
            raise _view_error("This view's index cannot be corrected from the view",
                              "show a GraphIndex (build_index or GraphIndex.from_parquet): its "
                              "merge_entities and rename_entity do the edit")
        return getattr(self._idx, method)(*args)

    def _after_edit(self, edit: Any, eid: str | None) -> None:
        """Reload the edited index, keeping every position that still has its node."""
        pos = self._pos
        self._g = Graph(self._idx)
        self._scope = [c for c in self._scope if c in self._g.comm.index or c == NO_COMMUNITY]
        self._extra = {i for i in self._extra if i in self._g.row}
        self._pos_key, self._pos = self._layout_key(), {i: p for i, p in pos.items()
                                                         if i in self._g.row}
        changed = [i for i in getattr(edit, "changed_entities", []) if i in self._g.row]
        target = eid if eid in self._g.row else (changed[0] if changed else None)
        self._redraw()
        self._say(repr(edit))
        if target is not None:
            self._show(target)
        self._update_details()  # the same id may now have another title

    def to_svg(self) -> str:
        """The view as a standalone SVG picture (what ``picture()`` draws as PNG)."""
        return picture.to_svg(self._scene())

    def to_png(self) -> bytes:
        """The view as a PNG picture (960 x 600), as the saved notebook shows it."""
        return picture.to_png(self._scene(), self._picture_key)

    def picture(self) -> picture.Picture:
        """The static picture as a displayable output (``image/png`` + ``text/plain``)."""
        return picture.Picture(self._scene(), self._picture_key, self._summary())

    def to_html(self, path: str | Path | None = None, *, title: str = "lmsnb graph") -> str:
        """A self-contained interactive page (cytoscape inlined, no network); written to
        ``path`` when given. Search, filters, click details and highlights work offline."""
        from .export import html_page

        return html_page(self, path, title)

    def to_ipycytoscape(self) -> Any:
        """The same graph as an ``ipycytoscape.CytoscapeWidget``: positions, colours, sizes,
        labels of the most important nodes and the highlight, with this view's style."""
        from .export import ipycytoscape_widget

        return ipycytoscape_widget(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The live widget with a one-line text; the picture follows as its own output once
        the cell finishes (see ``lmsnb.graphview.picture``)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = {k: v for k, v in data.items() if k != "text/html"}
        data["text/plain"] = (f"lmsnb GraphView: {self.info.get('status', '')} (interactive "
                              "when the notebook runs; a picture of it follows)")
        picture.show_after_cell(self)
        return data, meta

    # -- what is visible --------------------------------------------------------------------
    def _scope_members(self) -> list[str]:
        if not self._scope:
            return self._g.entities["id"].tolist()
        return self._g.members(self._scope[-1])

    def _child_communities(self) -> list[int]:
        comm = self._g.comm
        if not self._scope:
            top = comm.index[comm["level"] == self._g.levels[0]].tolist()
            top = [c for c in top if comm.at[c, "members"]]
            return top + ([NO_COMMUNITY] if self._g.members(NO_COMMUNITY) else [])
        cid = self._scope[-1]
        return [] if cid == NO_COMMUNITY else \
            [c for c in comm.at[cid, "children"] if c in comm.index and comm.at[c, "members"]]

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
        eid = self._g.entity_id(entity)
        if eid is None:
            raise _view_error(f"No entity {entity!r} in this view",
                              "pass an entity id or its exact title; find('part of a title') "
                              "searches")
        return eid

    # -- drawing ----------------------------------------------------------------------------
    def _redraw(self, fit: bool = False) -> None:
        if self._aggregated():
            graph, info = self._community_graph()
        else:
            graph, info = self._entity_graph()
        info.update(scope="/".join(map(str, self._scope)), levels=self._g.levels,
                    editable=self.editable,
                    notes=self.notes, message=self._message, matches=self._matches,
                    said=getattr(self, "_said", 0), highlight=self._hl.text, fit=fit)
        with self.hold_sync():
            self.graph = graph
            self.info = info
            self._push_highlight()
            shown = {n["id"] for n in graph["nodes"]} | {e["id"] for e in graph["edges"]}
            if self.selected and self.selected not in shown:
                self.selected = ""

    def _say(self, message: str, matches: list[list[str]] | None = None) -> None:
        """A line under the toolbar (a search's outcome, a refused click). ``said`` counts, so
        the page shows it even when it repeats, and never re-shows an old one."""
        self._message, self._matches = message, matches or []
        self._said = getattr(self, "_said", 0) + 1
        self.info = {**self.info, "message": message, "matches": self._matches,
                     "said": self._said}

    def _entity_graph(self) -> tuple[dict, dict]:
        g = self._g
        visible = self._visible_entities()
        ids = [i for i in g.entities["id"] if i in visible]
        layout = None
        key = self._layout_key()
        if self._pos_key != key:
            self._pos_key, self._pos = key, {}
        new = [i for i in ids if i not in self._pos]
        if len(new) == len(ids):
            layout = self._layout(ids)
            self._pos = {i: (float(x), float(y)) for i, (x, y) in zip(ids, layout.pos,
                                                                     strict=True)}
        else:  # expand(): new nodes on a ring around a neighbour that is already placed
            self._place_near(new)
        desc_len = 300 if len(ids) <= 1000 else 0  # the kernel sends full details on click
        graph, info = draw.entity_graph(g, ids, self.level, self._pos, layout, desc_len)
        if layout is None and self.graph.get("labels"):
            graph["labels"] = self.graph["labels"]  # the discs did not move
        return graph, info

    def _layout_key(self) -> tuple:
        """Positions are recomputed when this changes (another scope, new data)."""
        g = self._g
        return tuple(self._scope), len(g.entities), len(g.relationships), id(g)

    def _layout(self, ids: list[str]) -> Any:
        g = self._g
        rows, rel = g.induced(ids)
        local = np.full(len(g.entities), -1, np.int64)
        local[rows] = np.arange(len(rows))
        src = local[rel["s"].to_numpy()]
        dst = local[rel["d"].to_numpy()]
        w = rel["w"].to_numpy(np.float64)
        group_level = g.levels[0]
        if self._scope and self._scope[-1] != NO_COMMUNITY:
            group_level = int(g.comm.at[self._scope[-1], "level"]) + 1
        groups = g.membership(group_level).reindex(ids).fillna(NO_COMMUNITY).astype(np.int64)
        if self._scope and self._scope[-1] != NO_COMMUNITY:  # no sub-communities: the
            groups = groups.where(groups != self._scope[-1], NO_COMMUNITY)  # members' own links
        groups = layout_groups(len(ids), src, dst, w, groups.to_numpy())
        size, _ = draw.node_sizes(g.entities["degree"].to_numpy()[rows])
        return grouped_layout(len(ids), src, dst, w, groups, radius=size / 2)

    def _place_near(self, new: list[str]) -> None:
        placed = self._pos
        r = self._g.relationships
        for k, i in enumerate(new):
            nb = [j for j in pd.concat([r["dst"][r["src"] == i], r["src"][r["dst"] == i]])
                  if j in placed]
            cx, cy = placed[nb[0]] if nb else (0.0, 0.0)
            a = 2.4 * k
            placed[i] = (cx + (60 + 6 * k) * np.cos(a), cy + (60 + 6 * k) * np.sin(a))

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
                             "w": r["w"][keep]})
               .assign(lo=lambda d: d[["a", "b"]].min(axis=1),
                       hi=lambda d: d[["a", "b"]].max(axis=1))
               .groupby(["lo", "hi"], as_index=False)["w"].agg(["sum", "count"]))
        index = {c: k for k, c in enumerate(cids)}
        sizes = np.array([len(members[c]) for c in cids], np.float64)
        radii = 10 + 40 * np.sqrt(sizes / max(sizes.max(), 1))
        xy = unit_disc(fruchterman_reingold(len(cids), agg["lo"].map(index).to_numpy(np.int64),
                                            agg["hi"].map(index).to_numpy(np.int64),
                                            agg["sum"].to_numpy(np.float64)))
        # room around each square for its title below it
        xy = separate(xy * 2.2 * np.sqrt((radii ** 2).sum()), radii + 12, rounds=150, gap=1.35)
        return draw.community_graph(g, cids, xy, radii, members, agg, self.max_nodes)

    def _push_highlight(self) -> None:
        hl = self._hl
        ents = set(hl.entities)
        for c in hl.communities:
            ents |= set(self._g.members(c))
        nodes = self.graph.get("nodes", [])
        if self.info.get("mode") == "communities":
            marked = sorted(n["id"] for n in nodes if set(self._g.members(n["community"])) & ents)
            self.highlighted = {"nodes": marked, "edges": []}
            return
        labels = [lab["id"] for lab in self.graph.get("labels", [])
                  if int(lab["id"][2:]) in hl.communities]
        self.highlighted = {"nodes": sorted({n["id"] for n in nodes} & ents) + labels,
                            "edges": sorted(e["id"] for e in self.graph.get("edges", [])
                                            if e["id"] in hl.relationships)}

    def _summary(self) -> str:
        parts = [f"lmsnb GraphView: {self.info.get('status', '')}"]
        if self._hl.text:
            parts.append(self._hl.text)
        parts += self.notes
        return "\n".join(parts)

    def _shown(self) -> dict:
        """The graph minus what the filters hide (the same rules as the browser's)."""
        f = self.filters
        typ, comm = f.get("type") or "", f.get("community")
        min_deg = int(f.get("min_degree") or 0)
        if not typ and comm in (None, "") and not min_deg:
            return self.graph

        def hidden(n: dict) -> bool:
            entity = n.get("kind") != "community"
            return bool((typ and entity and n.get("type") != typ)
                        or (comm not in (None, "") and entity
                            and str(n.get("community")) != str(comm))
                        or n.get("degree", 0) < min_deg)

        nodes = [n for n in self.graph.get("nodes", []) if not hidden(n)]
        ids = {n["id"] for n in nodes}
        return {"nodes": nodes, "labels": [],
                "edges": [e for e in self.graph.get("edges", [])
                          if e["source"] in ids and e["target"] in ids]}

    def _scene(self) -> picture.Scene:
        shown = self._shown()
        status = self.info.get("status", "")
        if shown is not self.graph:
            status = f"showing {len(shown['nodes']):,} of {len(self.graph['nodes']):,} nodes " \
                     f"(filtered) · {len(shown['edges']):,} relationships"
        caption = f"lmsnb GraphView · {status}"
        if self._hl.text:
            caption += " · " + self._hl.text
        return picture.scene(shown, self.highlighted, self.info.get("legend"),
                             clip(caption, 150))

    # -- details and browser events ---------------------------------------------------------
    def _on_msg(self, _widget: Any, msg: dict, _buffers: Any) -> None:
        from ..errors import LmsnbError

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
            elif event == "show":
                self._show(target)
            elif event == "rename":
                self.rename(target, str(msg.get("title", "")))
            elif event == "merge":
                self.merge([str(i) for i in msg.get("ids", [])], msg.get("into") or None)
        except LmsnbError as exc:  # a stale click: say so in the view, not in the kernel log
            self._say(exc.message)

    def _update_details(self) -> None:
        self.details = details(self._g, self.selected, self.editable) if self.selected else {}
