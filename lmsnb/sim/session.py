"""One LM Studio websocket session (one namespace of one client).

Why a task per request: the SDK multiplexes many RPCs and channels on one socket (lmsnb batches
embeddings as concurrent ``embedString`` calls), so a slow request must never block the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .behaviours import SimRequest
from .engine import Engine
from .faults import Fault
from .lexical import count_tokens, tokenize
from .protocol import (
    SimError,
    channel_close,
    channel_error,
    channel_send,
    communication_warning,
    dumps,
    flatten_config,
    flatten_history,
    model_not_found,
    rpc_error,
    rpc_result,
    stack_fields,
)

__all__ = ["Session", "NAMESPACES"]

log = logging.getLogger("lmsnb.sim")

NAMESPACES = ("llm", "embedding", "system", "files", "repository")


class _Dropped(Exception):
    """The connection was aborted by an injected fault."""


class Session:
    """Auth, then dispatch of rpcCall / channelCreate / channelSend frames to handlers."""

    def __init__(self, engine: Engine, ws: ServerConnection, namespace: str) -> None:
        self.engine = engine
        self.ws = ws
        self.namespace = namespace
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cancels: dict[int, SimRequest] = {}
        self.client: str | None = None  # the clientIdentifier of the auth packet

    # -- plumbing -----------------------------------------------------------------------------
    async def send(self, msg: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send(dumps(msg))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drop(self) -> None:
        """Abort the TCP connection, as a crash or network failure would."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()
        raise _Dropped

    async def _gate(self, fault: Fault | None, sent: int) -> None:
        """Apply ``fault`` when ``sent`` stream messages have gone out."""
        if fault is None or sent != fault.after:
            return
        if fault.kind == "drop":
            self._drop()
        elif fault.kind == "error":
            raise SimError(fault.message, code=fault.code, http_status=500)
        elif fault.kind == "stall":
            await asyncio.sleep(fault.seconds if fault.seconds is not None else 10**9)

    async def run(self) -> None:
        try:
            if not await self._auth():
                return
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    await self.send(communication_warning("Binary frames are not supported"))
                    continue
                self._dispatch(raw)
        except ConnectionClosed:
            pass
        finally:
            for task in list(self._tasks):
                task.cancel()
            for req in list(self._cancels.values()):
                req.cancel()
            if self.client is not None:
                self.engine.client_closed(self.client)

    async def _auth(self) -> bool:
        try:
            packet = json.loads(await self.ws.recv())
        except (ValueError, TypeError):
            packet = None
        if not isinstance(packet, dict) or "clientIdentifier" not in packet:
            await self.ws.send(dumps({"success": False, "error": "Invalid authentication packet"}))
            await self.ws.close()
            return False
        await self.ws.send(dumps({"success": True}))
        self.client = str(packet["clientIdentifier"])
        self.engine.client_opened(self.client)
        return True

    def _dispatch(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self._spawn(self.send(communication_warning("Received invalid JSON")))
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "rpcCall":
            self._spawn(self._rpc(msg))
        elif kind == "channelCreate":
            self._spawn(self._channel(msg))
        elif kind == "channelSend":
            req = self._cancels.get(msg.get("channelId"))
            if req is not None and (msg.get("message") or {}).get("type") == "cancel":
                req.cancel()
        elif kind in ("keepAlive", "channelAck"):
            pass  # never answer with keepAliveAck: this SDK cannot route it
        else:
            self._spawn(self.send(communication_warning(f"Unhandled message type {kind!r}")))

    # -- RPC ----------------------------------------------------------------------------------
    async def _rpc(self, msg: dict[str, Any]) -> None:
        call_id, endpoint = msg.get("callId"), msg.get("endpoint", "")
        handler: Callable[[Any], Awaitable[Any]] | None = getattr(
            self, f"rpc_{endpoint}", None
        )
        if handler is None or not self._allowed(endpoint):
            await self.send(communication_warning(
                f"Unknown RPC endpoint {endpoint!r} in namespace {self.namespace!r}"))
            return
        self.engine.counters.record(f"{self.namespace}.{endpoint}")
        fault = self.engine.faults.take(endpoint)
        try:
            await self._gate(fault, 0)
            result = await handler(msg.get("parameter"))
            await self.send(rpc_result(call_id, result))
        except SimError as err:
            await self.send(rpc_error(call_id, err))
        except (_Dropped, ConnectionClosed, asyncio.CancelledError):
            pass
        except Exception as exc:  # a bug or a broken behaviour: report it, keep the session
            log.exception("rpc %s failed", endpoint)
            await self.send(rpc_error(call_id, SimError(f"Simulator error: {exc}")))

    _ONLY = {
        "embedString": ("embedding",),
        "applyPromptTemplate": ("llm",),
        "predict": ("llm",),
        "listDownloadedModels": ("system",),
        "uploadFileBase64": ("files",),
        "version": ("system",),
        "alive": ("system",),
        "notify": ("system",),
    }

    def _allowed(self, endpoint: str) -> bool:
        return self.namespace in self._ONLY.get(endpoint, ("llm", "embedding"))

    @property
    def domain(self) -> Any:
        return self.namespace

    async def rpc_listDownloadedModels(self, _: Any) -> list[dict[str, Any]]:
        return [m.info() for m in self.engine.catalogue.downloaded()]

    async def rpc_version(self, _: Any) -> dict[str, Any]:
        return {"version": "0.3.24", "build": 1}

    async def rpc_alive(self, _: Any) -> None:
        return None

    async def rpc_notify(self, _: Any) -> None:
        return None

    async def rpc_listLoaded(self, _: Any) -> list[dict[str, Any]]:
        return [i.info() for i in self.engine.catalogue.loaded(self.domain)]

    async def rpc_unloadModel(self, p: dict[str, Any]) -> None:
        ident = p.get("identifier", "")
        inst = self.engine.catalogue.get(ident)
        if inst is None or inst.type != self.domain:
            raise model_not_found(ident, self.domain, self.engine.loaded_ids(self.domain))
        self.engine.catalogue.unload(ident)

    async def rpc_getModelInfo(self, p: dict[str, Any]) -> dict[str, Any]:
        return (await self.engine.resolve(p.get("specifier"), self.domain, jit=False)).info()

    async def rpc_getLoadConfig(self, p: dict[str, Any]) -> dict[str, Any]:
        inst = await self.engine.resolve(p.get("specifier"), self.domain, jit=False)
        return inst.load_config()

    async def rpc_tokenize(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.engine.resolve(p.get("specifier"), self.domain)
        tokens = tokenize(p.get("inputString", ""))
        if self.domain == "embedding":  # BERT-style models add a start and an end marker
            tokens = [BERT_CLS, *tokens, BERT_SEP]
        return {"tokens": tokens}

    async def rpc_countTokens(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.engine.resolve(p.get("specifier"), self.domain)
        return {"tokenCount": count_tokens(p.get("inputString", ""))}

    async def rpc_embedString(self, p: dict[str, Any]) -> dict[str, Any]:
        inst = await self.engine.resolve(p.get("modelSpecifier"), "embedding")
        text = p.get("inputString", "")
        self.engine.counters.record("embedding.embedString", requests=0,
                                    prompt_tokens=count_tokens(text))
        return {"embedding": (await self.engine.embed(inst, text)).tolist()}

    async def rpc_uploadFileBase64(self, p: dict[str, Any]) -> dict[str, Any]:
        stored = self.engine.files.add(str(p.get("name", "")), str(p.get("contentBase64", "")),
                                       self.client or "")
        return stored.handle()

    async def rpc_applyPromptTemplate(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.engine.resolve(p.get("specifier"), "llm")
        return {"formatted": chatml(flatten_history(p.get("history")))}

    # -- channels -----------------------------------------------------------------------------
    async def _channel(self, msg: dict[str, Any]) -> None:
        channel_id, endpoint = msg.get("channelId"), msg.get("endpoint", "")
        handler = getattr(self, f"channel_{endpoint}", None)
        if handler is None or not self._allowed(endpoint):
            await self.send(communication_warning(
                f"Unknown channel endpoint {endpoint!r} in namespace {self.namespace!r}"))
            return
        self.engine.counters.record(f"{self.namespace}.{endpoint}")
        fault = self.engine.faults.take(endpoint)
        sent = 0

        async def emit(message: dict[str, Any], *, counts: bool = True) -> None:
            nonlocal sent
            if counts:
                await self._gate(fault, sent)
                sent += 1
            await self.send(channel_send(channel_id, message))

        try:
            if fault is not None and fault.after == 0:  # before anything is sent
                await self._gate(fault, 0)
                fault = None
            await handler(channel_id, msg.get("creationParameter") or {}, emit)
            await self.send(channel_close(channel_id))
        except SimError as err:
            await self.send(channel_error(channel_id, err))
        except (_Dropped, ConnectionClosed, asyncio.CancelledError):
            pass
        except Exception as exc:
            log.exception("channel %s failed", endpoint)
            with contextlib.suppress(ConnectionClosed):
                await self.send(channel_error(channel_id, SimError(f"Simulator error: {exc}")))
        finally:
            self._cancels.pop(channel_id, None)

    async def channel_getOrLoad(self, _cid: int, p: dict[str, Any], emit: Emit) -> None:
        query = p.get("identifier", "")
        inst = self.engine.find(query, self.domain)
        if inst is not None:
            inst.touch()
            await emit({"type": "alreadyLoaded", "info": inst.info()}, counts=False)
            return
        spec = self.engine.downloaded_spec(query, self.domain, missing="query")
        ttl = p.get("loadTtlMs")

        async def on_start(ident: str) -> None:
            await emit({"type": "startLoading", "identifier": ident, "info": spec.info()},
                       counts=False)

        async def progress(value: float) -> None:
            await emit({"type": "loadProgress", "progress": value})

        async def on_evict(other: Any) -> None:
            await emit({"type": "unloadingOtherJITModel", "info": other.info()}, counts=False)

        inst, fresh = await self.engine.get_or_load(
            spec, fields=stack_fields(p.get("loadConfigStack")),
            ttl_seconds=ttl / 1000 if isinstance(ttl, (int, float)) else None,
            on_start=on_start, on_evict=on_evict, progress=progress)
        kind = "loadSuccess" if fresh else "alreadyLoaded"
        await emit({"type": kind, "info": inst.info()}, counts=False)

    async def channel_loadModel(self, _cid: int, p: dict[str, Any], emit: Emit) -> None:
        spec = self.engine.downloaded_spec(p.get("modelKey", ""), self.domain, missing="path")
        await emit({"type": "resolved", "info": spec.info()}, counts=False)
        ttl = p.get("ttlMs")

        async def progress(value: float) -> None:
            await emit({"type": "progress", "progress": value})

        inst = await self.engine.load(
            spec, p.get("identifier"), fields=stack_fields(p.get("loadConfigStack")),
            ttl_seconds=ttl / 1000 if isinstance(ttl, (int, float)) else None,
            progress=progress)
        await emit({"type": "success", "info": inst.info()}, counts=False)

    async def channel_predict(self, cid: int, p: dict[str, Any], emit: Emit) -> None:
        inst = await self.engine.resolve(p.get("modelSpecifier"), "llm")
        stack = p.get("predictionConfigStack")
        config = self.engine.apply_preset(p.get("fuzzyPresetIdentifier"), flatten_config(stack))
        structured = config.get("llm.prediction.structured") or {}
        tools = config.get("llm.prediction.tools") or {}
        messages = flatten_history(p.get("history"))
        req = SimRequest(
            model=inst.spec.key,
            identifier=inst.identifier,
            messages=messages,
            config=config,
            json_schema=structured.get("jsonSchema") if structured.get("type") == "json" else None,
            gbnf_grammar=(structured.get("gbnfGrammar") if structured.get("type") == "gbnf"
                          else None),
            tools=tools.get("tools") or None,
        )
        self.engine.attach_files(inst, req, (f for m in messages for f in m.get("files", ())))
        self._cancels[cid] = req
        done: dict[str, Any] = {}
        miss = False
        async with aclosing(self.engine.generate(inst, req)) as events:
            async for ev in events:
                if ev.kind == "prompt":
                    await emit({"type": "promptProcessingProgress", "progress": ev.progress},
                               counts=False)
                elif ev.kind == "fragment":
                    await emit({"type": "fragment", "fragment": {
                        "content": ev.text, "tokensCount": 1, "containsDrafted": False,
                        "reasoningType": "none"}})
                elif ev.kind == "tool" and ev.tool_call is not None:
                    call = ev.tool_call
                    await emit({"type": "toolCallGenerationStart", "toolCallId": call.id},
                               counts=False)
                    await emit({"type": "toolCallGenerationNameReceived", "name": call.name},
                               counts=False)
                    await emit({"type": "toolCallGenerationArgumentFragmentGenerated",
                                "content": json.dumps(call.arguments)}, counts=False)
                    await emit({"type": "toolCallGenerationEnd", "toolCallRequest": {
                        "type": "function", "id": call.id, "name": call.name,
                        "arguments": call.arguments}}, counts=False)
                elif ev.kind == "done":
                    done, miss = ev.stats, ev.schema_miss
        self.engine.counters.record(
            "llm.predict", requests=0, prompt_tokens=done.get("promptTokensCount", 0),
            generated_tokens=done.get("predictedTokensCount", 0), schema_misses=int(miss))
        await emit({
            "type": "success",
            "stats": done,
            "modelInfo": inst.info(),
            "loadModelConfig": inst.load_config(),
            "predictionConfig": {"fields": stack_fields(stack)},
        }, counts=False)


Emit = Callable[..., Awaitable[None]]

#: The start and end markers BERT-style embedding models add when tokenizing ([CLS], [SEP]).
BERT_CLS, BERT_SEP = 101, 102


def chatml(messages: list[dict[str, Any]]) -> str:
    """Format a history the way a ChatML template (Qwen's) would, ready for the reply."""
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"

