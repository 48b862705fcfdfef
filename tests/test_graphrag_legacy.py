"""Older GraphRAG output folders (0.x ``create_final_*`` with old columns, 1.x, 2.x) load as
today's tables: the Christmas Carol fixture (a 3.x output) is written back in the old shapes
(column sets read from GraphRAG's own workflows and test data at each release tag), loaded,
and compared with the original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shared_data import CAROL, needs_fixtures

from lmsnb.errors import GraphIndexError
from lmsnb.graphrag import GraphIndex
from lmsnb.graphrag.index import TABLE_COLUMNS
from lmsnb.graphrag.llm import Completion, LocalEmbedder
from lmsnb.graphrag.tokens import estimate_tokens

pytestmark = needs_fixtures


@pytest.fixture(scope="module")
def carol() -> GraphIndex:
    return GraphIndex.from_parquet(CAROL)


# ------------------------------------------------------------------ old shapes, from 3.x
def _nodes(idx: GraphIndex, *, old: bool) -> pd.DataFrame:
    """create_final_nodes: one row per entity and community level (-1: in no community)."""
    ents = idx.entities.set_index("id")
    member = (idx.communities.loc[:, ["community", "level", "entity_ids"]]
              .explode("entity_ids").rename(columns={"entity_ids": "id"}).dropna())
    loose = ents.index.difference(member["id"])
    member = pd.concat([member, pd.DataFrame({"id": loose, "community": -1, "level": 0})])
    nodes = member.assign(title=member["id"].map(ents["title"]),
                          degree=member["id"].map(ents["degree"]).astype("int64"),
                          human_readable_id=member["id"].map(ents["human_readable_id"]),
                          x=0, y=0).reset_index(drop=True)
    if not old:  # 1.x
        return nodes[["id", "human_readable_id", "title", "community", "level", "degree", "x",
                      "y"]]
    # 0.3-0.4: community as text (None = no community), copies of the entity columns
    nodes["community"] = [None if c < 0 else str(c) for c in nodes["community"]]
    nodes["type"] = nodes["id"].map(ents["type"])
    nodes["entity_type"] = nodes["type"]
    nodes["description"] = nodes["id"].map(ents["description"])
    nodes["source_id"] = nodes["id"].map(ents["text_unit_ids"]).map(",".join)
    return nodes


def write_legacy(idx: GraphIndex, folder: Path, version: str, *, nodes: bool = True) -> Path:
    """Write ``idx`` the way GraphRAG ``version`` ("1.x", "0.5", "0.4", "2.x") laid it out."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = idx.documents.drop(columns=["creation_date", "raw_data"])
    units = idx.text_units.assign(document_ids=idx.text_units["document_id"].map(lambda d: [d]))
    units = units.drop(columns="document_id")
    ents = idx.entities.drop(columns=["frequency", "degree"])
    rels = idx.relationships.copy()
    coms = idx.communities.drop(columns=["children"])
    reps = idx.community_reports.drop(columns=["children"]).rename(
        columns={"rating_explanation": "rank_explanation"})
    cov = idx.covariates.copy()
    if version == "2.x":  # today's names, 2.0 columns
        out = {"documents": docs.assign(metadata=None), "text_units": units,
               "entities": idx.entities, "relationships": rels,
               "communities": idx.communities,
               "community_reports": idx.community_reports.rename(
                   columns={"rating_explanation": "rank_explanation"}),
               "covariates": cov}
        for name, df in out.items():
            df.to_parquet(folder / f"{name}.parquet")
        return folder
    if version in ("0.5", "0.4"):
        coms = coms.drop(columns=["parent"])
        reps = reps.drop(columns=["parent"])
    if version == "0.4":
        docs = docs.drop(columns=["human_readable_id"]).rename(columns={"text": "raw_content"})
        units = units.drop(columns=["human_readable_id"])
        ents = ents.rename(columns={"title": "name"})
        ents["text_unit_ids"] = ents["text_unit_ids"].map(",".join)
        rels = rels.rename(columns={"combined_degree": "rank"})
        rels["human_readable_id"] = rels["human_readable_id"].astype(str)
        rels["source_degree"] = 0
        coms = coms.drop(columns=["community", "entity_ids", "human_readable_id", "period",
                                  "size"]).assign(id=coms["community"].astype(str),
                                                  raw_community=coms["community"].astype(str))
        reps = reps.drop(columns=["human_readable_id", "size", "period"])
        reps["community"] = reps["community"].astype(str)
        cov["human_readable_id"] = cov["human_readable_id"].astype(str)
        cov["n_tokens"] = 1200
    tables = {"documents": docs, "text_units": units, "entities": ents, "relationships": rels,
              "communities": coms, "community_reports": reps, "covariates": cov}
    if nodes:
        tables["nodes"] = _nodes(idx, old=version == "0.4")
    for name, df in tables.items():
        df.to_parquet(folder / f"create_final_{name}.parquet")
    return folder


class FakeChat:
    key = "fake-chat"

    def __init__(self):
        self.calls = []

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        self.calls.append(messages)
        text = "Scrooge is a miser who changes [Data: Entities (0)]."
        return Completion(text, sum(estimate_tokens(m["content"]) for m in messages),
                          estimate_tokens(text), 0.0)

    def count_tokens(self, text):
        return estimate_tokens(text)


def _parents(df: pd.DataFrame) -> dict[int, int]:
    return dict(zip(df["community"].astype(int), df["parent"].astype(int), strict=True))


def _children(df: pd.DataFrame) -> dict[int, set[int]]:
    return {int(c): set(map(int, k)) for c, k in zip(df["community"], df["children"],
                                                      strict=True)}


def assert_like_carol(idx: GraphIndex, carol: GraphIndex) -> None:
    idx.validate()
    for name, df in idx.tables().items():
        want = carol.tables()[name]
        assert list(df.columns[:len(TABLE_COLUMNS[name])]) == TABLE_COLUMNS[name], name
        assert len(df) == len(want), name
        got_types = dict(df.dtypes.astype(str)[TABLE_COLUMNS[name]])
        assert got_types == dict(want.dtypes.astype(str)[TABLE_COLUMNS[name]]), name
    # ids join
    assert set(idx.text_units["document_id"]) <= set(idx.documents["id"])
    units = set(idx.text_units["id"])
    assert {u for v in idx.entities["text_unit_ids"] for u in v} <= units
    assert {u for v in idx.relationships["text_unit_ids"] for u in v} <= units
    assert {e for v in idx.communities["entity_ids"] for e in v} <= set(idx.entities["id"])
    assert set(idx.community_reports["community"]) <= set(idx.communities["community"])
    # the graph columns the old versions lacked come back equal to GraphRAG 3's own
    e = idx.entities.set_index("id")
    w = carol.entities.set_index("id")
    assert (e.loc[w.index, "degree"] == w["degree"]).all()
    assert (e.loc[w.index, "frequency"] == w["frequency"]).all()
    assert (e.loc[w.index, "title"] == w["title"]).all()
    assert list(idx.relationships["combined_degree"]) == list(carol.relationships["combined_degree"])
    # the community hierarchy is the original one
    assert _parents(idx.communities) == _parents(carol.communities)
    assert _children(idx.communities) == _children(carol.communities)
    assert _parents(idx.community_reports) == _parents(carol.community_reports)
    assert _children(idx.community_reports) == _children(carol.community_reports)
    assert (idx.community_reports["rating_explanation"]
            == carol.community_reports["rating_explanation"]).all()


@pytest.mark.parametrize("version, nodes, guess", [
    ("1.x", True, "1.x"),
    ("1.x", False, "1.x"),      # no create_final_nodes: degree from the relationships
    ("0.5", True, "0.5-0.9"),   # no parent: derived from node membership
    ("0.5", False, "0.5-0.9"),  # ... or from communities.entity_ids
    ("0.4", True, "0.3-0.4"),   # name, raw_content, rank, text ids, community in the id column
])
def test_older_folder_maps_onto_the_contract(carol, tmp_path, capsys, version, nodes, guess):
    folder = write_legacy(carol, tmp_path / "output", version, nodes=nodes)
    idx = GraphIndex.from_parquet(folder)
    assert_like_carol(idx, carol)
    conv = idx.meta["converted_from"]
    assert conv["version"] == guess
    assert "create_final_entities.parquet" in conv["files"]
    assert any("degree" in d for d in conv["derived"])
    err = capsys.readouterr().err
    assert err.count("[lmsnb.graphrag]") == 1 and f"GraphRAG {guess} output" in err
    if version == "0.4":
        assert (idx.relationships["human_readable_id"]
                == carol.relationships["human_readable_id"]).all()
        assert idx.documents["text"].iloc[0] == carol.documents["text"].iloc[0]
        assert set(idx.communities["human_readable_id"]) == set(carol.communities["community"])
        # regenerated community ids are stable from one load to the next
        again = GraphIndex.from_parquet(folder)
        assert list(again.communities["id"]) == list(idx.communities["id"])


def test_converted_index_saves_as_graphrag_3_and_reloads_quietly(carol, tmp_path, capsys):
    idx = GraphIndex.from_parquet(write_legacy(carol, tmp_path / "old", "0.4"))
    idx.to_parquet(tmp_path / "new")
    capsys.readouterr()
    back = GraphIndex.from_parquet(tmp_path / "new")
    assert capsys.readouterr().err == ""
    assert back.meta["converted_from"]["version"] == "0.3-0.4"  # history kept in lmsnb.json
    assert_like_carol(back, carol)


def test_local_and_global_query_on_a_converted_folder(carol, tmp_path):
    idx = GraphIndex.from_parquet(write_legacy(carol, tmp_path / "output", "0.4"))
    chat = FakeChat()
    res = idx.query("Who is Scrooge?", method="local", chat=chat, embedder=LocalEmbedder(256),
                    progress=False)
    assert "SCROOGE" in set(res.context["entities"]["title"])
    assert len(chat.calls) == 1 and "-----Entities-----" in chat.calls[0][0]["content"]
    res = idx.query("What are the themes?", method="global", chat=FakeChat(),
                    community_level=0, progress=False)
    assert res.answer


def test_graphrag_2_folder_is_upgraded(carol, tmp_path, capsys):
    idx = GraphIndex.from_parquet(write_legacy(carol, tmp_path / "output", "2.x"))
    assert_like_carol(idx, carol)
    conv = idx.meta["converted_from"]
    assert conv["version"] == "2.x"
    assert "text_units: document_id = first of document_ids" in conv["derived"]
    assert "community_reports: rank_explanation -> rating_explanation" in conv["derived"]
    assert "document_ids" not in idx.text_units.columns
    assert "GraphRAG 2.x output" in capsys.readouterr().err


def test_graphrag_3_folder_is_left_alone(carol, capsys):
    idx = GraphIndex.from_parquet(CAROL)
    assert "converted_from" not in idx.meta and capsys.readouterr().err == ""


def test_timestamped_pre_0_4_output_folder(carol, tmp_path, capsys):
    root = tmp_path / "output"
    write_legacy(carol, root / "20240701-101010" / "artifacts", "0.4")
    write_legacy(carol, root / "20240702-090000" / "artifacts", "0.4")
    idx = GraphIndex.from_parquet(root)
    assert len(idx.entities) == len(carol.entities)
    assert "20240702-090000" in idx.meta["converted_from"]["folder"]
    assert "newest run 20240702-090000/artifacts of 2" in capsys.readouterr().err


def test_a_chunk_from_several_documents_keeps_document_ids(carol, tmp_path):
    folder = write_legacy(carol, tmp_path / "output", "1.x")
    units = pd.read_parquet(folder / "create_final_text_units.parquet")
    units.loc[0, "document_ids"] = np.array([units.loc[0, "document_ids"][0], "other"])
    units.to_parquet(folder / "create_final_text_units.parquet")
    idx = GraphIndex.from_parquet(folder)
    assert idx.text_units.loc[0, "document_id"] == carol.text_units.loc[0, "document_id"]
    assert list(idx.text_units.loc[0, "document_ids"])[1] == "other"


def test_garbage_parquet_names_are_one_clear_error(tmp_path):
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "foo.parquet")
    pd.DataFrame({"y": [1]}).to_parquet(tmp_path / "bar.parquet")
    with pytest.raises(GraphIndexError, match=r"none of GraphRAG's tables: expected "
                       r"documents\.parquet.*create_final_<table>\.parquet \(GraphRAG 0\.x/1\.x\)"
                       r"; found bar\.parquet, foo\.parquet"):
        GraphIndex.from_parquet(tmp_path)
    empty = tmp_path / "empty"
    (empty / "run" / "deeper").mkdir(parents=True)
    pd.DataFrame({"y": [1]}).to_parquet(empty / "run" / "deeper" / "t.parquet")
    with pytest.raises(GraphIndexError, match=r"found no \.parquet files \(subfolders with "
                                              r"parquet files: run/deeper\)"):
        GraphIndex.from_parquet(empty)


def test_old_name_with_wrong_columns_is_one_clear_error(carol, tmp_path):
    folder = write_legacy(carol, tmp_path / "output", "1.x")
    pd.DataFrame({"x": [1]}).to_parquet(folder / "create_final_entities.parquet")
    pd.DataFrame({"y": [1]}).to_parquet(folder / "create_final_relationships.parquet")
    with pytest.raises(GraphIndexError, match=r"create_final_entities\.parquet lacks id, title "
                       r"or name \(its columns: x\); create_final_relationships\.parquet lacks "
                       r"source, target"):
        GraphIndex.from_parquet(folder)


def test_tables_the_old_version_never_had_stay_empty_with_columns(carol, tmp_path):
    folder = write_legacy(carol, tmp_path / "output", "1.x")
    for name in ("covariates", "community_reports"):
        (folder / f"create_final_{name}.parquet").unlink()
    units = pd.read_parquet(folder / "create_final_text_units.parquet")  # 1.x without claims
    units.drop(columns="covariate_ids").to_parquet(folder / "create_final_text_units.parquet")
    idx = GraphIndex.from_parquet(folder)
    assert idx.covariates is None
    assert len(idx.community_reports) == 0
    assert list(idx.community_reports.columns) == TABLE_COLUMNS["community_reports"]
    assert (idx.text_units["covariate_ids"].map(len) == 0).all()
    idx.validate()
