"""Hypothesis strategies for GraphRAG indexes the way people's indexes really are.

A generated index has GraphRAG's columns (what ``validate()`` refuses without them is tested
apart) and the oddities found in the wild: weights that are <= 0 (the fast method's PMI), NaN
or infinite; entities nobody links to; relationships naming entities the table lacks (Microsoft
GraphRAG's own Christmas Carol output has 84); empty or missing descriptions; duplicate,
non-ASCII, whitespace-only and very long titles; one giant community or none; a single entity;
empty tables; and the columns a user's own pandas edits leave behind (ints as floats or text,
lists as numpy arrays, tuples, None or NaN).

:func:`indexes` draws ``(GraphIndex, Plan)``: the plan records what was planted, so a test can
check that ``validate()`` counts exactly that many.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from lmsnb.graphrag import GraphIndex
from lmsnb.graphrag.index import TABLE_COLUMNS
from lmsnb.graphrag.llm import LocalEmbedder

#: the embedder stored vectors come from (queries in the tests use one of the same key)
EMBEDDER = LocalEmbedder(32)

NAMES = ["SCROOGE", "MARLEY", "BOB CRATCHIT", "TINY TIM", "LONDON", "FEZZIWIG", "BELLE", "FRED",
         "Scrooge", "the Ghost of Christmas Past"]
UNICODE_NAMES = ["ZOË", "北京", "ÆRØSKØBING", "ἈΘῆΝΑΙ", "МОСКВА", "😀 SMILE", "ÉCOLE", "e\u0301cole",
                 "İSTANBUL", "STRAßE", "ﬁNANCE", "עִבְרִית", "مصر"]
ODD_NAMES = ["", " ", "\t\n", "  SCROOGE  ", "A|B", "LINE\nBREAK", "<b>BOLD</b>", "'; DROP",
             "[Data: Entities (1)]", "nan", "None", "0", "-1"]
#: names no entity title folds to (relationships to them are "not in the table")
GHOSTS = ["GHOST OF CHRISTMAS YET TO COME", "MRS. DILBER", "OLD JOE", "幽霊", "TOPPER"]
WEIGHTS = [0.0, -0.00034, -1.0, 1.0, 2.0, 7.5, 1e308, 5e-324, math.nan, math.inf, -math.inf]


def fold(title: Any) -> str:
    """Case and spacing folded: the test's own idea of "the same title"."""
    return " ".join(str(title).split()).casefold()


GHOST_KEYS = {fold(g) for g in GHOSTS}


def long_titles() -> st.SearchStrategy[str]:
    return st.integers(201, 6000).map(lambda n: ("VERY LONG NAME " * (n // 15 + 1))[:n])


def titles() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NAMES), st.sampled_from(UNICODE_NAMES), st.sampled_from(ODD_NAMES),
        long_titles(), st.text(max_size=24),
    ).filter(lambda t: fold(t) not in GHOST_KEYS)


def texts() -> st.SearchStrategy[Any]:
    """A description or text cell: prose, empty, None, NaN, odd characters, very long."""
    return st.one_of(
        st.sampled_from(["A miser.", "He changes.", "", "   ", "line one\nline two | piped",
                         "Ünïcödé déscription ✓", "x" * 3000]),
        st.none(), st.just(math.nan), st.text(max_size=40))


def weights() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(WEIGHTS), st.floats(allow_nan=True, allow_infinity=True),
                     st.none())


TITLES = titles()
TEXTS = texts()
WEIGHT = weights()
TYPES = st.sampled_from(["PERSON", "GEO", "", None])
DOC_TEXTS = st.sampled_from(["Marley was dead: to begin with.", "Scrooge and Bob.",
                             "Ünïcödé text ✓", "x " * 500])
UNIT_TEXTS = st.sampled_from(["Marley was dead.", "Bob Cratchit's house.", "", "ü" * 50,
                              "word " * 400])
REPORT_TITLES = st.sampled_from(["The miser's circle", "", "Ünïcödé ✓", "x" * 500])
RANKS = st.sampled_from([7.5, 0.0, math.nan, math.inf, -1.0])
OPEN_ENDS = st.sampled_from(["", None])
GHOST = st.sampled_from(GHOSTS)


@dataclass
class Plan:
    """What the strategy planted, for exact counts."""

    ghost_relationships: int = 0  # relationships with an end named in GHOSTS
    open_relationships: int = 0  # relationships with an empty/None end
    weight_missing: int = 0
    weight_nonpositive: int = 0
    weight_infinite: int = 0
    edits: list[str] = field(default_factory=list)  # dtype/user edits applied


def _hex(i: int, prefix: str) -> str:
    return f"{prefix}{i:08x}-0000-4000-8000-{i:012x}"


@st.composite
def indexes(draw: st.DrawFn, *, max_entities: int = 10, max_relationships: int = 16,
            edits: Any = True) -> tuple[GraphIndex, Plan]:
    """A GraphRAG index with oddities, and the :class:`Plan` of what was planted.

    ``edits``: True (any of :data:`EDITS`), False, or the names allowed.
    """
    plan = Plan()
    n_docs = draw(st.integers(0, 2))
    n_units = draw(st.integers(0, 4)) if n_docs else 0
    doc_ids = [_hex(i, "d") for i in range(n_docs)]
    unit_ids = [_hex(i, "u") for i in range(n_units)]
    documents = pd.DataFrame({
        "id": doc_ids, "human_readable_id": range(n_docs),
        "title": [draw(TITLES) for _ in doc_ids],
        "text": [draw(DOC_TEXTS) for _ in doc_ids],
        "text_unit_ids": [[u for k, u in enumerate(unit_ids) if k % max(n_docs, 1) == i]
                          for i in range(n_docs)],
        "creation_date": "2024-12-24", "raw_data": None,
    }, columns=TABLE_COLUMNS["documents"])

    n_ent = draw(st.integers(0, max_entities))
    ent_titles = [draw(TITLES) for _ in range(n_ent)]
    if n_ent >= 2 and draw(st.booleans()):  # a duplicate title
        ent_titles[-1] = ent_titles[0]
    ent_ids = [_hex(i, "e") for i in range(n_ent)]
    if n_ent >= 2 and draw(st.integers(0, 9)) == 0:  # a row twice (two indexes concatenated)
        ent_ids[-1], ent_titles[-1] = ent_ids[0], ent_titles[0]
    unit_choice = st.lists(st.sampled_from(unit_ids + ["u-not-in-the-table"]), max_size=3,
                           unique=True) if unit_ids else st.just([])
    entities = pd.DataFrame({
        "id": ent_ids, "human_readable_id": range(n_ent), "title": ent_titles,
        "type": [draw(TYPES) for _ in ent_ids],
        "description": [draw(TEXTS) for _ in ent_ids],
        "text_unit_ids": [draw(unit_choice) for _ in ent_ids],
        "frequency": [draw(st.integers(0, 5)) for _ in ent_ids],
        "degree": 0,
    }, columns=TABLE_COLUMNS["entities"])

    n_rel = draw(st.integers(0, max_relationships if n_ent or draw(st.booleans()) else 0))
    ends = st.one_of(st.sampled_from(ent_titles), GHOST, OPEN_ENDS) if ent_titles else \
        st.one_of(GHOST, OPEN_ENDS)
    rels = []
    for i in range(n_rel):
        s, t = draw(ends), draw(ends)
        w = draw(WEIGHT)
        rels.append({"id": _hex(i, "r"), "human_readable_id": i, "source": s, "target": t,
                     "description": draw(TEXTS), "weight": w, "combined_degree": 0,
                     "text_unit_ids": draw(unit_choice)})
        open_end = s is None or t is None or not s.strip() or not t.strip()
        plan.open_relationships += open_end
        plan.ghost_relationships += not open_end and (s in GHOSTS or t in GHOSTS)
        if open_end:  # the weight of a row nobody uses is not counted
            continue
        if w is None or (isinstance(w, float) and math.isnan(w)):
            plan.weight_missing += 1
        elif w == math.inf:
            plan.weight_infinite += 1
        elif w <= 0:
            plan.weight_nonpositive += 1
    relationships = pd.DataFrame(rels, columns=TABLE_COLUMNS["relationships"])
    relationships["weight"] = relationships["weight"].astype(float)
    degree = pd.concat([relationships["source"], relationships["target"]]).value_counts()
    entities["degree"] = [int(degree.get(t, 0)) for t in ent_titles]

    text_units = pd.DataFrame({
        "id": unit_ids, "human_readable_id": range(n_units),
        "text": [draw(UNIT_TEXTS) for _ in unit_ids],
        "n_tokens": [draw(st.integers(0, 1200)) for _ in unit_ids],
        "document_id": [doc_ids[k % n_docs] if n_docs else None for k in range(n_units)],
        "entity_ids": [[e for e, us in zip(ent_ids, entities["text_unit_ids"], strict=True)
                        if u in us] for u in unit_ids],
        "relationship_ids": [[r["id"] for r in rels if u in r["text_unit_ids"]] for u in unit_ids],
        "covariate_ids": [[] for _ in unit_ids],
    }, columns=TABLE_COLUMNS["text_units"])

    communities, reports = draw(_communities(ent_ids, [r["id"] for r in rels], unit_ids))
    covariates = None
    if n_ent and draw(st.integers(0, 4)) == 0:
        subj = draw(st.lists(st.sampled_from(ent_titles + GHOSTS), min_size=1, max_size=3))
        covariates = pd.DataFrame({
            "id": [_hex(i, "c") for i in range(len(subj))], "human_readable_id": range(len(subj)),
            "covariate_type": "claim", "type": "FRAUD", "description": [draw(TEXTS) for _ in subj],
            "subject_id": subj, "object_id": None, "status": "TRUE", "start_date": None,
            "end_date": None, "source_text": None,
            "text_unit_id": unit_ids[0] if unit_ids else None,
        }, columns=TABLE_COLUMNS["covariates"])

    idx = GraphIndex(documents=documents, text_units=text_units, entities=entities,
                     relationships=relationships, communities=communities,
                     community_reports=reports, covariates=covariates)
    if draw(st.integers(0, 3)) == 0:
        _embeddings(idx, draw)
    allowed = sorted(EDITS) if edits is True else sorted(edits or ())
    if allowed:
        for edit in draw(st.lists(st.sampled_from(allowed), max_size=3, unique=True)):
            EDITS[edit](idx, draw)
            plan.edits.append(edit)
    return idx, plan


@st.composite
def _communities(draw: st.DrawFn, ent_ids: list[str], rel_ids: list[str], unit_ids: list[str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """None, one giant community, a flat partition, or two levels; reports for some of them."""
    shape = draw(st.sampled_from(["none", "giant", "partition", "levels", "stray"]))
    groups: list[tuple[int, int, int, list[str]]] = []  # (community, level, parent, members)
    if shape == "giant" or (shape != "none" and len(ent_ids) < 2):
        groups = [(0, 0, -1, list(ent_ids))]
    elif shape in ("partition", "levels", "stray"):
        k = draw(st.integers(1, max(1, len(ent_ids) // 2)))
        groups = [(c, 0, -1, ent_ids[c::k]) for c in range(k)]
        if shape == "levels":
            n = len(groups)
            for c, _, _, members in list(groups):
                if len(members) >= 2:
                    half = len(members) // 2
                    groups += [(n, 1, c, members[:half]), (n + 1, 1, c, members[half:])]
                    n += 2
        if shape == "stray":  # members the entities table does not have, a repeated number
            groups.append((groups[0][0], 0, -1, ["e-not-in-the-table"]))
    children = {c: [g[0] for g in groups if g[2] == c] for c, *_ in groups}
    comm = pd.DataFrame([{
        "id": _hex(i, "k"), "human_readable_id": c, "community": c, "level": lv, "parent": p,
        "children": children.get(c, []) if p == -1 else [], "title": f"Community {c}",
        "entity_ids": members, "relationship_ids": rel_ids[:2], "text_unit_ids": unit_ids[:2],
        "period": "2024-12-24", "size": len(members)} for i, (c, lv, p, members)
        in enumerate(groups)], columns=TABLE_COLUMNS["communities"])
    reported = [g for g in groups if draw(st.integers(0, 5))]  # most communities have a report
    reports = pd.DataFrame([{
        "id": _hex(i, "p"), "human_readable_id": c, "community": c, "level": lv, "parent": p,
        "children": children.get(c, []) if p == -1 else [],
        "title": draw(REPORT_TITLES),
        "summary": draw(TEXTS), "full_content": draw(TEXTS),
        "rank": draw(RANKS),
        "rating_explanation": "", "findings": [{"summary": "s", "explanation": "e"}],
        "full_content_json": "{}", "period": "2024-12-24", "size": len(members)}
        for i, (c, lv, p, members) in enumerate(reported)],
        columns=TABLE_COLUMNS["community_reports"])
    return comm, reports


def _embeddings(idx: GraphIndex, draw: st.DrawFn) -> None:
    """Stored vectors (as a saved index has them), some of them odd: NaN, the wrong size,
    missing, or for a row the table no longer has."""
    from lmsnb.graphrag.query.vectors import SOURCES

    idx.embedding_model, idx.embedding_dim = EMBEDDER.key, EMBEDDER.dimension
    for name, (table, text_of) in SOURCES.items():
        df = getattr(idx, table)
        if not len(df) or not draw(st.booleans()):
            continue
        vecs = list(EMBEDDER.embed([text_of(r) for r in df.itertuples(index=False)]))
        ids = [str(i) for i in df["id"]]
        for k in range(len(vecs)):
            odd = draw(st.sampled_from(["ok", "ok", "ok", "nan", "short", "none", "stray"]))
            if odd == "nan":
                vecs[k] = np.full(EMBEDDER.dimension, np.nan, dtype=np.float32)
            elif odd == "short":
                vecs[k] = vecs[k][:5]
            elif odd == "none":
                vecs[k] = None
            elif odd == "stray":
                ids[k] = "not-in-the-table"
        idx.embeddings[name] = pd.DataFrame({"id": ids, "embedding": vecs})


# -------------------------------------------------------------------------- a user's pandas edits
INT_COLUMNS = {"entities": ["human_readable_id", "frequency", "degree"],
               "relationships": ["human_readable_id", "combined_degree"],
               "text_units": ["human_readable_id", "n_tokens"],
               "communities": ["human_readable_id", "community", "level", "parent", "size"],
               "community_reports": ["community", "level", "parent", "size"]}
LIST_COLUMNS = {"entities": ["text_unit_ids"], "relationships": ["text_unit_ids"],
                "text_units": ["entity_ids", "relationship_ids"],
                "communities": ["children", "entity_ids", "relationship_ids", "text_unit_ids"],
                "community_reports": ["children"], "documents": ["text_unit_ids"]}


def _ints_as_floats(idx: GraphIndex, draw: st.DrawFn) -> None:
    """What a merge or ``reindex`` does: integers become float64 (NaN where a row had none)."""
    table = draw(st.sampled_from(sorted(INT_COLUMNS)))
    df = getattr(idx, table).copy()
    for col in INT_COLUMNS[table]:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    if len(df) and draw(st.booleans()):
        df.loc[df.index[0], draw(st.sampled_from(INT_COLUMNS[table]))] = math.nan
    setattr(idx, table, df)


def _ints_as_text(idx: GraphIndex, draw: st.DrawFn) -> None:
    """``df[col].astype(str)``, e.g. after reading a CSV export back."""
    table = draw(st.sampled_from(sorted(INT_COLUMNS)))
    df = getattr(idx, table).copy()
    col = draw(st.sampled_from(INT_COLUMNS[table]))
    df[col] = df[col].astype(str)
    setattr(idx, table, df)


def _lists_as(kind: str):
    def edit(idx: GraphIndex, draw: st.DrawFn) -> None:
        table = draw(st.sampled_from(sorted(LIST_COLUMNS)))
        df = getattr(idx, table).copy()
        col = draw(st.sampled_from(LIST_COLUMNS[table]))
        conv = {"arrays": lambda v: np.asarray(list(v), dtype=object),
                "tuples": lambda v: tuple(v),
                "none": lambda v: None if not len(v) else list(v),
                "nan": lambda v: math.nan if not len(v) else list(v)}[kind]
        df[col] = pd.Series([conv(v) if isinstance(v, (list, tuple, np.ndarray)) else v
                             for v in df[col]], index=df.index, dtype=object)
        setattr(idx, table, df)
    return edit


def _weights_as_text(idx: GraphIndex, draw: st.DrawFn) -> None:
    df = idx.relationships.copy()
    df["weight"] = [str(w) for w in df["weight"]]  # "nan", "inf", "-0.00034" as text
    idx.relationships = df


def _sorted_in_place(idx: GraphIndex, draw: st.DrawFn) -> None:
    """Rows in another order, and a fresh RangeIndex or none at all (a filtered frame)."""
    table = draw(st.sampled_from(["entities", "relationships", "text_units", "community_reports"]))
    df = getattr(idx, table)
    df = df.iloc[::-1]
    if draw(st.booleans()):
        df = df.reset_index(drop=True)
    setattr(idx, table, df)


def _rows_dropped(idx: GraphIndex, draw: st.DrawFn) -> None:
    """A hand edit: some rows gone (the rest of the index still names them)."""
    table = draw(st.sampled_from(["entities", "relationships", "text_units", "communities"]))
    df = getattr(idx, table)
    if len(df):
        keep = draw(st.lists(st.booleans(), min_size=len(df), max_size=len(df)))
        setattr(idx, table, df[keep])


def _ids_changed(idx: GraphIndex, draw: st.DrawFn) -> None:
    """A hand edit: ids rewritten (other tables still hold the old ones)."""
    table = draw(st.sampled_from(["entities", "relationships", "text_units"]))
    df = getattr(idx, table).copy()
    df["id"] = [f"edited-{i}" for i in range(len(df))]
    setattr(idx, table, df)


def _row_added_by_hand(idx: GraphIndex, draw: st.DrawFn) -> None:
    """``pd.concat([table, pd.DataFrame([{"title": ...}])])``: a row with a few cells, the rest
    NaN (no id, no human_readable_id, no lists)."""
    table = draw(st.sampled_from(["entities", "relationships", "text_units"]))
    row = {"entities": {"title": draw(TITLES), "description": "Added by hand."},
           "relationships": {"source": draw(st.sampled_from(NAMES)),
                             "target": draw(st.sampled_from(GHOSTS + NAMES)), "weight": 1.0},
           "text_units": {"text": "A chunk pasted in."}}[table]
    setattr(idx, table, pd.concat([getattr(idx, table), pd.DataFrame([row])],
                                  ignore_index=True))


EDITS = {
    "ints as floats": _ints_as_floats, "ints as text": _ints_as_text,
    "lists as arrays": _lists_as("arrays"), "lists as tuples": _lists_as("tuples"),
    "empty lists as None": _lists_as("none"), "empty lists as NaN": _lists_as("nan"),
    "weights as text": _weights_as_text, "rows reordered": _sorted_in_place,
    "rows dropped": _rows_dropped, "ids changed": _ids_changed,
    "row added by hand": _row_added_by_hand,
}

#: edits after which every planted count still holds (types change, rows and ids do not)
TYPE_EDITS = ("ints as floats", "ints as text", "lists as arrays", "lists as tuples",
              "empty lists as None", "empty lists as NaN", "weights as text", "rows reordered")
