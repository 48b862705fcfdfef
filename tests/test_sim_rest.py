"""The OpenAI-compatible REST endpoints with plain httpx, and the ``python -m lmsnb.sim`` CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import lmstudio as lms
import numpy as np
import pytest

QWEN = "qwen2.5-7b-instruct"
NOMIC = "text-embedding-nomic-embed-text-v1.5"
ROOT = Path(__file__).resolve().parents[1]


def chat(sim, **body):
    body.setdefault("model", QWEN)
    body.setdefault("messages", [{"role": "user", "content": "Hello REST"}])
    return httpx.post(f"{sim.url}/v1/chat/completions", json=body, timeout=10)


def sse_events(response: httpx.Response) -> list:
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: "):]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_greeting_and_unknown_paths(sim):
    assert httpx.get(f"{sim.url}/lmstudio-greeting").json() == {"lmstudio": True}
    assert httpx.get(f"{sim.url}/nope").status_code == 404
    assert httpx.get(f"{sim.url}/v1/chat/completions").status_code == 405
    assert sim.counters["rest.greeting"].requests == 1


def test_models(sim):
    data = httpx.get(f"{sim.url}/v1/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]][:2] == [QWEN, "llama-3.2-1b-instruct"]


def test_chat_completion(sim):
    r = chat(sim)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == QWEN
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "You said: Hello REST"}
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 5
    assert sim.counters["rest.chat.completions"].generated_tokens == 5


def test_chat_max_tokens_and_jit(sim):
    sim.set_behaviour("lorem")
    r = chat(sim, model="llama-3.2-1b-instruct", max_tokens=4)  # not loaded: JIT
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "Lorem ipsum dolor sit"
    assert sim.catalogue.find_loaded("llama-3.2-1b-instruct") is not None


def test_chat_streaming_sse(sim):
    r = chat(sim, stream=True, stream_options={"include_usage": True})
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "You said: Hello REST"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 5


def test_chat_streaming_with_httpx_stream(sim):
    body = {"model": QWEN, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{sim.url}/v1/chat/completions", json=body) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_chat_response_format_json_schema(sim):
    schema = {"type": "object", "properties": {"city": {"type": "string"},
                                               "population": {"type": "integer"}},
              "required": ["city", "population"]}
    r = chat(sim, response_format={"type": "json_schema",
                                   "json_schema": {"name": "city", "strict": True, "schema": schema}})
    content = json.loads(r.json()["choices"][0]["message"]["content"])
    assert set(content) == {"city", "population"} and isinstance(content["population"], int)


def test_chat_tools(sim):
    tools = [{"type": "function", "function": {
        "name": "multiply", "description": "Multiply two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"},
                                                        "b": {"type": "number"}}}}}]
    r = chat(sim, messages=[{"role": "user", "content": "what is 6 * 7"}], tools=tools)
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "multiply"
    assert json.loads(call["function"]["arguments"]) == {"a": 6, "b": 7}
    follow = chat(sim, tools=tools, messages=[
        {"role": "user", "content": "what is 6 * 7"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "42"},
    ])
    assert follow.json()["choices"][0]["message"]["content"] == "The result is 42."


def test_chat_errors(sim):
    r = chat(sim, model="no-such-model")
    assert r.status_code == 404 and "no-such-model" in r.json()["error"]["message"]
    assert chat(sim, messages=[]).status_code == 400
    r = httpx.post(f"{sim.url}/v1/chat/completions", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_embeddings(sim):
    one = httpx.post(f"{sim.url}/v1/embeddings", json={"model": NOMIC, "input": "Who is Scrooge?"})
    data = one.json()
    assert data["object"] == "list" and data["model"] == NOMIC
    assert len(data["data"]) == 1 and len(data["data"][0]["embedding"]) == 768
    assert data["usage"]["prompt_tokens"] == data["usage"]["total_tokens"] > 0
    texts = ["SCROOGE: a miserly old man", "The weather in Paris is sunny"]
    many = httpx.post(f"{sim.url}/v1/embeddings", json={"model": NOMIC, "input": texts}).json()
    assert [d["index"] for d in many["data"]] == [0, 1]
    q = np.array(data["data"][0]["embedding"])
    m = np.array([d["embedding"] for d in many["data"]])
    assert q @ m[0] > q @ m[1]
    bge = httpx.post(f"{sim.url}/v1/embeddings",
                     json={"model": "text-embedding-bge-small-en-v1.5", "input": ["x"]}).json()
    assert len(bge["data"][0]["embedding"]) == 384
    bad = httpx.post(f"{sim.url}/v1/embeddings", json={"model": NOMIC, "input": 3})
    assert bad.status_code == 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_and_stops_on_ctrl_c():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmsnb.sim", "--port", str(port), "--behaviour", "lorem",
         "--tokens-per-second", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        host = proc.stdout.readline().strip()
        assert host == f"127.0.0.1:{port}"
        with lms.Client(host) as client:
            result = client.llm.model(QWEN).respond("x", config={"maxTokens": 2})
            assert result.content == "Lorem ipsum"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("argv", [["--port", "-5"], ["--behaviour", "nope"]])
def test_cli_rejects_bad_arguments(argv):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "lmsnb.sim", *argv], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=20)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
