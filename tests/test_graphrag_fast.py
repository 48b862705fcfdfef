"""The fast method's graph, the simulator's name finder and the token estimate, on real text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmsnb.graphrag import build_index
from lmsnb.graphrag.fast import noun_phrases
from lmsnb.graphrag.tokens import estimate_tokens
from lmsnb.sim.graphrag_stub import names_in

FIXTURES = Path(__file__).parents[1].parent / "shared" / "fixtures"
CAROL = FIXTURES / "graphrag-christmas-carol"
SLICES = [Path(__file__).parents[1] / "notebooks" / "data" / f"christmas_carol_part{i}.txt"
          for i in (1, 2)]
JUNK = {"HAVE", "SINCE", "LET", "COME", "DON'T", "YOU'RE", "NAY", "WHAT'S", "KEEP", "CHANGE",
        "GOOD", "BECAUSE", "BOTH", "NOTHING", "I'LL", "SCROOGE SCROOGE", "ILLUSTRATION"}
needs_carol = pytest.mark.skipif(not CAROL.exists(), reason="shared/fixtures not beside the repo")


def _clean_titles(titles) -> None:
    for t in titles:
        assert t.upper() not in JUNK and "--" not in t and not t.upper().startswith("WHAT"), t


def test_fast_graph_on_the_tutorial_slices():
    texts = [p.read_text(encoding="utf-8") for p in SLICES]
    idx = build_index(texts, method="fast", embedding_model=False, cache_dir=None, progress=False)
    ent = idx.entities.set_index("title")
    assert {"SCROOGE", "MARLEY", "SCROOGE'S NEPHEW"} <= set(ent.index)
    assert len(ent) >= 15 and len(idx.relationships) >= 20
    assert ent.loc["SCROOGE", "degree"] == ent["degree"].max()  # the subject is kept, not pruned
    assert ent.loc["SCROOGE", "type"] == "PERSON" and ent.loc["SCROOGE'S NEPHEW", "type"] == "PERSON"
    pairs = {frozenset(p) for p in zip(idx.relationships["source"], idx.relationships["target"],
                                       strict=True)}
    assert frozenset({"SCROOGE", "MARLEY"}) in pairs
    assert frozenset({"SCROOGE", "SCROOGE'S NEPHEW"}) in pairs
    _clean_titles(ent.index)


@needs_carol
def test_fast_graph_on_the_whole_novel():
    novel = pd.read_parquet(CAROL / "documents.parquet")["text"].iloc[0]
    idx = build_index(novel, method="fast", embedding_model=False, cache_dir=None, progress=False)
    titles = set(idx.entities["title"])
    for name in ("SCROOGE", "TINY TIM", "FEZZIWIG", "BELLE", "FRED"):
        assert name in titles, name
    assert titles & {"MARLEY", "JACOB MARLEY"} and titles & {"BOB CRATCHIT", "CRATCHIT"}
    top = idx.entities.sort_values(["degree", "frequency"], ascending=False)["title"].head(15)
    _clean_titles(top)
    assert top.iloc[0] == "SCROOGE"


def test_noun_phrases_skip_sentence_starts_contractions_and_repeats():
    text = ("Sometimes people called Scrooge Scrooge, and sometimes Marley. 'Don't be cross,' "
            "said Marley. 'Let me go!' Nay, Scrooge would not. 'Come, then,' returned the "
            "nephew. You're right, said Scrooge to Marley on Christmas Eve--old Scrooge sat.")
    phrases = noun_phrases(text)
    assert set(phrases) == {"SCROOGE", "MARLEY", "CHRISTMAS EVE"}, phrases


def test_simulator_names_are_names():
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in SLICES)
    names = names_in(text)
    assert names[:2] == ["Scrooge", "Marley"] or names[:2] == ["Scrooge", "Christmas"]
    assert "Marley" in names and "Christmas Eve" in names
    _clean_titles(names)


@needs_carol
def test_token_estimate_matches_o200k_on_the_fixture():
    units = pd.read_parquet(CAROL / "text_units.parquet")  # n_tokens: GraphRAG's o200k counts
    est = np.array([estimate_tokens(t) for t in units["text"]])
    ratio = est / units["n_tokens"].to_numpy()
    assert abs(est.sum() / units["n_tokens"].sum() - 1) <= 0.05
    assert ratio.min() >= 0.85 and ratio.max() <= 1.15, (ratio.min(), ratio.max())
    novel = pd.read_parquet(CAROL / "documents.parquet")["text"].iloc[0]
    assert abs(estimate_tokens(novel) / 45771 - 1) <= 0.05  # graphrag-baseline.md, o200k
