"""GraphIndex: GraphRAG's own output loads, round-trips with identical columns and dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import CAROL, needs_fixtures

from lmsnb.errors import GraphIndexError
from lmsnb.graphrag import GraphIndex
from lmsnb.graphrag.index import TABLE_COLUMNS

pytestmark = needs_fixtures


@pytest.fixture(scope="module")
def carol() -> GraphIndex:
    return GraphIndex.from_parquet(CAROL)


def test_loads_graphrag_output(carol):
    carol.validate()
    counts = dict(zip(carol.summary()["table"], carol.summary()["rows"], strict=True))
    assert counts == {"documents": 1, "text_units": 42, "entities": 529, "relationships": 978,
                      "communities": 122, "community_reports": 122, "covariates": 406}
    assert "GraphIndex" in carol._repr_html_()
    for name, df in carol.tables().items():
        assert list(df.columns) == TABLE_COLUMNS[name]


def test_round_trip_identical_columns_dtypes_and_arrow_types(carol, tmp_path):
    carol.to_parquet(tmp_path)
    again = GraphIndex.from_parquet(tmp_path)
    for name, df in carol.tables().items():
        out = again.tables()[name]
        assert list(out.columns) == list(df.columns)
        assert dict(out.dtypes.astype(str)) == dict(df.dtypes.astype(str)), name
        assert pq.read_schema(tmp_path / f"{name}.parquet").equals(
            pq.read_schema(CAROL / f"{name}.parquet"), check_metadata=False), name
        plain = pd.read_parquet(tmp_path / f"{name}.parquet")  # plain pandas reads it
        assert len(plain) == len(df)
    a = carol.community_reports.iloc[5]
    b = again.community_reports.iloc[5]
    assert a["full_content"] == b["full_content"]
    assert [dict(f) for f in a["findings"]] == [dict(f) for f in b["findings"]]
    assert list(a["children"]) == list(b["children"])


def test_validate_lists_missing_columns(carol):
    broken = GraphIndex(**{**carol.tables(), "entities": carol.entities.drop(columns=["degree",
                                                                                       "type"])})
    with pytest.raises(GraphIndexError, match="entities lacks type, degree"):
        broken.validate()


def test_embeddings_and_check_embedder(tmp_path):
    idx = GraphIndex(embedding_model="nomic", embedding_dim=4)
    idx.embeddings["entity_description"] = pd.DataFrame(
        {"id": ["a", "b"], "embedding": [np.ones(4, np.float32), np.arange(4, dtype=np.float32)]})
    idx.to_parquet(tmp_path)
    again = GraphIndex.from_parquet(tmp_path)
    assert again.embedding_model == "nomic" and again.embedding_dim == 4
    ids, mat = again.embedding_matrix("entity_description")
    assert ids == ["a", "b"] and mat.shape == (2, 4)
    assert np.allclose(np.linalg.norm(mat, axis=1), 1.0)
    again.check_embedder("nomic", 4)
    with pytest.raises(GraphIndexError, match="embedded with 'nomic'"):
        again.check_embedder("bge-small", 384)
    with pytest.raises(GraphIndexError, match="4-d"):
        GraphIndex(embedding_dim=4).check_embedder("x", 8)
    with pytest.raises(GraphIndexError, match="no 'text_unit_text' embeddings"):
        again.embedding_matrix("text_unit_text")


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(GraphIndexError, match="none of GraphRAG's tables"):
        GraphIndex.from_parquet(tmp_path)


# -- damaged folders and saving over an existing one ----------------------------------------
import shutil  # noqa: E402


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "entities.parquet").write_bytes(b"not parquet"),
     r"Cannot read .*entities\.parquet: ArrowInvalid"),
    (lambda d: (d / "lmsnb.json").write_text("{not json"), "lmsnb.json is not readable JSON"),
    (lambda d: (d / "lmsnb.json").write_text("[1, 2]"), "lmsnb.json is not lmsnb's metadata"),
    (lambda d: pd.DataFrame({"x": [1]}).to_parquet(d / "embeddings.entity_description.parquet"),
     "embeddings.entity_description.parquet lacks id, embedding"),
])
def test_damaged_folder_is_one_clear_error(tmp_path, damage, match):
    folder = tmp_path / "out"
    shutil.copytree(CAROL, folder)
    damage(folder)
    with pytest.raises(GraphIndexError, match=match):
        GraphIndex.from_parquet(folder)


def test_from_parquet_of_a_file_or_none(tmp_path):
    with pytest.raises(GraphIndexError, match="it is a file, not a folder"):
        GraphIndex.from_parquet(CAROL / "entities.parquet")
    with pytest.raises(GraphIndexError, match="needs a folder path, not a NoneType"):
        GraphIndex.from_parquet(None)


def test_to_parquet_over_an_old_index_drops_its_stale_files_and_keeps_the_users(carol,
                                                                                tmp_path):
    folder = tmp_path / "out"
    old = GraphIndex.from_parquet(CAROL)
    old.embeddings = {"entity_description": pd.DataFrame(
        {"id": old.entities["id"], "embedding": [np.ones(8, np.float32)] * len(old.entities)})}
    old.embedding_model, old.embedding_dim = "old-model", 8
    old.to_parquet(folder)
    (folder / "notes.txt").write_text("mine")
    new = GraphIndex(documents=carol.documents, text_units=carol.text_units,
                     entities=carol.entities, relationships=carol.relationships)
    new.to_parquet(folder)
    back = GraphIndex.from_parquet(folder)
    assert back.embeddings == {} and back.embedding_model is None and back.covariates is None
    assert (folder / "notes.txt").read_text() == "mine"


def test_to_parquet_that_cannot_convert_writes_nothing(carol, tmp_path):
    folder = tmp_path / "out"
    carol.to_parquet(folder)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    bad = GraphIndex(**{t: getattr(carol, t) for t in TABLE_COLUMNS if t != "covariates"})
    bad.entities = bad.entities.assign(human_readable_id="x")
    with pytest.raises(GraphIndexError, match=r"Cannot save entities\.human_readable_id"):
        bad.to_parquet(folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(GraphIndexError, match="it is a file"):
        carol.to_parquet(tmp_path / "file")
