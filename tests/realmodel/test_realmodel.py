"""Issue #11 on a real small model: SmolLM2-135M behind ``lmsnb.sim`` (one slot, 8K context).

The model is far too small to extract a graph — which is the case lmsnb must handle well: it
gives up early with what the model said, keeps every prompt inside the real context, bounds
every answer, and keeps the model's numbers in GraphRAG's ranges.
"""

from __future__ import annotations

import time

import pytest
from shared_data import DULCE
from smollm import CONTEXT, EMBED_KEY, LLM_KEY

import lmsnb.chat
from lmsnb.errors import PredictionError
from lmsnb.events import Done, Fragment
from lmsnb.graphrag import build_index

QUESTION = "Who is Alex Mercer and what is Operation Dulce?"


def _calls_since(sim, start: int) -> list[dict]:
    return sim.smollm.calls[start:]


def _bounded(calls: list[dict]) -> None:
    """Every generation fit the context and stopped at its maxTokens (or earlier)."""
    for c in calls:
        assert c["prompt"] + (c["max"] or 0) <= CONTEXT, c
        if c["max"] is not None:
            assert c["tokens"] <= c["max"] + 1, c


def test_chat_streams_real_tokens_through_the_sdk(real):
    start = len(real.smollm.calls)
    stream = lmsnb.chat.stream("Name three colours.", model=LLM_KEY,
                               config={"temperature": 0, "maxTokens": 24})
    events = list(stream)
    done = events[-1]
    assert isinstance(done, Done) and done.text.strip()
    assert sum(isinstance(e, Fragment) for e in events) > 3  # streamed, not one block
    assert done.stats.stop_reason == "maxPredictedTokensReached"
    (call,) = _calls_since(real, start)
    assert call["max"] == 24 and call["tokens"] <= 25
    assert done.text == call["text"]  # what the model wrote is what the user got


def test_a_standard_build_gives_up_early_with_what_the_model_said(real, tmp_path):
    text = DULCE.read_text(encoding="utf-8")
    start = len(real.smollm.calls)
    t0 = time.perf_counter()
    with pytest.raises(PredictionError) as err:
        build_index([text], llm=LLM_KEY, embedding_model=False, cache_dir=tmp_path,
                    chunk_size=400, chunk_overlap=40, progress=False)
    seconds = time.perf_counter() - t0
    calls = _calls_since(real, start)
    msg = str(err.value)
    assert "gave no GraphRAG records for its first 3 chunks" in msg, msg
    said = " ".join(calls[0]["text"].split())[:60]
    assert said and said in " ".join(msg.split())  # the excerpt is the model's own words
    assert "bigger instruction model" in msg and "method='fast'" in msg
    # 3 chunks decide; at most one more was already running (default concurrency) and is kept
    assert 3 <= len(calls) <= 4 and real.smollm.refused == 0
    assert len(list((tmp_path / "chat").rglob("*.json"))) == len(calls)
    _bounded(calls)
    print(f"\n[realmodel] gave up after {len(calls)} generations in {seconds:.0f} s; "
          f"{sum(c['tokens'] for c in calls)} tokens")


def test_a_fast_index_queried_with_default_settings_fits_the_context(real):
    text = DULCE.read_text(encoding="utf-8")[:20000]
    idx = build_index([text], method="fast", embedding_model=EMBED_KEY, cache_dir=None,
                      progress=False)
    assert idx.embedding_dim == 384
    timings = {}
    for method in ("local", "basic", "global"):
        start = len(real.smollm.calls)
        t0 = time.perf_counter()
        res = idx.query(QUESTION, method=method, model=LLM_KEY, progress=False)
        timings[method] = time.perf_counter() - t0
        calls = _calls_since(real, start)
        assert res.answer.strip() and calls, method
        assert res.details["context_window"]["context_length"] == CONTEXT
        _bounded(calls)
        assert all(c["max"] for c in calls)  # every answer bounded by default
    assert real.smollm.refused == 0
    print(f"\n[realmodel] query seconds: {timings}")
