"""Embeddings as arrays and DataFrames against the simulator."""

from __future__ import annotations

import numpy as np
import pytest

import lmsnb
from lmsnb.embed import embed, embed_df


@pytest.fixture
def conn(sim):
    c = lmsnb.connect(sim.host)
    yield c
    c.close()


def test_embed_shapes_and_order(conn) -> None:
    texts = [f"text number {i}" for i in range(300)] + ["text number 0"]
    arr = embed(texts, progress=False)
    assert arr.shape == (301, 768) and arr.dtype == np.float32
    assert np.allclose(arr[0], arr[-1])  # same text, same vector (and embedded once)
    single = lmsnb.embed("text number 5")  # package-level callable
    assert single.shape == (768,) and np.allclose(single, arr[5])
    unit = embed(["a", "b"], normalize=True)
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0)


def test_embed_df_and_model_choice(conn) -> None:
    df = embed_df(["a", "b"], "text-embedding-bge-small-en-v1.5")
    assert list(df.columns) == ["text", "embedding"] and df["embedding"][0].shape == (384,)


def test_embed_rejects_non_strings(conn) -> None:
    with pytest.raises(lmsnb.ConfigError, match="takes strings"):
        embed(["a", 3])
