"""Correcting an index by hand: merge, rename and delete entities, delete documents, refresh.

A graph built from real text is never right the first time (one person as six entities, a
hyphenated adjective as an entity). Here the fix is an edit on the DataFrames that keeps every
table consistent, as GraphRAG's own readers expect:

* relationships are re-pointed; a merge leaves no self-loop, and edges that became parallel are
  combined (weights summed, descriptions joined, ``text_unit_ids`` united, the first one's id
  and ``human_readable_id`` kept);
* ``degree`` and ``combined_degree`` are recomputed (GraphRAG's definition: distinct neighbours);
* text units' ``entity_ids``/``relationship_ids``, communities' ``entity_ids``,
  ``relationship_ids``, ``text_unit_ids`` and ``size``, claims (``covariates``) and the embedding
  tables follow. A merged entity keeps one place in the community hierarchy (its own, else that
  of the merged entity with the most text units), so every level stays a partition;
* ``human_readable_id`` values are never renumbered: reports and answers cite them.

What an edit cannot redo without a model is *marked stale* in ``idx.meta["stale"]``::

    {"entity_descriptions": {entity_id: [descriptions to summarise]},   # [] = re-derive
     "relationship_descriptions": {relationship_id: [...]},
     "community_reports": [community, ...],         # reports of communities that changed
     "embeddings": {"entity_description": [ids], "text_unit_text": [ids],
                    "community_full_content": [ids]}}

and :func:`refresh` redoes exactly those parts with the index's own models (the LLM cache makes
repeated work free; the fast method needs no LLM at all). ``idx.meta["aliases"]`` keeps the
names merged into each entity, and ``idx.meta["edits"]`` the edits in order, so
``update()`` can apply them again to a rebuilt graph.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GraphIndexError
from . import sanity
from .cache import DEFAULT_CACHE_DIR

EMBEDDING_TABLES = {"entity_description": "entities", "text_unit_text": "text_units",
                    "community_full_content": "community_reports"}
STALE_KINDS = ("entity_descriptions", "relationship_descriptions", "community_reports",
               "embeddings")


# -- results ---------------------------------------------------------------------------------


@dataclass
class Edit:
    """What one edit changed (ids), and what is stale in the index afterwards.

    ``repr`` is a one-line summary; the id lists let a view update itself without a redraw.
    """

    action: str
    summary: str
    removed_entities: list[str] = field(default_factory=list)
    changed_entities: list[str] = field(default_factory=list)
    removed_relationships: list[str] = field(default_factory=list)
    changed_relationships: list[str] = field(default_factory=list)
    stale: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.summary + _stale_note(self.stale)


@dataclass
class Refreshed:
    """What :func:`refresh` redid, and what it cost (``stats``: calls, cached calls, tokens)."""

    descriptions: int = 0
    reports: int = 0
    embeddings: int = 0
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def calls(self) -> int:
        """Model calls made (LLM and embedding requests), cached ones included."""
        return _total(self.stats, "calls")

    @property
    def cached_calls(self) -> int:
        return _total(self.stats, "cached_calls")

    def __repr__(self) -> str:
        if not (self.descriptions or self.reports or self.embeddings):
            return "Nothing was stale: nothing to refresh"
        return (f"Refreshed {_n(self.descriptions, 'description')}, "
                f"{_n(self.reports, 'community report')}, {_n(self.embeddings, 'embedding')}: "
                f"{_n(self.calls, 'model call')} ({self.cached_calls} from the cache)")


def _total(stats: pd.DataFrame, col: str) -> int:
    if stats is None or not len(stats) or col not in stats:
        return 0
    return int(stats.loc[stats["stage"] != "total", col].sum())


def _n(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def stale_counts(meta: dict[str, Any]) -> dict[str, int]:
    """``{"descriptions": n, "community reports": n, "embeddings": n}`` (only non-zero ones)."""
    st = meta.get("stale") or {}
    out = {"descriptions": len(st.get("entity_descriptions", {}))
           + len(st.get("relationship_descriptions", {})),
           "community reports": len(st.get("community_reports", [])),
           "embeddings": sum(len(v) for v in (st.get("embeddings") or {}).values())}
    return {k: v for k, v in out.items() if v}


def _stale_note(counts: dict[str, int]) -> str:
    if not counts:
        return ""
    return " · stale: " + describe_stale(counts) + " → idx.refresh()"


def describe_stale(counts: dict[str, int]) -> str:
    """``"1 description, 2 community reports"``."""
    return ", ".join(_n(v, k[:-1]) for k, v in counts.items())


# -- finding rows by name ----------------------------------------------------------------------


def _names(values: Any, what: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        values = [values]
    values = list(values)
    if not values:
        raise GraphIndexError(f"No {_table(what)} given",
                              hint=f"pass {what} titles (or ids), e.g. ['TINY TIM']")
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise GraphIndexError(f"{what} names must be non-empty strings, not {v!r}",
                                  hint=f"pass {what} titles (or ids) as strings")
        out.append(v)
    return out


def find(df: pd.DataFrame, names: Any, what: str = "entity", col: str = "title",
         aliases: dict[str, list[str]] | None = None) -> list[int]:
    """Row positions of ``names`` in ``df`` (by ``col``, then case-insensitively, then by id).

    Unknown names raise one :class:`GraphIndexError` naming each with its closest match (or,
    for a name merged away, the entity it is now part of: ``aliases``).
    """
    names = _names(names, what)
    titles = _strs(df[col])
    exact: dict[str, list[int]] = {}
    folded: dict[str, list[int]] = {}
    for i, t in enumerate(titles):
        exact.setdefault(t, []).append(i)
        folded.setdefault(" ".join(t.split()).casefold(), []).append(i)
    ids: dict[str, list[int]] = {}
    for i, x in enumerate(_strs(df["id"])):
        ids.setdefault(x, []).append(i)
    rows: list[int] = []
    unknown = []
    for n in names:
        hit = exact.get(n) or folded.get(" ".join(n.split()).casefold()) or ids.get(n)
        if hit is None:
            unknown.append(n)
        else:
            rows.extend(i for i in hit if i not in rows)
    if unknown:
        merged = {" ".join(f.split()).casefold(): t for t, forms in (aliases or {}).items()
                  for f in forms if t in exact}
        parts = []
        for n in unknown:
            into = merged.get(" ".join(n.split()).casefold())
            if into is not None:
                parts.append(f"{n!r} (merged into {into!r})")
                continue
            close = difflib.get_close_matches(n.upper(), list(exact), n=1, cutoff=0.6) or \
                difflib.get_close_matches(n, list(exact), n=1, cutoff=0.6)
            parts.append(f"{n!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        plural = "entities" if what == "entity" else f"{what}s"
        raise GraphIndexError(f"No {what if len(unknown) == 1 else plural} named "
                              + ", ".join(parts) + " in this index",
                              hint=f"names are the {col} column of idx.{_table(what)} "
                                   "(case does not matter)")
    return rows


def _table(what: str) -> str:
    return {"entity": "entities", "document": "documents"}.get(what, what)


# -- the edits ---------------------------------------------------------------------------------


def merge_entities(index: Any, names: Any, into: str | None = None) -> Edit:
    """Fold the entities ``names`` into one, titled ``into`` (see :meth:`GraphIndex.merge_entities`)."""
    ents = index.entities
    rows = find(ents, names, aliases=index.meta.get("aliases"))
    if into is not None:
        if not isinstance(into, str) or not into.strip():
            raise GraphIndexError(f"into must be a non-empty title, not {into!r}",
                                  hint="e.g. idx.merge_entities(['ALEX', 'AGENT MERCER'], "
                                       "into='ALEX MERCER')")
        into = " ".join(into.split())
        same = [i for i, t in enumerate(_strs(ents["title"]))
                if t.casefold() == into.casefold()]
        if same:  # an existing entity (whatever the case you typed) joins and keeps its title
            into = str(ents["title"].iloc[same[0]])
        rows = same[:1] + [r for r in rows if r not in same[:1]] + [r for r in same[1:]
                                                                    if r not in rows]
    if len(rows) < 2:
        if into is not None and rows and str(ents["title"].iloc[rows[0]]) != into:
            return rename_entity(index, str(ents["title"].iloc[rows[0]]), into)
        raise GraphIndexError("A merge needs at least two entities "
                              f"(got {len(rows)}: {', '.join(map(repr, _titles(ents, rows)))})",
                              hint="list the entities to fold together, e.g. "
                                   "idx.merge_entities(['ALEX', 'MERCER'], into='ALEX MERCER')")
    freq = [len(_list(ents["text_unit_ids"].iloc[r])) for r in rows]
    keep = rows[0]
    target = into or str(ents["title"].iloc[keep])
    members = rows[1:]
    ed = _Editor(index)
    ed.merge(keep, members, target, freq)
    titles = _titles(ents, rows)
    return ed.commit("merge", {"op": "merge", "entities": titles, "into": target},
                     f"Merged {', '.join(t for t in titles if t != target)} into {target}")


def rename_entity(index: Any, old: str, new: str) -> Edit:
    """Give entity ``old`` the title ``new`` (see :meth:`GraphIndex.rename_entity`)."""
    ents = index.entities
    rows = find(ents, [old], aliases=index.meta.get("aliases"))
    if not isinstance(new, str) or not new.strip():
        raise GraphIndexError(f"The new title must be a non-empty string, not {new!r}",
                              hint="e.g. idx.rename_entity('ALEX', 'ALEX MERCER')")
    new = " ".join(new.split())
    current = _titles(ents, rows)
    taken = [t for t in _strs(ents["title"])
             if t.casefold() == new.casefold() and t not in current]
    if taken:
        raise GraphIndexError(f"There is already an entity called {taken[0]!r}",
                              hint=f"merge them instead: idx.merge_entities([{current[0]!r}, "
                                   f"{taken[0]!r}], into={taken[0]!r})")
    if current == [new]:
        return Edit("rename", f"{new} already has that title")
    ed = _Editor(index)
    ed.rename(rows, new)
    return ed.commit("rename", {"op": "rename", "old": current[0], "new": new},
                     f"Renamed {current[0]} to {new}")


def delete_entities(index: Any, names: Any) -> Edit:
    """Remove entities and every relationship that touches them."""
    rows = find(index.entities, names, aliases=index.meta.get("aliases"))
    titles = _titles(index.entities, rows)
    ed = _Editor(index)
    ed.delete_entities(rows)
    return ed.commit("delete entities", {"op": "delete_entities", "entities": titles},
                     f"Deleted {titles[0] if len(titles) == 1 else f'{len(titles)} entities'}")


def delete_documents(index: Any, docs: Any, *, log: bool = True) -> Edit:
    """Remove documents (by id or title), their text units, and what only they supported.

    ``log=False`` (``update()`` replacing changed documents) keeps it out of ``meta["edits"]``.
    """
    rows = find(index.documents, docs, what="document")
    ids = index.documents["id"].astype(str).iloc[rows].tolist()
    titles = _titles(index.documents, rows)
    ed = _Editor(index)
    ed.delete_documents(ids)
    return ed.commit("delete documents",
                     {"op": "delete_documents", "documents": ids} if log else None,
                     f"Deleted {titles[0] if len(titles) == 1 else _n(len(titles), 'document')}")


def _titles(df: pd.DataFrame, rows: list[int]) -> list[str]:
    return [str(df["title"].iloc[r]) for r in rows]


def _list(v: Any) -> list[Any]:
    if v is None or (isinstance(v, float) and v != v):
        return []
    return list(v)


def node_degrees(sources: Iterable[str], targets: Iterable[str]) -> dict[str, int]:
    """GraphRAG's ``degree``: distinct neighbours, edges taken undirected."""
    src = pd.Series(list(sources), dtype="string")
    tgt = pd.Series(list(targets), dtype="string")
    first = src <= tgt
    pairs = pd.DataFrame({"a": src.where(first, tgt), "b": tgt.where(first, src)})
    pairs = pairs.drop_duplicates()
    return {str(k): int(v) for k, v in
            pd.concat([pairs["a"], pairs["b"]]).value_counts(sort=False).items()}


class _Editor:
    """Works on copies of the tables; :meth:`commit` swaps them into the index all at once, so an
    edit that fails leaves the index as it was."""

    def __init__(self, index: Any) -> None:
        self.target = index  # what commit() writes to
        self.index = sanity.typed(index)  # what the edit reads: GraphRAG's types (sanity)
        self.ents = self.index.entities.copy()
        self.meta = {k: v for k, v in index.meta.items()}
        stale = self.meta.get("stale") or {}
        self.stale: dict[str, Any] = {
            "entity_descriptions": dict(stale.get("entity_descriptions", {})),
            "relationship_descriptions": dict(stale.get("relationship_descriptions", {})),
            "community_reports": [int(c) for c in stale.get("community_reports", [])],
            "embeddings": {k: list(v) for k, v in (stale.get("embeddings") or {}).items()}}
        self.aliases: dict[str, list[str]] = {k: list(v) for k, v in
                                              (self.meta.get("aliases") or {}).items()}
        self.title_map: dict[str, str] = {}  # old title -> new title
        self.id_map: dict[str, str] = {}  # merged-away entity id -> the survivor's id
        self.anchor: dict[str, str] = {}  # survivor id -> entity whose communities it takes
        self.gone_titles: set[str] = set()
        self.gone_ents: set[str] = set()
        self.changed_ents: set[str] = set()
        self.gone_units: set[str] = set()
        self.gone_docs: set[str] = set()
        self.moved_units: dict[str, str] = {}  # unit of a deleted document -> a kept one's id
        self.rederive: set[str] = set()  # entity ids whose description must be re-derived

    # ---------------------------------------------------------------- operations
    def merge(self, keep: int, members: list[int], target: str, freq: list[int]) -> None:
        e = self.ents
        ids = e["id"].astype(str).tolist()
        titles = e["title"].astype(str).tolist()
        kid = ids[keep]
        rows = [keep, *members]
        units: list[Any] = []
        for r in rows:
            units.extend(u for u in _list(e["text_unit_ids"].iloc[r]) if u not in units)
        types = Counter()
        for r, f in zip(rows, freq, strict=True):
            t = str(e["type"].iloc[r]) if pd.notna(e["type"].iloc[r]) else ""
            if t:
                types[t] += max(f, 1)
        descs = [str(e["description"].iloc[r]) for r in rows
                 if pd.notna(e["description"].iloc[r]) and str(e["description"].iloc[r]).strip()]
        parts = list(dict.fromkeys(d.strip() for d in descs))
        old_stale = self.stale["entity_descriptions"]
        rederive = any(ids[r] in old_stale and not old_stale[ids[r]] for r in rows)
        for r in members:
            self.id_map[ids[r]] = kid
            self.title_map[titles[r]] = target
            old_stale.pop(ids[r], None)
        if titles[keep] != target:
            self.title_map[titles[keep]] = target
        with_com = self._in_communities({ids[r] for r in rows})
        by_units = sorted(rows, key=lambda r: -len(_list(e["text_unit_ids"].iloc[r])))
        self.anchor[kid] = next((ids[r] for r in [keep, *by_units] if ids[r] in with_com), kid)
        e.iloc[keep, e.columns.get_loc("title")] = target
        if types:
            e.iloc[keep, e.columns.get_loc("type")] = types.most_common(1)[0][0]
        e.iloc[keep, e.columns.get_loc("description")] = "\n".join(parts)
        e.iat[keep, e.columns.get_loc("text_unit_ids")] = units
        self.ents = e.drop(index=e.index[members])
        self.changed_ents.add(kid)
        if rederive or len(parts) > 1 or not parts:
            old_stale[kid] = [] if rederive or not parts else parts
        self._alias([titles[r] for r in rows], target)

    def rename(self, rows: list[int], new: str) -> None:
        e = self.ents
        for r in rows:
            old = str(e["title"].iloc[r])
            self.title_map[old] = new
            self.changed_ents.add(str(e["id"].iloc[r]))
            e.iloc[r, e.columns.get_loc("title")] = new
            self._alias([old], new)

    def delete_entities(self, rows: list[int]) -> None:
        e = self.ents
        self.gone_ents |= set(e["id"].astype(str).iloc[rows])
        self.gone_titles |= set(e["title"].astype(str).iloc[rows])
        self.ents = e.drop(index=e.index[rows])
        for t in self.gone_titles:
            self.aliases.pop(t, None)

    def delete_documents(self, doc_ids: list[str]) -> None:
        idx = self.index
        gone = set(doc_ids)
        self.gone_docs = gone
        kept = idx.documents[~idx.documents["id"].astype(str).isin(gone)]
        still = {u for us in kept["text_unit_ids"] for u in _list(us)}
        tu = idx.text_units
        self.gone_units = set(tu.loc[tu["document_id"].astype(str).isin(gone), "id"].astype(str)) \
            - still
        self.moved_units = {u: d for d, us in zip(_strs(kept["id"]), kept["text_unit_ids"],
                                                  strict=True) for u in _list(us)}
        e = self.ents
        drop = []
        for pos, (eid, units) in enumerate(zip(_strs(e["id"]), e["text_unit_ids"],
                                               strict=True)):
            units = _list(units)
            left = [u for u in units if u not in self.gone_units]
            if len(left) == len(units):
                continue
            if units and not left:
                drop.append(pos)
            else:
                e.iat[pos, e.columns.get_loc("text_unit_ids")] = left
                self.changed_ents.add(eid)
                self.rederive.add(eid)
        self.delete_entities(drop)
        for eid in self.rederive - self.gone_ents:
            self.stale["entity_descriptions"][eid] = []

    # ---------------------------------------------------------------- helpers
    def _in_communities(self, ids: set[str]) -> set[str]:
        com = self.index.communities
        return {i for es in com["entity_ids"] for i in _list(es) if i in ids} if len(com) else set()

    def _alias(self, olds: list[str], new: str) -> None:
        forms: list[str] = list(self.aliases.pop(new, []))
        for old in olds:
            for f in [old, *self.aliases.pop(old, [])]:
                if f != new and f not in forms:
                    forms.append(f)
        if forms:
            self.aliases[new] = forms

    # ---------------------------------------------------------------- repair and commit
    def commit(self, action: str, log: dict[str, Any] | None, summary: str) -> Edit:
        idx = self.index
        ents = self.ents
        rels, rel_map, gone_rels, changed_rels, notes = self._relationships()
        deg = node_degrees(_strs(rels["source"]), _strs(rels["target"]))
        ents["degree"] = np.array([deg.get(t, 0) for t in _strs(ents["title"])],
                                  dtype="int64")
        ents["frequency"] = np.array([len(_list(u)) for u in ents["text_unit_ids"]], dtype="int64")
        rels["combined_degree"] = np.array(
            [deg.get(s, 0) + deg.get(t, 0) for s, t in
             zip(_strs(rels["source"]), _strs(rels["target"]), strict=True)],
            dtype="int64")
        gone_ents = set(self.gone_ents) | set(self.id_map)
        cov, gone_cov = self._covariates()
        units = self._text_units(rel_map, gone_ents, gone_rels, gone_cov)
        com, reps, affected, gone_reports = self._communities(ents, rels, rel_map, gone_ents,
                                                              gone_rels, changed_rels)
        docs = idx.documents
        if self.gone_docs or self.gone_units:
            docs = docs[~docs["id"].astype(str).isin(self.gone_docs)].copy()
            docs["text_unit_ids"] = _objects([[u for u in _list(us) if u not in self.gone_units]
                                              for us in docs["text_unit_ids"]], docs)
        embeddings = {}
        for name, df in idx.embeddings.items():
            drop = {"entity_description": gone_ents, "text_unit_text": self.gone_units,
                    "community_full_content": gone_reports}.get(name, set())
            embeddings[name] = df[~df["id"].astype(str).isin(drop)].reset_index(drop=True) \
                if drop else df
        # what is stale now
        st = self.stale
        for k in ("entity_descriptions", "relationship_descriptions"):
            gone = gone_ents if k == "entity_descriptions" else gone_rels | set(rel_map)
            st[k] = {i: v for i, v in st[k].items() if i not in gone}
        st["relationship_descriptions"].update(notes)
        live = set(_num(com["community"])) if len(com) else set()
        st["community_reports"] = sorted((set(st["community_reports"]) | affected) & live)
        emb = st["embeddings"]
        if "entity_description" in embeddings:
            kept = [i for i in emb.get("entity_description", []) if i not in gone_ents]
            emb["entity_description"] = list(dict.fromkeys(
                kept + sorted(self.changed_ents - gone_ents)))
        if "text_unit_text" in emb:
            emb["text_unit_text"] = [i for i in emb["text_unit_text"] if i not in self.gone_units]
        if "community_full_content" in emb:
            emb["community_full_content"] = [i for i in emb["community_full_content"]
                                             if i not in gone_reports]
        st["embeddings"] = {k: v for k, v in emb.items() if v}
        meta = dict(self.meta)
        meta["stale"] = {k: v for k, v in st.items() if v}
        if not meta["stale"]:
            meta.pop("stale")
        if self.aliases:
            meta["aliases"] = self.aliases
        else:
            meta.pop("aliases", None)
        if log is not None:
            meta["edits"] = [*meta.get("edits", []), log]
        # swap everything in at once
        idx = self.target
        idx.entities = ents.reset_index(drop=True)
        idx.relationships = rels.reset_index(drop=True)
        idx.text_units = units
        idx.documents = docs.reset_index(drop=True)
        idx.communities = com
        idx.community_reports = reps
        idx.covariates = cov
        idx.embeddings = embeddings
        idx.meta = meta
        return Edit(action, summary,
                    removed_entities=sorted(gone_ents),
                    changed_entities=sorted(self.changed_ents - gone_ents),
                    removed_relationships=sorted(gone_rels | set(rel_map)),
                    changed_relationships=sorted(changed_rels),
                    stale=stale_counts(meta))

    def _relationships(self) -> tuple[pd.DataFrame, dict[str, str], set[str], set[str],
                                      dict[str, list[str]]]:
        """Re-point, drop, combine. Returns (rels, combined id -> kept id, dropped ids, changed
        ids, relationship descriptions now stale)."""
        rels = self.index.relationships.copy()
        ids = rels["id"].astype(str)
        gone: set[str] = set()
        changed: set[str] = set()
        notes: dict[str, list[str]] = {}
        if self.gone_units:
            before = [_list(u) for u in rels["text_unit_ids"]]
            after = [[u for u in us if u not in self.gone_units] for us in before]
            lost = [len(a) != len(b) for a, b in zip(after, before, strict=True)]
            rels["text_unit_ids"] = _objects(after, rels)
            for rid, a, b, was in zip(ids.tolist(), after, before, lost, strict=True):
                if was and b and not a:
                    gone.add(rid)
                elif was:
                    changed.add(rid)
                    notes[rid] = []
        src, tgt = rels["source"].astype(str), rels["target"].astype(str)
        gone |= set(ids[src.isin(self.gone_titles) | tgt.isin(self.gone_titles)])
        if self.title_map:
            new_s, new_t = src.replace(self.title_map), tgt.replace(self.title_map)
            moved = (new_s != src) | (new_t != tgt)
            gone |= set(ids[moved & (new_s == new_t)])  # a merge makes no self-loops
            rels["source"] = new_s.astype(rels["source"].dtype)
            rels["target"] = new_t.astype(rels["target"].dtype)
            changed |= set(ids[moved])
        rels = rels[~ids.isin(gone)]
        rel_map: dict[str, str] = {}
        if self.title_map and len(rels):
            rels, rel_map, combined_notes = _combine_parallel(rels, changed)
            notes.update(combined_notes)
            changed -= set(rel_map)
        notes = {k: v for k, v in notes.items() if k not in gone and k not in rel_map}
        return rels, rel_map, gone, changed - gone, notes

    def _covariates(self) -> tuple[pd.DataFrame | None, set[str]]:
        cov = self.index.covariates
        if cov is None or not len(cov):
            return cov, set()
        cov = cov.copy()
        for col in ("subject_id", "object_id"):
            if col in cov and self.title_map:
                cov[col] = cov[col].replace(self.title_map)
        drop = pd.Series(False, index=cov.index)
        if "subject_id" in cov:
            drop |= cov["subject_id"].astype(str).isin(self.gone_titles)
        if "object_id" in cov and self.gone_titles:
            cov.loc[cov["object_id"].astype(str).isin(self.gone_titles), "object_id"] = "NONE"
        if "text_unit_id" in cov:
            drop |= cov["text_unit_id"].astype(str).isin(self.gone_units)
        gone = set(cov.loc[drop, "id"].astype(str))
        return cov[~drop].reset_index(drop=True), gone

    def _text_units(self, rel_map: dict[str, str], gone_ents: set[str], gone_rels: set[str],
                    gone_cov: set[str]) -> pd.DataFrame:
        tu = self.index.text_units
        if self.gone_units:
            tu = tu[~tu["id"].astype(str).isin(self.gone_units)]
        tu = tu.copy()
        moved = self.moved_units
        if moved:  # a unit shared with a document that stays now belongs to it
            own = _strs(tu["document_id"])
            tu["document_id"] = [moved.get(u, d) if d in self.gone_docs else d
                                 for u, d in zip(_strs(tu["id"]), own, strict=True)]
            tu["document_id"] = tu["document_id"].astype(self.index.text_units["document_id"].dtype)

        def remap(values: Any, mapping: dict[str, str], gone: set[str]) -> list[str]:
            out: list[str] = []
            for v in _list(values):
                v = mapping.get(v, v)
                if v not in gone and v not in out:
                    out.append(v)
            return out

        tu["entity_ids"] = _objects([remap(v, self.id_map, gone_ents - set(self.id_map))
                                     for v in tu["entity_ids"]], tu)
        tu["relationship_ids"] = _objects([remap(v, rel_map, gone_rels)
                                           for v in tu["relationship_ids"]], tu)
        if "covariate_ids" in tu and gone_cov:
            tu["covariate_ids"] = _objects([remap(v, {}, gone_cov) for v in tu["covariate_ids"]],
                                           tu)
        return tu.reset_index(drop=True)

    def _communities(self, ents: pd.DataFrame, rels: pd.DataFrame, rel_map: dict[str, str],
                     gone_ents: set[str], gone_rels: set[str], changed_rels: set[str]
                     ) -> tuple[pd.DataFrame, pd.DataFrame, set[int], set[str]]:
        com = self.index.communities.copy()
        reps = self.index.community_reports.copy()
        if not len(com):
            return com, reps, set(), set()
        title_of = dict(zip(_strs(ents["id"]), _strs(ents["title"]), strict=True))
        survivors = {self.id_map[m] for m in self.id_map}
        moving = set(self.id_map) | {s for s in survivors if self.anchor.get(s, s) != s}
        touched_ents = self.changed_ents | gone_ents
        touched_rels = changed_rels | gone_rels | set(rel_map) | set(rel_map.values())
        affected: set[int] = set()
        new_e, new_r, new_u = [], [], []
        src, tgt, rid = rels["source"], rels["target"], rels["id"]
        phantom_s = phantom_t = None  # ends that name no entity (GraphRAG's output has some)
        for cid, es, rs, us in zip(_num(com["community"]), com["entity_ids"],
                                   com["relationship_ids"], com["text_unit_ids"], strict=True):
            if cid < 0 or (touched_ents.isdisjoint(_list(es)) and  # no number: left as is
                           touched_rels.isdisjoint(_list(rs))):
                new_e.append(es)
                new_r.append(rs)
                new_u.append(us)
                continue
            affected.add(cid)
            members = {str(x) for x in _list(es)}
            e2 = [str(i) for i in _list(es) if i not in gone_ents and i not in moving]
            for s in survivors:
                if self.anchor.get(s, s) in members and s not in e2:
                    e2.append(s)
            inside = {title_of[i] for i in e2 if i in title_of}
            if phantom_s is None:
                known = set(title_of.values())
                phantom_s, phantom_t = ~src.isin(known), ~tgt.isin(known)
            in_s, in_t = src.isin(inside), tgt.isin(inside)
            old = rid.isin({rel_map.get(str(r), str(r)) for r in _list(rs)})
            # its own relationships that still lie inside, and any that now do (re-pointed)
            mask = (old & (in_s | phantom_s) & (in_t | phantom_t)) | (in_s & in_t)
            new_e.append(e2)
            new_r.append(_strs(rid[mask]))
            new_u.append(sorted({u for us_ in rels.loc[mask, "text_unit_ids"]
                                 for u in _list(us_)}))
        com["entity_ids"] = _objects(new_e, com)
        com["relationship_ids"] = _objects(new_r, com)
        com["text_unit_ids"] = _objects(new_u, com)
        com["size"] = np.array([len(x) for x in new_e], dtype="int64")
        empty = set(_num(com["community"])[com["size"] == 0]) & affected
        gone_reports: set[str] = set()
        if empty:
            parent_of = dict(zip(_num(com["community"]), _num(com["parent"]),
                                 strict=True))
            com = com[~_num(com["community"]).isin(empty)].copy()

            def up(p: int) -> int:
                while p in empty:
                    p = parent_of.get(p, -1)
                return p

            com["parent"] = np.array([up(p) for p in _num(com["parent"])], dtype="int64")
            com["children"] = _objects([[int(c) for c in _list(ch) if int(c) not in empty]
                                        for ch in com["children"]], com)
            gone_reports = set(reps.loc[_num(reps["community"]).isin(empty), "id"]
                               .astype(str))
            reps = reps[~_num(reps["community"]).isin(empty)].copy()
        com = com.reset_index(drop=True)
        if len(reps):
            size = dict(zip(_num(com["community"]), com["size"], strict=True))
            kids = dict(zip(_num(com["community"]), com["children"], strict=True))
            par = dict(zip(_num(com["community"]), com["parent"], strict=True))
            for known in (size, kids, par):
                known.pop(-1, None)  # rows without a number tell nothing about each other
            cids = _num(reps["community"])
            reps["size"] = np.array([size.get(c, s) for c, s in zip(cids, reps["size"],
                                                                    strict=True)], dtype="int64")
            reps["parent"] = np.array([par.get(c, p) for c, p in zip(cids, reps["parent"],
                                                                    strict=True)], dtype="int64")
            reps["children"] = _objects([kids.get(c, ch) for c, ch in
                                         zip(cids, reps["children"], strict=True)], reps)
        return com, reps.reset_index(drop=True), affected - empty, gone_reports


def _strs(values: pd.Series) -> list[str]:
    """A column as a list of str (iterating pandas' Arrow strings one by one is slow); a
    missing cell is "" (pandas 3's ``astype(str)`` keeps it missing: NaN among the str)."""
    return sanity.text(values).tolist()


def _num(values: pd.Series) -> pd.Series:
    """Community numbers as int64, -1 where a cell holds none (a user's merge leaves NaN;
    validate() calls it ``no_number``): such rows are left as they are."""
    return pd.Series(sanity.ints(values, -1), index=values.index)


def _objects(values: list[Any], df: pd.DataFrame) -> pd.Series:
    """A column of lists: object dtype even when empty (pandas would make it float64)."""
    return pd.Series(values, index=df.index, dtype=object)


def _combine_parallel(rels: pd.DataFrame, changed: set[str]
                      ) -> tuple[pd.DataFrame, dict[str, str], dict[str, list[str]]]:
    """Rows of ``rels`` that a re-pointing made parallel (same two ends, either direction)
    become one: weights summed, descriptions joined, text units united; the first row (an
    untouched one if there is one) keeps its id."""
    ids = rels["id"].astype(str).tolist()
    keys = [tuple(sorted(p)) for p in zip(_strs(rels["source"]), _strs(rels["target"]),
                                          strict=True)]
    hot = {k for k, i in zip(keys, ids, strict=True) if i in changed}
    groups: dict[tuple[str, ...], list[int]] = {}
    for pos, k in enumerate(keys):
        if k in hot:
            groups.setdefault(k, []).append(pos)
    rel_map: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    drop: list[int] = []
    wcol, dcol, ucol = (rels.columns.get_loc(c) for c in ("weight", "description",
                                                           "text_unit_ids"))
    for pos in groups.values():
        if len(pos) < 2:
            continue
        pos = sorted(pos, key=lambda p: (ids[p] in changed, p))
        first = pos[0]
        weights = pd.to_numeric(rels["weight"].iloc[pos], errors="coerce")
        descs = [str(d).strip() for d in rels["description"].iloc[pos]
                 if pd.notna(d) and str(d).strip()]
        parts = list(dict.fromkeys(descs))
        units: list[Any] = []
        for p in pos:
            units.extend(u for u in _list(rels["text_unit_ids"].iloc[p]) if u not in units)
        rels.iat[first, wcol] = float(np.nansum(weights.to_numpy(dtype=float)))
        rels.iat[first, dcol] = "\n".join(parts)
        rels.iat[first, ucol] = units
        for p in pos[1:]:
            rel_map[ids[p]] = ids[first]
            drop.append(p)
        changed.add(ids[first])
        if len(parts) > 1:
            notes[ids[first]] = parts
    if drop:
        rels = rels.drop(index=rels.index[drop])
    return rels, rel_map, notes


# -- refresh -----------------------------------------------------------------------------------


def refresh(index: Any, *, llm: Any = None, embedding_model: Any = None,
            cache_dir: Any = DEFAULT_CACHE_DIR, concurrency: int | str = "auto", retries: int = 3,
            retry_backoff: float = 1.0, prompts: Any = None, progress: Any = True,
            kinds: tuple[str, ...] = ("descriptions", "reports", "embeddings")) -> Refreshed:
    """Redo what ``idx.meta["stale"]`` lists (see :meth:`GraphIndex.refresh`)."""
    from .cache import DiskCache
    from .progress import Accounting, Progress
    from .scheduler import thread_count

    concurrency = thread_count(concurrency)
    stale = index.meta.get("stale") or {}
    done = Refreshed()
    if not stale:
        return done
    method = index.meta.get("method", "standard")
    settings = index.meta.get("settings") or {}
    acc = Accounting()
    prog = Progress(progress)
    cache = DiskCache(cache_dir)
    chats: list[Any] = []

    def chat() -> Any:  # resolved on first need: a refresh of embeddings needs no LLM
        if not chats:
            chats.append(_chat_for(index, llm, method, cache, acc, retries, retry_backoff))
        return chats[0]

    if "descriptions" in kinds and (stale.get("entity_descriptions")
                                    or stale.get("relationship_descriptions")):
        done.descriptions = _refresh_descriptions(index, chat, method, settings, prompts,
                                                  concurrency, prog, acc)
    if "reports" in kinds and index.meta.get("stale", {}).get("community_reports"):
        done.reports = _refresh_reports(index, chat, method, settings, prompts, concurrency,
                                        prog, acc)
    if "embeddings" in kinds and index.meta.get("stale", {}).get("embeddings"):
        done.embeddings = _refresh_embeddings(index, embedding_model, cache, acc, retries,
                                              retry_backoff, concurrency, prog)
    done.stats = acc.table()
    return done


def _chat_for(index: Any, llm: Any, method: str, cache: Any, acc: Any, retries: int,
              backoff: float) -> Any:
    from .cache import CachedChat
    from .llm import LMStudioChat, resolve_chat

    model = resolve_chat(llm if llm is not None else index.meta.get("llm"))
    if model is None and method != "fast":
        model = LMStudioChat(None)  # like the build and the queries: the loaded LLM
    return CachedChat(model, cache, acc, retries, backoff) if model is not None else None


def _set_stale(index: Any, kind: str, value: Any) -> None:
    meta = dict(index.meta)
    stale = dict(meta.get("stale") or {})
    if value:
        stale[kind] = value
    else:
        stale.pop(kind, None)
    if stale:
        meta["stale"] = stale
    else:
        meta.pop("stale", None)
    index.meta = meta


def _mark_embeddings(index: Any, name: str, ids: Iterable[str]) -> None:
    if name not in index.embeddings:
        return
    emb = {k: list(v) for k, v in (index.meta.get("stale", {}).get("embeddings") or {}).items()}
    emb[name] = list(dict.fromkeys([*emb.get(name, []), *ids]))
    _set_stale(index, "embeddings", {k: v for k, v in emb.items() if v})


def alias_map(index: Any) -> dict[str, str]:
    """Every surface form of an entity (its title, and names merged into it) -> its title."""
    titles = [str(t) for t in index.entities["title"]]
    out = {t: t for t in titles}
    for title, forms in (index.meta.get("aliases") or {}).items():
        if title in out:
            for f in forms:
                out.setdefault(str(f), title)
    return out


def _refresh_descriptions(index: Any, chat: Any, method: str, settings: dict[str, Any],
                          prompts: Any, concurrency: int, prog: Any, acc: Any) -> int:
    import time

    st = index.meta["stale"]
    ent_items = dict(st.get("entity_descriptions") or {})
    rel_items = dict(st.get("relationship_descriptions") or {})
    ents, rels = index.entities.copy(), index.relationships.copy()
    e_pos = {str(i): p for p, i in enumerate(_strs(ents["id"]))}
    r_pos = {str(i): p for p, i in enumerate(_strs(rels["id"]))}
    ent_items = {k: v for k, v in ent_items.items() if k in e_pos}
    rel_items = {k: v for k, v in rel_items.items() if k in r_pos}
    aliases = index.meta.get("aliases") or {}
    t0 = time.perf_counter()
    if method == "fast":
        from .fast import describe_entities, describe_relationship

        sub = ents.iloc[[e_pos[i] for i in ent_items]]
        new_e = dict(zip(ent_items, describe_entities(sub, index.text_units, aliases=aliases),
                         strict=True))
        text_of = dict(zip(index.text_units["id"], index.text_units["text"], strict=True))
        new_r = {}
        for rid in rel_items:
            p = r_pos[rid]
            new_r[rid] = describe_relationship(
                str(rels["source"].iloc[p]), str(rels["target"].iloc[p]),
                _list(rels["text_unit_ids"].iloc[p]), text_of, aliases=aliases)
        acc.wall("describe (no LLM)", time.perf_counter() - t0)
    else:
        new_e, new_r = _llm_descriptions(index, ents, rels, e_pos, r_pos, ent_items, rel_items,
                                         chat(), settings, prompts, concurrency, prog, acc)
    dcol = ents.columns.get_loc("description")
    for i, d in new_e.items():
        if d:
            ents.iat[e_pos[i], dcol] = d
    dcol = rels.columns.get_loc("description")
    for i, d in new_r.items():
        if d:
            rels.iat[r_pos[i], dcol] = d
    index.entities, index.relationships = ents, rels
    _set_stale(index, "entity_descriptions", {})
    _set_stale(index, "relationship_descriptions", {})
    _mark_embeddings(index, "entity_description", list(ent_items))
    return len(ent_items) + len(rel_items)


def _llm_descriptions(index: Any, ents: pd.DataFrame, rels: pd.DataFrame, e_pos: dict[str, int],
                      r_pos: dict[str, int], ent_items: dict[str, list[str]],
                      rel_items: dict[str, list[str]], chat: Any, settings: dict[str, Any],
                      prompts: Any, concurrency: int, prog: Any, acc: Any
                      ) -> tuple[dict[str, str], dict[str, str]]:
    """Summaries of the descriptions an edit joined; descriptions that lost sources are first
    re-derived from their remaining text units (the build's own extraction calls, so the LLM
    cache answers them for an index lmsnb built)."""
    from .extract import DEFAULT_ENTITY_TYPES, load_prompt
    from .settings import build_configs
    from .summarize import Item, summarize

    configs = build_configs(index.meta.get("model_settings"))  # the build's: the cache answers
    e_desc = {i: list(v) for i, v in ent_items.items()}
    r_desc = {i: list(v) for i, v in rel_items.items()}
    redo_e = [i for i, v in ent_items.items() if not v]
    redo_r = [i for i, v in rel_items.items() if not v]
    if redo_e or redo_r:
        from .build import _extract
        from .scheduler import Scheduler

        units: set[str] = set()
        for i in redo_e:
            units.update(_list(ents["text_unit_ids"].iloc[e_pos[i]]))
        for i in redo_r:
            units.update(_list(rels["text_unit_ids"].iloc[r_pos[i]]))
        tu = index.text_units[index.text_units["id"].isin(units)]
        with Scheduler([chat.model], concurrency, prog) as sched:
            results = _extract(chat, tu, settings.get("entity_types", DEFAULT_ENTITY_TYPES),
                               settings.get("gleaning", "auto"), prompts, sched, prog, acc, {},
                               configs=configs)
        form = alias_map(index)
        found_e: dict[str, list[str]] = {}
        found_r: dict[tuple[str, ...], list[str]] = {}
        for _uid, res in results:
            for e in res.entities:
                t = form.get(e["title"])
                if t is not None and e["description"]:
                    found_e.setdefault(t, []).append(e["description"])
            for r in res.relationships:
                s, t = form.get(r["source"]), form.get(r["target"])
                if s is not None and t is not None and s != t and r["description"]:
                    found_r.setdefault(tuple(sorted((s, t))), []).append(r["description"])
        for i in redo_e:
            e_desc[i] = found_e.get(str(ents["title"].iloc[e_pos[i]]), [])
        for i in redo_r:
            p = r_pos[i]
            key = tuple(sorted((str(rels["source"].iloc[p]), str(rels["target"].iloc[p]))))
            r_desc[i] = found_r.get(key, [])
    template = load_prompt("summarize_descriptions", prompts)
    stage = prog.stage("summarize_descriptions", 0)
    kw = dict(max_length=settings.get("summary_max_length", 500),
              threshold_tokens=settings.get("summary_threshold_tokens", 200),
              concurrency=concurrency, progress=stage, stage="summarize_descriptions",
              config=configs["summarize"])
    new_e = summarize([Item(i, str(ents["title"].iloc[e_pos[i]]), d)
                       for i, d in e_desc.items() if d], chat, template, **kw)
    new_r = summarize([Item(i, f"{rels['source'].iloc[r_pos[i]]} -> "
                               f"{rels['target'].iloc[r_pos[i]]}", d)
                       for i, d in r_desc.items() if d], chat, template, **kw)
    stage.total = stage.done
    acc.wall("summarize_descriptions", stage.finish())
    return new_e, new_r


def _refresh_reports(index: Any, chat: Any, method: str, settings: dict[str, Any],
                     prompts: Any, concurrency: int, prog: Any, acc: Any) -> int:
    from .extract import load_prompt
    from .reports import create_reports
    from .settings import build_configs

    wanted = set(int(c) for c in index.meta["stale"]["community_reports"])
    com = index.communities
    rows = com[_num(com["community"]).isin(wanted)]
    mode = "text" if method == "fast" else "graph"
    template = load_prompt("community_report_text" if mode == "text" else "community_report",
                           prompts)
    stage = prog.stage("community_reports", len(rows))
    fresh = create_reports(rows, index.entities, index.relationships, index.text_units, chat(),
                           template, mode=mode,
                           max_input_tokens=settings.get("report_max_input_tokens", 8000),
                           max_length=settings.get("report_max_length", 2000),
                           concurrency=concurrency, progress=stage, failures=[],
                           config=build_configs(index.meta.get("model_settings"))["reports"])
    acc.wall("community_reports", stage.finish())
    reps = index.community_reports.copy()
    pos = {int(c): p for p, c in enumerate(_num(reps["community"]))}
    add = []
    changed = []
    for _, row in fresh.iterrows():
        c = int(row["community"])
        if c in pos:
            p = pos[c]
            for col in fresh.columns:
                if col not in ("id", "human_readable_id") and col in reps.columns:
                    reps.iat[p, reps.columns.get_loc(col)] = row[col]
            changed.append(str(reps["id"].iloc[p]))
        else:
            add.append(row)
            changed.append(str(row["id"]))
    if add:
        reps = pd.concat([reps, pd.DataFrame(add)], ignore_index=True)
    for col, typ in (("rank", "float64"), ("size", "int64"), ("level", "int64")):
        if col in reps:
            reps[col] = reps[col].astype(typ)
    index.community_reports = reps
    _set_stale(index, "community_reports", [])
    _mark_embeddings(index, "community_full_content", changed)
    return len(fresh)


def _refresh_embeddings(index: Any, embedding_model: Any, cache: Any, acc: Any, retries: int,
                        backoff: float, concurrency: int, prog: Any) -> int:
    from .cache import CachedEmbedder
    from .embed_index import batches, embedding_texts
    from .llm import resolve_embedder
    from .progress import run_parallel

    wanted = index.meta["stale"]["embeddings"]
    key = embedding_model if embedding_model is not None else index.embedding_model
    if key is None:
        raise GraphIndexError("The index does not say which model made its embeddings",
                              hint="pass the model: idx.refresh(embedding_model='...')")
    model = resolve_embedder(key)
    index.check_embedder(getattr(model, "key", None), None)
    emb = CachedEmbedder(model, cache, acc, retries, backoff)
    sets = embedding_texts(index)
    jobs: list[tuple[str, list[str], list[str]]] = []
    for name, ids in wanted.items():
        if name not in index.embeddings or name not in sets:
            continue
        all_ids, texts = sets[name]
        text_of = dict(zip(map(str, all_ids), texts, strict=True))
        todo = [i for i in ids if i in text_of]
        for b in batches([text_of[i] for i in todo], 16, 8191):
            jobs.append((name, [todo[k] for k in b], [text_of[todo[k]] for k in b]))
    stage = prog.stage("embeddings", len(jobs))
    vecs = run_parallel(lambda j: emb.embed("embeddings", j[2]), jobs, concurrency, stage)
    acc.wall("embeddings", stage.finish())
    n = 0
    new: dict[str, dict[str, np.ndarray]] = {}
    for (name, ids, _), v in zip(jobs, vecs, strict=True):
        for i, row in zip(ids, v, strict=True):
            new.setdefault(name, {})[i] = np.asarray(row, dtype=np.float32)
            n += 1
    for name, got in new.items():
        index.check_embedder(getattr(model, "key", None),
                             int(next(iter(got.values())).shape[0]))
        df = index.embeddings[name]
        have = set(_strs(df["id"]))
        col = [got.get(str(i), v) for i, v in zip(df["id"], df["embedding"], strict=True)]
        out = pd.DataFrame({"id": df["id"].to_numpy(), "embedding": col})
        extra = [i for i in got if i not in have]
        if extra:
            out = pd.concat([out, pd.DataFrame({"id": extra, "embedding": [got[i] for i in extra]})],
                            ignore_index=True)
        index.embeddings = {**index.embeddings, name: out}
    _set_stale(index, "embeddings", {})
    return n


# -- update(): changed and removed documents, and edits applied again -----------------------------


@dataclass
class DocumentChanges:
    """How a new set of documents differs from the index's (``update()``)."""

    added: pd.DataFrame
    changed: pd.DataFrame  # the new versions
    replaced: list[str]  # ids of the versions they replace
    removed: list[str]
    unchanged: int
    kept_missing: int = 0  # index documents not passed, kept (remove_missing=False)

    def __bool__(self) -> bool:
        return bool(len(self.added) or len(self.changed) or self.removed)

    def describe(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed",
                 f"{len(self.removed)} removed", f"{self.unchanged} unchanged"]
        note = (f"; {self.kept_missing} not given and kept (remove_missing=True removes them)"
                if self.kept_missing else "")
        return "documents: " + ", ".join(parts) + note


def document_changes(index: Any, new: pd.DataFrame, *,
                     removable: set[str] | None = None) -> DocumentChanges:
    """Compare by content hash (the document id) and by name: a document from a file the index
    has read (``source``), or with a title it has that the input gave (not the ``document N`` of
    a plain string), but with other text, is changed. Index documents ``new`` lacks are removed
    when ``removable`` (ids) has them; ``removable=None``: all of them."""
    old = index.documents
    old_ids = old["id"].astype(str).tolist()
    old_set = set(old_ids)
    by_name: dict[Any, str] = {}
    for i, key in zip(old_ids, _document_keys(old), strict=True):
        if key is not None:
            by_name.setdefault(key, i)
    seen: set[str] = set()
    added, changed, replaced = [], [], []
    for pos, (i, key) in enumerate(zip(_strs(new["id"]), _document_keys(new),
                                       strict=True)):
        # a file matches the index's document from that file, or else one with its title and
        # no file recorded (an index GraphRAG wrote, whose titles are the file names)
        names = [key, ("title", key[2])] if key is not None and key[0] == "file" else [key]
        hit = next((by_name[k] for k in names if k is not None and k in by_name
                    and by_name[k] not in seen), None)
        if i in old_set:
            seen.add(i)
        elif hit is not None:
            seen.add(hit)
            changed.append(pos)
            replaced.append(hit)
        else:
            added.append(pos)
    missing = [i for i in old_ids if i not in seen]
    removed = [i for i in missing if removable is None or i in removable]
    return DocumentChanges(added=new.iloc[added].reset_index(drop=True),
                           changed=new.iloc[changed].reset_index(drop=True),
                           replaced=replaced, removed=removed,
                           unchanged=len(seen) - len(replaced),
                           kept_missing=len(missing) - len(removed))


def _document_keys(docs: pd.DataFrame) -> list[Any]:
    """What names each document: its file (and title, for a file of many rows), else a title
    the input gave; None for a plain string (``document 3`` is its position, not a name)."""
    import re

    titles = docs["title"].astype(str).tolist() if "title" in docs else [""] * len(docs)
    sources = docs["source"].tolist() if "source" in docs else [None] * len(docs)
    keys: list[Any] = []
    for title, src in zip(titles, sources, strict=True):
        if src is not None and not (isinstance(src, float) and src != src) and str(src):
            keys.append(("file", str(src), title))
        elif title and not re.fullmatch(r"document \d+", title):
            keys.append(("title", title))
        else:
            keys.append(None)
    return keys


def replay(index: Any, edits: list[dict[str, Any]]) -> int:
    """Apply recorded entity edits again (after a rebuild): merges, renames and deletions of
    names that exist now. Returns how many applied; ``meta["edits"]`` keeps ``edits``."""
    applied = 0
    for op in edits or []:
        titles = set(_strs(index.entities["title"]))
        kind = op.get("op")
        if kind == "merge":
            into = op["into"]
            present = [t for t in dict.fromkeys([into, *op["entities"]]) if t in titles]
            if len(present) >= 2:
                merge_entities(index, present, into=into)
            elif present and present[0] != into:
                rename_entity(index, present[0], into)
            else:
                continue
        elif kind == "rename":
            if op["old"] not in titles:
                continue
            if op["new"] in titles:
                merge_entities(index, [op["old"], op["new"]], into=op["new"])
            else:
                rename_entity(index, op["old"], op["new"])
        elif kind == "delete_entities":
            present = [t for t in op["entities"] if t in titles]
            if not present:
                continue
            delete_entities(index, present)
        else:
            continue
        applied += 1
    index.meta = {**index.meta, "edits": list(edits or [])}
    if not index.meta["edits"]:
        index.meta.pop("edits")
    return applied
