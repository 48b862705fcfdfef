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


def test_embed_refuses_what_is_not_text(conn) -> None:
    """None in a list used to slip through (it was the 'no bad item' sentinel)."""
    import pandas as pd

    from lmsnb.errors import ConfigError

    with pytest.raises(ConfigError, match=r"got NoneType \(item 1\)"):
        embed(["a", None])
    for bad, expected in ((5, "got int"), (None, "got NoneType"), ({"k": "v"}, "got dict"),
                          (pd.DataFrame({"text": ["a"]}), r"pass one column, e.g. df\['text'\]")):
        with pytest.raises(ConfigError, match=expected):
            embed(bad)
    assert embed([]).shape == (0, 768)  # the loaded model's size: it stacks with real rows
    assert embed([], "text-embedding-bge-small-en-v1.5").shape == (0, 384)
    assert len(embed_df("one text")) == 1  # one row, not one per character
