"""GraphIndex: GraphRAG's own output loads, round-trips with identical columns and dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lmsnb.errors import GraphIndexError
from lmsnb.graphrag import GraphIndex
from lmsnb.graphrag.index import TABLE_COLUMNS

FIXTURES = Path(__file__).parents[1].parent / "shared" / "fixtures"
CAROL = FIXTURES / "graphrag-christmas-carol"
pytestmark = pytest.mark.skipif(not CAROL.exists(), reason="shared/fixtures not beside the repo")


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
