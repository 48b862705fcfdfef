"""OpenAI-compatible REST endpoints (the ones LM Studio serves next to its websocket API).

Why: users and some libraries talk to LM Studio over ``/v1/...``; the simulator answers those
from the same engine, so counters, faults and behaviours apply to both APIs. Streaming responses
are produced whole (SSE ``data:`` lines then ``data: [DONE]``) because the HTTP side rides on the
websockets handshake, which sends one response per connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from contextlib import aclosing
from typing import Any

from .behaviours import SimRequest
from .catalogue import Instance
from .engine import Engine
from .files import StoredFile, file_type
from .lexical import count_tokens
from .protocol import SimError

__all__ = ["handle_http", "HttpReply"]

HttpReply = tuple[int, str, bytes]  # status, content type, body

_JSON = "application/json"


def _json(status: int, obj: Any) -> HttpReply:
    return status, _JSON, json.dumps(obj).encode()


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> HttpReply:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return _json(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


async def handle_http(engine: Engine, method: str, path: str, body: bytes) -> HttpReply:
    """Route one plain HTTP request (anything that is not a websocket upgrade)."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path == "/lmstudio-greeting" and method == "GET":
        engine.counters.record("rest.greeting")
        return _json(200, {"lmstudio": True})
    routes = {
        ("GET", "/v1/models"): _models,
        ("POST", "/v1/chat/completions"): _chat,
        ("POST", "/v1/embeddings"): _embeddings,
    }
    handler = routes.get((method, path))
    if handler is None:
        if any(path == p for _, p in routes):
            return _error(405, f"Method {method} not allowed for {path}")
        return _error(404, f"Unexpected endpoint or method. ({method} {path})")
    name = path.removeprefix("/v1/").replace("/", ".")
    engine.counters.record(f"rest.{name}")
    try:
        payload = json.loads(body or b"{}") if method == "POST" else {}
    except ValueError:
        return _error(400, "Request body is not valid JSON")
    if not isinstance(payload, dict):
        return _error(400, "Request body must be a JSON object")
    fault = engine.faults.take(name)
    if fault is not None:
        if fault.kind == "error":
            return _error(500, fault.message, fault.code)
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds if fault.seconds is not None else 10**9)
        if fault.kind == "drop":
            raise ConnectionAbortedError("injected drop")
    try:
        return await handler(engine, payload)
    except SimError as err:
        return _error(err.http_status, err.title, err.code or None)


async def _models(engine: Engine, _: dict[str, Any]) -> HttpReply:
    data = [
        {"id": m.key, "object": "model", "type": m.type, "owned_by": m.publisher}
        for m in engine.catalogue.downloaded()
    ]
    return _json(200, {"object": "list", "data": data})


async def _instance(engine: Engine, model: Any, domain: str) -> Instance:
    if not model:
        return await engine.resolve(None, domain, jit=False)  # type: ignore[arg-type]
    if not isinstance(model, str):
        raise SimError("'model' must be a string", http_status=400)
    return await engine.resolve(model, domain)  # type: ignore[arg-type]


def _content_text(content: Any) -> str:
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type", "text") == "text")
    return "" if content is None else str(content)


def _content_images(content: Any) -> list[StoredFile]:
    """The ``image_url`` parts of a message (base64 ``data:`` URLs, as LM Studio takes them)."""
    images = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        url = part.get("image_url")
        url = url.get("url", "") if isinstance(url, dict) else str(url or "")
        head, _, data = url.partition(",")
        if not (head.startswith("data:") and head.endswith(";base64")):
            raise SimError("Only base64 data URLs are supported for images "
                           "(data:image/png;base64,...)", http_status=400)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise SimError("The image is not valid base64", http_status=400) from None
        ext = head[5:].split(";")[0].split("/")[-1] or "bin"
        name = f"image-{len(images) + 1}.{ext}"
        images.append(StoredFile("", name, raw, file_type(name, raw), ""))
    return images


def _sim_request(engine: Engine, inst: Instance, body: dict[str, Any]) -> SimRequest:
    messages = []
    images: list[StoredFile] = []
    for m in body.get("messages") or []:
        entry: dict[str, Any] = {"role": m.get("role", "user"), "content": _content_text(m.get("content"))}
        if m.get("tool_call_id"):
            entry["tool_call_id"] = m["tool_call_id"]
        messages.append(entry)
        images += _content_images(m.get("content"))
    config: dict[str, Any] = {}
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None:
        config["llm.prediction.maxPredictedTokens"] = max_tokens
    for src, dst in (("temperature", "temperature"), ("top_p", "topPSampling"),
                     ("top_k", "topKSampling"), ("stop", "stopStrings")):
        if body.get(src) is not None:
            value = body[src]
            config[f"llm.prediction.{dst}"] = [value] if src == "stop" and isinstance(value, str) else value
    schema = None
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
    elif fmt.get("type") == "json_object":
        schema = {"type": "object"}
    req = SimRequest(model=inst.spec.key, identifier=inst.identifier, messages=messages,
                     config=config, json_schema=schema, tools=body.get("tools") or None)
    for image in images:
        engine.attach_image(inst, req, image)
    return req


async def _chat(engine: Engine, body: dict[str, Any]) -> HttpReply:
    if not body.get("messages"):
        return _error(400, "'messages' field is required", param="messages")
    inst = await _instance(engine, body.get("model"), "llm")
    req = _sim_request(engine, inst, body)
    pieces: list[str] = []
    calls = []
    stats: dict[str, Any] = {}
    miss = False
    async with aclosing(engine.generate(inst, req)) as events:
        async for ev in events:
            if ev.kind == "fragment":
                pieces.append(ev.text)
            elif ev.kind == "tool" and ev.tool_call is not None:
                calls.append(ev.tool_call)
            elif ev.kind == "done":
                stats, miss = ev.stats, ev.schema_miss
    prompt, completion = stats.get("promptTokensCount", 0), stats.get("predictedTokensCount", 0)
    engine.counters.record("rest.chat.completions", requests=0, prompt_tokens=prompt,
                           generated_tokens=completion, schema_misses=int(miss))
    finish = {"maxPredictedTokensReached": "length", "contextLengthReached": "length",
               "toolCalls": "tool_calls"}.get(
        stats.get("stopReason", ""), "stop")
    tool_calls = [
        {"id": c.id, "type": "function",
         "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
        for c in calls
    ]
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion}
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:20]}", "created": int(time.time()),
            "model": inst.spec.key, "system_fingerprint": inst.spec.key}
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return _json(200, {**base, "object": "chat.completion", "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage})
    chunk = {**base, "object": "chat.completion.chunk"}

    def event(delta: dict[str, Any], reason: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return "data: " + json.dumps({**chunk, "choices": [choice], **extra}) + "\n\n"

    lines = [event({"role": "assistant", "content": ""})]
    lines += [event({"content": p}) for p in pieces]
    if tool_calls:
        lines.append(event({"tool_calls": [dict(tc, index=i) for i, tc in enumerate(tool_calls)]}))
    extra = {"usage": usage} if (body.get("stream_options") or {}).get("include_usage") else {}
    lines.append(event({}, finish, **extra))
    lines.append("data: [DONE]\n\n")
    return 200, "text/event-stream", "".join(lines).encode()


async def _embeddings(engine: Engine, body: dict[str, Any]) -> HttpReply:
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return _error(400, "'input' must be a string or a list of strings", param="input")
    inst = await _instance(engine, body.get("model"), "embedding")
    data = []
    for i, text in enumerate(texts):
        vec = await engine.embed(inst, text)
        data.append({"object": "embedding", "embedding": vec.tolist(), "index": i})
    tokens = sum(count_tokens(t) for t in texts)
    engine.counters.record("rest.embeddings", requests=0, prompt_tokens=tokens)
    return _json(200, {"object": "list", "data": data, "model": inst.spec.key,
                       "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
