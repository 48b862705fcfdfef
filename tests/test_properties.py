"""Property-based tests: any index a person can build, load or edit validates, saves, displays
and answers queries without a crash, and every consumer treats odd rows the same way (#17).

Indexes come from ``index_strategies.py``; settings from ``hypothesis_profiles.py`` (a fixed
number of examples, derandomised unless ``LMSNB_HYPOTHESIS`` asks otherwise). What Hypothesis found is kept as example-based tests in
``test_properties_regressions.py``.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from index_strategies import TYPE_EDITS, indexes
from test_query_methods import StubChat

from lmsnb.errors import GraphIndexError, LmsnbError
from lmsnb.graphrag import GraphIndex, sanity
from lmsnb.graphrag.index import _ARROW_TYPES
from lmsnb.graphrag.llm import LocalEmbedder
from lmsnb.graphrag.query.local import build_local_context
from lmsnb.graphrag.query.params import QueryConfig
from lmsnb.graphrag.query.vectors import ensure_embeddings
from lmsnb.graphrag.tokens import estimate_tokens

EMB = LocalEmbedder(32)


# ------------------------------------------------------------------------------- validate
@given(case=indexes(edits=TYPE_EDITS))
def test_validate_counts_exactly_what_was_planted(case):
    idx, plan = case
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert idx.validate() is idx
    found = idx.findings()
    assert found.count("relationships", "open_end") == plan.open_relationships
    assert found.count("relationships", "unknown_endpoint") == plan.ghost_relationships
    assert found.count("relationships", "weight_missing") == plan.weight_missing
    assert found.count("relationships", "weight_nonpositive") == plan.weight_nonpositive
    assert found.count("relationships", "weight_infinite") == plan.weight_infinite
    printed = out.getvalue().splitlines()
    assert len(printed) == (len(found) + 1 if found else 0)  # a heading, then one line each
    for f, line in zip(found, printed[1:], strict=True):
        assert line.startswith(f"  - {f.count:,} ")


@given(case=indexes())
def test_validate_never_crashes_and_strict_refuses_exactly_the_odd(case):
    idx, _ = case
    found = idx.findings()
    if found:
        with pytest.raises(GraphIndexError, match="kinds of odd rows"):
            idx.validate(strict=True)
    else:
        idx.validate(strict=True)
    assert all(f.count > 0 for f in found)


# --------------------------------------------------------------------------- parquet round trip
def _canon(col: pd.Series, typ) -> list:
    """A column as comparable values under GraphRAG's type (what parquet keeps)."""
    kind = str(typ)
    if kind.startswith("list<item: struct"):
        return [[] if sanity.is_missing(v) else [dict(x) for x in v] for v in col]
    if kind.startswith("list"):
        return [sanity.id_list(v) for v in col]
    if kind == "int64":
        return [None if math.isnan(v) else int(v) for v in sanity.whole(col)]
    if kind == "double":
        return ["nan" if math.isnan(v) else v for v in sanity.numbers(col)]
    return [None if sanity.is_missing(v) else v for v in col]


@given(case=indexes())
def test_parquet_round_trip_keeps_every_value_and_graphrags_types(case, tmp_path_factory):
    idx, _ = case
    folder = tmp_path_factory.mktemp("idx")
    idx.to_parquet(folder)
    again = GraphIndex.from_parquet(folder)
    for name, df in idx.tables().items():
        out = again.tables()[name]
        assert list(out.columns) == list(df.columns), name
        assert len(out) == len(df), name
        schema = pq.read_schema(folder / f"{name}.parquet")
        for col in df.columns:
            typ = _ARROW_TYPES.get(col)
            if typ is not None and col != "raw_data":
                assert schema.field(col).type == typ, (name, col)
            assert _canon(df[col], typ) == _canon(out[col], typ), (name, col)
    assert again.findings().frame()[["table", "rule", "rows"]].equals(
        idx.findings().frame()[["table", "rule", "rows"]])


# ----------------------------------------------------------------------------------- queries
QUESTIONS = st.sampled_from(["Who is Scrooge?", "What about ZOË and 北京?", "nan", "  SCROOGE  ?",
                             "What links LONDON and FEZZIWIG?"])


@pytest.mark.parametrize("method", ["local", "global", "basic", "drift"])
@settings(max_examples=max(settings.default.max_examples // 2, 1))  # four methods share the time
@given(case=indexes(), question=QUESTIONS)
def test_queries_answer_or_refuse_in_one_message(method, case, question):
    idx, _ = case
    try:
        res = idx.query(question, method=method, chat=StubChat(), embedder=EMB, progress=False)
    except LmsnbError as exc:
        event(f"refused: {exc.message[:40]}")
        assert exc.hint
        return
    event("answered")
    assert isinstance(res.answer, str) and res.answer
    tables = {"entities": idx.entities, "relationships": idx.relationships,
              "sources": idx.text_units, "reports": idx.community_reports}
    for name, ctx in res.context.items():
        if name not in tables or not len(ctx):
            continue
        index_ids = set(sanity.text(tables[name]["id"]))
        assert set(ctx["id"].astype(str)) <= index_ids, name
        assert ctx["short_id"].map(lambda v: isinstance(v, (int, np.integer))).all(), name
    found = res.citations[res.citations["found"]]
    for row in found.itertuples():
        assert row.id is not None


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # pandas 3.1 deprecates it; people use it
@given(case=indexes(edits=False), question=QUESTIONS, data=st.data())
def test_local_context_follows_tables_edited_in_place(case, question, data):
    """A person edits a table in place between two queries (sorts it, replaces a column, drops
    rows): the second query must see the edit exactly as a fresh index with the same tables
    would. (A single cell written with ``.loc`` is not seen: see ``context.table_key``.)"""
    idx, _ = case
    if not len(idx.entities):
        return
    cfg = QueryConfig(top_k_entities=2)

    def context(index):
        ensure_embeddings(index, ["entity_description"], EMB, progress=False)
        return build_local_context(index, question, cfg, embedder=EMB, count=estimate_tokens)

    context(idx)
    edit = data.draw(st.sampled_from(["sort", "rename", "drop"]), label="edit")
    ents = idx.entities
    if edit == "sort":
        ents.sort_values("degree", inplace=True, kind="stable")
    elif edit == "rename":
        ents["title"] = ["SCROOGE", *ents["title"].iloc[1:]]
    else:
        idx.relationships.drop(index=idx.relationships.index[:1], inplace=True)
    idx.embeddings.clear()  # the edit changed what would be embedded
    fresh = GraphIndex(**{k: v.copy() for k, v in idx.tables().items()})
    assert context(idx).text == context(fresh).text


# ------------------------------------------------------------------------------------ update
@given(case=indexes(max_entities=6, max_relationships=8),
       method=st.sampled_from(["standard", "fast"]), remove_missing=st.sampled_from([None, True]))
def test_update_adds_a_document_to_any_index(case, method, remove_missing):
    """``update()`` on any index: the new document is in, and (unless the update was told to
    drop what ``docs`` lacks, or rebuilt the fast graph) every usable entity is kept."""
    idx, _ = case
    usable = {t for t in sanity.text(idx.entities["title"]) if t.strip()}
    try:
        new = idx.update(["Scrooge met Zoë in Ærøskøbing."], llm=StubChat(), method=method,
                         remove_missing=remove_missing, embedding_model=False, cache_dir=None,
                         progress=False)
    except LmsnbError as exc:
        event(f"refused: {exc.message[:40]}")
        assert exc.hint
        return
    event("updated")
    assert "Scrooge met Zoë in Ærøskøbing." in set(new.documents["text"])
    if method == "standard" and not remove_missing:
        assert usable <= set(new.entities["title"])
    assert len(new.text_units) >= 1



# ------------------------------------------------------------------------------ hand edits
@given(case=indexes(max_entities=8, max_relationships=10), data=st.data())
def test_editing_methods_on_any_index_edit_or_refuse_in_one_message(case, data):
    """``merge_entities``/``rename_entity``/``delete_entities``/``delete_documents`` on any
    index: the edit happens (and the index still validates and answers), or one message says
    why not."""
    idx, _ = case
    titles = [t for t in sanity.text(idx.entities["title"]) if t.strip()] or ["SCROOGE"]
    docs = [str(d) for d in idx.documents["id"]] or ["no such document"]
    op = data.draw(st.sampled_from(["merge", "rename", "delete", "delete_documents"]), label="op")
    picked = data.draw(st.lists(st.sampled_from(titles), min_size=1, max_size=3), label="names")
    into = data.draw(st.sampled_from([None, "ZOË", *titles]), label="into")
    new = data.draw(st.sampled_from(["ZOË", "北京", *titles]), label="new")
    doc = data.draw(st.sampled_from(docs), label="document")
    try:
        if op == "merge":
            idx.merge_entities(picked, into=into)
        elif op == "rename":
            idx.rename_entity(picked[0], new)
        elif op == "delete":
            idx.delete_entities(picked)
        else:
            idx.delete_documents(doc)
    except LmsnbError as exc:
        event(f"refused: {exc.message[:40]}")
        assert exc.hint
        return
    event(f"edited: {op}")
    after = {sanity.title_key(t) for t in idx.entities["title"]}  # titles are tidied: folded
    if op == "merge" and into is not None:
        assert sanity.title_key(into) in after
    elif op == "rename":
        assert sanity.title_key(new) in after
    elif op == "delete":
        assert not {sanity.title_key(t) for t in picked} & after
    elif op == "delete_documents":
        assert doc not in set(sanity.text(idx.documents["id"]))
    idx.validate(quiet=True)
    if len(idx.entities):
        try:
            idx.query("Who is Scrooge?", chat=StubChat(), embedder=EMB, progress=False)
        except LmsnbError as exc:
            assert exc.hint
