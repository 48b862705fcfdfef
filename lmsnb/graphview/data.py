"""The index's tables as the graph view needs them: normalised once, odd rows made drawable.

People's indexes are odd in ways nobody plans for: weights that are negative (PMI), zero, NaN or
infinite; relationships naming entities the table lacks (Microsoft GraphRAG's own output has
them); duplicate, empty or very long titles; communities with stray ids; columns of the wrong
dtype after a user's own pandas edits. Nothing here raises on such rows: each is clamped,
skipped or kept apart, and counted once in :attr:`Graph.notes`, which the view shows as one
line each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..graphrag import sanity
from ..graphrag.sanity import id_list as ids_of  # a list cell in any form (sanity's rule)

NO_COMMUNITY = -1
ENTITY_COLUMNS = ["id", "title", "type", "description", "degree", "text_unit_ids",
                  "human_readable_id", "mention"]
RELATIONSHIP_COLUMNS = ["id", "source", "target", "weight", "description", "text_unit_ids",
                        "human_readable_id"]


def table(idx: Any, name: str) -> pd.DataFrame | None:
    """``idx.<name>`` or ``idx[name]`` when it is a DataFrame (indexes are duck-typed)."""
    value = idx.get(name) if isinstance(idx, Mapping) else getattr(idx, name, None)
    return value if isinstance(value, pd.DataFrame) else None


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clip(text: Any, n: int) -> str:
    """One line for a label, legend or caption: missing values are blank, whitespace runs are
    one space, control characters go (fonts and XML refuse them), long ones end in "…"."""
    s = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    s = _CONTROL.sub("", " ".join(s.split()))
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


_ints = sanity.ints  # whole numbers from a column of any dtype ("3", 3.0, None -> default)
_text = sanity.text  # a column as text, missing cells ""


class Graph:
    """Entities, relationships and communities, normalised for drawing.

    ``entities`` has one row per drawable node (``mention`` marks names that only relationships
    use); ``relationships`` carries ``src``/``dst`` entity ids and ``w``, a positive finite weight
    for layout and line width (``weight`` keeps the value the index has). ``comm`` has one row
    per community: level, parent, children, members, title, summary, rank.
    """

    def __init__(self, idx: Any = None) -> None:
        if idx is not None and table(idx, "entities") is None \
                and table(idx, "relationships") is None:
            from ..errors import GraphIndexError

            what = f"the string {idx!r}" if isinstance(idx, str) else f"a {type(idx).__name__}"
            raise GraphIndexError(f"GraphView needs a GraphRAG index, not {what}",
                                  hint="pass the index itself, e.g. GraphView(idx) with idx "
                                       "from build_index or GraphIndex.from_parquet(folder)")
        self.communities = table(idx, "communities") if idx is not None else None
        self.reports = table(idx, "community_reports") if idx is not None else None
        self.text_units = table(idx, "text_units") if idx is not None else None
        self._ent = pd.DataFrame(columns=ENTITY_COLUMNS)
        self._rel = pd.DataFrame(columns=RELATIONSHIP_COLUMNS)
        self.add(table(idx, "entities") if idx is not None else None,
                 table(idx, "relationships") if idx is not None else None, replace=True)

    # -- loading --------------------------------------------------------------------------
    def add(self, entities: pd.DataFrame | None, relationships: pd.DataFrame | None,
            replace: bool = False) -> None:
        """Merge a batch (rows with a known id replace the old ones) and recompute."""
        self.notes: dict[str, str] = {}
        ent = self._norm_entities(entities)
        rel = self._norm_relationships(relationships)
        if not replace:
            ent = pd.concat([self._ent, ent], ignore_index=True)
            rel = pd.concat([self._rel, rel], ignore_index=True)
        dup = ent["id"].duplicated(keep="last")
        if dup.any() and replace:
            self._note("dup_ids", int(dup.sum()), "entity id appears twice (the last row is drawn)",
                       "entity ids appear twice (the last rows are drawn)")
        ent = ent[~dup & ~ent["mention"].astype(bool)]  # mentions are recomputed below
        rel = rel.drop_duplicates("id", keep="last")
        self._ent, self._rel = ent.reset_index(drop=True), rel.reset_index(drop=True)
        self._index(ent, rel)

    def _index(self, ent: pd.DataFrame, rel: pd.DataFrame) -> None:
        exact: dict[str, str] = {}
        upper: dict[str, str] = {}
        for i, title in zip(ent["id"], ent["title"], strict=True):  # exact, then folded (sanity)
            exact.setdefault(title, i)
            upper.setdefault(sanity.title_key(title), i)
        shared = len(ent) - len(exact)
        if shared:
            self._note("dup_titles", shared, "title is shared by two entities "
                       "(relationships attach to the first)", "titles are shared by several "
                       "entities (relationships attach to the first)")
        # names that only relationships use become "mention" nodes, drawn apart and counted apart
        ends = pd.concat([rel["source"], rel["target"]]).unique()
        missing = sorted(x for x in ends if x not in exact and sanity.title_key(x) not in upper)
        if missing:
            self._note("mentions", len(missing), "name appears only in relationships (drawn "
                       "hollow, counted apart)", "names appear only in relationships (drawn "
                       "hollow, counted apart)")
            extra = self._norm_entities(pd.DataFrame({"title": missing}))
            extra["mention"] = True
            ent = pd.concat([ent, extra], ignore_index=True)
            for i, title in zip(extra["id"], extra["title"], strict=True):
                exact.setdefault(title, i)
                upper.setdefault(sanity.title_key(title), i)
        self.entities = ent.reset_index(drop=True)
        self.by_title = upper
        self._exact = exact

        def endpoint(col: pd.Series) -> pd.Series:
            return col.map(exact).fillna(col.map(sanity.title_key).map(upper))

        rel = rel.assign(src=endpoint(rel["source"]), dst=endpoint(rel["target"]))
        rel["w"] = self._draw_weights(rel["weight"])
        self.relationships = rel.reset_index(drop=True)
        computed = pd.concat([rel["src"], rel["dst"]]).value_counts()
        computed = self.entities["id"].map(computed).fillna(0).astype(np.int64)
        given = pd.to_numeric(self.entities["degree"], errors="coerce")
        given = given.where(np.isfinite(given.astype(float)) & (given >= 0))
        self.entities["degree"] = given.fillna(computed).astype(np.int64)
        self.row = {i: k for k, i in enumerate(self.entities["id"])}
        self.relationships["s"] = self.relationships["src"].map(self.row).astype(np.int64)
        self.relationships["d"] = self.relationships["dst"].map(self.row).astype(np.int64)
        self._membership_cache: dict[int, pd.Series] = {}
        self.comm = self._communities()

    def _note(self, key: str, n: int, one: str, many: str) -> None:
        self.notes[key] = f"{n:,} {one if n == 1 else many}"

    def _norm_entities(self, df: pd.DataFrame | None) -> pd.DataFrame:
        df = pd.DataFrame(columns=["title"]) if df is None else df.copy()
        if "title" not in df and "entity" in df:
            df["title"] = df["entity"]
        if "title" not in df:
            df["title"] = df["id"] if "id" in df else ""
        df["title"] = _text(df["title"]).str.strip()
        if "id" not in df:
            df["id"] = df["title"]
        df["id"] = _text(df["id"]).str.strip()
        nameless = (df["title"] == "") & (df["id"] == "")
        if nameless.any():
            self._note("nameless", int(nameless.sum()), "entity has neither title nor id "
                       "(skipped)", "entities have neither title nor id (skipped)")
            df = df[~nameless].copy()
        untitled = df["title"] == ""
        if untitled.any():
            self._note("untitled", int(untitled.sum()), "entity has no title (shown as its id)",
                       "entities have no title (shown by their ids)")
            df.loc[untitled, "title"] = df.loc[untitled, "id"]
        for col in ("type", "description"):
            df[col] = _text(df[col]) if col in df else ""
        for col in ("degree", "text_unit_ids", "human_readable_id"):
            if col not in df:
                df[col] = None
        df["mention"] = False
        return df[ENTITY_COLUMNS]

    def _norm_relationships(self, df: pd.DataFrame | None) -> pd.DataFrame:
        df = pd.DataFrame(columns=["source", "target"]) if df is None else df.copy()
        if "source" not in df or "target" not in df:
            df = df.assign(source=df.get("source"), target=df.get("target")).iloc[:0]
        for col in ("source", "target"):
            df[col] = _text(df[col]).str.strip()
        open_end = (df["source"] == "") | (df["target"] == "")
        if open_end.any():
            self._note("open_end", int(open_end.sum()), "relationship has no source or target "
                       "(skipped)", "relationships have no source or target (skipped)")
            df = df[~open_end].copy()
        if "id" not in df:
            df["id"] = df["source"] + "->" + df["target"]
        df["id"] = _text(df["id"])
        df["weight"] = sanity.numbers(df["weight"]) if "weight" in df else 1.0
        for col in ("description", "text_unit_ids", "human_readable_id"):
            if col not in df:
                df[col] = None
        df["description"] = _text(df["description"])
        return df[RELATIONSHIP_COLUMNS]

    def _draw_weights(self, weight: pd.Series) -> pd.Series:
        """Positive finite weights for layout and width; the odd ones are counted once.

        Missing weights are GraphRAG's default 1; weights <= 0 (a PMI score, an edit) draw as the
        thinnest line there is, +inf as the thickest.
        """
        w = sanity.weights(weight)  # the rule validate() reports and the queries rank by
        nan, bad, pos_inf = w.missing, w.nonpositive, w.infinite
        if nan.any():
            self._note("w_nan", int(nan.sum()), "relationship has no numeric weight (drawn as 1)",
                       "relationships have no numeric weight (drawn as 1)")
        if bad.any():
            self._note("w_low", int(bad.sum()), "relationship weight is ≤ 0 (drawn thinnest)",
                       "relationship weights are ≤ 0 (drawn thinnest)")
        if pos_inf.any():
            self._note("w_inf", int(pos_inf.sum()), "relationship weight is infinite (drawn "
                       "thickest)", "relationship weights are infinite (drawn thickest)")
        # summable: the community overview sums the weights between two communities
        return pd.Series(w.summable(), index=weight.index)

    def _communities(self) -> pd.DataFrame:
        """One row per community: level, parent, children, members, title, summary, rank."""
        cols = ["level", "parent", "children", "members", "title", "summary", "rank"]
        c = self.communities
        if c is None or c.empty or "community" not in c:
            return pd.DataFrame(columns=cols, index=pd.Index([], dtype=np.int64))
        # rows without a whole community number or level are skipped (sanity: no_number)
        ok = sanity.whole(c["community"]).notna() & \
            sanity.whole(c["level"] if "level" in c else [0] * len(c)).ge(0).to_numpy()
        if not ok.all():
            self._note("bad_comm", int((~ok).sum()), "community row has no community number "
                       "or level (skipped)", "community rows have no community number or "
                       "level (skipped)")
        c = c[ok.to_numpy()]
        out = pd.DataFrame({
            "level": _ints(c["level"] if "level" in c else 0, 0),
            "parent": _ints(c["parent"] if "parent" in c else -1, -1),
            "children": [[int(x) for x in pd.to_numeric(pd.Series(ids_of(v), dtype=object),
                                                        errors="coerce").dropna()]
                         for v in (c["children"] if "children" in c else [None] * len(c))],
            "members": [[i for i in ids_of(v) if i in self.row]
                        for v in (c["entity_ids"] if "entity_ids" in c else [None] * len(c))],
            "title": _text(c["title"]).to_numpy() if "title" in c else "",
            "summary": "", "rank": np.nan,
        }, index=_ints(c["community"], 0))
        out = out[~out.index.duplicated()]
        out.loc[out["title"] == "", "title"] = [f"Community {i}" for i in
                                                 out.index[out["title"] == ""]]
        r = self.reports
        if r is not None and not r.empty and "community" in r:
            r = r[sanity.whole(r["community"]).notna().to_numpy()]
            r = r.set_index(_ints(r["community"], 0))
            r = r[~r.index.duplicated()]
            hit = out.index.intersection(r.index)
            if "title" in r:
                titles = _text(r.loc[hit, "title"])
                keep = titles != ""
                out.loc[hit[keep.to_numpy()], "title"] = titles[keep].to_numpy()
            if "summary" in r:
                out.loc[hit, "summary"] = _text(r.loc[hit, "summary"]).to_numpy()
            if "rank" in r:
                out.loc[hit, "rank"] = sanity.numbers(r.loc[hit, "rank"]).to_numpy()
        return out

    # -- questions the view asks ------------------------------------------------------------
    @property
    def levels(self) -> list[int]:
        return sorted(int(x) for x in self.comm["level"].unique()) or [0]

    @property
    def has_communities(self) -> bool:
        return bool(len(self.comm)) and any(len(m) for m in self.comm["members"])

    def entity_id(self, title: str) -> str | None:
        s = str(title)
        return self._exact.get(s) or self.by_title.get(sanity.title_key(s))

    def induced(self, ids: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
        """(entity rows of ``ids``, the relationships between two of them)."""
        rows = np.fromiter((self.row[i] for i in ids), np.int64, len(ids))
        mask = np.zeros(len(self.entities), bool)
        mask[rows] = True
        rel = self.relationships
        return rows, rel[mask[rel["s"].to_numpy()] & mask[rel["d"].to_numpy()]]

    def membership(self, level: int) -> pd.Series:
        """entity id -> its community at ``level``, or at the deepest level above it."""
        if level not in self._membership_cache:
            m = pd.Series(NO_COMMUNITY, index=self.entities["id"], dtype=np.int64)
            m = m[~m.index.duplicated()]
            for lv in [x for x in self.levels if x <= level]:
                rows = self.comm[self.comm["level"] == lv]
                pairs = [(i, cid) for cid, mem in zip(rows.index, rows["members"], strict=True)
                         for i in mem]
                if pairs:
                    ids, cids = zip(*pairs, strict=True)
                    m.loc[list(ids)] = list(cids)
            self._membership_cache[level] = m
        return self._membership_cache[level]

    def members(self, cid: int) -> list[str]:
        """Entity ids of community ``cid`` (NO_COMMUNITY: those in no top-level community)."""
        if cid == NO_COMMUNITY:
            m = self.membership(self.levels[0])
            return m.index[m == NO_COMMUNITY].tolist()
        return list(self.comm.at[cid, "members"]) if cid in self.comm.index else []

    def counts(self) -> tuple[int, int]:
        """(entities in the table, names only relationships use)."""
        mention = int(self.entities["mention"].sum())
        return len(self.entities) - mention, mention
