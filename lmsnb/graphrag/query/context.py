"""Token-budgeted context tables, the way GraphRAG writes them for its prompts.

Every table is ``-----Name-----`` then a ``|``-delimited header and one line per row; rows are
added in priority order until the next one would overflow the budget. Each builder returns a
:class:`Context` whose ``tables`` hold the rows actually included (with ``short_id``, the id
the model cites, and ``id``), so budgets can be checked and citations resolved.

Token counts use :func:`lmsnb.graphrag.tokens.estimate_tokens` (no tokenizer download; about
±1 % of o200k in total on the fixtures, ±8 % per chunk) unless a caller passes its own counter.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import sanity
from ..sanity import id_list as as_list
from ..tokens import cut_to_tokens, estimate_tokens
from .result import Context

#: a first row is cut to fit only if this much of its text survives
MIN_CUT_TOKENS = 200

Counter = Callable[[str], int]


def _cell(value: Any) -> str:
    """One table cell: no newlines or pipes, so each row stays one line of the table."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\r", " ").replace("\n", " ").replace("|", "/")


def build_table(name: str, header: Sequence[str], rows: Iterable[tuple[Any, ...]],
                budget: int, count: Counter = estimate_tokens,
                memo: dict[tuple[Any, ...], int] | None = None) -> Context:
    """Pack ``rows`` into a ``-----name-----`` table within ``budget`` tokens.

    Each row is ``(cells, record)`` or ``(cells, record, shorter_cells)``: ``record`` goes into
    the returned DataFrame (``short_id`` and ``id`` at least); ``shorter_cells`` (e.g. a report's
    summary instead of its full text) is tried when ``cells`` does not fit. Packing stops at the
    first row that does not fit either way, as GraphRAG does, so priority order holds — except
    that a first row too long for the whole budget (a small model's context) comes with its
    longest cell cut to fit (``shortened``), so the table is not left empty.
    ``memo`` caches line token counts by (table, row id, variant): index rows do not change
    between queries, and counting a 1,200-token chunk costs more than the rest of a query.
    """
    head = f"-----{name.title()}-----\n" + "|".join(header) + "\n"
    used = count(head)
    if used > budget:
        return Context(text="", tables={}, tokens=0)
    lines, records = [head], []
    for cells, record, *alt in rows:
        fitted, cut = None, False
        for variant, option in enumerate((cells, *alt)):
            line = "|".join(_cell(c) for c in option) + "\n"
            key = (id(count), name, record.get("id"), variant)
            n = memo.get(key) if memo is not None else None
            if n is None:
                n = count(line)
                if memo is not None:
                    memo[key] = n
            if used + n <= budget:
                fitted = line
                break
        if fitted is None and not records:
            option = _cut_longest(cells, budget - used, count)
            fitted = "|".join(_cell(c) for c in option) + "\n" if option else None
            n = count(fitted) if fitted else 0
            if fitted is None or used + n > budget:
                break
            record, cut = {**record, "shortened": True}, True
        elif fitted is None:
            break
        elif alt:
            record = {**record, "shortened": option is not cells}
        lines.append(fitted)
        records.append(record)
        used += n
        if cut:
            break  # a row cut to fill the budget: nothing after it belongs in front of it
    if not records:
        return Context(text="", tables={}, tokens=0)
    return Context(text="".join(lines), tables={name: pd.DataFrame(records)}, tokens=used)


def _cut_longest(cells: Sequence[Any], budget: int, count: Counter) -> list[Any] | None:
    """``cells`` with the longest text cut so the line fits ``budget`` (None: it cannot)."""
    longest = max(range(len(cells)), key=lambda i: len(str(cells[i])))
    rest = count("|".join(_cell(c) for i, c in enumerate(cells) if i != longest)) + 4
    if budget - rest < MIN_CUT_TOKENS:
        return None
    return [cut_to_tokens(str(c), budget - rest) if i == longest else c
            for i, c in enumerate(cells)]


def join(parts: Sequence[Context]) -> Context:
    """Concatenate context sections (blank line between), summing their token counts."""
    parts = [p for p in parts if p.text]
    tables: dict[str, pd.DataFrame] = {}
    for p in parts:
        tables.update(p.tables)
    return Context(text="\n".join(p.text for p in parts), tables=tables,
                   tokens=sum(p.tokens for p in parts) + max(0, len(parts) - 1))


def history_table(history: Sequence[dict[str, str]], budget: int, *, max_turns: int = 5,
                  user_only: bool = True, count: Counter = estimate_tokens) -> Context:
    """Earlier turns (GraphRAG's "Conversation" table); the newest survive a tight budget."""
    turns = [m for m in history if m.get("role") in (("user",) if user_only else
                                                      ("user", "assistant"))]
    turns = turns[-max_turns:] if max_turns > 0 else []
    head = count("-----Conversation-----\nturn|content\n")
    keep, used = [], head
    for m in reversed(turns):
        n = count(f"{m['role']}|{_cell(m['content'])}\n")
        if used + n > budget:
            break
        keep.append(m)
        used += n
    rows = [((m["role"], m["content"]), {"short_id": i, "id": f"turn-{i}", "role": m["role"],
                                         "content": m["content"]})
            for i, m in enumerate(reversed(keep))]
    ctx = build_table("conversation", ("turn", "content"), rows, budget, count)
    tables = {"history": ctx.tables["conversation"]} if ctx.tables else {}
    return Context(ctx.text, tables, ctx.tokens)


# ----------------------------------------------------------------------------- per-index lookups
@dataclass
class Lookups:
    """Index-wide maps the context builders need, computed once per index and cached.

    Building these costs tens of milliseconds on 10k entities; doing it once per index (not
    once per query) is what keeps local-search context building within a few milliseconds.
    """

    index: Any
    entity_pos: dict[str, int]  # entity id -> row position
    title_words: dict[str, list[int]]  # normalised entity title -> row positions
    rels_by_title: dict[str, np.ndarray]  # entity title -> relationship row positions
    unit_pos: dict[str, int]  # text unit id -> row position
    rel_units: list[frozenset[str]]  # per relationship row: its text unit ids
    rel_source: np.ndarray  # per relationship row (object arrays / floats, for fast ranking)
    rel_target: np.ndarray
    rel_rank: np.ndarray  # combined_degree
    rel_weight: np.ndarray
    ent_degree: np.ndarray  # per entity row: its degree, counted where the table's is no count
    claims_by_title: dict[str, np.ndarray]  # subject title -> covariate row positions
    key: tuple[int, ...]
    _levels: dict[int, tuple[dict[str, list[int]], dict[int, int]]] = field(
        default_factory=dict, repr=False)
    #: token counts of index rows as table lines, see :func:`build_table`
    token_memo: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    def communities(self, level: int) -> tuple[dict[str, list[int]], dict[int, int]]:
        """``(entity id -> community numbers, community -> report row)`` for reports at
        level <= ``level`` (GraphRAG's ``community_level`` filter)."""
        if level not in self._levels:
            reps, comms = self.index.community_reports, self.index.communities
            report_pos: dict[int, int] = {}
            # rows without a community number or level are skipped; of rows sharing a
            # number, the first is used (sanity: no_number, duplicate_number)
            if len(reps):
                for pos, (c, lv) in enumerate(zip(sanity.whole(reps["community"]),
                                                  sanity.whole(reps["level"]), strict=False)):
                    if c == c and 0 <= lv <= level:  # c != c: NaN, no number
                        report_pos.setdefault(int(c), pos)
            by_entity: dict[str, list[int]] = {}
            if len(comms):
                num = sanity.whole(comms["community"])
                first = num.notna() & ~num.duplicated() & sanity.whole(comms["level"]).ge(0)
                for c, eids in zip(num[first], comms["entity_ids"][first], strict=False):
                    if c in report_pos:
                        for e in as_list(eids):
                            by_entity.setdefault(e, []).append(int(c))
            self._levels[level] = (by_entity, report_pos)
        return self._levels[level]


def _positions_by(values: pd.Series) -> dict[str, np.ndarray]:
    codes, uniques = pd.factorize(sanity.text(values))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {u: order[bounds[i]:bounds[i + 1]] for i, u in enumerate(uniques)}


class ObjectCache:
    """A cache keyed by object identity that forgets an entry when its object dies.

    ``WeakKeyDictionary`` needs hashable keys, and DataFrames and dataclass indexes are not.
    """

    def __init__(self) -> None:
        self._data: dict[int, tuple[Any, Any]] = {}

    def get(self, obj: Any) -> Any:
        hit = self._data.get(id(obj))
        if hit is None:
            return None
        ref, value = hit
        return value if (ref() if callable(ref) else ref) is obj else None

    def set(self, obj: Any, value: Any) -> None:
        key = id(obj)
        try:
            ref: Any = weakref.ref(obj)
            weakref.finalize(obj, self._data.pop, key, None)
        except TypeError:  # not weak-referenceable: keep it alive with the entry
            ref = obj
        self._data[key] = (ref, value)


_LOOKUPS = ObjectCache()
_LOCK = threading.Lock()


def table_key(index: Any) -> tuple[Any, ...]:
    """What identifies the tables: each table object, its length, its row index and each
    column's data. A table replaced, sorted or filtered in place, or a column replaced
    (``idx.entities["title"] = ...``), changes the key, so the next query sees the edit. (A
    single cell written in place with ``.loc`` does not: checking every value would cost a
    third of a local query on 10k entities.)"""
    return tuple(x for name, cols in _KEYED.items()
                 for x in _stamps(getattr(index, name, None), cols))


#: the columns a cached :class:`Lookups` is built from, per table
_KEYED = {"entities": ("id", "title"),
          "relationships": ("source", "target", "weight", "combined_degree", "text_unit_ids"),
          "text_units": ("id",), "communities": ("community", "entity_ids"),
          "community_reports": ("community", "level"), "covariates": ("subject_id",)}


def _stamps(df: Any, cols: tuple[str, ...]) -> list[Any]:
    if not isinstance(df, pd.DataFrame):
        return [0, 0]
    out: list[Any] = [id(df), len(df), _Stamp(id(df.index), df.index)]
    for col in cols:
        if col not in df.columns:
            continue
        s = df[col]
        if isinstance(s.dtype, np.dtype):  # a new view each time: compare the buffer
            data = s.to_numpy(copy=False)
            out.append(_Stamp(data.__array_interface__["data"][0], data))
        else:
            out.append(_Stamp(id(s.array), s.array))
    return out


class _Stamp:
    """Equal when the data is the same object; holds it, so its address is never reused."""

    __slots__ = ("key", "pin")

    def __init__(self, key: int, pin: Any) -> None:
        self.key, self.pin = key, pin

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Stamp) and other.key == self.key

    def __hash__(self) -> int:
        return self.key


def lookups(index: Any) -> Lookups:
    """The cached :class:`Lookups` for ``index`` (rebuilt if a table was replaced or resized)."""
    key = table_key(index)
    with _LOCK:
        cached = _LOOKUPS.get(index)
        if cached is not None and cached.key == key:
            return cached
        # a table without the columns used here (a method that does not search it, e.g. basic
        # search on an index whose entities lack titles) contributes nothing instead of failing
        ents = _usable(index.entities, ("id", "title"))
        rels = _usable(index.relationships, ("source", "target", "text_unit_ids",
                                             "combined_degree", "weight"))
        units = _usable(index.text_units, ("id",))
        covs = index.covariates
        if covs is not None and "subject_id" not in covs.columns:
            covs = None
        parts: dict[str, list[np.ndarray]] = {}
        if len(rels):
            for col in ("source", "target"):
                for title, pos in _positions_by(rels[col]).items():
                    if title.strip():  # an open end names nothing (sanity: open_end)
                        parts.setdefault(title, []).append(pos)
        rels_by_title = {t: np.unique(np.concatenate(p)) for t, p in parts.items()}
        given = sanity.whole(ents["degree"]) if "degree" in ents.columns else \
            pd.Series(np.nan, index=ents.index)
        counted = [len(rels_by_title.get(t, ())) for t in sanity.text(ents["title"])]
        out = Lookups(
            index=weakref.proxy(index) if _weakrefable(index) else index,
            entity_pos={str(v): i for i, v in enumerate(ents["id"])},
            title_words=_title_index(ents),
            rels_by_title=rels_by_title,
            unit_pos={str(v): i for i, v in enumerate(units["id"])},
            rel_units=[frozenset(as_list(v)) for v in rels["text_unit_ids"]] if len(rels)
            else [],
            rel_source=sanity.text(rels["source"]).to_numpy(dtype=object),
            rel_target=sanity.text(rels["target"]).to_numpy(dtype=object),
            rel_rank=sanity.numbers(rels["combined_degree"]).fillna(0).to_numpy(dtype=float),
            rel_weight=_weights(rels),
            ent_degree=np.where(given.ge(0), given, counted).astype(np.int64),
            claims_by_title=_positions_by(covs["subject_id"]) if covs is not None and len(covs)
            else {},
            key=key)
        _LOOKUPS.set(index, out)
        return out


def _weights(rels: pd.DataFrame) -> np.ndarray:
    """Usable weights (sanity's rule, over the rows in use, as validate() counts them)."""
    out = np.ones(len(rels))
    used = sanity.used_relationships(rels)
    out[used] = sanity.weights(rels["weight"][used]).value
    return out


def _usable(df: Any, cols: tuple[str, ...]) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame) and all(c in df.columns for c in cols):
        return df
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})


_NON_WORD = re.compile(r"[\W_]+")  # any script's letters and digits are kept (ZOË, 北京)


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces: how titles and questions are compared."""
    return _NON_WORD.sub(" ", str(text).lower()).strip()


def _title_index(entities: pd.DataFrame) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    hidden = sanity.shadowed(entities["id"])  # a row whose id a later row repeats is not used
    for pos, title in enumerate(entities["title"]):
        if sanity.is_missing(title) or hidden[pos]:
            continue
        key = normalise(title)
        if len(key) >= 3:
            out.setdefault(key, []).append(pos)
    return out


def entities_named_in(lk: Lookups, text: str, max_words: int = 6) -> list[int]:
    """Row positions of entities whose whole title occurs as a phrase in ``text``."""
    words = normalise(text).split()
    found: list[int] = []
    for n in range(min(max_words, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            for pos in lk.title_words.get(" ".join(words[i:i + n]), ()):
                if pos not in found:
                    found.append(pos)
    return found


def _weakrefable(obj: Any) -> bool:
    try:
        weakref.ref(obj)
        return True
    except TypeError:
        return False
