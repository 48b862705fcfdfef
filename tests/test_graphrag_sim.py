"""Integration: build an index through lmsnb.client against the simulator's graphrag behaviour."""

from __future__ import annotations

import pytest
from shared_data import DULCE

sim_mod = pytest.importorskip("lmsnb.sim")
client = pytest.importorskip("lmsnb.client")


@pytest.fixture()
def sim():
    with sim_mod.Simulator(behaviour="graphrag") as s:
        client.connect(s.host)
        yield s


@pytest.mark.skipif(not DULCE.exists(), reason="shared/fixtures not beside the repo")
def test_build_dulce_against_simulator(sim, tmp_path):
    from lmsnb.graphrag import build_index
    from tests.test_graphrag_build import check_contract

    idx = build_index(DULCE.read_text(encoding="utf-8"), llm="qwen2.5-7b-instruct",
                      embedding_model="text-embedding-nomic-embed-text-v1.5",
                      cache_dir=tmp_path / "cache", progress=False, manage_models=True)
    check_contract(idx)
    assert idx.embedding_dim == 768
    assert idx.meta["token_counter"] == "model tokenizer"
    assert idx.meta["parse_report"]["unparsed"] == 0
    stats = idx.stats.set_index("stage")
    assert stats.loc["extract_graph", "prompt_tokens"] > 0
    # the model fails midway through a second (uncached) build; the re-run pays only the rest
    from lmsnb.sim import graphrag_stub

    calls = []

    def flaky(req):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("model crashed (test)")
        return graphrag_stub.respond(req)

    sim.set_behaviour(flaky)
    text = DULCE.read_text(encoding="utf-8") + "\n\nEpilogue by Agent Jordan Hayes."
    with pytest.raises(Exception):  # noqa: B017 - whatever the client makes of a server error
        build_index(text, llm="qwen2.5-7b-instruct", embedding_model=False,
                    cache_dir=tmp_path / "c2", progress=False, retries=0, concurrency=1)
    sim.set_behaviour("graphrag")
    again = build_index(text, llm="qwen2.5-7b-instruct", embedding_model=False,
                        cache_dir=tmp_path / "c2", progress=False)
    assert again.stats.set_index("stage").loc["extract_graph", "cached_calls"] == 2


def test_models_named_but_not_loaded_are_loaded_once_not_swapped_all_build_long(
        sim, tmp_path, capsys):
    # Nothing loaded: requests would load each model just in time, and LM Studio's auto-evict
    # would unload the LLM for the embedding model and back (text units are embedded while
    # extraction runs), cutting off predictions. The build loads both once, explicitly.
    from lmsnb.graphrag import build_index

    for inst in list(sim.catalogue.loaded()):
        sim.catalogue.unload(inst.identifier)
    idx = build_index("Alice Smith met Bob Jones in Paris. Bob Jones wrote to Alice Smith.",
                      llm="qwen2.5-7b-instruct",
                      embedding_model="text-embedding-nomic-embed-text-v1.5",
                      cache_dir=tmp_path / "cache", progress=True)
    assert len(idx.entities) and idx.embedding_dim == 768
    loaded = {i.spec.key: i for i in sim.catalogue.loaded()}
    assert set(loaded) == {"qwen2.5-7b-instruct", "text-embedding-nomic-embed-text-v1.5"}
    assert not any(i.jit for i in loaded.values())  # never evicted by a later JIT load
    out = capsys.readouterr().out
    assert "loaded qwen2.5-7b-instruct for the build" in out
    assert "loaded text-embedding-nomic-embed-text-v1.5 for the build" in out
    # a query with both models named loads nothing more
    res = idx.query("Who met Bob Jones?", method="local", model="qwen2.5-7b-instruct")
    assert res.answer and {i.spec.key for i in sim.catalogue.loaded()} == set(loaded)
