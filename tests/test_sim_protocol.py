"""The real ``lmstudio`` SDK against lmsnb.sim: every operation lmsnb relies on."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import lmstudio as lms
import numpy as np
import pytest

from lmsnb.sim import Simulator, Timing, ToolCall, ToolCalls, scripted
from lmsnb.sim.lexical import count_tokens, tokenize

# Anything the SDK does not understand must fail the test, not just warn.
pytestmark = pytest.mark.filterwarnings("error::lmstudio.LMStudioUnknownMessageWarning")

QWEN = "qwen2.5-7b-instruct"
LLAMA = "llama-3.2-1b-instruct"
NOMIC = "text-embedding-nomic-embed-text-v1.5"
BGE = "text-embedding-bge-small-en-v1.5"
VL = "qwen2-vl-2b-instruct"


def test_listing(lms_client):
    downloaded = lms_client.list_downloaded_models()
    assert [m.model_key for m in downloaded] == [QWEN, LLAMA, NOMIC, BGE, VL]
    assert [m.type for m in downloaded] == ["llm", "llm", "embedding", "embedding", "llm"]
    assert [m.info.vision for m in downloaded if m.type == "llm"] == [False, False, True]
    assert downloaded[0].info.max_context_length == 32768
    assert [m.model_key for m in lms_client.list_downloaded_models("embedding")] == [NOMIC, BGE]
    assert [m.identifier for m in lms_client.llm.list_loaded()] == [QWEN]
    assert [m.identifier for m in lms_client.embedding.list_loaded()] == [NOMIC]
    assert {m.identifier for m in lms_client.list_loaded_models()} == {QWEN, NOMIC}


def test_get_or_load_progress_and_already_loaded(lms_client, sim):
    progress: list[float] = []
    model = lms_client.llm.model(LLAMA, on_load_progress=progress.append)
    assert progress == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert model.identifier == LLAMA
    again: list[float] = []
    assert lms_client.llm.model(LLAMA, on_load_progress=again.append).identifier == LLAMA
    assert again == [1.0]  # alreadyLoaded
    assert {i.identifier for i in sim.catalogue.loaded("llm")} == {QWEN, LLAMA}


def test_load_progress_is_paced(sim, lms_client):
    sim.timing = Timing(load_seconds=0.2)
    start = time.perf_counter()
    lms_client.llm.model(LLAMA)
    assert time.perf_counter() - start >= 0.18


def test_load_new_instance_identifiers_and_config_round_trip(lms_client):
    progress: list[float] = []
    first = lms_client.llm.load_new_instance(
        QWEN, config={"contextLength": 2048, "gpu": {"ratio": 0.5}},
        on_load_progress=progress.append)
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert first.identifier == f"{QWEN}:2"  # QWEN itself is already loaded
    assert lms_client.llm.load_new_instance(QWEN).identifier == f"{QWEN}:3"
    named = lms_client.llm.load_new_instance(LLAMA, "my-inst", ttl=300)
    assert named.identifier == "my-inst"
    assert first.get_context_length() == 2048
    cfg = first.get_load_config()
    assert cfg.context_length == 2048 and cfg.gpu.ratio == 0.5
    assert named.get_load_config().context_length == 4096
    info = first.get_info()
    assert info.model_key == QWEN and info.display_name == "Qwen2.5 7B Instruct"
    assert info.identifier == f"{QWEN}:2"


def test_unload(lms_client, sim):
    model = lms_client.llm.load_new_instance(LLAMA, "temp")
    model.unload()
    assert sim.catalogue.get("temp") is None
    lms_client.llm.load_new_instance(LLAMA, "temp2")
    lms_client.llm.unload("temp2")
    with pytest.raises(lms.LMStudioServerError, match="temp3"):
        lms_client.llm.unload("temp3")


def test_model_not_found(lms_client):
    with pytest.raises(lms.LMStudioModelNotFoundError):
        lms_client.llm.model("no-such-model")
    with pytest.raises(lms.LMStudioModelNotFoundError):
        lms_client.embedding.model("no-such-embedder")
    with pytest.raises(lms.LMStudioServerError, match="pathNotFound"):
        lms_client.llm.load_new_instance("no-such-model")
    with pytest.raises(lms.LMStudioServerError, match="domainMismatch"):
        lms_client.llm.model(NOMIC)


def test_respond_with_callbacks_and_config_round_trip(lms_client):
    model = lms_client.llm.model(QWEN)
    progress, fragments, firsts, messages = [], [], [], []
    result = model.respond(
        "Hello there",
        config={"temperature": 0.2, "maxTokens": 50, "topPSampling": 0.9},
        on_prompt_processing_progress=progress.append,
        on_first_token=lambda: firsts.append(1),
        on_prediction_fragment=fragments.append,
        on_message=messages.append,
    )
    assert result.content == "You said: Hello there"
    assert "".join(f.content for f in fragments) == result.content
    assert len(fragments) == 5 and all(f.tokens_count == 1 for f in fragments)
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert firsts == [1] and len(messages) == 1
    stats = result.stats
    assert stats.stop_reason == "eosFound"
    assert stats.predicted_tokens_count == 5
    assert stats.prompt_tokens_count > 0
    assert stats.total_tokens_count == stats.prompt_tokens_count + 5
    assert result.model_info.model_key == QWEN
    assert result.load_config.context_length == 4096
    assert result.prediction_config.max_tokens == 50
    assert result.prediction_config.temperature == 0.2
    assert result.prediction_config.top_p_sampling == 0.9


def test_chat_history_flattened(lms_client, sim):
    seen = []

    def spy(req):
        seen.append(req)
        return "ok"

    sim.set_behaviour(spy)
    chat = lms.Chat("You are terse.")
    chat.add_user_message("first")
    chat.add_assistant_response("reply")
    chat.add_user_message("second")
    assert lms_client.llm.model(QWEN).respond(chat).content == "ok"
    assert seen[0].messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
    ]
    assert seen[0].model == QWEN and seen[0].last_user == "second"


def test_max_tokens(lms_client, sim):
    model = lms_client.llm.model(QWEN)
    sim.set_behaviour("lorem")
    result = model.respond("go", config={"maxTokens": 3})
    assert result.stats.stop_reason == "maxPredictedTokensReached"
    assert result.stats.predicted_tokens_count == 3
    assert result.content == "Lorem ipsum dolor"
    sim.set_behaviour(lambda req: "one two three four five")
    for unlimited in (-1, 0, False):
        result = model.respond("go", config={"maxTokens": unlimited})
        assert result.stats.stop_reason == "eosFound"
        assert result.content == "one two three four five"


def test_stop_strings(lms_client):
    result = lms_client.llm.model(QWEN).respond("Hello", config={"stopStrings": ["said"]})
    assert result.content == "You "
    assert result.stats.stop_reason == "stopStringFound"


def test_respond_stream_and_cancel(lms_client, sim):
    model = lms_client.llm.model(QWEN)
    stream = model.respond_stream("Stream please")
    pieces = [f.content for f in stream]
    assert "".join(pieces) == stream.result().content == "You said: Stream please"

    sim.set_behaviour("lorem")
    sim.timing = Timing(tokens_per_second=200)
    stream = model.respond_stream("Write a lot")
    received = []
    for fragment in stream:
        received.append(fragment.content)
        if len(received) == 3:
            stream.cancel()
    result = stream.result()
    assert result.stats.stop_reason == "userStopped"
    assert result.content.startswith("Lorem ipsum dolor")
    assert result.content == "".join(received[:3]) or result.content.startswith("".join(received[:3]))
    assert len(result.content) < 200


def test_complete(lms_client):
    result = lms_client.llm.model(QWEN).complete("Once upon a time")
    assert "Once upon a time" in result.content
    assert result.stats.stop_reason == "eosFound"


def test_act_with_tool_two_rounds(lms_client):
    calls = []

    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append((a, b))
        return a + b

    messages = []
    result = lms_client.llm.model(QWEN).act("What is 2 + 3?", [add], on_message=messages.append)
    assert result.rounds == 2
    assert calls == [(2, 3)]
    assert [type(m).__name__ for m in messages] == [
        "AssistantResponse", "ToolResultMessage", "AssistantResponse"]
    assert messages[-1].content[0].text == "The result is 5."


def test_act_by_tool_name_and_scripted_tool_calls(lms_client, sim):
    seen = []

    def get_weather(city: str) -> str:
        """Weather for a city."""
        seen.append(city)
        return "sunny"

    result = lms_client.llm.model(QWEN).act("Please get weather for Paris", [get_weather])
    assert result.rounds == 2 and seen == ["Please get weather for Paris"]

    sim.set_behaviour(scripted([ToolCalls([ToolCall("get_weather", {"city": "Oslo"})]), "Done."]))
    messages = []
    result = lms_client.llm.model(QWEN).act("anything", [get_weather], on_message=messages.append)
    assert seen[-1] == "Oslo" and messages[-1].content[0].text == "Done."


def test_response_format_gives_parsed_dict(lms_client, sim):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 1},
                       "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
        "required": ["name", "age", "tags"],
    }
    model = lms_client.llm.model(QWEN)
    result = model.respond("Describe Scrooge", response_format=schema)
    assert isinstance(result.parsed, dict)
    assert set(result.parsed) == {"name", "age", "tags"}
    assert result.parsed["age"] >= 1 and len(result.parsed["tags"]) == 1
    sim.set_behaviour(lambda req: json.dumps({"name": "Scrooge", "age": 70, "tags": ["miser"]}))
    assert model.respond("x", response_format=schema).parsed["name"] == "Scrooge"


def test_embeddings(lms_client):
    model = lms_client.embedding.model(NOMIC)
    one = np.array(model.embed("Who is Scrooge?"))
    assert one.shape == (768,)
    many = np.array(model.embed(["SCROOGE: a miserly old man", "The weather in Paris is sunny"]))
    assert many.shape == (2, 768)
    assert one @ many[0] > one @ many[1]
    assert np.allclose(np.linalg.norm(many, axis=1), 1.0, atol=1e-5)
    assert model.embed("Who is Scrooge?") == pytest.approx(one.tolist())  # deterministic
    bge = lms_client.embedding.model(BGE)  # JIT load
    assert len(bge.embed("hello")) == 384
    assert bge.get_context_length() == 512


def test_tokenize_count_and_template(lms_client):
    model = lms_client.llm.model(QWEN)
    text = "Ebenezer Scrooge, 1843."
    assert model.tokenize(text) == tokenize(text)
    assert model.count_tokens(text) == count_tokens(text)
    assert lms_client.embedding.model(NOMIC).count_tokens(text) == count_tokens(text)
    formatted = model.apply_prompt_template(lms.Chat.from_history("Hi there"))
    assert "Hi there" in formatted and formatted.endswith("<|im_start|>assistant\n")


def test_jit_load_on_predict(lms_client, sim):
    model = lms_client.llm.model(QWEN)
    sim.unload(QWEN)
    assert model.respond("back?").content == "You said: back?"
    assert sim.catalogue.find_loaded(QWEN) is not None


def test_ttl_unloads_idle_model(lms_client, sim):
    lms_client.llm.model(LLAMA, ttl=1)
    assert sim.catalogue.find_loaded(LLAMA) is not None
    deadline = time.monotonic() + 3
    while sim.catalogue.find_loaded(LLAMA) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.catalogue.find_loaded(LLAMA) is None
    assert sim.catalogue.find_loaded(QWEN) is not None  # no TTL on startup models


def test_per_model_behaviour_and_counters(lms_client, sim):
    sim.set_behaviour("lorem", model=LLAMA)
    assert lms_client.llm.model(QWEN).respond("hi").content == "You said: hi"
    llama = lms_client.llm.model(LLAMA)
    assert llama.respond("hi", config={"maxTokens": 2}).content == "Lorem ipsum"
    counts = sim.counters["llm.predict"]
    assert counts.requests == 2 and counts.generated_tokens == 4 + 2
    assert counts.prompt_tokens > 0
    sim.counters.reset()
    assert sim.counters.total.requests == 0


def test_concurrent_embeddings_run_concurrently(sim):
    """The SDK's concurrent embedString calls are served at once (lmsnb batches that way)."""
    barrier = threading.Barrier(10, timeout=20)  # only passes when all 10 are in at once

    def embedder(text: str) -> list[float]:
        barrier.wait()
        return [1.0, float(len(text))]

    sim.set_embedder(embedder, model=NOMIC)

    async def main() -> list[list[float]]:
        async with lms.AsyncClient(sim.host) as client:
            model = await client.embedding.model(NOMIC)
            return await asyncio.gather(*(model.embed(f"text {i}") for i in range(10)))

    vectors = asyncio.run(main())
    assert vectors == [[1.0, 6.0]] * 10
    assert sim.counters["embedding.embedString"].requests == 10


def test_custom_catalogue():
    from lmsnb.sim import ModelSpec

    models = [ModelSpec("tiny-llm", loaded=True, context_length=1024),
              ModelSpec("tiny-embed", type="embedding", dim=16, loaded=True)]
    with Simulator(models=models, behaviour="lorem") as sim, lms.Client(sim.host) as client:
        assert [m.model_key for m in client.list_downloaded_models()] == ["tiny-llm", "tiny-embed"]
        assert len(client.embedding.model("tiny-embed").embed("x")) == 16
        assert client.llm.model("tiny-llm").get_context_length() == 1024
