"""Query methods end to end through the real SDK against the LM Studio simulator."""

from __future__ import annotations

import pytest
from shared_data import FIXTURES

import lmsnb.client
from lmsnb.events import Done, Fragment
from lmsnb.graphrag import GraphIndex
from lmsnb.sim import Simulator, Timing

LLM = "qwen2.5-7b-instruct"
EMB = "text-embedding-nomic-embed-text-v1.5"


@pytest.fixture(scope="module")
def sim_conn():
    with Simulator(port=0, timing=Timing(), behaviour="graphrag") as sim:
        # LM Studio's default load (4,096 tokens): query budgets must fit what people get
        lmsnb.client.connect(sim.host)
        yield sim


@pytest.fixture(scope="module")
def carol(sim_conn) -> GraphIndex:
    return GraphIndex.from_parquet(FIXTURES / "graphrag-christmas-carol")


def test_local_computes_embeddings_with_server_model_and_streams(carol):
    s = carol.query("Who is Scrooge?", method="local", model=LLM, embedding_model=EMB,
                    stream=True, progress=False)
    events = list(s)
    assert isinstance(events[-1], Done)
    assert any(isinstance(e, Fragment) for e in events[:-1])  # real streaming from the server
    res = s.result
    assert carol.embedding_model == EMB and carol.embedding_dim == 768
    assert "SCROOGE" in set(res.context["entities"]["title"])
    assert res.answer and res.prompt_tokens > 1000 and res.llm_calls == 1
    assert res.citations["found"].all()


def test_all_methods_through_the_simulator(carol):
    for method in ("global", "basic", "drift"):
        res = carol.query("How does Scrooge change over the story?", method=method, model=LLM,
                          n_depth=1, drift_k_followups=3, progress=False)
        assert res.answer, method
        assert res.llm_calls >= 1
        if method == "global":
            assert res.details["batches"] == res.calls["stage"].eq("global map").sum()
    assert carol.embedding_model == EMB  # the index's own model was used by default
    assert set(carol.embeddings) == {"entity_description", "text_unit_text",
                                     "community_full_content"}


def test_dulce_index_built_and_queried_through_the_simulator(sim_conn, tmp_path):
    from lmsnb.graphrag import build_index

    text = (FIXTURES / "dulce" / "dulce.txt").read_text(encoding="utf-8")
    idx = build_index([text], llm=LLM, embedding_model=EMB, cache_dir=tmp_path, progress=False)
    res = idx.query("What is Operation Dulce about, and who is Alex Mercer?", method="local",
                    model=LLM, progress=False)
    titles = set(res.context["entities"]["title"])
    assert any("ALEX" in t for t in titles) and any("DULCE" in t for t in titles)
    res = idx.query("What are the main themes?", method="global", model=LLM, progress=False)
    assert res.answer and res.details["batches"] >= 1
