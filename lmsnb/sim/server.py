"""The simulator server: LM Studio websockets and plain HTTP on one port, in a background thread.

Why this shape: LM Studio serves ``/lmstudio-greeting``, the five namespace websockets and the
OpenAI-compatible REST API on one port, and tests want a server they can start, stop and restart
from synchronous code (the ``lmstudio`` sync SDK runs its own loop in another thread anyway).

HTTP rides on the ``websockets`` handshake: ``process_request`` answers anything that is not a
websocket upgrade. The stock handshake parser refuses request bodies, so ``_BodyProtocol`` reads a
``Content-Length`` body first (needed for ``POST /v1/...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import threading
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING
from websockets.server import ServerProtocol

from .behaviours import Behaviour, resolve_behaviour
from .catalogue import Catalogue, ModelSpec
from .engine import Engine
from .faults import Fault, FaultKind
from .rest import handle_http
from .session import NAMESPACES, Session
from .timing import Counters, Timing

__all__ = ["Simulator"]

log = logging.getLogger("lmsnb.sim")
T = TypeVar("T")
MAX_BODY = 64 * 1024 * 1024
MAX_MESSAGE = 512 * 1024 * 1024  # the SDK may send large messages (file uploads)


class _BodyProtocol(ServerProtocol):
    """ServerProtocol whose request parser also reads a ``Content-Length`` body."""

    sim_body: bytes = b""

    def parse(self) -> Generator[None]:
        if self.state is CONNECTING:
            length = 0

            def read_line(m: int, exc: type[Exception] = RuntimeError) -> Generator[None, None, bytes]:
                nonlocal length
                line = bytes((yield from self.reader.read_line(m, exc)))
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or b"0")
                    return b"X-Sim-Content-Length:" + value  # hidden from the GET-only parser
                return line

            try:
                request = yield from Request.parse(read_line)
                if length > MAX_BODY:
                    raise ValueError(f"request body too large: {length} bytes")
                if length:
                    self.sim_body = bytes((yield from self.reader.read_exact(length)))
            except Exception as exc:  # same handling as ServerProtocol.parse
                self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
                self.handshake_exc.__cause__ = exc
                self.send_eof()
                self.parser = self.discard()
                next(self.parser)
                yield
                return
            self.events.append(request)
        yield from super(ServerProtocol, self).parse()


class _Connection(ServerConnection):
    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        protocol.__class__ = _BodyProtocol  # swap in the body-aware parser before any data
        protocol.parser = protocol.parse()
        next(protocol.parser)
        super().__init__(protocol, *args, **kwargs)


class Simulator:
    """An LM Studio the unmodified ``lmstudio`` SDK cannot tell from the real app.

    ``with Simulator() as sim: lmstudio.Client(sim.host)``. State (catalogue, behaviours,
    timing, faults, counters) may be changed from the calling thread at any time.

    ``max_concurrent_predictions`` is the default "Max Concurrent Predictions" of loaded LLMs
    whose model entry sets none (None: LM Studio's engine defaults, 4 for GGUF, 1 for MLX);
    predictions beyond it wait in a silent FIFO queue per loaded instance
    (``sim.counters.predictions(identifier)`` shows what happened). ``jit_auto_evict``: a JIT
    load unloads the models loaded JIT before it (LM Studio's default). ``presets`` maps a preset
    identifier to prediction-config fields (wire keys); a request naming another preset is refused.
    """

    def __init__(
        self,
        port: int = 0,
        bind: str = "127.0.0.1",
        *,
        models: Iterable[ModelSpec] | None = None,
        behaviour: str | Behaviour | None = "echo",
        timing: Timing | None = None,
        max_concurrent_predictions: int | None = None,
        jit_auto_evict: bool = True,
        presets: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.catalogue = Catalogue(models, max_concurrent_predictions=max_concurrent_predictions)
        self.engine = Engine(self.catalogue, behaviour, timing)
        self.engine.jit_auto_evict = jit_auto_evict
        self.engine.presets = dict(presets or {})
        self.bind = bind
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None

    # -- public state -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """``"127.0.0.1:PORT"``: what ``lmstudio.Client`` takes (no scheme)."""
        return f"{self.bind}:{self.port}"

    @property
    def url(self) -> str:
        """``"http://127.0.0.1:PORT"`` for the REST API (``/v1/...``)."""
        return f"http://{self.host}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def counters(self) -> Counters:
        return self.engine.counters

    @property
    def timing(self) -> Timing:
        return self.engine.timing

    @timing.setter
    def timing(self, value: Timing) -> None:
        self.engine.timing = value

    @property
    def behaviour(self) -> Behaviour:
        return self.engine.behaviour

    @behaviour.setter
    def behaviour(self, value: str | Behaviour | None) -> None:
        self.engine.behaviour = resolve_behaviour(value)

    def set_behaviour(self, behaviour: str | Behaviour | None, model: str | None = None) -> None:
        """Set the default behaviour, or the behaviour of one model key (None resets it)."""
        if model is None:
            self.behaviour = behaviour
        elif behaviour is None:
            self.engine.model_behaviours.pop(model, None)
        else:
            self.engine.model_behaviours[model] = resolve_behaviour(behaviour)

    def set_embedder(self, embedder: Callable[[str], Any] | None, model: str | None = None) -> None:
        """Serve embeddings with ``embedder(text) -> vector`` (a real model, say), for every
        embedding model or one model key; None goes back to the built-in lexical embeddings."""
        if model is None:
            self.engine.embedder = embedder
        elif embedder is None:
            self.engine.model_embedders.pop(model, None)
        else:
            self.engine.model_embedders[model] = embedder

    def inject(
        self,
        kind: FaultKind,
        endpoint: str | None = None,
        *,
        after: int = 0,
        times: int | None = 1,
        seconds: float | None = None,
        message: str = "Injected fault",
        code: str | None = None,
    ) -> Fault:
        """Make the next ``times`` (None: every) request to ``endpoint`` fail (see faults.py)."""
        return self.engine.faults.add(Fault(kind, endpoint, after, times, seconds, message, code))

    def clear_faults(self) -> None:
        self.engine.faults.clear()

    def load(self, key: str, identifier: str | None = None, *, context_length: int | None = None,
             ttl_seconds: float | None = None, max_concurrent_predictions: int | None = None,
             jit: bool = False) -> dict[str, Any]:
        """Load a model instantly (test setup), as if loaded in LM Studio's UI (or JIT, with
        ``jit=True``); returns the instance info."""
        return self.catalogue.load(key, identifier, context_length=context_length,
                                   ttl_seconds=ttl_seconds, jit=jit,
                                   max_concurrent_predictions=max_concurrent_predictions).info()

    def unload(self, identifier: str) -> None:
        self.catalogue.unload(identifier)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Simulator:
        """Start serving (in a background thread); ``self.port`` is then the bound port."""
        if self._server is not None:
            return self
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="lmsnb-sim", daemon=True)
            self._thread.start()
        try:
            self._call(self._open())
        except BaseException:
            self.stop()  # do not leave a loop thread behind (port in use, bad address, ...)
            raise
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, then end the loop thread."""
        if self._loop is None:
            return
        if self._server is not None:
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._thread = None
        self.engine.shutdown()

    def restart(self) -> None:
        """Drop every connection and serve again on the same port (state is kept)."""
        if self._server is not None:
            self._call(self._close())
        self.start()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Simulator {self.host} {state}>"

    # -- internals ----------------------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _open(self) -> None:
        self._server = await serve(
            self._handle_ws,
            self.bind,
            self.port,
            process_request=self._process_request,
            create_connection=_Connection,
            max_size=MAX_MESSAGE,
            open_timeout=None,  # REST handling happens inside the handshake and may be slow
            server_header="lmsnb-sim",
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ttl = asyncio.ensure_future(self.engine.ttl_loop())

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
        # Stalled requests (faults, slow behaviours) must not outlive the server.
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle_ws(self, ws: ServerConnection) -> None:
        namespace = ws.request.path.split("?", 1)[0].strip("/") if ws.request else ""
        await Session(self.engine, ws, namespace).run()

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade and path.strip("/") in NAMESPACES:
            return None  # proceed with the websocket handshake
        body = getattr(conn.protocol, "sim_body", b"")
        try:
            status, ctype, data = await handle_http(self.engine, request.method, path, body)
        except ConnectionAbortedError:  # injected drop
            conn.transport.abort()
            status, ctype, data = 500, "text/plain", b""
        phrase = http.HTTPStatus(status).phrase
        headers = Headers([
            ("Content-Type", ctype),
            ("Content-Length", str(len(data))),
            ("Connection", "close"),
            ("Access-Control-Allow-Origin", "*"),
        ])
        if ctype == "text/event-stream":
            headers["Cache-Control"] = "no-cache"
        return Response(status, phrase, headers, data)
