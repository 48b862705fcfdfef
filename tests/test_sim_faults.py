"""Fault injection and restarts: what lmsnb's error handling is tested against."""

from __future__ import annotations

import httpx
import lmstudio as lms
import pytest

from lmsnb.sim import Timing

pytestmark = pytest.mark.filterwarnings("error::lmstudio.LMStudioUnknownMessageWarning")

QWEN = "qwen2.5-7b-instruct"
NOMIC = "text-embedding-nomic-embed-text-v1.5"


def test_drop_mid_stream_raises_websocket_error(sim):
    sim.set_behaviour("lorem")
    sim.inject("drop", "predict", after=3)
    with lms.Client(sim.host) as client:
        model = client.llm.model(QWEN)
        received = []
        with pytest.raises(lms.LMStudioWebsocketError):
            for fragment in model.respond_stream("go"):
                received.append(fragment.content)
        assert len(received) == 3
        with pytest.raises(lms.LMStudioWebsocketError):  # the session is dead for good
            model.respond("again")
        # Other namespaces' sessions are separate connections and keep working.
        assert len(client.embedding.model(NOMIC).embed("still alive")) == 768
    sim.set_behaviour("echo")
    with lms.Client(sim.host) as fresh:  # recovery: a new client
        assert fresh.llm.model(QWEN).respond("hi").content == "You said: hi"


def test_stall_times_out_and_session_survives(sim, sync_timeout):
    lms.set_sync_api_timeout(1)
    sim.inject("stall", "predict")
    with lms.Client(sim.host) as client:
        model = client.llm.model(QWEN)
        with pytest.raises(lms.LMStudioTimeoutError):
            model.respond("hello")
        assert model.respond("hello").content == "You said: hello"  # one-shot fault


def test_stall_rpc_times_out(sim, sync_timeout):
    lms.set_sync_api_timeout(1)
    with lms.Client(sim.host) as client:
        model = client.embedding.model(NOMIC)
        sim.inject("stall", "embedString", seconds=5)
        with pytest.raises(lms.LMStudioTimeoutError):
            model.embed("hello")
        assert len(model.embed("hello")) == 768


def test_error_replies(sim):
    with lms.Client(sim.host) as client:
        model = client.llm.model(QWEN)
        sim.inject("error", "predict", message="GPU on fire")
        with pytest.raises(lms.LMStudioServerError, match="GPU on fire"):
            model.respond("hello")
        sim.inject("error", "predict", after=2, message="mid-stream failure")
        with pytest.raises(lms.LMStudioServerError, match="mid-stream failure"):
            model.respond("hello")
        sim.inject("error", "embedString", code="generic.noModelMatchingQuery",
                   message="gone")
        with pytest.raises(lms.LMStudioModelNotFoundError):
            client.embedding.model(NOMIC).embed("x")
        assert model.respond("ok").content == "You said: ok"


def test_persistent_fault_until_cleared(sim):
    fault = sim.inject("error", "countTokens", times=None)
    with lms.Client(sim.host) as client:
        model = client.llm.model(QWEN)
        for _ in range(3):
            with pytest.raises(lms.LMStudioServerError, match="RPC error"):
                model.count_tokens("x")
        assert fault.hits == 3
        sim.clear_faults()
        assert model.count_tokens("two words") == 2


def test_load_fault(sim):
    sim.inject("drop", "getOrLoad", after=2)
    progress: list[float] = []
    with lms.Client(sim.host) as client, pytest.raises(lms.LMStudioWebsocketError):
        client.llm.model("llama-3.2-1b-instruct", on_load_progress=progress.append)
    assert progress == [0.0, 0.25, 0.5]


def test_broken_behaviours(sim):
    def boom(req):
        raise RuntimeError("behaviour crashed")

    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    with lms.Client(sim.host) as client:
        model = client.llm.model(QWEN)
        sim.set_behaviour(lambda req: '{"answer": "unterminated')  # malformed JSON
        assert model.respond("x").content == '{"answer": "unterminated'
        # As from a real model cut short: the text arrives unchanged (counted), and the SDK's
        # parsed result falls back to the text.
        result = model.respond("x", response_format=schema)
        assert result.content == result.parsed == '{"answer": "unterminated'
        assert sim.counters["llm.predict"].schema_misses == 1
        sim.set_behaviour(boom)
        with pytest.raises(lms.LMStudioServerError, match="behaviour crashed"):
            model.respond("x")


def test_restart_then_new_client(sim):
    port = sim.port
    client = lms.Client(sim.host)
    with client:
        model = client.llm.model(QWEN)
        assert model.respond("before").content == "You said: before"
        sim.restart()
        assert sim.port == port
        with pytest.raises(lms.LMStudioWebsocketError):
            model.respond("after")
    with lms.Client(sim.host) as fresh:
        assert fresh.llm.model(QWEN).respond("after").content == "You said: after"


def test_stop_releases_stalled_requests(sim):
    sim.inject("stall", "embedString")
    sim.timing = Timing()
    with lms.Client(sim.host) as client:
        model = client.embedding.model(NOMIC)
        sim.restart()  # must not hang on the stalled call's server task
        with pytest.raises(lms.LMStudioWebsocketError):
            model.embed("x")


def test_rest_faults(sim):
    sim.inject("error", "chat.completions", message="overloaded")
    body = {"model": QWEN, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{sim.url}/v1/chat/completions", json=body)
    assert r.status_code == 500 and r.json()["error"]["message"] == "overloaded"
    sim.inject("drop", "embeddings")
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{sim.url}/v1/embeddings", json={"model": NOMIC, "input": "x"})
    assert httpx.post(f"{sim.url}/v1/chat/completions", json=body).status_code == 200
