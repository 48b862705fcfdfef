"""Older Microsoft GraphRAG output folders, mapped onto today's tables (DESIGN.md contract).

What each release wrote (read from GraphRAG's own workflows, its ``docs/index/outputs.md`` and
``index_migration_to_v1/v2/v3`` notebooks, and the parquet files in its ``tests/verbs/data`` at
each tag):

- **3.x** — ``documents``, ``text_units``, ... with the contract's columns (nothing to do).
- **2.x** — the same file names; ``text_units.document_ids`` (a list) instead of
  ``document_id``, ``documents.metadata`` instead of ``raw_data``, no ``creation_date`` in 2.0,
  ``community_reports.rank_explanation`` before 2.x renamed it ``rating_explanation``.
- **1.x** — ``create_final_<table>.parquet`` plus ``create_final_nodes`` (one row per entity and
  community level: ``community``, ``level``, ``degree``, ``x``, ``y``); entities without
  ``frequency``/``degree``; communities and reports with ``parent`` but no ``children``;
  documents with an optional ``attributes`` dict.
- **0.5–0.9** — as 1.x, but communities and reports have no ``parent``.
- **0.3–0.4** (and earlier, under ``output/<timestamp>/artifacts``) — documents ``raw_content``
  and no ``human_readable_id``; entities ``name``; nodes ``community`` as a string and
  ``source_id`` as comma-joined text-unit ids; relationships ``rank`` (= combined degree) and a
  string ``human_readable_id``; communities whose ``id`` *is* the Leiden community number, no
  ``entity_ids``; reports with a string ``community`` and no ``human_readable_id``.

:func:`upgrade` renames, converts and derives what the contract needs and returns the list of
what it did; :func:`resolve_folder` finds the tables inside a pre-0.4 timestamped output folder.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..errors import GraphIndexError

LEGACY_PREFIX = "create_final_"
#: The tables GraphRAG 0.x/1.x wrote as ``create_final_<name>.parquet`` (``nodes`` is not part
#: of today's contract: it is read to derive degrees, membership and community parents).
LEGACY_TABLES = ("documents", "text_units", "entities", "relationships", "communities",
                 "community_reports", "covariates", "nodes")
_NS = uuid.UUID("5b7c1f4e-3d1a-4c55-9a3e-0b6f0e7d2c11")  # deterministic ids for derived rows

#: Columns a table must already have (under its current or an older name) to be GraphRAG's;
#: everything else in the contract can be derived or defaulted.
_ESSENTIAL: dict[str, tuple[tuple[str, ...], ...]] = {
    "documents": (("id",), ("text", "raw_content")),
    "text_units": (("id",), ("text",)),
    "entities": (("id",), ("title", "name")),
    "relationships": (("source",), ("target",)),
    "communities": (("community", "id"), ("level",)),
    "community_reports": (("community",), ("full_content",)),
    "covariates": (("subject_id",), ("text_unit_id",)),
}
_DROP = {
    "entities": ["name_embedding", "description_embedding", "graph_embedding"],
    "relationships": ["description_embedding", "source_degree", "target_degree"],
    "documents": ["raw_content_embedding"],
    "text_units": ["text_embedding"],
    "communities": ["raw_community"],
    "covariates": ["subject_type", "object_type", "document_ids", "n_tokens"],
}


def resolve_folder(folder: Path) -> tuple[Path, str | None]:
    """The folder that holds the tables: ``folder`` itself, its ``artifacts/``, or the newest
    ``<timestamp>/artifacts/`` below it (GraphRAG < 0.4 wrote ``output/<timestamp>/artifacts``)."""
    if any(folder.glob("*.parquet")):
        return folder, None
    if any((folder / "artifacts").glob("*.parquet")):
        return folder / "artifacts", None
    runs = sorted(p.parent for p in folder.glob("*/artifacts") if any(p.glob("*.parquet")))
    if runs:
        note = (f"using the newest run {runs[-1].name}/artifacts"
                + (f" of {len(runs)}" if len(runs) > 1 else ""))
        return runs[-1] / "artifacts", note
    return folder, None


def not_an_index(folder: Path, found: Iterable[str], required: Iterable[str]) -> GraphIndexError:
    """The one error for a folder that is neither a current nor an older GraphRAG output."""
    found = sorted(found)
    what = (f"found {', '.join(f + '.parquet' for f in found[:8])}"
            + (f" and {len(found) - 8} more" if len(found) > 8 else "")) if found \
        else "found no .parquet files"
    subdirs = sorted({p.parent.relative_to(folder).as_posix()
                      for p in folder.glob("*/**/*.parquet")})[:3]
    if not found and subdirs:
        what += f" (subfolders with parquet files: {', '.join(subdirs)})"
    return GraphIndexError(
        f"{folder} holds none of GraphRAG's tables: expected "
        f"{', '.join(t + '.parquet' for t in required)} (GraphRAG 2.x/3.x) or "
        f"{LEGACY_PREFIX}<table>.parquet (GraphRAG 0.x/1.x); {what}",
        hint="pass the GraphRAG 'output' folder (the one that holds entities.parquet)")


# --------------------------------------------------------------------------- helpers
def _ids(v: Any) -> list:
    """A list-ish cell (list, numpy array, comma-joined string, None/NaN) as a Python list."""
    if v is None:
        return []
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    if isinstance(v, (list, tuple, np.ndarray, pd.Series)):
        return [x for x in list(v) if x is not None and not (isinstance(x, float) and np.isnan(x))]
    if isinstance(v, float) and np.isnan(v):
        return []
    return [v]


def _int(v: Any, default: int = -1) -> int:
    try:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v == "":
            return default
        return int(float(v))
    except (TypeError, ValueError):
        return default


def _uid(kind: str, key: Any) -> str:
    return str(uuid.uuid5(_NS, f"{kind}:{key}"))


def _graph_degrees(rel: pd.DataFrame) -> Counter:
    """Node degree of the undirected graph the relationships make (GraphRAG's ``degree``)."""
    pairs = {frozenset((s, t)) for s, t in zip(rel["source"], rel["target"], strict=True)}
    deg: Counter = Counter()
    for p in pairs:
        for node in p:
            deg[node] += 1
    return deg


def _invert(df: pd.DataFrame, list_col: str, id_col: str = "id") -> dict[Any, list]:
    """``{member: [row ids]}`` from a list column (e.g. entity text_unit_ids -> per text unit)."""
    out: dict[Any, list] = {}
    if list_col not in df.columns:
        return out
    for rid, members in zip(df[id_col], df[list_col], strict=True):
        for m in _ids(members):
            out.setdefault(m, []).append(rid)
    return out


def normalise(df: pd.DataFrame, name: str, columns: list[str]) -> pd.DataFrame:
    """Contract columns first, and the dtypes a GraphRAG parquet file loads with (the table goes
    through the same Arrow types :meth:`GraphIndex.to_parquet` writes)."""
    from .index import _to_arrow

    df = df[[*columns, *[c for c in df.columns if c not in columns]]].reset_index(drop=True)
    buf = io.BytesIO()
    pq.write_table(_to_arrow(df, name), buf)
    buf.seek(0)
    return pd.read_parquet(buf)


# --------------------------------------------------------------------------- upgrade
class _Upgrade:
    def __init__(self, tables: dict[str, pd.DataFrame], nodes: pd.DataFrame | None) -> None:
        self.t = {k: v.copy() for k, v in tables.items()}
        self.nodes = nodes
        self.log: list[str] = []
        self.touched: set[str] = set()

    def did(self, table: str, what: str) -> None:
        self.log.append(f"{table}: {what}")
        self.touched.add(table)

    def rename(self, table: str, old: str, new: str) -> None:
        df = self.t[table]
        if old in df.columns and new not in df.columns:
            self.t[table] = df.rename(columns={old: new})
            self.did(table, f"{old} -> {new}")

    def fill(self, table: str, col: str, values: Any, why: str) -> None:
        self.t[table][col] = values
        self.did(table, f"{col} {why}")

    def lists(self, table: str, col: str) -> None:
        df = self.t[table]
        if col in df.columns and df[col].map(lambda v: isinstance(v, str)).any():
            df[col] = df[col].map(_ids)
            self.did(table, f"{col} split from comma-joined text")

    def ints(self, table: str, col: str) -> None:
        df = self.t[table]
        if col in df.columns and not pd.api.types.is_integer_dtype(df[col]):
            if df[col].map(lambda v: isinstance(v, str)).any():
                self.did(table, f"{col} text -> int")
            df[col] = df[col].map(_int).astype("int64")

    def hrid(self, table: str, base: pd.Series | None = None) -> None:
        df = self.t[table]
        if "human_readable_id" not in df.columns:
            self.fill(table, "human_readable_id",
                      np.arange(len(df)) if base is None else base.to_numpy(),
                      "numbered" if base is None else "= community")
        else:
            self.ints(table, "human_readable_id")

    def default(self, table: str, col: str, value: Any) -> None:
        df = self.t[table]
        if col not in df.columns:
            df[col] = [list(value) if isinstance(value, list) else value for _ in range(len(df))]
            self.did(table, f"{col} absent (left {'empty' if value in ([], '') else value})")

    # ----------------------------------------------------------------- tables
    def run(self) -> None:
        for name in list(self.t):
            for col in _DROP.get(name, []):
                if col in self.t[name].columns:
                    self.t[name] = self.t[name].drop(columns=col)
                    self.did(name, f"dropped {col}")
        self.entities()
        self.relationships()
        self.entity_graph_columns()
        self.text_units()
        self.documents()
        self.communities()
        self.reports()
        self.covariates()

    def entities(self) -> None:
        if "entities" not in self.t:
            return
        self.rename("entities", "name", "title")
        self.rename("entities", "source_id", "text_unit_ids")
        self.lists("entities", "text_unit_ids")
        self.hrid("entities")
        nodes = self.nodes
        for col, alts in (("type", ("type", "entity_type")), ("description", ("description",))):
            if col in self.t["entities"].columns:
                continue
            src = next((a for a in alts if nodes is not None and a in nodes.columns), None)
            if src:
                first = nodes.dropna(subset=[src]).groupby("id")[src].first()
                self.fill("entities", col, self.t["entities"]["id"].map(first),
                          f"from create_final_nodes.{src}")
        self.default("entities", "type", None)
        self.default("entities", "description", "")
        self.default("entities", "text_unit_ids", [])

    def relationships(self) -> None:
        if "relationships" not in self.t:
            return
        df = self.t["relationships"]
        if "id" not in df.columns:
            self.fill("relationships", "id",
                      [_uid("relationship", f"{s}|{t}") for s, t in zip(df["source"], df["target"],
                                                                       strict=True)],
                      "derived from source and target")
        self.rename("relationships", "rank", "combined_degree")
        self.lists("relationships", "text_unit_ids")
        self.hrid("relationships")
        self.default("relationships", "description", "")
        self.default("relationships", "weight", 1.0)
        self.default("relationships", "text_unit_ids", [])

    def entity_graph_columns(self) -> None:
        """degree / frequency on entities, combined_degree on relationships."""
        rel = self.t.get("relationships")
        deg = _graph_degrees(rel) if rel is not None else Counter()
        if "entities" in self.t:
            ents = self.t["entities"]
            if "degree" not in ents.columns:
                nodes = self.nodes
                if nodes is not None and {"id", "degree"} <= set(nodes.columns):
                    by_id = nodes.groupby("id")["degree"].first()
                    ents["degree"] = (ents["id"].map(by_id).astype("float64")
                                      .fillna(ents["title"].map(deg).astype("float64")).fillna(0))
                    self.did("entities", "degree from create_final_nodes")
                else:
                    self.fill("entities", "degree", ents["title"].map(deg).fillna(0),
                              "derived from relationships (edges per entity)")
                ents["degree"] = ents["degree"].astype("int64")
            if "frequency" not in ents.columns:
                self.fill("entities", "frequency",
                          ents["text_unit_ids"].map(lambda v: len(set(_ids(v)))),
                          "derived (number of text units)")
        if rel is not None and "combined_degree" not in rel.columns:
            self.fill("relationships", "combined_degree",
                      rel["source"].map(deg).fillna(0) + rel["target"].map(deg).fillna(0),
                      "derived (degree of source + degree of target)")

    def text_units(self) -> None:
        if "text_units" not in self.t:
            return
        tu = self.t["text_units"]
        self.rename("text_units", "relationships_ids", "relationship_ids")
        tu = self.t["text_units"]
        if "document_id" not in tu.columns:
            if "document_ids" in tu.columns:
                docs = tu["document_ids"].map(_ids)
                tu["document_id"] = docs.map(lambda d: d[0] if d else None)
                several = int((docs.map(len) > 1).sum())
                if not several:
                    del tu["document_ids"]
                self.did("text_units", "document_id = first of document_ids"
                         + (f" ({several} chunks name several documents: document_ids kept)"
                            if several else ""))
            elif "documents" in self.t and "text_unit_ids" in self.t["documents"].columns:
                owner = {u: d[0] for u, d in _invert(self.t["documents"], "text_unit_ids").items()}
                self.fill("text_units", "document_id", tu["id"].map(owner),
                          "from documents.text_unit_ids")
        self.hrid("text_units")
        if "n_tokens" not in tu.columns:
            from .tokens import estimate_tokens

            self.fill("text_units", "n_tokens", tu["text"].map(lambda s: estimate_tokens(s or "")),
                      "estimated")
        for col, table, key in (("entity_ids", "entities", "text_unit_ids"),
                                ("relationship_ids", "relationships", "text_unit_ids"),
                                ("covariate_ids", "covariates", "text_unit_id")):
            if col in tu.columns:
                if tu[col].isna().any():
                    tu[col] = tu[col].map(_ids)
                continue
            src = self.t.get(table)
            if src is not None and key in src.columns:
                inv = _invert(src, key)
                self.fill("text_units", col, tu["id"].map(lambda i, inv=inv: inv.get(i, [])),
                          f"derived from {table}.{key}")
            else:
                self.default("text_units", col, [])

    def documents(self) -> None:
        if "documents" not in self.t:
            return
        self.rename("documents", "raw_content", "text")
        self.rename("documents", "attributes", "raw_data")
        self.rename("documents", "metadata", "raw_data")
        docs = self.t["documents"]
        self.hrid("documents")
        if "title" not in docs.columns:
            self.fill("documents", "title", docs["id"].astype(str), "= id")
        if "text_unit_ids" not in docs.columns:
            tu = self.t.get("text_units")
            owned: dict[Any, list] = {}
            if tu is not None and "document_id" in tu.columns:
                for uid, did in zip(tu["id"], tu["document_id"], strict=True):
                    owned.setdefault(did, []).append(uid)
            self.fill("documents", "text_unit_ids", docs["id"].map(lambda d: owned.get(d, [])),
                      "derived from text_units.document_id")
        self.default("documents", "creation_date", None)
        self.default("documents", "raw_data", None)

    def _membership(self) -> pd.DataFrame | None:
        """(entity_id, title, community, level) rows, from nodes or communities.entity_ids."""
        nodes = self.nodes
        if nodes is not None and {"community", "level"} <= set(nodes.columns):
            m = nodes.loc[:, [c for c in ("id", "title", "community", "level")
                              if c in nodes.columns]].copy()
            m["community"] = m["community"].map(_int)
            m["level"] = m["level"].map(_int)
            m = m[m["community"] >= 0]
            if "id" not in m.columns and "entities" in self.t:
                m["id"] = m["title"].map(self.t["entities"].set_index("title")["id"])
            return m.rename(columns={"id": "entity_id"})
        com = self.t.get("communities")
        if com is not None and "entity_ids" in com.columns:
            m = com.loc[:, ["community", "level", "entity_ids"]].explode("entity_ids")
            return m.rename(columns={"entity_ids": "entity_id"}).dropna(subset=["entity_id"])
        return None

    def _parents(self, member: pd.DataFrame) -> dict[int, int]:
        """Each community's parent: the community one level up that holds most of its members."""
        key = "entity_id" if "entity_id" in member.columns else "title"
        at = {(lvl, e): c for e, c, lvl in zip(member[key], member["community"], member["level"],
                                               strict=True)}
        votes: dict[int, Counter] = {}
        level_of: dict[int, int] = {}
        for e, c, lvl in zip(member[key], member["community"], member["level"], strict=True):
            level_of[c] = lvl
            up = at.get((lvl - 1, e))
            if up is not None:
                votes.setdefault(c, Counter())[up] += 1
        return {c: (votes[c].most_common(1)[0][0] if c in votes else -1) for c in level_of}

    def communities(self) -> None:
        if "communities" not in self.t:
            return
        com = self.t["communities"]
        if "community" not in com.columns:  # GraphRAG < 0.5: id was the Leiden community number
            com["community"] = com["id"].map(_int)
            com["id"] = com["community"].map(lambda c: _uid("community", c))
            self.did("communities", "community = old id (the Leiden number); id regenerated")
        self.ints("communities", "community")
        self.ints("communities", "level")
        self.hrid("communities", base=com["community"])
        member = None
        if "entity_ids" not in com.columns:
            member = self._membership()
            by_c = (member.groupby("community")["entity_id"].agg(list).to_dict()
                    if member is not None else {})
            self.fill("communities", "entity_ids", com["community"].map(lambda c: by_c.get(c, [])),
                      "from create_final_nodes membership")
        if "parent" not in com.columns:
            member = member if member is not None else self._membership()
            parents = self._parents(member) if member is not None else {}
            self.fill("communities", "parent", com["community"].map(lambda c: parents.get(c, -1)),
                      "derived from community membership one level up")
        self.ints("communities", "parent")
        if "children" not in com.columns:
            kids = com[com["parent"] >= 0].groupby("parent")["community"].agg(sorted).to_dict()
            self.fill("communities", "children",
                      com["community"].map(lambda c: [int(k) for k in kids.get(c, [])]),
                      "derived from parent")
        rel = self.t.get("relationships")
        if {"relationship_ids", "text_unit_ids"} - set(com.columns) and rel is not None \
                and "entities" in self.t:
            title = self.t["entities"].set_index("id")["title"].to_dict()
            inside, units = [], []
            for ents in com["entity_ids"]:
                names = {title.get(e) for e in _ids(ents)}
                rows = rel[rel["source"].isin(names) & rel["target"].isin(names)]
                inside.append(list(rows["id"]))
                units.append(sorted({u for v in rows["text_unit_ids"] for u in _ids(v)}))
            if "relationship_ids" not in com.columns:
                self.fill("communities", "relationship_ids", inside,
                          "derived (relationships inside the community)")
            if "text_unit_ids" not in com.columns:
                self.fill("communities", "text_unit_ids", units,
                          "derived (text units of those relationships)")
        if "title" not in com.columns:
            self.fill("communities", "title", "Community " + com["community"].astype(str),
                      "= 'Community <n>'")
        if "size" not in com.columns:
            self.fill("communities", "size", com["entity_ids"].map(lambda v: len(_ids(v))),
                      "= number of entities")
        for col in ("relationship_ids", "text_unit_ids"):
            self.default("communities", col, [])
        self.default("communities", "period", None)

    def reports(self) -> None:
        if "community_reports" not in self.t:
            return
        rep = self.t["community_reports"]
        self.ints("community_reports", "community")
        self.rename("community_reports", "rank_explanation", "rating_explanation")
        rep = self.t["community_reports"]
        self.hrid("community_reports", base=rep["community"])
        if "id" not in rep.columns:
            self.fill("community_reports", "id", rep["community"].map(lambda c: _uid("report", c)),
                      "regenerated")
        com = self.t.get("communities")
        info = com.drop_duplicates("community").set_index("community") if com is not None \
            else pd.DataFrame()
        for col in ("level", "parent", "children", "size", "period"):
            if col not in rep.columns and col in info.columns:
                self.fill("community_reports", col, rep["community"].map(info[col]),
                          "from communities")
        if "parent" in rep.columns and rep["parent"].isna().any():
            member = self._membership()
            parents = self._parents(member) if member is not None else {}
            gaps = rep["parent"].isna()
            rep.loc[gaps, "parent"] = rep.loc[gaps, "community"].map(lambda c: parents.get(c, -1))
        if "children" in rep.columns:
            rep["children"] = rep["children"].map(lambda v: [int(k) for k in _ids(v)])
        for col, value in (("level", 0), ("parent", -1), ("children", []), ("title", ""),
                           ("summary", ""), ("rank", np.nan), ("rating_explanation", ""),
                           ("findings", []), ("full_content_json", ""), ("period", None),
                           ("size", 0)):
            self.default("community_reports", col, value)
        self.ints("community_reports", "parent")
        self.ints("community_reports", "level")

    def covariates(self) -> None:
        if "covariates" not in self.t:
            return
        cov = self.t["covariates"]
        if "id" not in cov.columns:
            self.fill("covariates", "id", [_uid("covariate", i) for i in range(len(cov))],
                      "regenerated")
        self.hrid("covariates")
        for col in ("covariate_type", "type", "description", "object_id", "status",
                    "start_date", "end_date", "source_text"):
            self.default("covariates", col, None)


def check_essentials(tables: dict[str, pd.DataFrame], where: dict[str, str]) -> None:
    """One :class:`GraphIndexError` listing every table whose file lacks the core columns."""
    problems = []
    for name, df in tables.items():
        lacking = [" or ".join(alts) for alts in _ESSENTIAL.get(name, ())
                   if not any(a in df.columns for a in alts)]
        if lacking:
            cols = ", ".join(map(str, df.columns[:12])) or "none"
            problems.append(f"{where.get(name, name)} lacks {', '.join(lacking)} "
                            f"(its columns: {cols})")
    if problems:
        raise GraphIndexError("Not a GraphRAG output table: " + "; ".join(problems),
                              hint="pass the folder GraphRAG wrote, or rebuild the index")


def upgrade(tables: dict[str, pd.DataFrame], nodes: pd.DataFrame | None,
            columns: dict[str, list[str]]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Map older GraphRAG tables onto the contract: ``(tables, what was done)``.

    ``tables`` holds the tables read from the folder (absent ones are left out); a table that
    already has every contract column in its final form is returned untouched.
    """
    up = _Upgrade(tables, nodes)
    up.run()
    out = {}
    for name, df in up.t.items():
        if name in up.touched:
            missing = [c for c in columns[name] if c not in df.columns]
            if missing:  # pragma: no cover - every contract column has a derivation or default
                raise GraphIndexError(f"Cannot convert {name}: no way to derive "
                                      f"{', '.join(missing)}")
            out[name] = normalise(df, name, columns[name])
        else:
            out[name] = tables[name]
    return out, up.log


def guess_version(legacy: bool, tables: dict[str, pd.DataFrame], log: list[str]) -> str:
    """A short guess at the GraphRAG release that wrote the folder."""
    if not legacy:
        if not log:
            return "3.x"
        marks = ("document_ids", "metadata -> raw_data", "rank_explanation")
        return "2.x" if any(m in line for line in log for m in marks) else "3.x (incomplete)"
    com = tables.get("communities")
    docs = tables.get("documents")
    if com is not None and "parent" in com.columns:
        return "1.x"
    if (com is not None and "community" not in com.columns) or \
            (docs is not None and "raw_content" in docs.columns):
        return "0.3-0.4"
    return "0.5-0.9"
