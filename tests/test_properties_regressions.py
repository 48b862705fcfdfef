"""What the property suite (``test_properties*.py``) found, kept as plain examples (#17).

Each test names the crash or wrong answer it guards against; every one failed before its fix.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import CAROL, needs_fixtures
from test_query_methods import StubChat

from lmsnb import GraphView
from lmsnb.errors import GraphIndexError
from lmsnb.graphrag import GraphIndex, build_index
from lmsnb.graphrag.communities import create_communities
from lmsnb.graphrag.llm import LocalEmbedder
from lmsnb.graphrag.query.global_search import select_reports
from lmsnb.graphrag.query.local import build_local_context
from lmsnb.graphrag.query.params import QueryConfig
from lmsnb.graphrag.query.vectors import ensure_embeddings
from lmsnb.graphrag.tokens import estimate_tokens

pytestmark = needs_fixtures
EMB = LocalEmbedder(32)


@pytest.fixture(scope="module")
def carol_base() -> GraphIndex:
    idx = GraphIndex.from_parquet(CAROL)
    ensure_embeddings(idx, ["entity_description", "text_unit_text", "community_full_content"],
                      EMB, progress=False)
    return idx


@pytest.fixture
def carol(carol_base: GraphIndex) -> GraphIndex:
    return carol_base.copy()


def ask(idx: GraphIndex, question: str, method: str = "local"):
    return idx.query(question, method=method, chat=StubChat(), embedder=EMB, progress=False)


# ------------------------------------------------------------------------------- validate
def test_validate_counts_graphrags_own_oddities(carol, capsys):
    assert carol.validate() is carol
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[lmsnb.graphrag] 2 kinds of odd rows")
    assert out[2].startswith("  - 84 relationships name entities not in the entities table: ")
    assert "the graph view draws those names as plain nodes" in out[2]
    found = carol.findings()
    assert found.count("relationships", "unknown_endpoint") == 84
    assert found.frame()["rows"].tolist() == [1, 84]
    carol.validate(quiet=True)
    assert capsys.readouterr().out == ""
    with pytest.raises(GraphIndexError, match="84 relationships name entities not in"):
        carol.validate(strict=True)


def test_validate_counts_odd_weights_the_way_every_consumer_treats_them(carol):
    w = carol.relationships["weight"].to_numpy().copy()
    w[:3] = [-0.00034, 0.0, np.nan]  # the fast method's PMI, an edit, a missing value
    w[3] = np.inf
    carol.relationships["weight"] = w
    found = carol.findings()
    assert found.count("relationships", "weight_nonpositive") == 2
    assert found.count("relationships", "weight_missing") == 1
    assert found.count("relationships", "weight_infinite") == 1
    assert "queries" in found.get("relationships", "weight_nonpositive").affects


# --------------------------------------------------------------------------------- parquet
def test_to_parquet_saves_numbers_a_users_edits_turned_into_text_or_floats(carol, tmp_path):
    """Found: ``Cannot save relationships.weight ... Could not convert '0.0' with type str``
    after ``df["weight"] = df["weight"].astype(str)`` (a CSV round trip does the same)."""
    rels = carol.relationships.copy()
    rels["weight"] = rels["weight"].astype(str)
    rels.loc[rels.index[0], "weight"] = "nan"
    carol.relationships = rels
    ents = carol.entities.copy()
    ents["human_readable_id"] = ents["human_readable_id"].astype(float)
    ents.loc[ents.index[0], "human_readable_id"] = np.nan  # what a merge leaves
    ents["degree"] = ents["degree"].astype(str)
    carol.entities = ents
    carol.to_parquet(tmp_path)
    schema = pq.read_schema(tmp_path / "relationships.parquet")
    assert str(schema.field("weight").type) == "double"
    assert str(pq.read_schema(tmp_path / "entities.parquet").field("degree").type) == "int64"
    again = GraphIndex.from_parquet(tmp_path)
    assert math.isnan(again.relationships["weight"].iloc[0])
    assert again.relationships["weight"].iloc[1:].tolist() == \
        carol.relationships["weight"].iloc[1:].astype(float).tolist()
    assert pd.isna(again.entities["human_readable_id"].iloc[0])
    assert again.entities["degree"].tolist() == ents["degree"].astype(int).tolist()


def test_to_parquet_refuses_text_that_is_no_number_and_writes_nothing(carol, tmp_path):
    carol.relationships = carol.relationships.assign(weight="strong")
    with pytest.raises(GraphIndexError, match=r"relationships\.weight .*'strong' \(row 0\)"):
        carol.to_parquet(tmp_path)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------- queries
def test_local_search_leaves_out_entities_an_answer_could_not_cite(carol):
    """Found: ``ValueError: cannot convert float NaN to integer`` when a merge left an entity
    without a human_readable_id."""
    ents = carol.entities.copy()
    scrooge = ents.index[ents["title"] == "SCROOGE"][0]
    ents["human_readable_id"] = ents["human_readable_id"].astype(float)
    ents.loc[scrooge, "human_readable_id"] = np.nan
    carol.entities = ents
    res = ask(carol, "Who is Scrooge?")
    titles = set(res.context["entities"]["title"])
    assert "SCROOGE" not in titles and "BOB CRATCHIT" in titles or len(titles) > 3


def test_degrees_written_as_text_are_numbers_to_local_search(carol):
    """Found: ``TypeError: bad operand type for unary -: 'str'`` ranking named entities."""
    carol.entities = carol.entities.assign(degree=carol.entities["degree"].astype(str))
    ctx = ask(carol, "Who is Scrooge?").context["entities"]
    assert ctx["title"].iloc[0] == "SCROOGE"
    assert ctx["degree"].iloc[0] == int(carol.entities.loc[
        carol.entities["title"] == "SCROOGE", "degree"].iloc[0])


def test_global_search_skips_reports_without_a_community_number(carol):
    """Found: ``IntCastingNaNError: Cannot convert non-finite values (NA or inf) to integer``."""
    reps = carol.community_reports.copy()
    reps["community"] = reps["community"].astype(float)
    reps["level"] = reps["level"].astype(float)
    reps.loc[reps.index[:2], "community"] = np.nan
    reps.loc[reps.index[2], "level"] = np.nan
    reps.loc[reps.index[3], "rank"] = np.inf
    carol.community_reports = reps
    chosen = select_reports(carol, 2)
    assert len(chosen) == len(reps) - 3
    assert chosen.set_index("id")["rank"].isna()[reps["id"].iloc[3]]  # ranked as no rank: last
    res = ask(carol, "What are the main themes?", "global")
    assert res.answer
    assert ask(carol, "Who is Scrooge?").answer  # local search reads the reports too


def test_a_table_sorted_in_place_between_queries_is_read_as_sorted(carol):
    """Found: the second query sent rows at the positions the unsorted table had (other
    entities than the ones it had chosen, under their ids)."""
    cfg = QueryConfig()
    before = build_local_context(carol, "Who is Scrooge?", cfg, embedder=EMB,
                                 count=estimate_tokens)
    with pytest.warns(Warning, match="inplace"):  # pandas 3.1 deprecates it; people still do it
        carol.entities.sort_values("title", inplace=True)
    after = build_local_context(carol, "Who is Scrooge?", cfg, embedder=EMB, count=estimate_tokens)
    assert set(after.tables["entities"]["title"]) == set(before.tables["entities"]["title"])
    by_id = carol.entities.set_index("id")["title"]
    rows = after.tables["entities"]
    assert (rows["id"].map(by_id) == rows["title"]).all()


def test_stored_vectors_that_are_nan_or_the_wrong_size_are_left_out(carol):
    """Found: ``ValueError: all the input array dimensions ... must match`` from a saved index
    whose embeddings table had a short, a missing or a NaN vector."""
    emb = carol.embeddings["entity_description"].copy()
    vecs = list(emb["embedding"])
    vecs[0], vecs[1], vecs[2] = None, vecs[1][:5], np.full(32, np.nan, np.float32)
    carol.embeddings["entity_description"] = emb.assign(embedding=vecs)
    assert carol.findings().count("embeddings.entity_description", "bad_vector") == 3
    ids, mat = carol.embedding_matrix("entity_description")
    assert mat.shape == (len(emb) - 3, 32) and len(ids) == len(emb) - 3
    assert ask(carol, "Who is Scrooge?").answer


# ------------------------------------------------------------------------ build and update
def test_communities_accept_any_weight():
    """Found: ``leiden.ParameterRangeError: Parameter out of valid range`` for an infinite or
    1e308 weight; NaN and negative weights went to Leiden as they were."""
    names = ["A", "B", "C", "D", "E"]
    ents = pd.DataFrame({"id": names, "title": names})
    rels = pd.DataFrame({"id": list("vwxyz"), "source": ["A", "B", "C", "D", None],
                         "target": ["B", "C", "D", "E", "A"],
                         "weight": [np.inf, 1e308, -1.0, np.nan, 1.0], "text_unit_ids": [[]] * 5})
    comms = create_communities(ents, rels)
    assert set().union(*map(set, comms["entity_ids"])) == set(names)


def test_the_smallest_float_weight_next_to_the_largest_is_drawn():
    """Found (after merging the view's cap on huge weights into sanity's ``summable``): scaling
    5e-324 next to 1e308 down gave weight 0, and the view, showing only that relationship,
    divided 0 by 0 for its line width (the view's JSON then held NaN)."""
    ents = pd.DataFrame({"id": ["e0", "e1"], "title": ["SCROOGE", "Scrooge"], "degree": [0, 38]})
    rels = pd.DataFrame({"id": ["r0", "r1"], "source": ["Scrooge", "SCROOGE"],
                         "target": ["Scrooge", "SCROOGE"], "weight": [5e-324, 1e308]})
    view = GraphView(GraphIndex(entities=ents, relationships=rels), max_nodes=1)
    view.drill(view.graph["nodes"][0]["id"])  # the unclustered group: Scrooge, his loop only
    assert [e["id"] for e in view.graph["edges"]] == ["r0"]
    assert math.isfinite(view.graph["edges"][0]["width"])


def test_update_after_a_users_edits():
    """Found: ``AttributeError: 'float' object has no attribute 'strip'`` (a description set to
    NaN), and list columns holding None, in ``update()``."""
    idx = build_index(["Scrooge met Marley in London. Bob Cratchit worked for Scrooge."],
                      llm=StubChat(), embedding_model=False, cache_dir=None, progress=False)
    ents = idx.entities.copy()
    ents["description"] = np.nan
    ents["text_unit_ids"] = None
    idx.entities = ents
    idx.relationships = idx.relationships.assign(weight=idx.relationships["weight"].astype(str))
    new = idx.update(["Scrooge visited Fred on Christmas Day."], llm=StubChat(), cache_dir=None,
                     progress=False)
    assert {"SCROOGE", "MARLEY", "FRED"} <= set(new.entities["title"])
    assert new.relationships["weight"].dtype == np.float64


def test_editing_an_index_with_open_ended_relationships_and_text_weights(carol):
    """Found: ``TypeError: '<' not supported between instances of 'str' and 'float'`` renaming
    an entity while a relationship had no target (pandas 3's ``astype(str)`` keeps None as
    NaN), and ``TypeError: Invalid value '-inf' for dtype 'str'`` when weights were text."""
    rels = carol.relationships.copy()
    rels["target"] = rels["target"].astype(object)
    rels.loc[rels.index[0], "target"] = None
    rels["weight"] = rels["weight"].astype(str)
    carol.relationships = rels
    carol.rename_entity("SCROOGE", "THE MISER")
    assert "THE MISER" in set(carol.entities["title"])
    carol.delete_entities(["MARLEY"])
    assert "MARLEY" not in set(carol.entities["title"])
    assert carol.relationships["weight"].dtype == np.float64
    assert carol.findings().count("relationships", "open_end") == 1


def test_deleting_entities_when_a_report_has_no_community_number(carol):
    """Found: ``IntCastingNaNError`` deleting the last member of a community while a report's
    community was NaN (a merge turned the column into floats); the odd report stays as it
    was, the emptied community's report goes."""
    com = carol.communities
    lone = com[com["size"] == 1].iloc[0]
    reps = carol.community_reports.copy()
    reps["community"] = reps["community"].astype(float)
    odd = reps.index[reps["community"] != lone["community"]][0]
    reps.loc[odd, "community"] = np.nan
    carol.community_reports = reps
    title = carol.entities.set_index("id").at[lone["entity_ids"][0], "title"]
    carol.delete_entities([title])
    assert lone["community"] not in set(carol.communities["community"])
    left = carol.community_reports
    assert lone["community"] not in set(left["community"])
    assert left["community"].isna().sum() == 1


def test_queries_say_once_which_odd_rows_they_skip(carol, capsys):
    ents = carol.entities.copy()
    ents["human_readable_id"] = ents["human_readable_id"].astype(float)
    ents.loc[ents.index[:2], "human_readable_id"] = np.nan
    carol.entities = ents
    ask(carol, "Who is Scrooge?")
    ask(carol, "Who is Marley?", "basic")
    err = [x for x in capsys.readouterr().err.splitlines() if "odd rows" in x]
    assert err == ["[lmsnb.graphrag] queries skip or adjust odd rows (idx.validate() lists "
                   "them): 2 entities have no human_readable_id (a whole number) (queries "
                   "leave them out: answers cite rows by it)"]
    carol.entities = ents.drop(index=ents.index[0])  # an edit: said again, with the new count
    ask(carol, "Who is Scrooge?")
    assert "1 entity has no human_readable_id" in capsys.readouterr().err


def test_a_query_reads_missing_descriptions_as_empty(carol):
    """Found (after the context budgets landed): ``TypeError: sequence item 1: expected str
    instance, float found`` sampling the index's text, when a description was None (pandas 3's
    ``astype(str)`` keeps it missing)."""
    ents = carol.entities.copy()
    ents["description"] = ents["description"].astype(object)
    ents.loc[ents.index[:5], "description"] = None
    carol.entities = ents
    assert ask(carol, "Who is Scrooge?").answer
