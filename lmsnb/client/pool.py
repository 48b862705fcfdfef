"""Scheduled calls on one or several LM Studio hosts: free slots, learned capacity, failover.

``HostPool.complete`` is how GraphRAG calls reach LM Studio. A call waits here (not in LM Studio's
silent queue) until some host has a free slot for the model, runs there (``runner.Runner``
watches it), and when that host dies midway the same call runs on another host — the dead host
cannot finish it, so nothing is generated twice, and answers already received are the caller's
(GraphRAG caches each one as it arrives).

How many slots a host has — LM Studio's "Max Concurrent Predictions" for the loaded model, 4 on
the llama.cpp engine, 1 on MLX, user-settable — is not readable through SDK 1.5.0, so
:class:`Capacity` learns it from how the server behaves: a prediction that has a slot says
something at once (prompt progress, then tokens); one that is queued stays silent. Starting from
one call in flight, the limit grows by one while every call in flight has started and more work
waits; when a call stays silent for longer than calls take to start while others run, the limit
becomes the number running. It is held there for ``HOLD`` seconds, then probed again (the server
may have been shared, or its setting changed). An explicit ``concurrency=N`` skips all this.
"""

from __future__ import annotations

import heapq
import itertools
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import Cancelled, ConnectionFailed, LmsnbError, ModelNotFound
from ..events import Done
from .errors import get_timeout
from .hosts import START_HINT, is_reachable
from .runner import TICK, Call, Stalled

CEILING = 64  # the most predictions in flight per host and model that "auto" will try
MIN_GRACE = 0.3  # seconds a prediction with a free slot may take to say something, at least
MIN_QUEUED = 0.1  # a later start, right after another call ended, was a wait for its slot
HOLD = 120.0  # seconds the learned limit holds before probing one more again
REVIVE_EVERY = 2.0  # seconds between checks of a host that went down
DOWN_WAIT = 120.0  # seconds to wait for a host to come back when all are down


class Capacity:
    """How many predictions of one model one host runs at once (see the module docstring).

    Two signs that the server is full: a call stays silent for longer than calls take to start
    (``grace``: 4× the median start delay seen, at least ``MIN_GRACE``), or a call starts only
    after another call's end freed its slot, later than calls usually start (3× the median
    start delay, at least ``MIN_QUEUED``: a queued call starts the moment a slot frees, often
    well within ``grace``).
    Either sets the limit to the most calls seen running at once since the last such sign. A
    call that looked queued but starts with no slot freed meanwhile was only slow (a busy
    machine): the limit goes back up.
    """

    def __init__(self) -> None:
        self.limit = 1
        self.calls: set[Call] = set()
        self.peak = 0  # the most calls seen running at once since the limit was last set
        self.full_at: int | None = None  # the level at which calls were seen queueing
        self.full_since = 0.0
        self._delays: deque[float] = deque(maxlen=64)  # sent → first message, quick starts
        self.last_end = 0.0  # when a released call of this model ended

    def grace(self) -> float:
        """How long a prediction with a free slot may take to say something."""
        return max(MIN_GRACE, 4 * statistics.median(self._delays)) if self._delays else MIN_GRACE

    def usual(self) -> float:
        """A start later than this, right after a slot freed, was a wait in the queue."""
        median = statistics.median(self._delays) if self._delays else MIN_GRACE
        return max(MIN_QUEUED, 3 * median)

    def running(self) -> int:
        return sum(1 for c in self.calls if c.started and c.ended_at is None)

    def started(self, call: Call, now: float) -> None:
        if call.started_at is None or not call.sent_at:
            return
        delay = call.started_at - call.sent_at
        freed = self.last_end >= call.sent_at or any(
            c.ended_at is not None and c.ended_at >= call.sent_at for c in self.calls)
        if delay > self.usual() and freed:  # it waited for a slot
            if not call.queued:  # (one seen silent was counted then)
                self._full(now)  # it runs now, in the slot it waited for
            return
        self._delays.append(delay)
        self.peak = max(self.peak, self.running())
        if call.queued:  # it only looked queued: nothing freed a slot for it
            self.full_at = None
            self.limit = max(self.limit, self.peak)

    def _full(self, now: float) -> None:
        self.limit = max(1, self.peak, self.running())
        self.full_at, self.full_since = self.limit + 1, now
        self.peak = 0

    def review(self, now: float, waiting: bool) -> None:
        """Lower the limit when a call queues; raise it while all run and work waits."""
        grace = self.grace()
        silent = [c for c in self.calls if c.sent_at and not c.started and now - c.sent_at > grace]
        if silent:
            if not all(c.queued for c in silent):
                self._full(now)
            for c in silent:
                c.queued = True
        elif (waiting and len(self.calls) >= self.limit and self.running() == len(self.calls)
              and self.limit < CEILING):
            held = self.full_at is not None and self.limit + 1 >= self.full_at
            if not held or now - self.full_since > HOLD:
                self.limit += 1


@dataclass
class HostStats:
    """What one host did for this process (``HostPool.stats()`` shows one row per host)."""

    host: str
    calls: int = 0  # predictions sent (every attempt)
    completed: int = 0
    failed_over: int = 0  # sent, then the host died: the call ran elsewhere
    timeouts: int = 0  # started, then stalled: cancelled on the server
    prompt_tokens: int = 0
    completion_tokens: int = 0
    busy_seconds: float = 0.0  # from first message to the end, summed
    queued_seconds: float = 0.0  # waiting in LM Studio's queue, summed
    embeddings: int = 0
    down: bool = False


@dataclass(eq=False)
class Host:
    conn: Any  # lmsnb.client.Connection
    capacity: dict[str, Capacity] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # models this host cannot serve
    down_since: float | None = None
    stats: HostStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = HostStats(self.conn.host)

    @property
    def name(self) -> str:
        return str(self.conn.host)

    def cap(self, model: str) -> Capacity:
        return self.capacity.setdefault(model, Capacity())


class HostPool:
    """Several LM Studio hosts used as one: ``lmsnb.connect(["gpu1:1234", "gpu2:1234"])``.

    Chat, model info and tokenizing use the first host that is up; ``load``/``unload`` act on
    every host; ``complete`` and ``embed`` spread work over all of them by free slots.
    """

    def __init__(self, connections: Sequence[Any]) -> None:
        if not connections:
            raise ConnectionFailed("No LM Studio host was given", hint="pass e.g. 'localhost:1234'")
        self._hosts = [Host(c) for c in connections]
        self._cond = threading.Condition()
        self._queues: dict[str, list[tuple[float, int]]] = {}  # model -> waiting (-priority, ticket)
        self._tickets = itertools.count()
        self._reviving = False
        self.simulator: Any = None
        self.label = (f"LM Studio at {self._hosts[0].name}" if len(self._hosts) == 1 else
                      f"{len(self._hosts)} LM Studio hosts: {', '.join(self.hosts)}")

    def __repr__(self) -> str:
        return f"HostPool({self.hosts!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Connected to {self.label}")

    # -- hosts -------------------------------------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in self._hosts]

    @property
    def connections(self) -> list[Any]:
        return [h.conn for h in self._hosts]

    @property
    def host(self) -> str:
        """The first host that is up (where chat and model listings go)."""
        return self._primary().name

    def _primary(self) -> Host:
        with self._cond:
            return next((h for h in self._hosts if h.down_since is None), self._hosts[0])

    def stats(self) -> Any:
        """One row per host: calls sent, completed, failed over, tokens, busy and queued time."""
        import pandas as pd

        with self._cond:
            rows = [{**asdict(h.stats), "down": h.down_since is not None} for h in self._hosts]
        return pd.DataFrame(rows)

    def capacity(self, model: str) -> dict[str, int]:
        """The concurrency learned so far for ``model``, per host."""
        with self._cond:
            return {h.name: h.cap(model).limit for h in self._hosts}

    def slots(self, model: str, concurrency: int | None = None) -> int:
        """How many calls of ``model`` may be in flight now over the hosts that serve it:
        ``concurrency`` per host, or the learned limit plus the one more "auto" may try."""
        with self._cond:
            serving = [h for h in self._hosts if model not in h.missing] or self._hosts
            return sum(concurrency or h.cap(model).limit + 1 for h in serving)

    def _mark_down(self, host: Host) -> None:
        with self._cond:
            if host.down_since is None:
                host.down_since = time.monotonic()
                host.capacity.clear()
            start = not self._reviving
            self._reviving = True
            self._cond.notify_all()
        if start:
            threading.Thread(target=self._revive, daemon=True, name="lmsnb-revive").start()

    def _revive(self) -> None:
        """Watch hosts that went down; a host that answers again is used again."""
        while True:
            time.sleep(REVIVE_EVERY)
            with self._cond:
                down = [h for h in self._hosts if h.down_since is not None]
                if not down:
                    self._reviving = False
                    return
            for host in down:
                if is_reachable(host.name):
                    with self._cond:
                        host.down_since = None
                        host.missing.clear()
                        self._cond.notify_all()

    # -- scheduled predictions ---------------------------------------------------------------

    def _acquire(self, model: str, concurrency: int | None, abort: threading.Event,
                 priority: float = 0) -> tuple[Host, Call]:
        """Wait for a free slot for ``model`` on any host; register the call there.

        Waiting calls for one model take free slots in order: the highest ``priority`` first,
        then the one that came first (so a caller's submission order holds).
        """
        with self._cond:
            entry = (-priority, next(self._tickets))
            queue = self._queues.setdefault(model, [])
            heapq.heappush(queue, entry)
            try:
                while True:
                    if abort.is_set():
                        raise Cancelled("The call was cancelled before it started")
                    if queue[0] != entry:
                        self._cond.wait(TICK)
                        continue
                    now = time.monotonic()
                    best: tuple[int, Host] | None = None
                    serving = [h for h in self._hosts if model not in h.missing]
                    if not serving:
                        raise ModelNotFound(f"Model {model!r} is not available on any host "
                                            f"({', '.join(self.hosts)})",
                                            hint="load it on each host: "
                                                 "lmsnb.models.load(KEY) loads on all of them")
                    live = [h for h in serving if h.down_since is None]
                    # A free slot anywhere first; only when there is none, try one more
                    # call on a host whose calls all run (learning its capacity).
                    for probe in (False, True):
                        for host in live:
                            cap = host.cap(model)
                            cap.review(now, waiting=probe)
                            free = (concurrency or cap.limit) - len(cap.calls)
                            if free > 0 and (best is None or free > best[0]):
                                best = (free, host)
                        if best is not None or concurrency:
                            break
                    if best is not None:
                        host = best[1]
                        call = Call(model, host.name, cancel_requested=abort,
                                    on_start=lambda c, h=host: self._started(h, c))
                        host.cap(model).calls.add(call)
                        return host, call
                    downs = [h.down_since for h in serving if h.down_since is not None]
                    if len(downs) == len(serving) and now - max(downs) > DOWN_WAIT:
                        raise ConnectionFailed(
                            f"No LM Studio host answers ({', '.join(self.hosts)})",
                            hint=START_HINT + "; calls already answered are cached")
                    self._cond.wait(TICK)
            finally:
                queue.remove(entry)
                heapq.heapify(queue)
                self._cond.notify_all()

    def _started(self, host: Host, call: Call) -> None:
        with self._cond:
            host.cap(call.model).started(call, time.monotonic())
            self._cond.notify_all()

    def _release(self, host: Host, call: Call) -> None:
        with self._cond:
            if call.sent_at:
                host.stats.calls += 1
            cap = host.capacity.get(call.model)
            if cap is not None:
                cap.calls.discard(call)
                cap.last_end = max(cap.last_end, call.ended_at or time.monotonic())
                cap.review(time.monotonic(), waiting=False)
            self._cond.notify_all()

    def complete(self, model: str, history: Sequence[Mapping[str, Any]] | str, *,
                 config: Mapping[str, Any] | None = None, response_format: Any = None,
                 concurrency: int | None = None, abort: threading.Event | None = None,
                 priority: float = 0) -> Done:
        """One prediction, run to its end on whichever host has a free slot first.

        Returns the final ``Done``; ``done.stats.host`` says where it ran and
        ``done.stats.attempts`` how many times it was sent (a host died, or it stalled).
        ``abort`` (an Event shared by a whole build) cancels it on the server when set;
        ``priority``: among calls waiting for a slot, higher goes first.
        """
        from .. import config as cfg

        pred_cfg = cfg.normalize_prediction_config(config)
        abort = abort or threading.Event()
        attempts = 0
        lost_on: list[str] = []
        while True:
            host, call = self._acquire(model, concurrency, abort, priority)
            runner = host.conn.runner
            future = runner.submit(runner.predict(call, history, pred_cfg, response_format,
                                                  get_timeout()))
            try:
                done = _wait(future, call)
            except Stalled:
                with self._cond:
                    host.stats.timeouts += 1
                raise
            except Exception as exc:  # noqa: BLE001 - translated, then failover or raise
                err = exc if isinstance(exc, LmsnbError) else host.conn._translate(exc, model,
                                                                                  "llm")
                if isinstance(err, ConnectionFailed) and len(self._hosts) > 1:
                    if call.sent_at:
                        with self._cond:
                            host.stats.failed_over += 1
                        lost_on.append(host.name)
                    self._mark_down(host)
                    continue
                if isinstance(err, ModelNotFound) and len(self._hosts) > 1:
                    with self._cond:
                        host.missing.add(model)
                        others = any(model not in h.missing for h in self._hosts)
                    if others:
                        continue
                if err is exc:
                    raise
                raise err from None
            finally:
                self._release(host, call)
                if call.sent_at:  # it reached the server (a host found dead before is no try)
                    attempts += 1
            if abort.is_set():  # a build that gave up: a partial answer is no answer
                raise Cancelled("The call was cancelled on the server")
            s = done.stats
            s.attempts, s.lost_on = attempts, tuple(lost_on)
            with self._cond:
                st = host.stats
                st.completed += 1
                st.prompt_tokens += s.prompt_tokens
                st.completion_tokens += s.predicted_tokens
                st.busy_seconds += s.total_seconds - s.queued_seconds
                st.queued_seconds += s.queued_seconds
            return done

    # -- embeddings --------------------------------------------------------------------------

    def embed(self, model: str | None, texts: Sequence[str], *,
              on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Vectors for ``texts``, split over the hosts that are up (a dying host's share moves)."""
        texts = [str(t) for t in texts]
        name = model or self.default_model("embedding")
        up = [h for h in self._hosts if h.down_since is None and name not in h.missing]
        if len(up) <= 1 or len(texts) < 2 * len(up):
            host = up[0] if up else self._primary()
            return self._embed_on(host, name, texts, on_progress)
        parts = np.array_split(np.arange(len(texts)), len(up))
        out = _on_each(len(up), lambda i: self._embed_on(
            up[i], name, [texts[j] for j in parts[i]], None))
        if on_progress:
            on_progress(len(texts), len(texts))
        return np.vstack(out)  # type: ignore[arg-type]

    def _embed_on(self, host: Host, model: str, texts: list[str],
                  on_progress: Callable[[int, int], None] | None) -> np.ndarray:
        while True:
            try:
                vecs = host.conn.embed(model, texts, on_progress=on_progress)
            except ConnectionFailed:
                if len(self._hosts) == 1:
                    raise
                self._mark_down(host)
                host = self._next_up(model)
                continue
            with self._cond:
                host.stats.embeddings += len(texts)
            return vecs

    def _next_up(self, model: str) -> Host:
        deadline = time.monotonic() + DOWN_WAIT
        while time.monotonic() < deadline:
            with self._cond:
                for h in self._hosts:
                    if h.down_since is None and model not in h.missing:
                        return h
                self._cond.wait(REVIVE_EVERY)
        raise ConnectionFailed(f"No LM Studio host answers ({', '.join(self.hosts)})",
                               hint=START_HINT)

    # -- one host for everything else --------------------------------------------------------

    def _on_primary(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(conn)`` on the first host that is up; move on when it is not."""
        last: ConnectionFailed | None = None
        for host in list(self._hosts):
            if host.down_since is not None and len(self._hosts) > 1:
                continue
            try:
                return fn(host.conn)
            except ConnectionFailed as err:
                last = err
                if len(self._hosts) > 1:
                    self._mark_down(host)
        raise last or ConnectionFailed(f"No LM Studio host answers ({', '.join(self.hosts)})",
                                       hint=START_HINT)

    def _with_model(self, model: str | None, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(conn)`` on the first host that is up and answers for ``model``: a host that
        does not have it is passed over (None: the first host that is up)."""
        if model is None or len(self._hosts) == 1:
            return self._on_primary(fn)
        missing: ModelNotFound | None = None
        for host in list(self._hosts):
            if host.down_since is not None or model in host.missing:
                continue
            try:
                return fn(host.conn)
            except ModelNotFound as err:  # not here (or not loaded here): ask the next host
                missing = missing or err
            except ConnectionFailed:
                self._mark_down(host)
        if missing is not None:
            raise missing
        return self._on_primary(fn)

    def list_downloaded(self) -> list[dict[str, Any]]:
        return self._on_primary(lambda c: c.list_downloaded())

    def list_loaded(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self._on_primary(lambda c: c.list_loaded(kind))

    def default_model(self, kind: str = "llm") -> str:
        return self._on_primary(lambda c: c.default_model(kind))

    def model_info(self, identifier: str, *, kind: str | None = None) -> dict[str, Any]:
        return self._with_model(identifier, lambda c: c.model_info(identifier, kind=kind))

    def load_config(self, identifier: str) -> dict[str, Any]:
        return self._with_model(identifier, lambda c: c.load_config(identifier))

    def count_tokens(self, model: str | None, text: str, *, kind: str = "llm") -> int:
        return self._with_model(model, lambda c: c.count_tokens(model, text, kind=kind))

    def tokenize(self, model: str | None, text: str, *, kind: str = "llm") -> list[int]:
        return self._with_model(model, lambda c: c.tokenize(model, text, kind=kind))

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        return self._on_primary(lambda c: c.predict(*args, **kwargs))

    def act(self, *args: Any, **kwargs: Any) -> Any:
        return self._on_primary(lambda c: c.act(*args, **kwargs))

    def load(self, key: str, *, on_progress: Callable[[float], None] | None = None,
             **kwargs: Any) -> dict[str, Any]:
        """Load ``key`` on every host that is up (in parallel); returns the first host's row."""
        up = [h for h in self._hosts if h.down_since is None] or self._hosts[:1]
        progress = [0.0] * len(up)

        def work(i: int) -> Any:
            def report(p: float) -> None:
                progress[i] = p
                if on_progress:
                    on_progress(sum(progress) / len(progress))

            row = up[i].conn.load(key, on_progress=report, **kwargs)
            with self._cond:
                up[i].missing.discard(key)
            return row

        return _on_each(len(up), work)[0]

    def unload(self, identifier: str) -> None:
        """Unload on every host that has it."""
        found = False
        for host in self._hosts:
            if host.down_since is not None:
                continue
            try:
                host.conn.unload(identifier)
                found = True
            except ModelNotFound:
                continue
        if not found:
            raise ModelNotFound(f"No loaded model is called {identifier!r} on any host",
                                hint="see the loaded identifiers with %lms_models")

    def close(self) -> None:
        for host in self._hosts:
            host.conn.close()


def _on_each(n: int, work: Callable[[int], Any]) -> list[Any]:
    """``[work(0), …, work(n-1)]`` run at once, one thread each (one per host); the first error
    is raised once all have ended."""
    out: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


def _wait(future: Any, call: Call) -> Done:
    """Wait for a prediction; an interrupt of this thread cancels it on the server first."""
    try:
        return future.result()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            call.cancel_requested.set()
            try:
                future.result(timeout=15)
            except BaseException:  # noqa: BLE001, S110 - the interrupt is what matters now
                pass
        raise
