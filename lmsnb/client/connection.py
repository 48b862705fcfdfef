"""One LM Studio server (``Connection``) and the kernel's current connection.

Why a layer of our own over the SDK:
- the SDK's websockets die for good when the server restarts or the laptop sleeps; a
  ``Connection`` recreates its ``lmstudio.Client`` and says so;
- the SDK rejects ``http://`` / ``ws://`` hosts and does not scan port 1234; we normalise;
- SDK exceptions are long and varied; every one becomes one ``LmsnbError`` line with the fix;
- ``embed(list)`` is one sequential RPC per text in the SDK; we keep many in flight.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import lmstudio

from ..errors import ConfigError, ConnectionFailed, LmsnbError, ModelNotFound, Reconnected
from ..events import Done
from .embeddings import EmbedMixin
from .errors import NOT_FOUND_HINT, is_disconnect, translate
from .hosts import HOST_ENV, START_HINT, is_reachable, resolve_host, split_hosts
from .models import ModelsMixin, _session
from .pool import HostPool
from .predictions import PredictMixin
from .runner import Runner, warm_sdk_types

T = TypeVar("T")

# The SDK logs dropped websockets as JSON lines on loggers named after its classes; lmsnb
# reports a drop as one readable error instead. A NullHandler keeps those lines off stderr
# (Python's last-resort handler) unless the application configures logging itself.
for _name in ("AsyncWebsocketHandler", "AsyncWebsocketThread", "SyncToAsyncWebsocketBridge",
              "SyncLMStudioWebsocket", "AsyncLMStudioWebsocket"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


class Connection(ModelsMixin, PredictMixin, EmbedMixin):
    """One LM Studio server: owns (and recreates) an ``lmstudio.Client``.

    All methods return plain Python values and raise ``LmsnbError`` subclasses only.
    """

    def __init__(self, host: str | None = None, *, embed_concurrency: int = 64) -> None:
        self.host = resolve_host(host)
        self.embed_concurrency = embed_concurrency
        self.simulator: Any = None  # the in-process lmsnb.sim.Simulator, when connect() made one
        self.label = f"LM Studio at {self.host}"
        self._client: lmstudio.Client | None = None
        self._handles: dict[tuple[str, str], Any] = {}
        self._dims: dict[str, int] = {}  # embedding model -> vector size, once seen
        self._lock = threading.RLock()
        self._runner: Runner | None = None
        self._pool: HostPool | None = None

    def __repr__(self) -> str:
        return f"Connection({self.host!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Connected to {self.label}")

    # -- client lifecycle ------------------------------------------------------------------

    def _sdk(self) -> lmstudio.Client:
        with self._lock:
            if self._client is None:
                if not is_reachable(self.host):
                    raise ConnectionFailed(f"LM Studio is not reachable at {self.host}",
                                           hint=START_HINT)
                warm_sdk_types()
                self._client = lmstudio.Client(self.host)
                self._handles.clear()
            return self._client

    def _drop_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._handles.clear()
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - a dead client may fail to close; it is gone anyway
                pass

    def close(self) -> None:
        """Close the websockets (a later call reconnects)."""
        self._drop_client()
        if self._runner is not None:
            self._runner.close()

    @property
    def runner(self) -> Runner:
        """This host's async side: scheduled predictions and embeddings (``runner.Runner``)."""
        with self._lock:
            if self._runner is None:
                self._runner = Runner(self.host)
            return self._runner

    @property
    def pool(self) -> HostPool:
        """This host as a pool of one: slots, learned concurrency, stats (``pool.HostPool``)."""
        with self._lock:
            if self._pool is None:
                self._pool = HostPool([self])
            return self._pool

    def slots(self, model: str, concurrency: int | None = None) -> int:
        """Calls of ``model`` that may be in flight now: see :meth:`HostPool.slots`."""
        return self.pool.slots(model, concurrency)

    def complete(self, model: str, history: Any, **kwargs: Any) -> Done:
        """A scheduled prediction (GraphRAG's calls): see :meth:`HostPool.complete`."""
        return self.pool.complete(model, history, **kwargs)

    def _call(self, fn: Callable[[lmstudio.Client], T], *, model: str | None = None,
              kind: str | None = None, retry: bool = True) -> T:
        """Run ``fn(client)``; on a dead websocket reconnect once, retrying if ``retry``."""
        try:
            return fn(self._sdk())
        except LmsnbError:
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK failure is translated below
            if not is_disconnect(exc):
                raise self._translate(exc, model, kind) from None
        # The websocket died (server restart, sleep): replace the client.
        self._drop_client()
        if not is_reachable(self.host):
            raise ConnectionFailed(f"Lost the connection to LM Studio at {self.host}",
                                   hint=START_HINT)
        if not retry:
            self._sdk()
            raise Reconnected(f"The connection to {self.host} dropped and was re-established",
                              hint="run the cell again")
        try:
            return fn(self._sdk())
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc, model, kind) from None

    def _translate(self, exc: BaseException, model: str | None,
                   kind: str | None = None) -> LmsnbError:
        """``translate`` plus, for an unknown model, the closest downloaded key of ``kind``."""
        if "does not support images" in str(exc):  # LM Studio's own refusal
            return self.not_vision(model)
        err = translate(exc, self.host, model)
        if isinstance(err, ModelNotFound) and model and err.hint == NOT_FOUND_HINT:
            err = ModelNotFound(err.message, hint=self._suggest(model, kind))
        return err

    def _handle(self, kind: str, model: str | None, client: lmstudio.Client,
                ttl: int | None = None) -> Any:
        """A cached SDK model handle (getOrLoad once per model; JIT-loads if needed)."""
        if model is None:
            # default_model() makes its own call, which may replace a dead client: take the
            # session from the client that is current afterwards, not the one passed in.
            model = self.default_model(kind)
            client = self._sdk()
        session = _session(client, kind)
        key = (kind, model)
        handle = self._handles.get(key)
        if handle is None:
            handle = session.model(model, ttl=ttl)
            self._handles[key] = handle
        return handle


# ---------------------------------------------------------------------------------------------
# The process-wide connection

_connection: Connection | HostPool | None = None
_connection_lock = threading.Lock()


def get_connection() -> Connection | HostPool:
    """The kernel's connection (created on first use from ``$LMSNB_HOST`` or discovery).

    ``$LMSNB_HOST`` may name several hosts (``"gpu1:1234,gpu2:1234"``): then it is a pool.
    """
    global _connection
    with _connection_lock:
        if _connection is None:
            hosts = split_hosts(os.environ.get(HOST_ENV, ""))
            _connection = (HostPool([Connection(h) for h in hosts]) if len(hosts) > 1
                           else Connection())
        return _connection


def connect(host: str | Sequence[str] | None = None, *, hosts: Sequence[str] | None = None,
            check: bool = True, simulate: bool = False) -> Connection | HostPool:
    """Point lmsnb at ``host`` (``"box:1234"``, ``"http://box:1234"``, …); returns the connection.

    Several hosts — a list, ``hosts=[...]``, or one string with commas or spaces
    (``"gpu1:1234, gpu2:1234"``, as ``%lms_host`` takes them) — make a :class:`HostPool`:
    GraphRAG builds and queries spread their calls over all of them.

    With ``check`` every server must answer now, so a typo fails here rather than at first use.
    With ``simulate``, when nothing answers, lmsnb starts its LM Studio simulator (``lmsnb.sim``)
    in this process instead and says so — tutorials and CI run anywhere that way. The
    simulator is ``conn.simulator`` (None when a real server answered).
    """
    global _connection
    names = _host_list(host, hosts)
    if len(names) > 1:
        if simulate:
            raise ConfigError("simulate=True starts one simulator; it cannot stand in for "
                              f"{len(names)} hosts", hint="connect to one host, or start a "
                              "simulator per host: python -m lmsnb.sim --port N")
        conns = [Connection(h) for h in names]
        dead = [c.host for c in conns if check and not is_reachable(c.host)]
        if dead:
            raise ConnectionFailed(f"LM Studio is not reachable at {', '.join(dead)}",
                                   hint=START_HINT)
        new: Connection | HostPool = HostPool(conns)
    else:
        conn = Connection(names[0] if names else None)
        if not is_reachable(conn.host):
            if simulate:
                conn = _simulated(conn.host)
            elif check:
                raise ConnectionFailed(f"LM Studio is not reachable at {conn.host}",
                                       hint=START_HINT)
        elif os.environ.get("LMSNB_SIMULATOR"):  # e.g. Binder, where binder/start runs it
            conn.label = f"the lmsnb simulator at {conn.host} (started for this environment)"
        new = conn
    with _connection_lock:
        old, _connection = _connection, new
    if old is not None and old is not new:
        old.close()
    return new


def _host_list(host: str | Sequence[str] | None, hosts: Sequence[str] | None) -> list[str]:
    if host is not None and hosts is not None:
        raise ConfigError("Pass host or hosts=, not both",
                          hint="e.g. lmsnb.connect(['gpu1:1234', 'gpu2:1234'])")
    given = hosts if hosts is not None else host
    if given is None:
        return []
    if isinstance(given, str):
        return split_hosts(given)
    if not isinstance(given, Sequence) or not all(isinstance(h, str) for h in given):
        raise ConfigError(f"hosts must be host strings, not {given!r}",
                          hint="e.g. lmsnb.connect(['gpu1:1234', 'gpu2:1234'])")
    names = [n for h in given for n in split_hosts(h)]
    if not names:
        raise ConfigError("No host was given", hint="e.g. lmsnb.connect(['gpu1:1234'])")
    return names


def _simulated(unreachable: str) -> Connection:
    """A connection to an in-process simulator (one per process, started on first need)."""
    global _simulator
    from ..sim import Simulator, Timing

    if _simulator is None or not _simulator.running:
        # A laptop-like pace, so stats look like a real model's; fast enough for tutorials.
        timing = Timing(tokens_per_second=400, first_token_latency=0.05, load_seconds=1.0)
        # Models loaded as LM Studio loads them by default (4,096 tokens of context): what the
        # tutorials show is what a reader's own LM Studio does.
        _simulator = Simulator(behaviour="graphrag", timing=timing).start()
    conn = Connection(_simulator.host)
    conn.simulator = _simulator
    conn.label = (f"the lmsnb simulator at {conn.host} — LM Studio is not reachable at "
                  f"{unreachable}; answers are canned, the protocol is real")
    return conn


_simulator: Any = None
