"""The connection layer against the simulator, through the real lmstudio SDK."""

import socket

import numpy as np
import pytest

import lmsnb
from lmsnb.client import Connection, normalize_host, resolve_host
from lmsnb.errors import (
    ConfigError,
    ConnectionFailed,
    ModelNotFound,
    Reconnected,
    RequestTimeout,
)
from lmsnb.events import Done, FirstToken, Fragment

LLM = "qwen2.5-7b-instruct"
EMB = "text-embedding-nomic-embed-text-v1.5"


@pytest.mark.parametrize("given, expected", [
    ("localhost:1234", "localhost:1234"),
    ("http://127.0.0.1:1234/v1", "127.0.0.1:1234"),
    ("ws://box.lan:41343", "box.lan:41343"),
    ("https://gpu-box/", "gpu-box:1234"),
    ("  10.0.0.5  ", "10.0.0.5:1234"),
])
def test_host_forms_are_normalised(given, expected):
    assert normalize_host(given) == expected


def test_host_resolution_order(monkeypatch):
    monkeypatch.setenv("LMSNB_HOST", "http://envhost:5555")
    assert resolve_host("explicit:1") == "explicit:1"
    assert resolve_host() == "envhost:5555"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_server_gives_one_line_with_the_fix():
    conn = Connection(f"127.0.0.1:{_free_port()}")
    with pytest.raises(ConnectionFailed) as err:
        conn.list_downloaded()
    assert "not reachable" in str(err.value) and "python -m lmsnb.sim" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(ConnectionFailed):
        lmsnb.connect(f"127.0.0.1:{_free_port()}")


def test_lists_models(sim):
    conn = Connection(sim.host)
    keys = {m["key"]: m for m in conn.list_downloaded()}
    assert {LLM, EMB, "llama-3.2-1b-instruct"} <= set(keys)
    assert keys[EMB]["type"] == "embedding"
    loaded = conn.list_loaded()
    assert {m["key"] for m in loaded} >= {LLM, EMB}
    assert all(m["context_length"] for m in loaded)
    assert conn.default_model("llm") == LLM


def test_stream_yields_events_and_stats(sim):
    conn = Connection(sim.host)
    events = list(conn.predict(LLM, [{"role": "user", "content": "Hello there"}],
                               config={"temperature": 0.2, "topP": 0.9}))
    assert isinstance(events[-1], Done)
    frags = [e for e in events if isinstance(e, Fragment)]
    assert len(frags) > 1
    assert "".join(f.text for f in frags) == events[-1].text
    assert sum(isinstance(e, FirstToken) for e in events) == 1
    stats = events[-1].stats
    assert stats.predicted_tokens == len(frags)
    assert stats.total_seconds > 0 and stats.stop_reason == "eosFound"
    assert stats.model == LLM


def test_max_tokens_stops_at_limit(sim):
    conn = Connection(sim.host)
    done = conn.predict(LLM, "Tell me a long story", config={"maxTokens": 3}).result()
    assert done.stats.predicted_tokens == 3
    assert done.stats.stop_reason == "maxPredictedTokensReached"


def test_cancel_keeps_partial_text(sim):
    sim.behaviour = "lorem"
    conn = Connection(sim.host)
    pred = conn.predict(LLM, "Write a lot")
    seen = []
    for event in pred:
        if isinstance(event, Fragment):
            seen.append(event.text)
            if len(seen) == 3:
                pred.cancel()
    assert pred.done is not None and pred.done.stopped
    assert pred.done.text.startswith("".join(seen))
    assert len(pred.done.text) < 2000


def test_unknown_model_is_one_readable_error(sim):
    conn = Connection(sim.host)
    with pytest.raises(ModelNotFound) as err:
        conn.load("qwen-does-not-exist")
    assert "did you mean" in str(err.value)
    with pytest.raises(ModelNotFound):
        conn.predict("nope-model", "hi").result()
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        conn.predict(LLM, "hi", config={"temprature": 1})


def test_unknown_model_suggestions_offer_only_the_kind_the_call_needs(sim):
    """Chat lists LLMs, embeddings list embedding models — never the other kind."""
    conn = Connection(sim.host)
    with pytest.raises(ModelNotFound) as err:
        conn.predict("zzzz", "hi").result()
    hint = err.value.hint
    assert "downloaded LLMs:" in hint and LLM in hint and "embed" not in hint
    with pytest.raises(ModelNotFound) as err:
        conn.embed("zzzz", ["a"])
    hint = err.value.hint
    assert "downloaded embedding models:" in hint and EMB in hint and LLM not in hint
    with pytest.raises(ModelNotFound, match="did you mean 'text-embedding-nomic"):
        conn.embed("text-embedding-nomic", ["a"])


def test_load_reports_progress_and_unload(sim):
    conn = Connection(sim.host)
    progress = []
    info = conn.load("llama-3.2-1b-instruct", ttl="10m", config={"contextLength": 2048,
                                                                  "gpuOffload": 0.5},
                     on_progress=progress.append)
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert info["context_length"] == 2048
    assert "llama-3.2-1b-instruct" in {m["key"] for m in conn.list_loaded()}
    second = conn.load("llama-3.2-1b-instruct", new_instance=True)
    assert second["identifier"] != info["identifier"]
    conn.unload(second["identifier"])
    conn.unload(info["identifier"])
    assert "llama-3.2-1b-instruct" not in {m["key"] for m in conn.list_loaded()}
    with pytest.raises(ModelNotFound):
        conn.unload("never-loaded")


def test_embed_batches_and_keeps_order(sim):
    conn = Connection(sim.host)
    texts = [f"text number {i % 50}" for i in range(200)]
    vecs = conn.embed(EMB, texts)
    assert vecs.shape == (200, 768) and vecs.dtype == np.float32
    np.testing.assert_allclose(vecs[0], vecs[50])
    assert sim.counters["embedding.embedString"].requests == 50  # duplicates embedded once


def test_tokens_and_context(sim):
    conn = Connection(sim.host)
    assert conn.count_tokens(LLM, "Hello world, how are you?") > 3
    assert len(conn.tokenize(LLM, "Hello world")) >= 2
    assert conn.model_info(LLM)["context_length"] > 0


def test_structured_output(sim):
    conn = Connection(sim.host)
    schema = {"type": "object", "properties": {"title": {"type": "string"}},
              "required": ["title"]}
    done = conn.predict(LLM, "Give me a title", response_format=schema).result()
    assert isinstance(done.parsed, dict) and "title" in done.parsed


def test_act_calls_python_tools(sim):
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    conn = Connection(sim.host)
    events = list(conn.act(LLM, "What is 2+3? use add", [add]))
    done = events[-1]
    assert isinstance(done, Done)
    assert [c.name for c in done.tool_calls] == ["add"]
    assert done.tool_calls[0].result == 5


def test_reconnects_after_server_restart(sim):
    conn = Connection(sim.host)
    assert conn.list_downloaded()
    sim.restart()
    # The SDK's websocket is dead now; the next call reconnects and succeeds.
    assert conn.list_downloaded()
    assert conn.predict(LLM, "hi again").result().text


def test_restart_mid_stream_then_recovers(sim):
    sim.behaviour = "lorem"
    conn = Connection(sim.host)
    pred = conn.predict(LLM, "long answer please")
    with pytest.raises((ConnectionFailed, Reconnected)):
        for i, _ in enumerate(pred):
            if i == 2:
                sim.restart()
    sim.behaviour = "echo"
    assert conn.predict(LLM, "hello").result().text


def test_timeout_is_translated(sim):
    previous = lmsnb.get_timeout()
    lmsnb.set_timeout(1)
    try:
        sim.inject("stall", "predict", times=None)
        with pytest.raises(RequestTimeout, match="set_timeout"):
            Connection(sim.host).predict(LLM, "hello").result()
    finally:
        lmsnb.set_timeout(previous)
    with pytest.raises(ConfigError):
        lmsnb.set_timeout(-3)


def test_connect_simulate_falls_back_to_the_simulator(monkeypatch):
    from IPython.lib.pretty import pretty

    dead = f"127.0.0.1:{_free_port()}"
    conn = lmsnb.connect(dead, simulate=True)
    try:
        assert conn.simulator is not None and conn.host == conn.simulator.host
        assert f"not reachable at {dead}" in pretty(conn)
        assert lmsnb.get_connection() is conn
        assert conn.predict(None, "hi").result().text == "You said: hi"
    finally:
        conn.simulator.stop()


def test_inline_thinking_is_kept_apart_from_the_answer(sim):
    """Reasoning models write <think>…</think> inline when LM Studio does not parse it."""
    from lmsnb.sim import scripted

    sim.set_behaviour(scripted(["<think>The user greets me. Be kind.</think>\n\nHello, friend!"]))
    events = list(Connection(sim.host).predict(LLM, "hi"))
    done = events[-1]
    assert done.text == "Hello, friend!"
    assert done.reasoning == "The user greets me. Be kind."
    frags = [e for e in events if isinstance(e, Fragment)]
    assert "".join(f.text for f in frags if f.reasoning) == done.reasoning
    assert "<think>" not in "".join(f.text for f in frags)


@pytest.mark.parametrize("chunks, thinking, answer", [
    (["<think>plan", " more</think>\n\nThe", " answer."], "plan more", "The answer."),
    (["  <th", "ink>a</th", "ink>B"], "a", "B"),
    (["Hello ", "<think>not a block</think>"], "", "Hello <think>not a block</think>"),
    (["<think>cut off mid-thought"], "cut off mid-thought", ""),
    (["<", "b>bold</b>"], "", "<b>bold</b>"),
])
def test_think_splitter_handles_tags_split_across_fragments(chunks, thinking, answer):
    from lmsnb.events import ThinkSplitter

    splitter = ThinkSplitter()
    pieces = [p for c in chunks for p in splitter.feed(c)] + splitter.flush()
    assert "".join(t for t, r in pieces if r) == thinking
    assert "".join(t for t, r in pieces if not r) == answer


# -- bug hunt: first call after a restart, hosts, wrong kind of model, interrupts ------------


def test_first_default_model_call_after_a_restart_reconnects(sim):
    """``%%lms_chat`` without -m after LM Studio restarted: the answer, not a RuntimeError."""
    conn = Connection(sim.host)
    assert conn.predict(None, "hi").result().text
    sim.restart()
    assert conn.predict(None, "hi again").result().text == "You said: hi again"


@pytest.mark.parametrize("host, expected", [
    ("::::", "is not a host"), ("localhost:abc", "no valid port"),
    ("localhost:99999", "no valid port"), ("garbage host name", "is not a host"),
])
def test_garbage_hosts_are_one_line(host, expected):
    with pytest.raises(ConfigError, match=expected) as err:
        lmsnb.connect(host)
    assert "\n" not in str(err.value) and "localhost:1234" in str(err.value)


def test_wrong_kind_of_model_says_which_kind(sim):
    conn = Connection(sim.host)
    with pytest.raises(ModelNotFound, match=f"'{EMB}' is an embedding model, not an LLM"):
        conn.predict(EMB, "hi").result()
    with pytest.raises(ModelNotFound, match=f"'{LLM}' is an LLM, not an embedding model"):
        conn.embed(LLM, ["a"])


def test_interrupt_while_streaming_cancels_on_the_server_and_keeps_the_text():
    """Ctrl-C / Kernel → Interrupt mid-answer: stop reason userStopped, partial text kept."""
    import _thread
    import threading

    from lmsnb.sim import Simulator, Timing

    with Simulator(port=0, timing=Timing(tokens_per_second=100)) as slow:
        slow.set_behaviour("lorem")
        pred = Connection(slow.host).predict(LLM, "long answer", config={"maxTokens": 300})
        for event in pred:  # interrupt mid-answer, not while connecting (a busy machine is slow)
            if isinstance(event, Fragment):
                break
        threading.Timer(0.1, _thread.interrupt_main).start()
        done = pred.result()
    assert done.stats.stop_reason == "userStopped"
    assert done.text.startswith("Lorem ipsum") and done.stats.predicted_tokens < 300
