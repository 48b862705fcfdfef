"""Model lookup, tokenizing, grammars, presets, unloading, JIT auto-evict and duplicate identifiers,
as real LM Studio answers them (the expectations come from lmstudio-python's own tests, which
run against the desktop app). Unmodified SDK, sync and async clients.
"""

from __future__ import annotations

import json
import logging
import threading

import lmstudio as lms
import pytest
from sim_clients import BOTH

from lmsnb.sim import Simulator, Timing
from lmsnb.sim.lexical import count_tokens

pytestmark = pytest.mark.filterwarnings("error::lmstudio.LMStudioUnknownMessageWarning")

QWEN = "qwen2.5-7b-instruct"
LLAMA = "llama-3.2-1b-instruct"
LLAMA_PATH = "hugging-quants/llama-3.2-1b-instruct"  # how applications name it (a path prefix)
NOMIC = "text-embedding-nomic-embed-text-v1.5"
NOMIC_PATH = "nomic-ai/nomic-embed-text-v1.5"
BGE = "text-embedding-bge-small-en-v1.5"

# lmstudio-python's tests/support GBNF_GRAMMAR: what applications send as a grammar
GBNF_GRAMMAR = r"""
root ::= "{\"response\":" response ",\"first_word_in_response\":" first-word-in-response ",\"lastWordInResponse\":" last-word-in-response "}"
response ::= string
first-word-in-response ::= string
last-word-in-response ::= string
string ::=
  "\"" (
    [^"\\\x7f\x00-\x1f] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4})
  )* "\""
""".lstrip()
GBNF_KEYS = {"response", "first_word_in_response", "lastWordInResponse"}


@BOTH
@pytest.mark.parametrize("name", [LLAMA_PATH, LLAMA_PATH.upper(), LLAMA])
def test_llm_named_by_path_prefix_everywhere(sim, SDK, name):
    sdk = SDK(sim.host)
    sim.load(LLAMA)
    assert sdk.respond(name, "hi").content == "You said: hi"

    def handle_calls(client):
        model = client.llm.model(name)
        return model.identifier, model.get_info().model_key, model.get_load_config().context_length

    async def handle_calls_async(client):
        model = await client.llm.model(name)
        return (model.identifier, (await model.get_info()).model_key,
                (await model.get_load_config()).context_length)

    expected = (LLAMA, LLAMA, 4096)
    assert sdk.call(handle_calls if sdk.name == "sync" else handle_calls_async) == expected

    def session_calls(client):
        llm = client.llm
        return (llm._get_context_length(name), llm._count_tokens(name, "a b c"),
                llm._tokenize(name, "a b c"), llm.get_model_info(name).identifier,
                llm._apply_prompt_template(name, lms.Chat.from_history("x")._get_history_for_prediction()))

    async def session_calls_async(client):
        llm = client.llm
        return (await llm._get_context_length(name), await llm._count_tokens(name, "a b c"),
                await llm._tokenize(name, "a b c"), (await llm.get_model_info(name)).identifier,
                await llm._apply_prompt_template(
                    name, lms.Chat.from_history("x")._get_history_for_prediction()))

    ctx, count, tokens, ident, template = sdk.call(
        session_calls if sdk.name == "sync" else session_calls_async)
    assert (ctx, count, len(tokens), ident) == (4096, 3, 3, LLAMA)
    assert "x" in template


@BOTH
def test_get_or_load_and_load_new_instance_by_path(sim, SDK):
    sdk = SDK(sim.host)

    def go(client):
        got = client.llm.model(LLAMA_PATH)  # JIT load by path
        new = client.llm.load_new_instance(LLAMA_PATH)
        return got.identifier, new.identifier

    async def go_async(client):
        got = await client.llm.model(LLAMA_PATH)
        new = await client.llm.load_new_instance(LLAMA_PATH)
        return got.identifier, new.identifier

    assert sdk.call(go if sdk.name == "sync" else go_async) == (LLAMA, f"{LLAMA}:2")


@BOTH
@pytest.mark.parametrize("name", [NOMIC_PATH, NOMIC])
def test_embedding_model_by_path_and_its_tokenizer_markers(sim, SDK, name):
    sdk = SDK(sim.host)
    assert len(sdk.embed(name, "Hello, world!")) == 768

    def go(client):
        model = client.embedding.model(name)
        return model.count_tokens("Hello, world!"), model.tokenize("Hello, world!")

    async def go_async(client):
        model = await client.embedding.model(name)
        return await model.count_tokens("Hello, world!"), await model.tokenize("Hello, world!")

    count, tokens = sdk.call(go if sdk.name == "sync" else go_async)
    # embedding models add a start and an end marker when tokenizing; LLMs do not
    assert count == count_tokens("Hello, world!") and len(tokens) == count + 2

    def llm(client):
        model = client.llm.model(QWEN)
        return model.count_tokens("Hello, world!"), len(model.tokenize("Hello, world!"))

    async def llm_async(client):
        model = await client.llm.model(QWEN)
        return await model.count_tokens("Hello, world!"), len(await model.tokenize("Hello, world!"))

    count, n = sdk.call(llm if sdk.name == "sync" else llm_async)
    assert n == count


@BOTH
def test_unknown_model_everywhere_is_model_not_found(sim, SDK):
    sdk = SDK(sim.host)
    with pytest.raises(lms.LMStudioModelNotFoundError):
        sdk.respond("hugging-quants/no-such-model", "hi")
    with pytest.raises(lms.LMStudioModelNotFoundError):
        sdk.embed("nomic-ai/nope", "hi")


@BOTH
def test_gbnf_grammar_output_fits_the_grammar(sim, SDK):
    config = {"structured": {"type": "gbnf", "gbnfGrammar": GBNF_GRAMMAR}}
    sdk = SDK(sim.host)
    for result in (sdk.complete(QWEN, "Hello", config=config),
                   sdk.respond(QWEN, "Hello", config=config)):
        assert isinstance(result.parsed, dict) and set(result.parsed) == GBNF_KEYS
        assert result.parsed == json.loads(result.content)
    sim.set_behaviour("graphrag")
    assert set(sdk.respond(QWEN, "Hello", config=config).parsed) == GBNF_KEYS


def test_broken_grammar_is_refused(sim):
    config = {"structured": {"type": "gbnf", "gbnfGrammar": 'root ::= "{" missing-rule'}}
    with lms.Client(sim.host) as client, pytest.raises(lms.LMStudioServerError, match="GBNF"):
        client.llm.model(QWEN).respond("x", config=config)


@BOTH
def test_unknown_preset_is_refused(sim, SDK):
    with pytest.raises(lms.LMStudioPresetNotFoundError, match="No such preset"):
        SDK(sim.host).respond(QWEN, "Some text", preset="No such preset")

    def stream(client):
        s = client.llm.model(QWEN).complete_stream("Some text", preset="No such preset")
        with s:
            return s.wait_for_result()

    async def stream_async(client):
        s = await (await client.llm.model(QWEN)).complete_stream("x", preset="No such preset")
        async with s:
            return await s.wait_for_result()

    sdk = SDK(sim.host)
    with pytest.raises(lms.LMStudioPresetNotFoundError):
        sdk.call(stream if sdk.name == "sync" else stream_async)


def test_known_preset_applies_its_settings():
    presets = {"Terse": {"llm.prediction.maxPredictedTokens": 2}}
    with Simulator(behaviour="lorem", presets=presets) as sim, lms.Client(sim.host) as client:
        model = client.llm.model(QWEN)
        assert model.respond("x", preset="terse").content == "Lorem ipsum"
        assert model.respond("x", preset="Terse", config={"maxTokens": 3}).content == (
            "Lorem ipsum dolor")  # the request's own config wins


@BOTH
def test_unloading_an_unknown_identifier_is_model_not_found(sim, SDK):
    def go(client):
        client.llm.unload("No such model")

    async def go_async(client):
        await client.embedding.unload("No such model")

    sdk = SDK(sim.host)
    with pytest.raises(lms.LMStudioModelNotFoundError):
        sdk.call(go if sdk.name == "sync" else go_async)


@BOTH
def test_duplicate_identifier_on_load_says_already_exists(sim, SDK):
    def go(client):
        with pytest.raises(lms.LMStudioServerError, match="Model load error.*already exists"):
            client.llm.load_new_instance(QWEN, QWEN)
        with pytest.raises(lms.LMStudioServerError, match="Model load error.*already exists"):
            client.embedding.load_new_instance(NOMIC_PATH, NOMIC)
        return client.llm.load_new_instance(QWEN).identifier

    async def go_async(client):
        with pytest.raises(lms.LMStudioServerError, match="Model load error.*already exists"):
            await client.llm.load_new_instance(QWEN, QWEN)
        with pytest.raises(lms.LMStudioServerError, match="Model load error.*already exists"):
            await client.embedding.load_new_instance(NOMIC_PATH, NOMIC)
        return (await client.llm.load_new_instance(QWEN)).identifier

    sdk = SDK(sim.host)
    assert sdk.call(go if sdk.name == "sync" else go_async) == f"{QWEN}:2"


@BOTH
def test_jit_load_evicts_the_previous_jit_model_across_namespaces(sim, SDK, caplog):
    caplog.set_level(logging.DEBUG)
    sim.unload(NOMIC)  # the startup (explicit) instance would be found, not JIT loaded

    def go(client):
        embedder = client.embedding.model(NOMIC, ttl=300)  # JIT
        assert embedder.get_info().identifier == NOMIC
        llm = client.llm.model(LLAMA, ttl=300)  # JIT: evicts the JIT embedding model
        assert llm.get_info().identifier == LLAMA
        with pytest.raises(lms.LMStudioModelNotFoundError):
            embedder.get_info()

    async def go_async(client):
        embedder = await client.embedding.model(NOMIC, ttl=300)
        assert (await embedder.get_info()).identifier == NOMIC
        llm = await client.llm.model(LLAMA, ttl=300)
        assert (await llm.get_info()).identifier == LLAMA
        with pytest.raises(lms.LMStudioModelNotFoundError):
            await embedder.get_info()

    sdk = SDK(sim.host)
    sdk.call(go if sdk.name == "sync" else go_async)
    notices = [m for _, level, m in caplog.record_tuples
               if "Unloading other JIT model" in m and level == logging.INFO]
    assert len(notices) == 1 and f'"unloaded_model_key": "{NOMIC}"' in notices[0]
    assert {i.identifier for i in sim.catalogue.loaded()} == {QWEN, LLAMA}  # QWEN: explicit


def test_explicit_loads_are_never_evicted_and_rest_jit_evicts_too(sim):
    with lms.Client(sim.host) as client:
        client.llm.load_new_instance(LLAMA)  # explicit
        client.embedding.model(BGE)  # JIT
        import httpx

        r = httpx.post(f"{sim.url}/v1/chat/completions", timeout=10, json={
            "model": "qwen2-vl-2b-instruct", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200  # JIT-loaded over REST: evicts BGE, not LLAMA or the rest
    loaded = {i.identifier: i.jit for i in sim.catalogue.loaded()}
    assert loaded == {QWEN: False, NOMIC: False, LLAMA: False, "qwen2-vl-2b-instruct": True}


def test_jit_eviction_cuts_off_a_running_prediction(sim):
    entered = threading.Event()
    release = threading.Event()

    def slow(req):
        entered.set()
        yield "partial"
        release.wait(20)
        yield " never"

    sim.set_behaviour(slow)
    sim.timing = Timing()
    with lms.Client(sim.host) as client:
        llama = client.llm.model(LLAMA)  # JIT
        result: dict[str, lms.PredictionResult] = {}
        t = threading.Thread(target=lambda: result.update(r=llama.respond("long job")))
        t.start()
        assert entered.wait(10)
        client.embedding.model(BGE)  # another JIT load evicts LLAMA mid-answer
        t.join(20)
        release.set()
    assert result["r"].stats.stop_reason == "modelUnloaded"
    assert result["r"].content == "partial"
    assert sim.counters.predictions(LLAMA).unloaded == 1
