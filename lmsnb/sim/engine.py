"""The simulated model runtime shared by the websocket protocol and the REST endpoints.

Why one engine: model resolution (with JIT loading), generation (behaviour → token fragments with
maxTokens, stop strings, structured output, tool calls and pacing) and embeddings must behave the
same whichever API a client uses. Everything here runs on the simulator's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .behaviours import (
    Behaviour,
    SimRequest,
    ToolCall,
    ToolCalls,
    resolve_behaviour,
    structured_text,
)
from .catalogue import Catalogue, Domain, Instance, ModelSpec
from .faults import FaultInjector
from .lexical import count_tokens, embed_text, split_tokens
from .protocol import SimError, domain_mismatch, model_not_found, path_not_found
from .timing import Counters, Timing

__all__ = ["Engine", "Generated", "max_tokens_of"]

ProgressCallback = Callable[[float], Awaitable[None]]
_END = object()


@dataclass
class Generated:
    """Events of one generation: ``kind`` is "prompt", "fragment", "tool" or "done"."""

    kind: str
    progress: float = 0.0
    text: str = ""
    tool_call: ToolCall | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def max_tokens_of(config: dict[str, Any]) -> int | None:
    """``maxPredictedTokens`` as a limit; values < 1 or non-int mean unlimited."""
    value = config.get("llm.prediction.maxPredictedTokens")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def prompt_token_count(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens as a chat template would make them: content plus ~4 per message."""
    return sum(count_tokens(str(m.get("content", ""))) + 4 for m in messages)


async def _pull(items: Iterable[str]) -> AsyncIterator[str]:
    """Iterate a behaviour's output without blocking the loop (generators may be slow)."""
    if isinstance(items, str):
        yield items
        return
    if isinstance(items, (list, tuple)):
        for item in items:
            yield item
        return
    it: Iterator[str] = iter(items)
    while True:
        item = await asyncio.to_thread(next, it, _END)
        if item is _END:
            return
        yield item  # type: ignore[misc]


class Engine:
    """Catalogue + behaviours + timing + counters + faults, with async operations."""

    def __init__(
        self,
        catalogue: Catalogue,
        behaviour: str | Behaviour | None = "echo",
        timing: Timing | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.behaviour: Behaviour = resolve_behaviour(behaviour)
        self.model_behaviours: dict[str, Behaviour] = {}
        self.timing = timing or Timing()
        self.counters = Counters()
        self.faults = FaultInjector()
        self._load_locks: dict[str, asyncio.Lock] = {}
        self._call_ids = itertools.count(1)

    # -- models -------------------------------------------------------------------------------
    def behaviour_for(self, spec: ModelSpec) -> Behaviour:
        if spec.key in self.model_behaviours:
            return self.model_behaviours[spec.key]
        if spec.behaviour is not None:
            return resolve_behaviour(spec.behaviour)
        return self.behaviour

    def loaded_ids(self, domain: Domain | None = None) -> list[str]:
        return [i.identifier for i in self.catalogue.loaded(domain)]

    def find(self, specifier: dict[str, Any] | str | None, domain: Domain) -> Instance | None:
        """A loaded instance for a wire ModelSpecifier (or plain identifier)."""
        if isinstance(specifier, dict):
            if specifier.get("type") == "instanceReference":
                return self.catalogue.find_loaded(
                    None, domain, reference=specifier.get("instanceReference")
                )
            query = specifier.get("query") or {}
            specifier = query.get("identifier") or query.get("path")
        return self.catalogue.find_loaded(specifier, domain)

    def downloaded_spec(self, query: str, domain: Domain, *, missing: str) -> ModelSpec:
        """The downloaded model for ``query`` or the right SimError (``missing`` picks the code)."""
        spec = self.catalogue.find_downloaded(query, domain)
        if spec is not None:
            return spec
        other = self.catalogue.find_downloaded(query)
        if other is not None:
            raise domain_mismatch(other.path, other.type, domain)
        if missing == "path":
            raise path_not_found(query, [m.path for m in self.catalogue.downloaded()])
        raise model_not_found(query, domain, self.loaded_ids(domain))

    async def resolve(
        self, specifier: dict[str, Any] | str | None, domain: Domain, *, jit: bool = True
    ) -> Instance:
        """Loaded instance for a specifier, JIT-loading a downloaded model when allowed."""
        inst = self.find(specifier, domain)
        if inst is not None:
            inst.touch()
            return inst
        query = specifier
        if isinstance(specifier, dict):
            q = specifier.get("query") or {}
            query = q.get("identifier") or q.get("path")
        if not jit or not isinstance(query, str):
            raise model_not_found(query if isinstance(query, str) else None, domain,
                                  self.loaded_ids(domain))
        spec = self.downloaded_spec(query, domain, missing="query")
        inst, _ = await self.get_or_load(spec)
        return inst

    async def get_or_load(
        self,
        spec: ModelSpec,
        *,
        fields: list[dict[str, Any]] | None = None,
        ttl_seconds: float | None = None,
        on_start: Callable[[str], Awaitable[None]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[Instance, bool]:
        """(instance, was_loaded_now). Concurrent calls for one key share a single load."""
        lock = self._load_locks.setdefault(spec.key, asyncio.Lock())
        async with lock:
            inst = self.catalogue.find_loaded(spec.key, spec.type)
            if inst is not None:
                inst.touch()
                return inst, False
            ident = self.catalogue.new_identifier(spec.key)
            if on_start is not None:
                await on_start(ident)
            inst = await self.load(spec, ident, fields=fields, ttl_seconds=ttl_seconds,
                                   progress=progress)
            return inst, True

    async def load(
        self,
        spec: ModelSpec,
        identifier: str | None = None,
        *,
        fields: list[dict[str, Any]] | None = None,
        ttl_seconds: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Instance:
        """Load a new instance, pacing progress over ``timing.load_seconds`` in quarters."""
        if identifier is not None and self.catalogue.get(identifier) is not None:
            raise SimError(f'An instance with the identifier "{identifier}" is already loaded')
        step = self.timing.load_seconds / 4
        for p in (0.25, 0.5, 0.75, 1.0):
            await asyncio.sleep(step)
            if progress is not None:
                await progress(p)
        ctx_key = f"{spec.type}.load.contextLength"
        ctx = next((f.get("value") for f in fields or [] if f.get("key") == ctx_key), None)
        ctx = ctx if isinstance(ctx, int) and not isinstance(ctx, bool) and ctx > 0 else None
        return self.catalogue.load(
            spec,
            identifier or self.catalogue.new_identifier(spec.key),
            fields=fields,
            context_length=ctx,
            ttl_seconds=ttl_seconds,
        )

    # -- generation ---------------------------------------------------------------------------
    async def generate(self, inst: Instance, req: SimRequest) -> AsyncIterator[Generated]:
        """Run the behaviour and yield prompt progress, fragments, tool calls, then "done"."""
        timing = self.timing
        started = time.monotonic()
        prompt_tokens = prompt_token_count(req.messages)
        yield Generated("prompt", progress=0.0)
        prompt_secs = timing.prompt_seconds(prompt_tokens)
        if prompt_secs:
            for p in (0.25, 0.5, 0.75):
                await asyncio.sleep(prompt_secs / 4)
                if req.cancelled.is_set():
                    break
                yield Generated("prompt", progress=p)
            await asyncio.sleep(prompt_secs / 4)
        if not req.cancelled.is_set():
            yield Generated("prompt", progress=1.0)

        result: Any = await asyncio.to_thread(self.behaviour_for(inst.spec), req)
        calls: list[ToolCall] = []
        if result is None:
            result = ""
        if isinstance(result, ToolCalls):
            calls = [ToolCall(c.name, dict(c.arguments), c.id) for c in result.calls]
            result = result.text
        if req.json_schema is not None and not calls:
            chunks = [c async for c in _pull(result)]
            result = structured_text("".join(chunks), req.json_schema)

        max_tokens = max_tokens_of(req.config)
        stops = [s for s in req.config.get("llm.prediction.stopStrings") or [] if s]
        stop_reason = "eosFound"
        emitted = ""
        generated = 0
        first_token_at: float | None = None
        if timing.first_token_latency:
            await asyncio.sleep(timing.first_token_latency)
        async for chunk in _pull(result):
            for tok in split_tokens(str(chunk)):
                if req.cancelled.is_set():
                    stop_reason = "userStopped"
                    break
                if max_tokens is not None and generated >= max_tokens:
                    stop_reason = "maxPredictedTokensReached"
                    break
                hit = _find_stop(emitted, tok, stops)
                if hit is not None:
                    tok, stop_reason = hit, "stopStringFound"
                if tok:
                    await asyncio.sleep(timing.token_seconds())
                    if req.cancelled.is_set():
                        stop_reason = "userStopped"
                        break
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                    generated += 1
                    emitted += tok
                    yield Generated("fragment", text=tok)
                if stop_reason != "eosFound":
                    break
            if stop_reason != "eosFound":
                break
        else:
            if req.cancelled.is_set():
                stop_reason = "userStopped"
        if stop_reason == "eosFound" and calls:
            for call in calls:
                call.id = call.id or f"call_{next(self._call_ids)}"
                yield Generated("tool", tool_call=call)
            stop_reason = "toolCalls"
        ended = time.monotonic()
        gen_secs = ended - (first_token_at or ended)
        tps = generated / gen_secs if gen_secs > 0 else float(timing.tokens_per_second or 1000.0)
        yield Generated(
            "done",
            text=emitted,
            stats={
                "stopReason": stop_reason,
                "tokensPerSecond": round(tps, 3),
                "numGpuLayers": 28,
                "timeToFirstTokenSec": round((first_token_at or ended) - started, 4),
                "promptTokensCount": prompt_tokens,
                "predictedTokensCount": generated,
                "totalTokensCount": prompt_tokens + generated,
            },
        )

    # -- embeddings ---------------------------------------------------------------------------
    async def embed(self, inst: Instance, text: str) -> np.ndarray:
        """Deterministic lexical embedding with the model's dimension."""
        if self.timing.embed_seconds_per_text:
            await asyncio.sleep(self.timing.embed_seconds_per_text)
        inst.touch()
        return embed_text(text, inst.spec.dim)

    # -- TTL ----------------------------------------------------------------------------------
    async def ttl_loop(self, interval: float = 0.1) -> None:
        """Unload instances whose TTL has expired (runs for the server's lifetime)."""
        while True:
            self.catalogue.expire()
            await asyncio.sleep(interval)


def _find_stop(emitted: str, tok: str, stops: list[str]) -> str | None:
    """If a stop string completes within ``tok``, the part of ``tok`` before it; else None."""
    if not stops:
        return None
    full = emitted + tok
    best: int | None = None
    for s in stops:
        idx = full.find(s, max(0, len(emitted) - len(s) + 1))
        if idx >= 0 and (best is None or idx < best):
            best = idx
    if best is None:
        return None
    return full[len(emitted) : best] if best > len(emitted) else ""
