"""What every consumer of an index does with odd rows: the rules, in one place.

People's indexes are odd in ways nobody plans for: weights <= 0 (PMI), NaN or infinite;
relationships naming entities the table lacks (Microsoft GraphRAG's own output has some);
empty titles, duplicate titles, missing descriptions; ids that are floats or text after a
user's own pandas edits; list columns holding numpy arrays, tuples, None or NaN. The graph
view, the queries, the build and ``to_parquet`` read cells through the helpers here, and
:func:`findings` (``idx.validate()``) counts the rows each rule touches, with the consumers'
treatment in the same sentence, so the line a person reads is the reason a row was skipped.
"""

from __future__ import annotations

import ast
import html
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

#: titles longer than this are shortened in labels (and counted)
LONG_TITLE = 200
#: how many examples a finding quotes
EXAMPLES = 3


# ------------------------------------------------------------------------------------ cells
def is_missing(value: Any) -> bool:
    """None, NaN, ``pd.NA`` or ``NaT`` (what pandas leaves where a cell has no value)."""
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return value is pd.NA or value is pd.NaT


def text(values: Iterable[Any]) -> pd.Series:
    """A column as text: a missing cell is ``""`` (never "None" or "nan")."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    return s.astype(object).where(s.notna(), "").astype(str)


def blank(values: Iterable[Any]) -> np.ndarray:
    """True where a cell is missing or only whitespace."""
    return (text(values).str.strip() == "").to_numpy()


def numbers(values: Iterable[Any]) -> pd.Series:
    """A column as float64: numbers, and numbers written as text ("0.5", "inf", "3"), kept;
    anything else (None, "abc", a list) is NaN."""
    s = values if isinstance(values, pd.Series) else pd.Series(_cells(values), dtype=object)
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        s = pd.Series([_number(v) for v in s], index=s.index, dtype=float)
    return s.astype(float)


def _cells(values: Any) -> list[Any]:
    """Cells from a list, array or Series; one value is one cell."""
    if isinstance(values, (list, tuple, np.ndarray, pd.Series, pd.Index)):
        return list(values)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return [values]
    return list(values)


def _number(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or is_missing(value):
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (str, bytes)):
        try:
            return float(value.strip() if isinstance(value, str) else value.decode().strip())
        except (ValueError, UnicodeDecodeError):
            return np.nan
    return np.nan


def whole(values: Iterable[Any]) -> pd.Series:
    """Whole numbers as float64 (3, 3.0, "3", "3.0"); anything else NaN (2.5, inf, "abc")."""
    num = numbers(values)
    ok = np.isfinite(num) & (num == np.floor(num)) & (num.abs() < 2 ** 63)
    return num.where(ok)


def ints(values: Iterable[Any], default: int) -> np.ndarray:
    """Whole numbers as int64; cells that are not one become ``default``."""
    return whole(values).fillna(default).astype(np.int64).to_numpy()


def id_list(value: Any) -> list[str]:
    """A GraphRAG list cell as a list of str: a list, tuple, set or numpy array; a list written
    as text (``"['a', 'b']"``, JSON, numpy's ``"['a' 'b']"``); None/NaN/"" are empty; any
    other single value is a list of one."""
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        return [str(v) for v in value if not is_missing(v)]
    if is_missing(value):
        return []
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return []
        if s.startswith("[") and s.endswith("]"):
            for parse in (json.loads, ast.literal_eval):
                try:
                    parsed = parse(s)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    continue
                if isinstance(parsed, (list, tuple)):
                    return [str(v) for v in parsed if not is_missing(v)]
            inner = s[1:-1].replace(",", " ").replace("\n", " ").split()
            return [v.strip("'\"") for v in inner if v.strip("'\"")]
        return [s]
    return [str(value)]


def title_key(title: Any) -> str:
    """How titles are compared when they are not equal as written: case and runs of
    whitespace do not count ("Scrooge " is "SCROOGE"). Missing titles have the key ``""``."""
    return "" if is_missing(title) else " ".join(str(title).split()).casefold()


# ---------------------------------------------------------------------------------- weights
@dataclass
class Weights:
    """A weight column made usable: ``value`` is positive and finite for every row.

    GraphRAG's weights are positive strengths. Missing ones (None, NaN, text that is not a
    number) count as 1, GraphRAG's default, kept within the range the other weights span;
    weights <= 0 (a PMI score, an edit) count as the smallest positive weight present, +inf as
    the largest finite one.
    """

    value: np.ndarray
    missing: np.ndarray
    nonpositive: np.ndarray
    infinite: np.ndarray

    def summable(self) -> np.ndarray:
        """``value`` scaled down, all alike, when the weights are so large that sums of them
        overflow (1e308 + 1e308 is inf: Leiden's totals, the view's weights between two
        communities; graspologic refuses a single 1e308). Ratios, and so modularity, layout and
        line widths, do not change, except that a weight too small to scale stays positive (the
        smallest normal float); ordinary weights are passed as they are."""
        w = self.value
        with np.errstate(over="ignore"):
            total = w.sum()
        if not len(w) or total < 1e150:
            return w
        return np.maximum(w / w.max(), np.finfo(np.float64).tiny)


def weights(values: Iterable[Any]) -> Weights:
    w = numbers(values).to_numpy(dtype=float)
    ok = np.isfinite(w) & (w > 0)
    low = float(w[ok].min()) if ok.any() else 1.0
    top = float(w[ok].max()) if ok.any() else 1.0
    missing = np.isnan(w)
    infinite = w == np.inf
    nonpositive = ~ok & ~missing & ~infinite
    value = w.copy()
    value[missing] = min(max(1.0, low), top)
    value[nonpositive] = low
    value[infinite] = top
    return Weights(value, missing, nonpositive, infinite)


# ---------------------------------------------------------------------------------- titles
def used_relationships(rels: pd.DataFrame) -> np.ndarray:
    """The relationship rows every consumer uses: both ends named, and of rows sharing an id
    (after dropping those without ends) the last."""
    used = ~(blank(_col(rels, "source")) | blank(_col(rels, "target")))
    used[used] = ~shadowed(_col(rels, "id")[used])
    return used


def shadowed(ids: Iterable[Any]) -> np.ndarray:
    """True for rows whose id a later row repeats: of rows sharing an id, the last is used."""
    return text(ids).duplicated(keep="last").to_numpy()


class Titles:
    """Entity titles -> row positions: the exact title first, then :func:`title_key`.

    A title shared by several rows resolves to the first; blank titles resolve to nothing.
    """

    def __init__(self, titles: Iterable[Any]) -> None:
        self.exact: dict[str, int] = {}
        self.folded: dict[str, int] = {}
        for pos, t in enumerate(titles):
            if is_missing(t) or not str(t).strip():
                continue
            self.exact.setdefault(str(t), pos)
            self.folded.setdefault(title_key(t), pos)

    @classmethod
    def of(cls, entities: pd.DataFrame | None) -> Titles:
        """The titles of an entities table's rows in use (of rows sharing an id, the last)."""
        if entities is None or "title" not in entities.columns:
            return cls([])
        return cls(entities["title"].where(~shadowed(_col(entities, "id"))))

    def find(self, name: Any) -> int:
        """Row position of the entity ``name`` names, or -1."""
        if is_missing(name):
            return -1
        s = str(name)
        pos = self.exact.get(s)
        return pos if pos is not None else self.folded.get(title_key(s), -1)

    def positions(self, names: Iterable[Any]) -> np.ndarray:
        return np.fromiter((self.find(n) for n in names), np.int64)


# ----------------------------------------------------------------------------- row filters
def usable_rows(df: pd.DataFrame, short: str = "human_readable_id", *,
                ints: Iterable[str] = (), floats: Iterable[str] = (),
                fill: dict[str, Any] | None = None) -> pd.DataFrame:
    """The rows of ``df`` a query can put in a context, with number columns as numbers.

    ``short`` is the number an answer cites the row by (``human_readable_id``, a report's
    ``community``): rows without a whole number there are left out (``no_short_id``), the
    rest get it as int64. ``ints`` become int64 too, cells that are not whole numbers taking
    ``fill[col]`` (a value, or one per row of ``df``; default 0); ``floats`` become float64,
    NaN where not finite (an infinite rank ranks last, not first).
    """
    fill = fill or {}
    sid = whole(_col(df, short))
    keep = sid.notna().to_numpy()
    out = df[keep].copy()
    out[short] = sid[keep].astype(np.int64).to_numpy()
    for col in ints:
        default = fill.get(col, 0)
        num = whole(_col(df, col)).to_numpy()
        if np.ndim(default):
            num = np.where(np.isnan(num), np.asarray(default, dtype=float), num)
        else:
            num = np.where(np.isnan(num), float(default), num)
        out[col] = num[keep].astype(np.int64)
    for col in floats:
        num = numbers(_col(df, col)).to_numpy()[keep]
        out[col] = np.where(np.isfinite(num), num, np.nan)
    return out


def typed(index: Any) -> Any:
    """A copy of ``index`` whose GraphRAG columns hold GraphRAG's types again.

    What a user's pandas edits leave (numbers as text or floats, lists as arrays, tuples, text
    or None, None/NaN in text columns) becomes text (missing: ``""``), lists (of str; of int
    for ``children``), whole numbers as int64 (float64 with NaN where a cell has none) and
    float64. Rows are all kept: ``update()`` and the editing methods work on this, so nothing
    the index had is lost. Columns that already have their type are not touched.
    """
    from .index import _ARROW_TYPES, TABLE_COLUMNS

    tables = {}
    for name, df in index.tables().items():
        df = df.copy()
        for col in TABLE_COLUMNS.get(name, ()):
            typ = _ARROW_TYPES.get(col)
            if col in df.columns and typ is not None and col != "findings":
                df[col] = _typed_column(df[col], typ)
        tables[name] = df
    return replace(index, **tables, meta=dict(index.meta), embeddings=dict(index.embeddings))


def _typed_column(col: pd.Series, typ: pa.DataType) -> Any:
    if pa.types.is_list(typ):
        if pa.types.is_integer(typ.value_type):
            return pd.Series([[int(x) for x in whole(id_list(v)).dropna()] for v in col],
                             index=col.index, dtype=object)
        if all(type(v) is list for v in col):
            return col
        return pd.Series([id_list(v) for v in col], index=col.index, dtype=object)
    if pa.types.is_string(typ):
        if pd.api.types.is_string_dtype(col.dtype) and not col.isna().any() and \
                all(isinstance(v, str) for v in col):
            return col
        return text(col).to_numpy()
    if pa.types.is_integer(typ):
        if pd.api.types.is_integer_dtype(col.dtype):
            return col
        num = whole(col)
        return num.astype(np.int64).to_numpy() if num.notna().all() else num.to_numpy()
    if pd.api.types.is_float_dtype(col.dtype):
        return col
    return numbers(col).to_numpy()


# --------------------------------------------------------------------------------- findings
#: (table, rule) -> the consumers that skip or adjust those rows (the rest only report them)
AFFECTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("entities", "no_title"): ("view", "queries"),
    ("entities", "duplicate_title"): ("view",),
    ("entities", "duplicate_id"): ("view", "queries"),
    ("entities", "no_short_id"): ("queries",),
    ("entities", "bad_degree"): ("view", "queries"),
    ("entities", "long_title"): ("view",),
    ("relationships", "open_end"): ("view", "queries", "communities"),
    ("relationships", "unknown_endpoint"): ("view",),
    ("relationships", "weight_missing"): ("view", "queries", "communities"),
    ("relationships", "weight_nonpositive"): ("view", "queries", "communities"),
    ("relationships", "weight_infinite"): ("view", "queries", "communities"),
    ("relationships", "no_short_id"): ("queries",),
    ("text_units", "no_short_id"): ("queries",),
    ("communities", "no_number"): ("view", "queries"),
    ("communities", "duplicate_number"): ("view", "queries"),
    ("communities", "unknown_entity_ids"): ("view",),
    ("community_reports", "no_number"): ("view", "queries"),
    ("community_reports", "bad_rank"): ("view", "queries"),
    ("embeddings", "bad_vector"): ("queries",),
}

@dataclass(frozen=True)
class Finding:
    """One oddity: how many rows of ``table`` it touches, and what lmsnb does with them."""

    table: str
    rule: str
    count: int
    what: str  # "relationships name entities not in the entities table"
    effect: str  # "the graph view draws those names as plain nodes; ..."
    examples: tuple[str, ...] = ()
    #: consumers that treat these rows differently ("view", "queries", "communities")
    affects: tuple[str, ...] = ()

    def line(self) -> str:
        ex = ""
        if self.examples:
            shown = ", ".join(_quote(e) for e in self.examples[:EXAMPLES])
            ex = f": {shown}{', …' if self.count > EXAMPLES or len(self.examples) > EXAMPLES else ''}"
        return f"{self.count:,} {self.what}{ex} ({self.effect})"


def _quote(value: str, n: int = 40) -> str:
    s = " ".join(str(value).split())
    return repr(s if len(s) <= n else s[: n - 1] + "…")


class Findings(list):
    """The oddities of one index, one :class:`Finding` each; prints one line each."""

    def lines(self) -> list[str]:
        return [f.line() for f in self]

    def get(self, table: str, rule: str) -> Finding | None:
        return next((f for f in self if f.table == table and f.rule == rule), None)

    def count(self, table: str, rule: str) -> int:  # type: ignore[override]
        f = self.get(table, rule)
        return f.count if f else 0

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"table": f.table, "rule": f.rule, "rows": f.count,
                              "what": f.what, "effect": f.effect,
                              "examples": list(f.examples)} for f in self],
                            columns=["table", "rule", "rows", "what", "effect", "examples"])

    def __str__(self) -> str:
        return "\n".join(self.lines()) or "no oddities"

    def _repr_html_(self) -> str:
        if not self:
            return "<div>No oddities: every row is usable as it is.</div>"
        return "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in self.lines()) + "</ul>"


def _table(index: Any, name: str) -> pd.DataFrame | None:
    df = getattr(index, name, None)
    return df if isinstance(df, pd.DataFrame) else None


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index,
                                                          dtype=object)


class _Collector:
    def __init__(self) -> None:
        self.out = Findings()

    def add(self, table: str, rule: str, mask: Any, one: str, many: str, effect: str,
            examples: Iterable[Any] = ()) -> None:
        n = int(np.count_nonzero(mask)) if not isinstance(mask, int) else mask
        if n:
            ex = tuple(str(e) for e in list(examples)[:EXAMPLES + 1])
            affects = AFFECTS.get((table.split(".")[0], rule), ())
            self.out.append(Finding(table, rule, n, one if n == 1 else many, effect, ex,
                                    affects))


def findings(index: Any) -> Findings:
    """Every oddity in ``index``'s tables, counted (what ``idx.validate()`` prints).

    Tables or columns that are missing are not oddities (``validate()`` refuses those); this
    looks at the values.
    """
    c = _Collector()
    ents = _table(index, "entities")
    rels = _table(index, "relationships")
    units = _table(index, "text_units")
    comms = _table(index, "communities")
    reps = _table(index, "community_reports")
    unit_ids = set(text(_col(units, "id"))) if units is not None else set()

    titles = Titles.of(ents)
    if ents is not None and len(ents):
        t = _col(ents, "title")
        hidden = shadowed(_col(ents, "id"))
        no_title = blank(t) & ~hidden
        c.add("entities", "no_title", no_title, "entity has no title",
              "entities have no title",
              "the graph view labels them by id; queries cannot find them by name")
        keys = pd.Series([title_key(x) for x in t], index=ents.index)[~hidden & ~no_title]
        dup = keys.duplicated()
        c.add("entities", "duplicate_title", dup.to_numpy(),
              "entity shares its title with another", "entities share a title with another",
              "the graph view attaches relationships to the first",
              t[dup[dup].index].drop_duplicates())
        _duplicate_ids(c, "entities", ents, "entity id appears twice",
                       "entity ids appear more than once", "the last row of each is used")
        c.add("entities", "no_description", blank(_col(ents, "description")),
              "entity has no description", "entities have no description",
              "shown and sent without one", t[blank(_col(ents, "description"))])
        _short_ids(c, "entities", ents, "entity", "entities")
        deg = numbers(_col(ents, "degree"))
        bad_deg = ~(np.isfinite(deg) & (deg >= 0) & (deg == np.floor(deg)))
        c.add("entities", "bad_degree", bad_deg.to_numpy(),
              "entity degree is not a count", "entity degrees are not counts",
              "counted from the relationships instead")
        long = text(t).str.len() > LONG_TITLE
        c.add("entities", "long_title", long.to_numpy(),
              f"entity title is longer than {LONG_TITLE} characters",
              f"entity titles are longer than {LONG_TITLE} characters",
              "labels show the start", t[long.to_numpy()])
        if units is not None:
            _unknown_lists(c, "entities", ents, "text_unit_ids", unit_ids, "text units",
                           "entity names text units", "entities name text units",
                           "those text units are skipped")
        if rels is not None and len(rels):
            used = titles.positions(_col(rels, "source")).tolist() + \
                titles.positions(_col(rels, "target")).tolist()
            linked = np.zeros(len(ents), bool)
            linked[[p for p in used if p >= 0]] = True
        else:
            linked = np.zeros(len(ents), bool)
        first = ~hidden & ~no_title
        first[~hidden & ~no_title] = ~dup.to_numpy()
        c.add("entities", "isolated", ~linked & first, "entity has no relationships",
              "entities have no relationships", "shown on their own",
              t[~linked & first])

    if rels is not None and len(rels):
        s, g = _col(rels, "source"), _col(rels, "target")
        open_end = blank(s) | blank(g)
        c.add("relationships", "open_end", open_end, "relationship has no source or target",
              "relationships have no source or target",
              "skipped by the graph view, the queries and the communities")
        # what follows is about the rows in use: with both ends, the last of each id
        used = used_relationships(rels)
        sp, gp = titles.positions(s), titles.positions(g)
        unknown = used & ((sp < 0) | (gp < 0))
        names = pd.concat([s[unknown & (sp < 0)], g[unknown & (gp < 0)]]).astype(str)
        c.add("relationships", "unknown_endpoint", unknown,
              "relationship names an entity not in the entities table",
              "relationships name entities not in the entities table",
              "the graph view draws those names as plain nodes; queries use the "
              "relationships as they are", names.drop_duplicates())
        weight = _col(rels, "weight")[used]
        w = weights(weight)
        c.add("relationships", "weight_missing", w.missing,
              "relationship has no numeric weight", "relationships have no numeric weight",
              "counted as 1")
        c.add("relationships", "weight_nonpositive", w.nonpositive,
              "relationship weight is 0 or less", "relationship weights are 0 or less",
              "counted as the smallest positive weight",
              numbers(weight)[w.nonpositive].drop_duplicates())
        c.add("relationships", "weight_infinite", w.infinite,
              "relationship weight is infinite", "relationship weights are infinite",
              "counted as the largest finite weight")
        loop = used & (sp == gp) & (sp >= 0)
        c.add("relationships", "self_loop", loop, "relationship links an entity to itself",
              "relationships link an entity to itself", "kept; they add nothing to layouts",
              s[loop])
        _duplicate_ids(c, "relationships", rels, "relationship id appears twice",
                       "relationship ids appear more than once", "the last row of each is used")
        _short_ids(c, "relationships", rels, "relationship", "relationships")
        if units is not None:
            _unknown_lists(c, "relationships", rels, "text_unit_ids", unit_ids, "text units",
                           "relationship names text units", "relationships name text units",
                           "those text units are skipped")

    if units is not None and len(units):
        _duplicate_ids(c, "text_units", units, "text unit id appears twice",
                       "text unit ids appear more than once", "the last row of each is used")
        c.add("text_units", "no_text", blank(_col(units, "text")), "text unit has no text",
              "text units have no text", "nothing of them reaches a query")
        _short_ids(c, "text_units", units, "text unit", "text units")
        docs = _table(index, "documents")
        if docs is not None:
            known = set(text(_col(docs, "id")))
            orphan = ~text(_col(units, "document_id")).isin(known).to_numpy()
            c.add("text_units", "unknown_document", orphan,
                  "text unit names a document not in the documents table",
                  "text units name documents not in the documents table",
                  "kept; update() cannot tell which file they came from")

    if comms is not None and len(comms):
        num = whole(_col(comms, "community"))
        lev = whole(_col(comms, "level"))
        bad = (num.isna() | lev.isna() | (lev < 0)).to_numpy()
        c.add("communities", "no_number", bad, "community has no community number or level",
              "communities have no community number or level",
              "skipped by the graph view and the queries")
        dup = num.duplicated() & ~bad
        c.add("communities", "duplicate_number", dup.to_numpy(),
              "community number appears twice", "community numbers appear more than once",
              "the first row of each is used", num[dup].astype(int))
        if ents is not None:
            _unknown_lists(c, "communities", comms, "entity_ids", set(text(_col(ents, "id"))),
                           "entities", "community names entities",
                           "communities name entities", "those members are left out")
    elif comms is not None and ents is not None and len(ents):
        c.add("communities", "none", 1, "index has no communities", "index has no communities",
              "global and DRIFT search need them; the graph view shows one colour")

    if reps is not None and len(reps):
        num = whole(_col(reps, "community"))
        lev = whole(_col(reps, "level"))
        bad = (num.isna() | lev.isna() | (lev < 0)).to_numpy()
        c.add("community_reports", "no_number", bad,
              "community report has no community number or level",
              "community reports have no community number or level",
              "skipped by the graph view and the queries")
        if comms is not None:
            known = set(whole(_col(comms, "community")).dropna().astype(int))
            stray = ~bad & ~num.isin(known).to_numpy()
            c.add("community_reports", "unknown_community", stray,
                  "community report is for a community not in the communities table",
                  "community reports are for communities not in the communities table",
                  "global search still reads them", num[stray].astype(int))
        c.add("community_reports", "no_content", blank(_col(reps, "full_content")),
              "community report has no text", "community reports have no text",
              "global search sends the title alone")
        rank = numbers(_col(reps, "rank"))
        c.add("community_reports", "bad_rank", (~np.isfinite(rank)).to_numpy(),
              "community report rank is not a finite number",
              "community report ranks are not finite numbers", "ranked last")

    for name, df in sorted((getattr(index, "embeddings", None) or {}).items()):
        _embedding_findings(c, index, name, df)
    return c.out


def _duplicate_ids(c: _Collector, table: str, df: pd.DataFrame, one: str, many: str,
                   effect: str) -> None:
    ids = text(_col(df, "id"))
    dup = shadowed(ids)
    c.add(table, "duplicate_id", dup, one, many, effect, ids[dup].drop_duplicates())


def _short_ids(c: _Collector, table: str, df: pd.DataFrame, one: str, many: str) -> None:
    bad = whole(_col(df, "human_readable_id")).isna().to_numpy()
    c.add(table, "no_short_id", bad, f"{one} has no human_readable_id (a whole number)",
          f"{many} have no human_readable_id (a whole number)",
          "queries leave them out: answers cite rows by it")


def _unknown_lists(c: _Collector, table: str, df: pd.DataFrame, col: str, known: set[str],
                   what: str, one: str, many: str, effect: str) -> None:
    stray: list[str] = []
    mask = np.zeros(len(df), bool)
    for k, v in enumerate(_col(df, col)):
        missing = [x for x in id_list(v) if x not in known]
        if missing:
            mask[k] = True
            stray.extend(missing[: EXAMPLES + 1 - len(stray)] if len(stray) <= EXAMPLES else [])
    c.add(table, f"unknown_{col}", mask, f"{one} not in the {what} table",
          f"{many} not in the {what} table", effect, stray)


def _embedding_findings(c: _Collector, index: Any, name: str, df: Any) -> None:
    table = f"embeddings.{name}"
    if not isinstance(df, pd.DataFrame) or "embedding" not in df.columns or not len(df):
        return
    ok, _ = vectors(df["embedding"], getattr(index, "embedding_dim", None))
    c.add(table, "bad_vector", ~ok, "embedding is not a finite vector of the index's size",
          "embeddings are not finite vectors of the index's size",
          "left out of similarity search")
    from .query.vectors import SOURCES

    source = SOURCES.get(name)
    rows = _table(index, source[0]) if source else None
    if rows is not None and "id" in df.columns:
        known = set(text(_col(rows, "id")))
        stray = ~text(df["id"]).isin(known).to_numpy()
        c.add(table, "unknown_id", stray, f"embedding is for a row not in {source[0]}",
              f"embeddings are for rows not in {source[0]}", "never returned by a search")


def vectors(values: Iterable[Any], dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(usable, matrix)`` for an embedding column: the rows that are finite vectors of size
    ``dim`` (default: the most common size) as a float32 matrix; ``usable`` marks them."""
    cells = list(values)
    arrays: list[np.ndarray | None] = []
    for v in cells:
        try:
            a = np.asarray(v, dtype=np.float32)
        except (TypeError, ValueError):
            a = None
        arrays.append(a if a is not None and a.ndim == 1 and a.size else None)
    sizes = np.array([a.size if a is not None else 0 for a in arrays], dtype=np.int64)
    want = int(dim) if dim else (int(np.bincount(sizes[sizes > 0]).argmax())
                                 if (sizes > 0).any() else 0)
    ok = np.array([a is not None and a.size == want and bool(np.isfinite(a).all())
                   for a in arrays], dtype=bool)
    good = [a for a, k in zip(arrays, ok, strict=True) if k]
    return ok, np.vstack(good) if good else np.zeros((0, want or 1), dtype=np.float32)


def explain_once(index: Any, consumer: str, file: Any = None) -> str:
    """Say once, in one line, which odd rows ``consumer`` ("queries", "view") skips or
    adjusts in ``index``; said again only after the tables change. Returns the line ("" when
    there is nothing to say)."""
    from .query.context import ObjectCache, table_key

    global _TOLD
    if _TOLD is None:
        _TOLD = ObjectCache()
    key = table_key(index)
    told = _TOLD.get(index) or {}
    if consumer in told and told[consumer][0] == key:
        return told[consumer][1]
    hits = [f for f in findings(index) if consumer in f.affects]
    line = ""
    if hits:
        line = (f"[lmsnb.graphrag] {_WORK_AROUND.get(consumer, consumer)} odd rows "
                "(idx.validate() lists them): "
                + "; ".join(f"{f.count:,} {f.what} ({f.effect})" for f in hits))
        print(line, file=file or sys.stderr)
    _TOLD.set(index, {**told, consumer: (key, line)})
    return line


_TOLD: Any = None
_WORK_AROUND = {"queries": "queries skip or adjust", "view": "the graph view skips or adjusts"}
