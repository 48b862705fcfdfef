"""Scheduled calls on one host: an ``lmstudio.AsyncClient`` on a background event loop.

Why not the sync client: the SDK's sync calls give up after 60 s without a message, and once
they have given up the channel is gone, so ``cancel()`` can no longer reach the server. LM Studio
keeps predictions beyond its "Max Concurrent Predictions" in a silent queue, so a queued call
would time out, be retried, and still run on the server: every build on a busy server did its
work twice. The async API has no timeout of its own; here lmsnb decides when a call has failed,
and cancels it on the server whenever it gives up:

- a call that has started (the server sent progress or tokens) and then stays silent for
  ``silence`` seconds is stalled: it is cancelled on the server and reported as a timeout;
- a call that has not started is queued, which is not an error, as long as the host answers;
  when the whole host has been silent for ``silence`` seconds it is asked a cheap question, and
  a host that does not answer is down (``HostDown``): its calls go elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import lmstudio

from ..errors import ConnectionFailed, LmsnbError, RequestTimeout
from ..events import Done
from .errors import is_disconnect
from .hosts import START_HINT
from .predictions import _Answer, _notify, _stats_from, _to_chat

T = TypeVar("T")

PING_TIMEOUT = 10.0  # seconds a host may take to answer "are you there?"
CANCEL_GRACE = 10.0  # seconds to wait for "userStopped" after a cancel
TICK = 0.25  # how often a waiting call looks at the clock


class HostDown(ConnectionFailed):
    """A host stopped answering; the calls it had are safe to send elsewhere."""


class Stalled(RequestTimeout):
    """A prediction started, then went silent; it was cancelled on the server."""


@dataclass(eq=False)
class Call:
    """One scheduled prediction, shared by the thread that waits for it and the host's loop.

    ``started_at`` is when the server first said something about it (prompt progress or a
    token): until then the call waits in LM Studio's queue. ``on_start`` tells the scheduler.
    """

    model: str
    host: str = ""
    sent_at: float = 0.0
    started_at: float | None = None
    heard_at: float = 0.0
    ended_at: float | None = None
    on_start: Callable[[Call], None] | None = None
    queued: bool = False  # seen waiting in LM Studio's queue
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    def heard(self, now: float) -> None:
        self.heard_at = now
        if self.started_at is None:
            self.started_at = now
            if self.on_start is not None:
                self.on_start(self)

    @property
    def started(self) -> bool:
        return self.started_at is not None


class _Clients:
    """The clients one loop owns (strong references: asyncio keeps only weak ones to tasks)."""

    def __init__(self) -> None:
        self.owners: set[asyncio.Future[None]] = set()
        self.closing: set[asyncio.Event] = set()


def _stop(loop: asyncio.AbstractEventLoop, clients: _Clients) -> None:
    """Close every client of ``loop`` (leaving their context in their own task), then stop it."""

    async def shutdown() -> None:
        for event in list(clients.closing):
            event.set()
        if clients.owners:
            await asyncio.wait(set(clients.owners), timeout=5)

    def start() -> None:
        asyncio.ensure_future(shutdown()).add_done_callback(lambda _: loop.stop())

    if not loop.is_closed():
        loop.call_soon_threadsafe(start)


async def _own(host: str, ready: asyncio.Future[Any], closing: asyncio.Event) -> None:
    """Open a client for ``host`` and keep it until ``closing``: the SDK's async client is a
    context manager that must be left by the task that entered it."""
    try:
        async with lmstudio.AsyncClient(host) as client:
            ready.set_result(client)
            await closing.wait()
    except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the client
        if not ready.done():
            ready.set_exception(exc)


class Runner:
    """One host's async client, recreated after a dropped websocket, and the calls run on it."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.heard_at = 0.0  # the last message from this host, on any call
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients = _Clients()
        self._stopper: weakref.finalize | None = None
        self._lock = threading.Lock()
        self._ready: asyncio.Future[lmstudio.AsyncClient] | None = None
        self._closing: asyncio.Event | None = None
        self._handles: dict[tuple[str, str], Any] = {}

    # -- the loop ----------------------------------------------------------------------------

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coro`` on this host's loop (started on first use; stopped with the runner)."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._clients = _Clients()
                self._ready = self._closing = None
                self._handles.clear()
                threading.Thread(target=self._loop.run_forever, daemon=True,
                                 name=f"lmsnb-host-{self.host}").start()
                self._stopper = weakref.finalize(self, _stop, self._loop, self._clients)
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def close(self) -> None:
        """Close the client and stop the loop (a later call starts both again)."""
        with self._lock:
            self._loop = None
            stopper, self._stopper = self._stopper, None
        if stopper is not None:
            stopper()

    # -- the client --------------------------------------------------------------------------

    async def client(self) -> lmstudio.AsyncClient:
        """The host's client, connecting on first need (raises ``HostDown`` if unreachable)."""
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._closing = closing = asyncio.Event()
            owner = asyncio.ensure_future(_own(self.host, self._ready, closing))
            clients = self._clients  # not self: a runner nobody holds must be collectable
            clients.owners.add(owner)
            clients.closing.add(closing)

            def forget(_: Any, owner: Any = owner, closing: asyncio.Event = closing) -> None:
                clients.owners.discard(owner)
                clients.closing.discard(closing)

            owner.add_done_callback(forget)
        ready = self._ready
        try:
            return await asyncio.shield(ready)
        except Exception as exc:  # noqa: BLE001
            if self._ready is ready:
                self._ready = None
            raise self.down("is not reachable") from exc

    async def reset(self) -> None:
        """Forget the client (its websockets died); the next call connects again."""
        if self._closing is not None:
            self._closing.set()
        self._ready = self._closing = None
        self._handles.clear()

    def down(self, why: str) -> HostDown:
        return HostDown(f"LM Studio at {self.host} {why}", hint=START_HINT)

    async def handle(self, kind: str, model: str) -> Any:
        """A model handle (``getOrLoad`` once per model: LM Studio JIT-loads if it can)."""
        handle = self._handles.get((kind, model))
        if handle is None:
            client = await self.client()
            session = client.llm if kind == "llm" else client.embedding
            handle = await session.model(model, ttl=None)
            self._handles[(kind, model)] = handle
        return handle

    async def alive(self) -> bool:
        """Does the host answer a cheap question within ``PING_TIMEOUT``?"""
        try:
            client = await self.client()
            await asyncio.wait_for(client.llm.list_loaded(), PING_TIMEOUT)
        except (Exception, asyncio.TimeoutError):  # noqa: BLE001 - any failure means "no"
            return False
        self.heard_at = time.monotonic()
        return True

    # -- predictions -------------------------------------------------------------------------

    async def predict(self, call: Call, history: Sequence[Mapping[str, Any]] | str,
                      config: Mapping[str, Any] | None, response_format: Any,
                      silence: float | None) -> Done:
        """Run one prediction to its end, watching it as the module docstring says."""
        try:
            return await self._predict(call, history, config, response_format, silence)
        except LmsnbError:
            raise
        except Exception as exc:
            if is_disconnect(exc):
                await self.reset()
                raise self.down("dropped the connection") from None
            raise

    async def _predict(self, call: Call, history: Sequence[Mapping[str, Any]] | str,
                       config: Mapping[str, Any] | None, response_format: Any,
                       silence: float | None) -> Done:
        handle = await self.handle("llm", call.model)
        answer = _Answer()
        fragments = 0

        def heard(*_: Any) -> None:
            now = time.monotonic()
            self.heard_at = now
            call.heard(now)

        stream = await handle.respond_stream(
            _to_chat(history), config=dict(config) if config else None,
            response_format=response_format, on_prompt_processing_progress=heard,
            on_first_token=heard)
        call.host = self.host
        await stream.start()
        call.sent_at = call.heard_at = time.monotonic()  # the request is on its way

        async def pump() -> Any:
            nonlocal fragments
            async for frag in stream:
                heard()
                fragments += 1
                answer.fragments(frag)
            call.ended_at = time.monotonic()  # its slot is free now (before the next starts)
            return stream.result()

        task = asyncio.ensure_future(pump())
        cancel_sent: float | None = None
        reason: LmsnbError | None = None
        while True:
            done, _ = await asyncio.wait({task}, timeout=TICK)
            if done:
                break
            now = time.monotonic()
            if cancel_sent is None:
                if call.cancel_requested.is_set():
                    reason = None
                elif silence and call.started and now - call.heard_at > silence:
                    reason = Stalled(
                        f"LM Studio at {self.host} stopped answering a prediction for "
                        f"{silence:g} s; it was cancelled",
                        hint="lmsnb retries it; raise the limit with lmsnb.set_timeout(seconds)")
                elif (silence and not call.started and now - max(self.heard_at, call.sent_at)
                      > silence and not await self.alive()):
                    reason = self.down("stopped answering")
                else:
                    continue
                cancel_sent = now
                try:
                    await stream.cancel()
                except Exception:  # noqa: BLE001 - a dead channel cannot be cancelled
                    break
            elif now - cancel_sent > CANCEL_GRACE:  # the server did not confirm the cancel
                reason = reason or self.down("did not confirm a cancel")
                break
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if isinstance(reason, HostDown):
                await self.reset()
            raise reason or self.down("stopped answering")
        result = task.result()
        if reason is not None:  # cancelled by the watchdog and confirmed: a failed attempt
            raise reason
        answer.fragments()
        stats = _stats_from(result.stats, call.model, call.sent_at, None, fragments)
        stats.total_seconds = call.ended_at - call.sent_at
        stats.queued_seconds = (call.started_at or call.ended_at) - call.sent_at
        stats.kind, stats.host = "graphrag", self.host
        if call.cancel_requested.is_set():
            stats.stop_reason = "userStopped"
        structured = getattr(result, "structured", False)
        done = Done(result.content if structured else answer.text, stats,
                    parsed=result.parsed if structured else None, reasoning=answer.thinking)
        _notify(stats)
        return done

    # -- embeddings --------------------------------------------------------------------------

    async def embed(self, model: str, texts: Sequence[str], concurrency: int,
                    progress: list[int]) -> list[Any]:
        """Vectors for ``texts``, ``concurrency`` requests in flight (the SDK sends one per text)."""
        handle = await self.handle("embedding", model)
        gate = asyncio.Semaphore(concurrency)
        out: list[Any] = [None] * len(texts)

        async def one(i: int, text: str) -> None:
            async with gate:
                out[i] = await handle.embed(text)
            self.heard_at = time.monotonic()
            progress[0] += 1

        try:
            await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))
        except Exception as exc:
            if is_disconnect(exc):
                await self.reset()
                raise self.down("dropped the connection") from None
            raise
        return out
