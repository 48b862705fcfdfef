"""The build's scheduling: stages overlap where the pipeline allows, errors stop the rest.

The in-process model answers with the simulator's GraphRAG replies; gates make one call wait
until another stage has started, so a stage-by-stage pipeline would be caught (the gate would
time out) without any assertion about time.
"""

from __future__ import annotations

import threading

import pytest

import lmsnb
from lmsnb.errors import ConfigError, PredictionError
from lmsnb.graphrag import build_index
from lmsnb.graphrag.extract import expected_names
from lmsnb.graphrag.llm import Completion, LocalEmbedder
from lmsnb.graphrag.tokens import estimate_tokens
from lmsnb.sim import Simulator, Timing
from lmsnb.sim.graphrag_stub import respond_messages
from tests.shared_data import FIXTURES

DULCE = (FIXTURES / "dulce" / "dulce.txt").read_text(encoding="utf-8")
LLM = "qwen2.5-7b-instruct"


def kind_of(messages: list[dict], json_schema: dict | None) -> str:
    last = messages[-1]["content"]
    if json_schema is not None:
        return "report"
    if "Descriptions:" in last and "Summary:" in last:
        return "summary"
    if "Possibly missed:" in last:
        return "gleaning"
    return "extraction"


class StubModel:
    """The simulator's GraphRAG replies in process; ``hold(kind, until)`` makes the first call
    of ``kind`` wait for the ``until`` event (at most 20 s, then it records a timeout)."""

    key = "stub"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.events = {k: threading.Event() for k in ("extraction", "gleaning", "summary",
                                                        "report")}
        self.holds: dict[str, threading.Event] = {}
        self.timed_out: list[str] = []
        self.lock = threading.Lock()

    def hold(self, kind: str, until: threading.Event) -> None:
        self.holds[kind] = until

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        kind = kind_of(messages, json_schema)
        with self.lock:
            self.started.append(kind)
            gate = self.holds.pop(kind, None)
        self.events[kind].set()
        if gate is not None and not gate.wait(20):
            self.timed_out.append(kind)
        return Completion(respond_messages(messages, json_schema))

    def count_tokens(self, text):
        return estimate_tokens(text)


class WatchedEmbedder(LocalEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.batches: list[list[str]] = []
        self.called = threading.Event()

    def embed(self, texts):
        self.batches.append(list(texts))
        self.called.set()
        return super().embed(texts)


def test_reports_start_while_summaries_still_run(tmp_path):
    model = StubModel()
    model.hold("summary", until=model.events["report"])  # one summary waits for a report
    idx = build_index(DULCE, llm=model, embedding_model=False, cache_dir=tmp_path,
                      progress=False, summary_threshold_tokens=0)
    assert model.timed_out == []  # a report started while that summary was still running
    assert "summary" in model.started and len(idx.community_reports) == len(idx.communities)


def test_text_units_are_embedded_while_the_graph_is_extracted(tmp_path):
    model = StubModel()
    emb = WatchedEmbedder()
    model.hold("extraction", until=emb.called)  # an extraction waits for an embedding
    idx = build_index(DULCE, llm=model, embedding_model=emb, cache_dir=tmp_path,
                      progress=False)
    assert model.timed_out == []
    assert set(emb.batches[0]) <= set(idx.text_units["text"])
    assert set(idx.embeddings) == {"entity_description", "text_unit_text",
                                   "community_full_content"}
    assert all(len(df) for df in idx.embeddings.values())


def test_a_failing_call_stops_the_build_without_running_the_rest(tmp_path):
    class Failing(StubModel):
        def complete(self, messages, **kw):
            if len(self.started) >= 3:
                self.started.append("failed")
                raise RuntimeError("the model crashed")
            return super().complete(messages, **kw)

    model = Failing()
    text = DULCE * 6  # ~30 chunks
    with pytest.raises(PredictionError, match="the model crashed"):
        build_index(text, llm=model, embedding_model=False, cache_dir=tmp_path,
                    progress=False, concurrency=2)
    assert len(model.started) < 10  # the queued chunks were dropped, not run one by one


def test_chunks_with_the_most_names_are_extracted_first_and_the_index_keeps_their_order():
    """A stage ends when its longest call ends: started last, a long extraction leaves the
    other slots idle. Chunks start most-names-first (a reply lists the chunk's names); the
    index still reads in document order (entities by the first chunk that names them)."""
    seen: list[str] = []

    class Recording(StubModel):
        def complete(self, messages, **kw):
            if kind_of(messages, kw.get("json_schema")) == "extraction":
                seen.append(messages[-1]["content"])
            return super().complete(messages, **kw)

    idx = build_index(DULCE, llm=Recording(), embedding_model=False, cache_dir=None,
                      progress=False, concurrency=1)
    texts = list(idx.text_units["text"])
    started = [next(i for i, t in enumerate(texts) if t in prompt) for prompt in seen]
    names = [expected_names(texts[i]) for i in started]
    assert sorted(started) == list(range(len(texts))) and started != sorted(started)
    assert names == sorted(names, reverse=True)
    position = {u: i for i, u in enumerate(idx.text_units["id"])}
    first = [min(position[u] for u in ids) for ids in idx.entities["text_unit_ids"]]
    assert first == sorted(first)


def test_concurrency_is_auto_or_a_positive_number(tmp_path):
    for bad in (0, -1, "fast", 2.5, True):
        with pytest.raises(ConfigError, match="concurrency must be 'auto' or a positive number"):
            build_index(DULCE, llm=StubModel(), cache_dir=tmp_path, progress=False,
                        concurrency=bad)


# -- against a simulated LM Studio -------------------------------------------------------------

LAPTOP = Timing(prompt_tokens_per_second=1000, tokens_per_second=40, first_token_latency=0.2)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_one_slot_server_at_laptop_speed_does_exactly_the_calls_lmsnb_reports(tmp_path,
                                                                              sync_timeout):
    """#11: four calls in flight on a server that runs one: three wait in LM Studio's queue far
    longer than the silence limit. Waiting is not an error: nothing times out, nothing is sent
    twice, and the server's count of predictions is the build's count of calls."""
    with Simulator(behaviour="graphrag", timing=LAPTOP, max_concurrent_predictions=1) as sim:
        lmsnb.connect(sim.host)
        lmsnb.set_timeout(5)  # a queued extraction waits ~30 s at this speed
        idx = build_index(DULCE[:6000], llm=LLM, embedding_model=False, concurrency=4,
                          cache_dir=tmp_path, progress=False)
        counts = sim.counters.predictions(LLM)
        requests = sim.counters["llm.predict"].requests
    total = idx.stats.set_index("stage").loc["total"]
    assert counts.max_waiting >= 1 and counts.max_running == 1  # calls did queue
    assert total["retries"] == 0
    assert requests == counts.finished == total["calls"] - total["cached_calls"]
    assert counts.cancelled == 0


def test_auto_concurrency_fills_every_slot_and_no_more(tmp_path):
    """Default settings on a server with three slots: three calls run at once (at most one more
    waits, while lmsnb checks whether a fourth would start), and the build's calls are the
    server's predictions."""
    timing = Timing(prompt_tokens_per_second=20000, tokens_per_second=800)
    with Simulator(behaviour="graphrag", timing=timing, max_concurrent_predictions=3) as sim:
        lmsnb.connect(sim.host)
        idx = build_index(DULCE, llm=LLM, embedding_model=False, cache_dir=tmp_path,
                          progress=False)
        counts = sim.counters.predictions(LLM)
        learned = lmsnb.get_connection().pool.capacity(LLM)
    total = idx.stats.set_index("stage").loc["total"]
    assert counts.max_running == 3 and counts.max_waiting <= 1
    assert learned == {sim.host: 3}
    assert counts.finished == total["calls"] - total["cached_calls"]


@pytest.mark.timeout(600)
def test_a_build_on_three_hosts_survives_one_dying_midway(tmp_path):
    """Three one-slot servers; one stops mid-build. The build completes; every server's
    predictions are accounted for by lmsnb, and no call finished on two servers."""
    timing = Timing(prompt_tokens_per_second=20000, tokens_per_second=400)
    sims = [Simulator(behaviour="graphrag", timing=timing, max_concurrent_predictions=1).start()
            for _ in range(3)]
    try:
        pool = lmsnb.connect([s.host for s in sims])
        victim = sims[1]

        def stop_when_busy() -> None:
            while victim.counters.predictions(LLM).finished < 2:
                threading.Event().wait(0.05)
            victim.stop()

        killer = threading.Thread(target=stop_when_busy, daemon=True)
        killer.start()
        idx = build_index(DULCE, llm=LLM, embedding_model=False, cache_dir=tmp_path,
                          progress=False)
        killer.join(30)
        counts = {s.host: s.counters.predictions(LLM) for s in sims}
        requests = {s.host: s.counters["llm.predict"].requests for s in sims}
    finally:
        for s in sims:
            s.stop()
    total = idx.stats.set_index("stage").loc["total"]
    hosts = {h["host"]: h for h in idx.meta["hosts"]}
    stats = pool.stats().set_index("host")
    assert bool(stats.loc[victim.host, "down"]) and stats.loc[victim.host, "failed_over"] >= 1
    assert sum(h["calls"] for h in hosts.values()) == total["calls"] - total["cached_calls"]
    answered = total["calls"] - total["cached_calls"] - total["retries"]
    assert sum(c.finished for c in counts.values()) == answered  # none lost, none twice
    for s in sims:  # each server's work is what lmsnb says it sent there and got back
        assert counts[s.host].finished == hosts[s.host]["calls"] - hosts[s.host]["lost"] > 0
        if s is not victim:
            assert requests[s.host] == hosts[s.host]["calls"]
    # a request sent as the victim went down may never have reached it
    assert requests[victim.host] <= hosts[victim.host]["calls"]
    assert hosts[victim.host]["lost"] >= 1
    assert len(idx.community_reports) == len(idx.communities)


def test_manage_models_loads_on_every_host_and_progress_says_who_did_what(tmp_path, capfd):
    small = "llama-3.2-1b-instruct"  # downloaded, not loaded
    timing = Timing(prompt_tokens_per_second=50000, tokens_per_second=2000)
    sims = [Simulator(behaviour="graphrag", timing=timing, max_concurrent_predictions=1).start()
            for _ in range(2)]
    try:
        lmsnb.connect([s.host for s in sims])
        idx = build_index(DULCE[:8000], llm=small, cache_dir=tmp_path, progress="text",
                          manage_models=True, embedding_model=False)
        finished = [s.counters.predictions(small).finished for s in sims]
    finally:
        for s in sims:
            s.stop()
    hosts = {h["host"]: h["calls"] for h in idx.meta["hosts"]}
    assert all(finished) and finished == [hosts[s.host] for s in sims]
    out = capfd.readouterr()
    assert f"{sims[0].host} " in out.err and f"{sims[1].host} " in out.err  # stage lines
    assert "by host:" in out.out  # the summary


def test_a_host_without_the_model_is_left_out(tmp_path):
    from lmsnb.sim import default_models

    embed_only = [m for m in default_models() if m.type == "embedding"]
    with Simulator(behaviour="graphrag") as full, Simulator(models=embed_only) as bare:
        lmsnb.connect([bare.host, full.host])
        idx = build_index(DULCE[:3000], llm=LLM, cache_dir=tmp_path, progress=False,
                          embedding_model=False)
        assert full.counters.predictions(LLM).finished == idx.stats.set_index("stage").loc[
            "total", "calls"]
        assert bare.counters["llm.predict"].requests == 0
