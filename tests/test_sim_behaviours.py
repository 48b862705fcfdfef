"""Custom behaviours that act like a real model, maxTokens, and prompts too long for the context.

Everything through the unmodified SDK (sync and async clients) or plain httpx for REST.
"""

from __future__ import annotations

import itertools
import json
import threading
import time

import httpx
import lmstudio as lms
import pytest
from sim_clients import BOTH

from lmsnb.sim import ModelSpec, Simulator

pytestmark = pytest.mark.filterwarnings("error::lmstudio.LMStudioUnknownMessageWarning")

QWEN = "qwen2.5-7b-instruct"
NOMIC = "text-embedding-nomic-embed-text-v1.5"
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


@BOTH
@pytest.mark.parametrize("reason", ["maxPredictedTokensReached", "contextLengthReached"])
def test_behaviour_reports_its_finish_reason(sim, SDK, reason):
    def model(req):
        yield "cut short"
        req.finish(reason)

    sim.set_behaviour(model)
    result = SDK(sim.host).respond(QWEN, "go on")
    assert result.content == "cut short" and result.stats.stop_reason == reason
    r = httpx.post(f"{sim.url}/v1/chat/completions", timeout=10, json={
        "model": QWEN, "messages": [{"role": "user", "content": "go on"}]})
    assert r.json()["choices"][0]["finish_reason"] == "length"


def test_unknown_finish_reason_is_a_behaviour_error(sim):
    sim.set_behaviour(lambda req: req.finish("tired"))
    with lms.Client(sim.host) as client, pytest.raises(lms.LMStudioServerError, match="tired"):
        client.llm.model(QWEN).respond("x")


@BOTH
def test_behaviour_reports_prompt_processing_progress(sim, SDK):
    def model(req):
        for p in (0.3, 0.6, 0.6, 0.2):  # repeats and steps back are not sent
            req.report_prompt_progress(p)
        return "read it"

    sim.set_behaviour(model)
    seen: list[float] = []
    result = SDK(sim.host).respond(QWEN, "a long prompt", on_prompt_processing_progress=seen.append)
    assert result.content == "read it"
    assert seen == [0.0, 0.3, 0.6, 1.0]


@BOTH
def test_custom_embedder_serves_embeddings(sim, SDK):
    sim.set_embedder(lambda text: [float(len(text)), 1.0, 0.0])
    assert SDK(sim.host).embed(NOMIC, ["ab", "abcd"]) == [[2.0, 1.0, 0.0], [4.0, 1.0, 0.0]]
    r = httpx.post(f"{sim.url}/v1/embeddings", json={"model": NOMIC, "input": "abc"})
    assert r.json()["data"][0]["embedding"] == [3.0, 1.0, 0.0]
    sim.set_embedder(None)
    assert len(SDK(sim.host).embed(NOMIC, "ab")) == 768  # back to the built-in


def test_per_model_embedder_and_catalogue_embedder():
    models = [ModelSpec("e1", type="embedding", loaded=True, embedder=lambda t: [1.0]),
              ModelSpec("e2", type="embedding", dim=4, loaded=True)]
    with Simulator(models=models) as sim, lms.Client(sim.host) as client:
        assert client.embedding.model("e1").embed("x") == [1.0]
        assert len(client.embedding.model("e2").embed("x")) == 4
        sim.set_embedder(lambda t: [2.0, 2.0], model="e2")
        assert client.embedding.model("e2").embed("x") == [2.0, 2.0]


@BOTH
def test_custom_text_that_misses_the_schema_passes_through_and_is_counted(sim, SDK):
    sim.set_behaviour(lambda req: '{"answer": "cut off by maxTok')
    result = SDK(sim.host).respond(QWEN, "x", response_format=SCHEMA)
    assert result.content == '{"answer": "cut off by maxTok'
    assert result.parsed == result.content  # the SDK could not parse it: text, as with LM Studio
    sim.set_behaviour(lambda req: '{"wrong": 1}')
    assert SDK(sim.host).respond(QWEN, "x", response_format=SCHEMA).parsed == {"wrong": 1}
    sim.set_behaviour(lambda req: '{"answer": "fits"}')
    assert SDK(sim.host).respond(QWEN, "x", response_format=SCHEMA).parsed == {"answer": "fits"}
    assert sim.counters["llm.predict"].schema_misses == 2


def test_builtin_behaviours_always_fit_the_schema(sim):
    r = httpx.post(f"{sim.url}/v1/chat/completions", timeout=10, json={
        "model": QWEN, "messages": [{"role": "user", "content": "hello"}],
        "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}})
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"answer": "answer"}
    with lms.Client(sim.host) as client:
        assert client.llm.model(QWEN).respond("hi", response_format=SCHEMA).parsed == {
            "answer": "answer"}
    assert sim.counters.total.schema_misses == 0


@BOTH
def test_max_tokens_stops_an_endless_behaviour(sim, SDK):
    closed = threading.Event()
    limits: list[int | None] = []

    def endless(req):
        limits.append(req.max_tokens)
        try:
            for _ in itertools.count():
                if req.stopped:
                    return
                yield " more"
        finally:
            closed.set()

    sim.set_behaviour(endless)
    result = SDK(sim.host).respond(QWEN, "never stop", config={"maxTokens": 5})
    assert result.stats.stop_reason == "maxPredictedTokensReached"
    assert result.content == " more" * 5 and result.stats.predicted_tokens_count == 5
    assert limits == [5]
    assert closed.wait(10)  # the behaviour was told to stop, and did


@BOTH
def test_prompt_longer_than_the_context_is_refused(sim, SDK):
    sim.load("llama-3.2-1b-instruct", "small", context_length=256)
    long_text = "word " * 400
    with pytest.raises(lms.LMStudioServerError, match="Trying to keep the first 4.. tokens when "
                       "context the overflows.*context length of only 256 tokens"):
        SDK(sim.host).respond("small", long_text)
    r = httpx.post(f"{sim.url}/v1/chat/completions", timeout=10, json={
        "model": "small", "messages": [{"role": "user", "content": long_text}]})
    assert r.status_code == 400 and "context length of only 256 tokens" in r.text
    assert sim.counters.predictions("small").started == 0


@BOTH
def test_overflow_policies_fit_a_long_chat(sim, SDK):
    sim.load("llama-3.2-1b-instruct", "small", context_length=256)
    chat = lms.Chat("Be brief.")
    for i in range(12):
        chat.add_user_message(f"question {i} " + "filler " * 20)
        chat.add_assistant_response(f"answer {i}")
    chat.add_user_message("last question")
    for policy in ("rollingWindow", "truncateMiddle"):
        result = SDK(sim.host).respond("small", chat, config={"contextOverflowPolicy": policy})
        assert result.content == "You said: last question"
        assert result.stats.prompt_tokens_count < 256
    with pytest.raises(lms.LMStudioServerError, match="Trying to keep the first"):
        SDK(sim.host).respond("small", chat, config={"contextOverflowPolicy": "stopAtLimit"})


@BOTH
def test_stop_at_limit_ends_generation_at_the_context_length(sim, SDK):
    sim.load("llama-3.2-1b-instruct", "small", context_length=64)
    sim.set_behaviour("lorem")
    result = SDK(sim.host).respond("small", "write", config={"contextOverflowPolicy": "stopAtLimit"})
    assert result.stats.stop_reason == "contextLengthReached"
    assert result.stats.total_tokens_count == 64
    # LM Studio's default policy shifts the context instead and keeps going
    result = SDK(sim.host).respond("small", "write", config={"maxTokens": 100})
    assert result.stats.stop_reason == "maxPredictedTokensReached"


def test_a_slow_behaviour_can_be_cancelled_before_its_first_token(sim):
    started = threading.Event()

    def slow(req):
        started.set()
        while not req.stopped:
            time.sleep(0.01)
        return "never sent"

    sim.set_behaviour(slow)
    with lms.Client(sim.host) as client:
        stream = client.llm.model(QWEN).respond_stream("think hard")
        stream.start()  # sends the request (iterating would too)
        assert started.wait(10)
        stream.cancel()
        result = stream.wait_for_result()
    assert result.stats.stop_reason == "userStopped" and result.content == ""
    assert sim.counters.predictions(QWEN).cancelled == 1
