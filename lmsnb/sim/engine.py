"""The simulated model runtime shared by the websocket protocol and the REST endpoints.

Why one engine: model resolution (with JIT loading and auto-evict), the per-instance prediction
queue, generation (behaviour → token fragments with maxTokens, stop strings, the context length,
structured output, tool calls and pacing) and embeddings must behave the same whichever API a
client uses. Everything here runs on the simulator's event loop; behaviours run in worker threads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .behaviours import (
    BEHAVIOURS,
    Behaviour,
    SimRequest,
    ToolCall,
    ToolCalls,
    max_tokens_of,
    resolve_behaviour,
    structured_text,
)
from .catalogue import Catalogue, Domain, Instance, ModelSpec
from .faults import FaultInjector
from .files import FileStore, StoredFile
from .gbnf import GrammarError, shortest_text
from .lexical import count_tokens, embed_text, split_tokens
from .protocol import SimError, domain_mismatch, model_not_found, path_not_found
from .timing import Counters, Timing

__all__ = ["Engine", "Generated", "max_tokens_of", "fit_prompt", "DEFAULT_OVERFLOW_POLICY"]

ProgressCallback = Callable[[float], Awaitable[None]]
Embedder = Callable[[str], Any]

#: LM Studio's default ``contextOverflowPolicy`` (lmstudio-js KV schema).
DEFAULT_OVERFLOW_POLICY = "truncateMiddle"
NO_IMAGES = "Model does not support images. Please use a model that does."
#: Idle TTL of a model a request loaded just in time (LM Studio's default: 60 minutes).
JIT_TTL_SECONDS = 3600.0
_OUTCOME = {"userStopped": "cancelled", "modelUnloaded": "unloaded", "failed": "failed"}


@dataclass
class Generated:
    """Events of one generation: ``kind`` is "prompt", "fragment", "tool" or "done"."""

    kind: str
    progress: float = 0.0
    text: str = ""
    tool_call: ToolCall | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    schema_miss: bool = False  # "done": a custom behaviour's text did not fit the JSON schema


def prompt_token_count(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens as a chat template would make them: content plus ~4 per message."""
    return sum(_message_tokens(m) for m in messages)


def _message_tokens(message: dict[str, Any]) -> int:
    return count_tokens(str(message.get("content", ""))) + 4


def overflow_error(keep: int, context_length: int) -> SimError:
    """LM Studio's refusal of a prompt whose kept part does not fit (its wording, typo included)."""
    return SimError(
        f"Trying to keep the first {keep} tokens when context the overflows. However, the model "
        f"is loaded with context length of only {context_length} tokens, which is not enough. "
        "Try to load the model with a larger context length, or provide a shorter input")


def fit_prompt(messages: list[dict[str, Any]], context_length: int,
               policy: str = DEFAULT_OVERFLOW_POLICY) -> int:
    """Prompt tokens once LM Studio's context-overflow ``policy`` has made the chat fit.

    ``truncateMiddle`` keeps the leading system messages, the first user message and the last
    message and drops messages from the middle; ``rollingWindow`` keeps the most recent messages;
    ``stopAtLimit`` keeps everything. When what must be kept does not fit, the prediction is
    refused (:func:`overflow_error`), as LM Studio does.
    """
    sizes = [_message_tokens(m) for m in messages]
    total = sum(sizes)
    if total < context_length:
        return total
    if policy == "rollingWindow":
        head = 0
    elif policy == "truncateMiddle":
        head = next((i for i, m in enumerate(messages) if m.get("role") != "system"),
                    len(messages) - 1) + 1
    else:
        head = len(sizes)
    keep = sum(sizes[:head]) + (sizes[-1] if head < len(sizes) else 0)
    if keep >= context_length:
        raise overflow_error(keep, context_length)
    fitted = keep
    for size in reversed(sizes[head:-1]):  # newest first, while they fit
        if fitted + size >= context_length:
            break
        fitted += size
    return fitted


class _Work:
    """A behaviour running in a worker thread, its output arriving as events on the loop.

    Events: ("prompt", p), ("text", str), ("tools", ToolCalls), ("error", exc), ("end", None).
    The worker pulls a generator ahead of the paced output (at most ``AHEAD`` pieces) and stops
    pulling once the request is stopped, so an endless generator ends with the prediction.
    """

    AHEAD = 256

    def __init__(self, behaviour: Behaviour, req: SimRequest, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.room = threading.Semaphore(self.AHEAD)

        def put(item: tuple[str, Any]) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self.queue.put_nowait, item)

        self._wake = lambda: put(("wake", None))
        req._cancel_listeners.append(self._wake)
        req._progress = lambda p: put(("prompt", p))
        self.req = req

        def work() -> None:
            try:
                result = behaviour(req)
                if result is None:
                    result = ""
                if isinstance(result, ToolCalls):
                    put(("tools", result))
                    result = result.text
                if isinstance(result, str):
                    self.room.acquire()
                    put(("text", result))
                else:
                    for item in result:
                        while not self.room.acquire(timeout=0.05):
                            if req.stopped:
                                return
                        if req.stopped:
                            break
                        put(("text", str(item)))
            except BaseException as exc:  # reported on the loop, as a failed prediction
                put(("error", exc))
            finally:
                put(("end", None))

        loop.run_in_executor(executor, work)

    def close(self) -> None:
        self.req._halt.set()
        if self._wake in self.req._cancel_listeners:
            self.req._cancel_listeners.remove(self._wake)


class Engine:
    """Catalogue + behaviours + timing + counters + faults + uploaded files, with async operations."""

    def __init__(
        self,
        catalogue: Catalogue,
        behaviour: str | Behaviour | None = "echo",
        timing: Timing | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.behaviour: Behaviour = resolve_behaviour(behaviour)
        self.model_behaviours: dict[str, Behaviour] = {}
        self.embedder: Embedder | None = None  # None: deterministic lexical embeddings
        self.model_embedders: dict[str, Embedder] = {}
        self.presets: dict[str, dict[str, Any]] = {}
        self.timing = timing or Timing()
        self.faults = FaultInjector()
        self.files = FileStore()
        self.jit_auto_evict = True
        self._clients: dict[str, int] = {}
        self._load_locks: dict[str, asyncio.Lock] = {}
        self._call_ids = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @property
    def counters(self) -> Counters:
        return self.catalogue.counters

    @property
    def executor(self) -> ThreadPoolExecutor:
        """Worker threads for behaviours and embedders (they may block, e.g. a real model)."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(64, thread_name_prefix="lmsnb-sim-model")
            return self._executor

    def shutdown(self) -> None:
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def client_opened(self, client: str) -> None:
        """A websocket of ``client`` (its ``clientIdentifier``) authenticated."""
        self._clients[client] = self._clients.get(client, 0) + 1

    def client_closed(self, client: str) -> None:
        """A websocket of ``client`` closed; with its last one go its uploaded files."""
        left = self._clients.get(client, 0) - 1
        if left > 0:
            self._clients[client] = left
            return
        self._clients.pop(client, None)
        self.files.forget_client(client)

    # -- models -------------------------------------------------------------------------------
    def behaviour_for(self, spec: ModelSpec) -> Behaviour:
        if spec.key in self.model_behaviours:
            return self.model_behaviours[spec.key]
        if spec.behaviour is not None:
            return resolve_behaviour(spec.behaviour)
        return self.behaviour

    def embedder_for(self, spec: ModelSpec) -> Embedder | None:
        return self.model_embedders.get(spec.key) or spec.embedder or self.embedder

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
        inst, _ = await self.get_or_load(spec, ttl_seconds=JIT_TTL_SECONDS)
        return inst

    async def get_or_load(
        self,
        spec: ModelSpec,
        *,
        fields: list[dict[str, Any]] | None = None,
        ttl_seconds: float | None = None,
        on_start: Callable[[str], Awaitable[None]] | None = None,
        on_evict: Callable[[Instance], Awaitable[None]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[Instance, bool]:
        """(instance, was_loaded_now): a JIT load. Concurrent calls for one key share one load.

        With auto-evict on (LM Studio's default), a JIT load first unloads every other model
        that was loaded JIT — LLMs and embedding models alike — cutting off their predictions;
        models loaded explicitly (``loadModel``, at start, ``sim.load``) are never evicted.
        """
        lock = self._load_locks.setdefault(spec.key, asyncio.Lock())
        async with lock:
            inst = self.catalogue.find_loaded(spec.key, spec.type)
            if inst is not None:
                inst.touch()
                return inst, False
            ident = self.catalogue.new_identifier(spec.key)
            if on_start is not None:
                await on_start(ident)
            if self.jit_auto_evict:
                for other in self.catalogue.loaded():
                    if other.jit and self.catalogue.unload(other.identifier) is not None:
                        if on_evict is not None:
                            await on_evict(other)
            inst = await self.load(spec, ident, fields=fields, ttl_seconds=ttl_seconds,
                                   progress=progress, jit=True)
            return inst, True

    async def load(
        self,
        spec: ModelSpec,
        identifier: str | None = None,
        *,
        fields: list[dict[str, Any]] | None = None,
        ttl_seconds: float | None = None,
        progress: ProgressCallback | None = None,
        jit: bool = False,
    ) -> Instance:
        """Load a new instance, pacing progress over ``timing.load_seconds`` in quarters."""
        if identifier is not None and self.catalogue.get(identifier) is not None:
            raise duplicate_identifier(identifier)
        step = self.timing.load_seconds / 4
        for p in (0.25, 0.5, 0.75, 1.0):
            await asyncio.sleep(step)
            if progress is not None:
                await progress(p)
        try:
            return self.catalogue.load(
                spec, identifier or self.catalogue.new_identifier(spec.key), fields=fields,
                ttl_seconds=ttl_seconds, jit=jit)
        except ValueError:  # loaded under that identifier meanwhile
            raise duplicate_identifier(identifier or spec.key) from None

    # -- requests -------------------------------------------------------------------------------
    def apply_preset(self, name: str | None, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` over the named preset's fields; an unknown preset is refused like LM Studio."""
        if not name:
            return config
        wanted = name.lower()
        for ident, fields in self.presets.items():
            if ident.lower() == wanted:
                return {**fields, **config}
        sample = [{"identifier": p, "name": p} for p in list(self.presets)[:5]]
        raise SimError(
            f'Cannot find a preset matching "{name}"', code="generic.presetNotFound",
            data={"specifiedFuzzyPresetIdentifier": name, "availablePresetsSample": sample,
                  "totalAvailablePresets": len(self.presets)})

    def attach_files(self, inst: Instance, req: SimRequest, identifiers: Iterable[str]) -> None:
        """Check the files a chat names and put its images on ``req`` (vision models only)."""
        for ident in identifiers:
            stored = self.files.get(ident)
            if stored is None:
                raise SimError(f'File not found: "{ident}"', cause="The file was never uploaded "
                               "(files.uploadFileBase64), or its client has disconnected.")
            self.attach_image(inst, req, stored)

    def attach_image(self, inst: Instance, req: SimRequest, image: StoredFile) -> None:
        if image.file_type != "image":
            raise SimError(f'File "{image.name}" ({image.file_type}) cannot be sent to a model: '
                           "only images (JPEG, PNG, WebP) can")
        if not inst.spec.vision:
            raise SimError(NO_IMAGES)
        req.images.append(image)

    # -- generation ---------------------------------------------------------------------------
    async def generate(self, inst: Instance, req: SimRequest) -> AsyncIterator[Generated]:
        """Queue for a slot of ``inst``, then yield prompt progress, fragments, tool calls, "done".

        A prompt that cannot fit the context is refused before queueing. While queued nothing is
        yielded; a request cancelled (or whose model is unloaded) while queued ends with a
        zero-token "done". Use with ``contextlib.aclosing`` so an abandoned stream frees its slot.
        """
        req.context_length = inst.context_length
        policy = req.config.get("llm.prediction.contextOverflowPolicy") or DEFAULT_OVERFLOW_POLICY
        prompt_tokens = fit_prompt(req.messages, inst.context_length, policy)
        ident = inst.identifier
        try:
            verdict = await inst.slots.acquire(req._cancel_listeners)
        except asyncio.CancelledError:
            self.counters.count_outcome(ident, "cancelled")
            raise
        if verdict != "run":
            self.counters.count_outcome(ident, verdict)
            now = time.monotonic()
            reason = "userStopped" if verdict == "cancelled" else "modelUnloaded"
            yield Generated("done", stats=self._stats(reason, now, None, now, prompt_tokens, 0))
            return
        outcome: str | None = None
        try:
            async for ev in self._generate(inst, req, prompt_tokens, policy):
                if ev.kind == "done":
                    outcome = _OUTCOME.get(ev.stats["stopReason"], "finished")
                yield ev
        except (asyncio.CancelledError, GeneratorExit):
            outcome = outcome or "cancelled"
            raise
        finally:
            inst.slots.release()
            inst.touch()
            self.counters.count_outcome(ident, outcome or "failed")

    async def _generate(self, inst: Instance, req: SimRequest, prompt_tokens: int,
                        policy: str) -> AsyncIterator[Generated]:
        timing = self.timing
        started = time.monotonic()
        progress = 0.0
        yield Generated("prompt", progress=0.0)
        prompt_secs = timing.prompt_seconds(prompt_tokens)
        if prompt_secs:
            for p in (0.25, 0.5, 0.75):
                await asyncio.sleep(prompt_secs / 4)
                if req.cancelled.is_set() or inst.unloaded:
                    break
                yield Generated("prompt", progress=p)
                progress = p
            else:
                await asyncio.sleep(prompt_secs / 4)

        behaviour = self.behaviour_for(inst.spec)
        builtin = behaviour in BEHAVIOURS.values()
        work = _Work(behaviour, req, self.executor)
        max_tokens = max_tokens_of(req.config)
        stops = [s for s in req.config.get("llm.prediction.stopStrings") or [] if s]
        stop_reason: str | None = None
        emitted = ""
        generated = 0
        first_token_at: float | None = None
        due: float | None = None
        calls: list[ToolCall] = []
        # A built-in's structured answer is gathered whole, made to fit, then sent.
        shaping = builtin and (req.json_schema is not None or req.gbnf_grammar is not None)
        held: list[str] = []
        try:
            while stop_reason is None:
                if req.cancelled.is_set():
                    stop_reason = "userStopped"
                    break
                if inst.unloaded:
                    stop_reason = "modelUnloaded"
                    break
                kind, value = await work.queue.get()
                if kind == "text":
                    work.room.release()
                if kind == "prompt":
                    if progress < value < 1.0:
                        progress = value
                        yield Generated("prompt", progress=value)
                    continue
                if kind == "wake":
                    continue
                if kind == "error":
                    raise value
                if kind == "tools":
                    calls = [ToolCall(c.name, dict(c.arguments), c.id) for c in value.calls]
                    continue
                if kind == "end":
                    if not shaping:
                        break
                    shaping = False
                    value = self._structured("".join(held), req, bool(calls))
                    work.queue.put_nowait(("end", None))
                elif shaping:
                    held.append(value)
                    continue
                if progress < 1.0:
                    progress = 1.0
                    yield Generated("prompt", progress=1.0)
                if first_token_at is None and timing.first_token_latency:
                    await asyncio.sleep(timing.first_token_latency)
                for tok in split_tokens(str(value)):
                    stop_reason = self._limit(req, inst, generated, max_tokens, prompt_tokens,
                                              policy)
                    if stop_reason:
                        break
                    hit = _find_stop(emitted, tok, stops)
                    if hit is not None:
                        tok, stop_reason = hit, "stopStringFound"
                    if tok:
                        # Each token is due one step after the previous one was due, so the
                        # server's own overhead does not slow the model; a token that is late
                        # goes at once, without a burst to catch up.
                        step = timing.token_seconds()
                        now = time.monotonic()
                        due = (due or now) + step
                        if due > now:
                            await asyncio.sleep(due - now)
                        else:
                            due = now
                            await asyncio.sleep(0)
                        if req.cancelled.is_set():
                            stop_reason = "userStopped"
                            break
                        if first_token_at is None:
                            first_token_at = time.monotonic()
                        generated += 1
                        emitted += tok
                        yield Generated("fragment", text=tok)
                    if stop_reason:
                        break
        finally:
            work.close()
        if stop_reason is None:
            stop_reason = ("userStopped" if req.cancelled.is_set()
                           else "modelUnloaded" if inst.unloaded else None)
        if stop_reason is None and calls:
            for call in calls:
                call.id = call.id or f"call_{next(self._call_ids)}"
                yield Generated("tool", tool_call=call)
            stop_reason = "toolCalls"
        stop_reason = stop_reason or req.stop_reason or "eosFound"
        if progress < 1.0 and stop_reason != "userStopped":
            yield Generated("prompt", progress=1.0)
        miss = (req.json_schema is not None and not builtin and not calls
                and not _fits(emitted, req.json_schema))
        ended = time.monotonic()
        yield Generated("done", text=emitted, schema_miss=miss, stats=self._stats(
            stop_reason, started, first_token_at, ended, prompt_tokens, generated))

    def _limit(self, req: SimRequest, inst: Instance, generated: int, max_tokens: int | None,
               prompt_tokens: int, policy: str) -> str | None:
        """Why generation must stop before the next token (None: it may go on)."""
        if req.cancelled.is_set():
            return "userStopped"
        if inst.unloaded:
            return "modelUnloaded"
        if max_tokens is not None and generated >= max_tokens:
            return "maxPredictedTokensReached"
        if policy == "stopAtLimit" and prompt_tokens + generated >= inst.context_length:
            return "contextLengthReached"
        return None

    def _structured(self, text: str, req: SimRequest, has_calls: bool) -> str:
        """A built-in behaviour's text made to fit the requested schema or grammar."""
        if has_calls:
            return text
        if req.json_schema is not None:
            return structured_text(text, req.json_schema)
        try:
            return shortest_text(req.gbnf_grammar or "")
        except GrammarError as exc:
            raise SimError(f"Failed to parse the GBNF grammar: {exc}") from None

    def _stats(self, stop_reason: str, started: float, first_token_at: float | None,
               ended: float, prompt_tokens: int, generated: int) -> dict[str, Any]:
        gen_secs = ended - (first_token_at or ended)
        tps = generated / gen_secs if gen_secs > 0 else float(self.timing.tokens_per_second or 1000.0)
        return {
            "stopReason": stop_reason,
            "tokensPerSecond": round(tps, 3),
            "numGpuLayers": 28,
            "timeToFirstTokenSec": round((first_token_at or ended) - started, 4),
            "promptTokensCount": prompt_tokens,
            "predictedTokensCount": generated,
            "totalTokensCount": prompt_tokens + generated,
        }

    # -- embeddings ---------------------------------------------------------------------------
    async def embed(self, inst: Instance, text: str) -> np.ndarray:
        """The model's embedder (a custom callable, run in a worker thread), else a
        deterministic lexical embedding with the model's dimension."""
        if self.timing.embed_seconds_per_text:
            await asyncio.sleep(self.timing.embed_seconds_per_text)
        inst.touch()
        embedder = self.embedder_for(inst.spec)
        if embedder is None:
            return embed_text(text, inst.spec.dim)
        loop = asyncio.get_running_loop()
        vector = await loop.run_in_executor(self.executor, embedder, text)
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    # -- TTL ----------------------------------------------------------------------------------
    async def ttl_loop(self, interval: float = 0.1) -> None:
        """Unload instances whose TTL has expired (runs for the server's lifetime)."""
        while True:
            self.catalogue.expire()
            await asyncio.sleep(interval)


def duplicate_identifier(identifier: str) -> SimError:
    """LM Studio's refusal of a load under an identifier in use: one line, as applications
    match it with ``"Model load error.*already exists"`` (lmstudio-python's own tests do)."""
    return SimError(f'A model with the identifier "{identifier}" already exists')


def _fits(text: str, schema: dict[str, Any]) -> bool:
    """Whether ``text`` is JSON that fits ``schema``."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return _fits_schema(value, schema, schema)


def _fits_schema(value: Any, schema: Any, root: dict[str, Any]) -> bool:
    """A small JSON-schema check: $ref, type, enum, const, required, properties, items."""
    if not isinstance(schema, dict):
        return True
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if part and isinstance(target, dict) else target
        return _fits_schema(value, target, root)
    if "const" in schema and value != schema["const"]:
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    for key in ("anyOf", "oneOf"):
        if key in schema and not any(_fits_schema(value, s, root) for s in schema[key]):
            return False
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
              "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "null": lambda v: v is None,
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}
    if kinds and not any(checks.get(k, lambda v: True)(value) for k in kinds):
        return False
    if isinstance(value, dict):
        if any(k not in value for k in schema.get("required", [])):
            return False
        props = schema.get("properties") or {}
        if not all(_fits_schema(value[k], s, root) for k, s in props.items() if k in value):
            return False
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return all(_fits_schema(v, schema["items"], root) for v in value)
    return True


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
