"""The connection to LM Studio — the only module in lmsnb that imports the ``lmstudio`` SDK.

Why a layer of our own over the SDK:
- the SDK's websockets die for good when the server restarts or the laptop sleeps; a
  ``Connection`` recreates its ``lmstudio.Client`` and says so;
- the SDK rejects ``http://`` / ``ws://`` hosts and does not scan port 1234; we normalise;
- SDK exceptions are long and varied; every one becomes one ``LmsnbError`` line with the fix;
- ``embed(list)`` is one sequential RPC per text in the SDK; we keep many in flight.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import wraps
from typing import Any, TypeVar

import httpx
import lmstudio
import msgspec
import numpy as np

from . import config as cfg
from .errors import (
    Cancelled,
    ConfigError,
    ConnectionFailed,
    LmsnbError,
    ModelNotFound,
    PredictionError,
    Reconnected,
    RequestTimeout,
)
from .events import (
    Done,
    Event,
    FirstToken,
    Fragment,
    PredictionStats,
    PromptProgress,
    ThinkSplitter,
    ToolCall,
)

T = TypeVar("T")

# The SDK logs dropped websockets as JSON lines on loggers named after its classes; lmsnb
# reports a drop as one readable error instead. A NullHandler keeps those lines off stderr
# (Python's last-resort handler) unless the application configures logging itself.
for _name in ("AsyncWebsocketHandler", "AsyncWebsocketThread", "SyncToAsyncWebsocketBridge",
              "SyncLMStudioWebsocket", "AsyncLMStudioWebsocket"):
    logging.getLogger(_name).addHandler(logging.NullHandler())

HOST_ENV = "LMSNB_HOST"
DEFAULT_HOST = "localhost:1234"
START_HINT = ("start LM Studio's server (Developer tab → Start Server, or `lms server start`), "
              "or run the simulator: `python -m lmsnb.sim`")


# msgspec builds a struct type's decoding info on first use; several threads doing that at once
# for the SDK's prediction types crash the interpreter (a segfault in 1 of 3-4 fresh processes
# running 6 predictions in parallel; never once warmed, 12 of 12). So they are warmed once,
# on one thread, before a client exists.
_WARM_LOCK = threading.Lock()
_warmed = False


def _warm_sdk_types() -> None:
    global _warmed
    with _WARM_LOCK:
        if _warmed:
            return
        from lmstudio import _sdk_models as m

        for name in ("PredictionChannelRequest", "LlmPredictionFragment", "LlmPredictionStats",
                     "LlmInfo", "ToolCallRequest", "EmbeddingModelInfo"):
            typ = getattr(m, name, None)
            if typ is None:
                continue
            try:
                msgspec.convert({}, typ)
            except (msgspec.ValidationError, TypeError):
                pass  # an empty dict is invalid: what matters is the decoding info built
        _warmed = True


# ---------------------------------------------------------------------------------------------
# Host resolution


def normalize_host(host: str) -> str:
    """``http://box:1234/v1`` / ``ws://box:1234`` / ``box`` → ``box:1234`` (what the SDK wants)."""
    text = host.strip()
    text = re.sub(r"^(https?|wss?)://", "", text, flags=re.I)
    text = text.split("/", 1)[0].strip()
    bad = ConfigError(f"{host!r} is not a host",
                      hint="use e.g. 'localhost:1234', '192.168.1.20:1234' or '[::1]:1234'")
    if not text or any(ch.isspace() for ch in text):
        raise bad
    if text.startswith("["):  # IPv6 literal
        end = text.find("]")
        if end < 2 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            raise bad
        name, port = text[:end + 1], text[end + 2:] if text[end + 1:] else None
    elif text.count(":") == 0:
        name, port = text, None
    elif text.count(":") == 1:
        name, port = text.split(":")
    else:  # '::::', or an IPv6 address without brackets
        raise bad
    if not name:
        raise bad
    if port is None:
        return f"{name}:1234"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{host!r} has no valid port ({port!r})",
                          hint="a port is a number 1–65535, e.g. 'localhost:1234'")
    return f"{name}:{int(port)}"


def is_reachable(host: str) -> bool:
    """True when ``host`` answers LM Studio's greeting (LM Studio or ``lmsnb.sim``)."""
    try:
        return bool(lmstudio.Client.is_valid_api_host(host))
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError):
        return False


def resolve_host(host: str | None = None) -> str:
    """Explicit host → ``$LMSNB_HOST`` → the SDK's port discovery → ``localhost:1234``."""
    if host:
        return normalize_host(host)
    env = os.environ.get(HOST_ENV, "").strip()
    if env:
        return normalize_host(env)
    if is_reachable(DEFAULT_HOST):
        return DEFAULT_HOST
    try:
        found = lmstudio.Client.find_default_local_api_host()
    except (httpx.HTTPError, ValueError, OSError):
        found = None
    return found or DEFAULT_HOST


# ---------------------------------------------------------------------------------------------
# Timeouts (pass-through to the SDK's sync timeout)


def get_timeout() -> float | None:
    """Seconds the SDK waits between two messages of a call (None = forever)."""
    return lmstudio.get_sync_api_timeout()


def set_timeout(seconds: float | None) -> None:
    """Set the SDK's sync timeout: the longest silence tolerated on a call, not a deadline."""
    if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
        raise ConfigError(f"timeout must be a positive number of seconds or None, got {seconds!r}")
    lmstudio.set_sync_api_timeout(seconds)


# ---------------------------------------------------------------------------------------------
# Prediction listeners (the monitor subscribes here, so every prediction is counted once)

_listeners: list[Callable[[PredictionStats], None]] = []


def on_prediction(listener: Callable[[PredictionStats], None]) -> Callable[[PredictionStats], None]:
    """Call ``listener(stats)`` after every finished prediction of this process."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def _notify(stats: PredictionStats) -> None:
    for listener in list(_listeners):
        try:
            listener(stats)
        except Exception:  # noqa: BLE001, S110 - a broken listener must not break a prediction
            pass


# ---------------------------------------------------------------------------------------------
# Error translation


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


def _is_disconnect(exc: BaseException) -> bool:
    # A client whose websocket thread has stopped (server restarted, client closed by a
    # reconnect) raises a bare RuntimeError "... is currently inactive" from the SDK.
    return isinstance(exc, lmstudio.LMStudioWebsocketError) or (
        isinstance(exc, lmstudio.LMStudioClientError) and "not reachable" in str(exc)) or (
        isinstance(exc, RuntimeError) and "currently inactive" in str(exc))


_NOT_FOUND_HINT = ("see lmsnb.models.downloaded() / %lms_models for the keys, or download it "
                   "in LM Studio")


def translate(exc: BaseException, host: str, model: str | None = None) -> LmsnbError:
    """Turn any SDK (or transport) exception into one readable ``LmsnbError``."""
    if isinstance(exc, LmsnbError):
        return exc
    text = str(exc)
    if _is_disconnect(exc) or isinstance(exc, httpx.HTTPError | ConnectionError):
        return ConnectionFailed(f"LM Studio is not reachable at {host}", hint=START_HINT)
    if isinstance(exc, lmstudio.LMStudioTimeoutError):
        return RequestTimeout(
            f"LM Studio at {host} sent nothing for {get_timeout()} s",
            hint="the model may still be loading or the prompt is long; raise the limit with "
                 "lmsnb.set_timeout(seconds) or %lms_config timeout=N")
    if isinstance(exc, lmstudio.LMStudioModelNotFoundError) or any(
            code in text for code in ("noModelMatchingQuery", "pathNotFound",
                                      "identifierNotFound", "specificModelUnloaded")):
        name = f" {model!r}" if model else ""
        return ModelNotFound(f"Model{name} is not available in LM Studio at {host}",
                             hint=_NOT_FOUND_HINT)
    mismatch = re.search(r"is an? (llm|embedding) model, not an? (llm|embedding) model", text)
    if mismatch or "domainMismatch" in text:
        actual, wanted = mismatch.groups() if mismatch else ("other", "other")
        noun = {"llm": "an LLM", "embedding": "an embedding model"}
        name = f"{model!r}" if model else "The model"
        if wanted == "llm":
            hint = "chat needs an LLM: see the type column of %lms_models"
        elif wanted == "embedding":
            hint = "embeddings need an embedding model: see the type column of %lms_models"
        else:
            hint = "see the type column of %lms_models"
        return ModelNotFound(f"{name} is {noun.get(actual, 'the wrong kind of model')}, "
                             f"not {noun.get(wanted, 'the kind this call needs')}", hint=hint)
    if isinstance(exc, lmstudio.LMStudioCancelledError):
        return Cancelled("The prediction was cancelled")
    if isinstance(exc, msgspec.ValidationError | lmstudio.LMStudioValueError):
        return ConfigError(f"Invalid value: {_first_line(exc)}")
    if isinstance(exc, lmstudio.LMStudioServerError):
        detail = " ".join(line.strip() for line in text.splitlines() if line.strip())[:300]
        return PredictionError(f"LM Studio reported an error: {detail}")
    return LmsnbError(f"{type(exc).__name__}: {_first_line(exc)}")


# ---------------------------------------------------------------------------------------------
# Model info rows


def _model_row(info: Mapping[str, Any]) -> dict[str, Any]:
    """LM Studio's model info (wire dict) → the flat row lmsnb shows everywhere."""
    row = {
        "key": info.get("modelKey"),
        "type": info.get("type"),
        "display_name": info.get("displayName"),
        "path": info.get("path"),
        "size_bytes": info.get("sizeBytes"),
        "max_context_length": info.get("maxContextLength"),
        "format": info.get("format"),
        "params": info.get("paramsString"),
        "architecture": info.get("architecture"),
        "vision": info.get("vision", False),
        "tool_use": info.get("trainedForToolUse", False),
    }
    if "identifier" in info:
        row["identifier"] = info["identifier"]
        row["context_length"] = info.get("contextLength")
    return row


# ---------------------------------------------------------------------------------------------
# Predictions


class Prediction:
    """A running prediction: iterate it for events (the last one is ``Done``); ``cancel()`` stops it.

    ``cancel()`` may be called from any thread (a Stop button) and a ``KeyboardInterrupt`` while
    iterating cancels too: the server stops, the partial text is kept, ``Done.stopped`` is True.
    """

    def __init__(self, start: Callable[[Prediction], Iterator[Event]]) -> None:
        self._start = start
        self._stream: Any = None
        self._cancel_requested = threading.Event()
        self.done: Done | None = None
        self._events: Iterator[Event] | None = None

    def __iter__(self) -> Iterator[Event]:
        if self._events is None:
            self._events = self._start(self)
        return self._events

    def cancel(self) -> None:
        """Ask the server to stop; safe from any thread, idempotent."""
        self._cancel_requested.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.cancel()
            except Exception:  # noqa: BLE001 - cancelling a finished stream is harmless
                pass

    @property
    def cancelled(self) -> bool:
        return self._cancel_requested.is_set()

    def result(self) -> Done:
        """Consume the stream (if not yet) and return the final ``Done``."""
        for _ in self:
            pass
        assert self.done is not None
        return self.done


def _stats_from(sdk_stats: Any, model: str, started: float, first: float | None,
                fragments: int) -> PredictionStats:
    total = time.perf_counter() - started
    predicted = getattr(sdk_stats, "predicted_tokens_count", None) or fragments
    tps = getattr(sdk_stats, "tokens_per_second", None)
    if tps is None and predicted and first is not None and total > first:
        tps = predicted / (total - first)
    return PredictionStats(
        model=model,
        prompt_tokens=getattr(sdk_stats, "prompt_tokens_count", None) or 0,
        predicted_tokens=predicted or 0,
        tokens_per_second=tps,
        time_to_first_token=first if first is not None else getattr(
            sdk_stats, "time_to_first_token_sec", None),
        total_seconds=total,
        stop_reason=str(getattr(sdk_stats, "stop_reason", "eosFound")),
    )


class _Answer:
    """Turns SDK fragments into lmsnb Fragments, keeping thinking apart from the answer.

    LM Studio marks parsed reasoning with ``reasoningType``; models whose thinking is not parsed
    write ``<think>…</think>`` inline, which ``ThinkSplitter`` separates while streaming.
    """

    def __init__(self) -> None:
        self._splitter = ThinkSplitter()
        self.answer: list[str] = []
        self.reasoning: list[str] = []

    def fragments(self, frag: Any = None) -> list[Fragment]:
        """The Fragments for one SDK fragment (``None``: whatever is still held back)."""
        if frag is None:
            pieces, tokens = self._splitter.flush(), 0
        elif frag.reasoning_type != "none":  # the start/end tag fragments hold only the tags
            pieces = [(frag.content, True)] if frag.reasoning_type == "reasoning" else []
            tokens = frag.tokens_count or 1
        else:
            pieces, tokens = self._splitter.feed(frag.content), frag.tokens_count or 1
        out = []
        for i, (text, is_reasoning) in enumerate(pieces):
            (self.reasoning if is_reasoning else self.answer).append(text)
            out.append(Fragment(text, tokens if i == 0 else 0, is_reasoning))
        return out

    @property
    def text(self) -> str:
        return "".join(self.answer)

    @property
    def thinking(self) -> str:
        return "".join(self.reasoning)


def _to_chat(history: Sequence[Mapping[str, Any]] | str) -> lmstudio.Chat:
    """Our plain history (role/content dicts) → an SDK ``Chat``; merges repeated roles."""
    chat = lmstudio.Chat()
    if isinstance(history, str):
        chat.add_user_message(history)
        return chat
    merged: list[tuple[str, str]] = []
    for msg in history:
        role, content = str(msg.get("role", "user")), str(msg.get("content", ""))
        if role not in ("system", "user", "assistant"):
            raise ConfigError(f"Unknown chat role {role!r}", hint="use system, user or assistant")
        if merged and merged[-1][0] == role and role != "user":
            merged[-1] = (role, merged[-1][1] + "\n\n" + content)
        else:
            merged.append((role, content))
    for role, content in merged:
        if role == "system":
            chat.add_system_prompt(content)
        elif role == "user":
            chat.add_user_message(content or " ")
        else:
            chat.add_assistant_response(content)
    return chat


def _session(client: lmstudio.Client, kind: str) -> Any:
    return client.llm if kind == "llm" else client.embedding


# ---------------------------------------------------------------------------------------------
# The connection


class Connection:
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
                _warm_sdk_types()
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

    def _call(self, fn: Callable[[lmstudio.Client], T], *, model: str | None = None,
              retry: bool = True) -> T:
        """Run ``fn(client)``; on a dead websocket reconnect once, retrying if ``retry``."""
        try:
            return fn(self._sdk())
        except LmsnbError:
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK failure is translated below
            if not _is_disconnect(exc):
                raise self._translate(exc, model) from None
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
            raise translate(exc, self.host, model) from None

    def _translate(self, exc: BaseException, model: str | None) -> LmsnbError:
        """``translate`` plus, for an unknown model, the closest downloaded key."""
        err = translate(exc, self.host, model)
        if isinstance(err, ModelNotFound) and model and err.hint == _NOT_FOUND_HINT:
            err = ModelNotFound(err.message, hint=self._suggest(model))
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

    # -- models ----------------------------------------------------------------------------

    def list_downloaded(self) -> list[dict[str, Any]]:
        """Every model on disk (LLMs and embedding models)."""
        infos = self._call(lambda c: c.system.remote_call("listDownloadedModels"))
        return [_model_row(i) for i in infos or []]

    def list_loaded(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Models in memory, with their instance identifier and loaded context length."""
        kinds = [kind] if kind else ["llm", "embedding"]
        rows: list[dict[str, Any]] = []
        for k in kinds:
            infos = self._call(lambda c, k=k: _session(c, k).remote_call("listLoaded"))
            rows.extend(_model_row({**i, "type": i.get("type", k)}) for i in infos or [])
        return rows

    def _kind_of(self, key: str) -> str:
        for row in self.list_downloaded():
            if key in (row["key"], row["path"]):
                return str(row["type"])
        for row in self.list_loaded():
            if key in (row.get("identifier"), row["key"]):
                return str(row["type"])
        raise ModelNotFound(f"Model {key!r} is not downloaded in LM Studio at {self.host}",
                            hint=self._suggest(key))

    def _suggest(self, key: str) -> str:
        try:
            keys = [r["key"] for r in self.list_downloaded()]
        except LmsnbError:
            return "check the key with %lms_models"
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.4)
        return f"did you mean {close[0]!r}?" if close else (
            f"downloaded: {', '.join(keys[:8])}" if keys else "download a model in LM Studio")

    def default_model(self, kind: str = "llm") -> str:
        """The first loaded model of ``kind`` — what a call without ``model=`` uses."""
        loaded = self.list_loaded(kind)
        if not loaded:
            noun = "LLM" if kind == "llm" else "embedding model"
            raise ModelNotFound(f"No {noun} is loaded in LM Studio at {self.host}",
                                hint="load one with %lms_models load KEY or "
                                     "lmsnb.models.load(KEY), or pass model=")
        return str(loaded[0]["identifier"])

    def load(self, key: str, *, identifier: str | None = None, new_instance: bool = False,
             ttl: Any = None, config: Mapping[str, Any] | None = None,
             on_progress: Callable[[float], None] | None = None) -> dict[str, Any]:
        """Load ``key`` (or return it if loaded, unless ``new_instance``), reporting progress."""
        kind = self._kind_of(key)
        load_cfg = cfg.normalize_load_config(config, kind=kind)
        ttl_s = cfg.parse_ttl(ttl)

        def run(c: lmstudio.Client) -> Any:
            session = _session(c, kind)
            if new_instance or identifier:
                return session.load_new_instance(key, identifier, ttl=ttl_s, config=load_cfg,
                                                 on_load_progress=on_progress)
            return session.model(key, ttl=ttl_s, config=load_cfg, on_load_progress=on_progress)

        handle = self._call(run, model=key)
        self._handles.pop((kind, key), None)
        return self.model_info(handle.identifier, kind=kind)

    def unload(self, identifier: str) -> None:
        """Unload an instance (by identifier or model key)."""
        for row in self.list_loaded():
            if identifier in (row["identifier"], row["key"]):
                kind, ident = row["type"], row["identifier"]
                break
        else:
            raise ModelNotFound(f"No loaded model is called {identifier!r}",
                                hint="see the loaded identifiers with %lms_models")
        self._call(lambda c: _session(c, kind).unload(ident),
                   model=identifier)
        self._handles = {k: h for k, h in self._handles.items() if k[1] not in (identifier, ident)}

    def model_info(self, identifier: str, *, kind: str | None = None) -> dict[str, Any]:
        """Info of a loaded instance (context length included)."""
        for row in self.list_loaded(kind):
            if identifier in (row["identifier"], row["key"]):
                return row
        raise ModelNotFound(f"No loaded model is called {identifier!r}",
                            hint="load it with %lms_models load KEY")

    def load_config(self, identifier: str) -> dict[str, Any]:
        """The load config LM Studio used for a loaded instance (SDK keys)."""
        kind = self.model_info(identifier)["type"]
        conf = self._call(lambda c: self._handle(kind, identifier, c).get_load_config(),
                          model=identifier)
        return conf.to_dict() if hasattr(conf, "to_dict") else dict(conf)

    def count_tokens(self, model: str | None, text: str, *, kind: str = "llm") -> int:
        """Tokens in ``text`` by the model's own tokenizer."""
        return int(self._call(lambda c: self._handle(kind, model, c).count_tokens(text),
                              model=model))

    def tokenize(self, model: str | None, text: str, *, kind: str = "llm") -> list[int]:
        return list(self._call(lambda c: self._handle(kind, model, c).tokenize(text),
                               model=model))

    # -- chat ------------------------------------------------------------------------------

    def predict(self, model: str | None, history: Sequence[Mapping[str, Any]] | str, *,
                config: Mapping[str, Any] | None = None, response_format: Any = None,
                kind: str = "chat") -> Prediction:
        """Start a streamed chat prediction; iterate the result for events."""
        pred_cfg = cfg.normalize_prediction_config(config)
        chat = _to_chat(history)

        def events(pred: Prediction) -> Iterator[Event]:
            started = time.perf_counter()
            # The SDK's iterator dies when a KeyboardInterrupt lands inside it (its channel is
            # closed and result() re-raises the interrupt), so it runs on a worker thread and
            # this generator waits on a queue: an interrupt lands here, where it cancels on the
            # server and keeps draining until LM Studio answers "userStopped".
            inbox: queue.Queue[Any] = queue.Queue()
            end = object()
            first: list[float] = []

            def on_first() -> None:
                first.append(time.perf_counter() - started)
                inbox.put(FirstToken(first[0]))

            def open_stream(c: lmstudio.Client) -> Any:
                handle = self._handle("llm", model, c)
                return handle.respond_stream(
                    chat, config=pred_cfg or None, response_format=response_format,
                    on_prompt_processing_progress=lambda p: inbox.put(PromptProgress(p)),
                    on_first_token=on_first)

            stream = self._call(open_stream, model=model)
            pred._stream = stream
            name = model or getattr(stream, "_model_identifier", None) or ""
            if pred.cancelled:
                stream.cancel()

            def pump() -> None:
                try:
                    for frag in stream:
                        inbox.put(frag)
                    inbox.put(end)
                except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
                    inbox.put(exc)

            def arrivals() -> Iterator[Any]:
                """SDK fragments and callback events, in the order they arrived."""
                if threading.current_thread() is not threading.main_thread():
                    # No KeyboardInterrupt lands off the main thread (the stream view consumes
                    # here): iterate the SDK directly and skip the hand-off.
                    for frag in stream:
                        while not inbox.empty():
                            yield inbox.get_nowait()
                        yield frag
                    while not inbox.empty():
                        yield inbox.get_nowait()
                    return
                threading.Thread(target=pump, daemon=True, name="lmsnb-predict").start()
                interrupted = False
                while True:
                    try:
                        item = inbox.get()
                    except KeyboardInterrupt:
                        if interrupted:  # a second interrupt: stop waiting for the server
                            raise
                        interrupted = True
                        pred.cancel()  # keep draining: the server answers with userStopped
                        continue
                    if item is end:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item

            fragments = 0
            answer = _Answer()
            finished = False
            try:
                for item in arrivals():
                    if isinstance(item, Event):
                        yield item
                        continue
                    fragments += 1
                    yield from answer.fragments(item)
                finished = True
                yield from answer.fragments()
                result = stream.result()
            except LmsnbError:
                raise
            except Exception as exc:  # noqa: BLE001
                if _is_disconnect(exc):
                    self._drop_client()
                    raise ConnectionFailed(
                        f"The connection to LM Studio at {self.host} dropped mid-answer",
                        hint="the partial answer is kept; run the cell again "
                             "(lmsnb reconnects by itself)") from None
                err = self._translate(exc, model)
                if isinstance(err, ModelNotFound):  # unloaded meanwhile: re-resolve next time
                    self._handles.pop(("llm", model), None)
                raise err from None
            finally:
                if not finished:  # abandoned (closed, interrupted twice): stop the server too
                    pred.cancel()
            info = getattr(result, "model_info", None)
            name = name or getattr(info, "model_key", "") or ""
            stats = _stats_from(result.stats, str(name), started,
                                first[0] if first else None, fragments)
            stats.kind = kind
            if pred.cancelled and stats.stop_reason != "userStopped":
                stats.stop_reason = "userStopped"
            structured = getattr(result, "structured", False)
            parsed = result.parsed if structured else None
            pred.done = Done(result.content if structured else answer.text, stats, parsed=parsed,
                             reasoning=answer.thinking)
            _notify(stats)
            yield pred.done

        return Prediction(events)

    def act(self, model: str | None, history: Sequence[Mapping[str, Any]] | str,
            tools: Iterable[Callable[..., Any]], *,
            config: Mapping[str, Any] | None = None, max_rounds: int | None = None
            ) -> Iterator[Event]:
        """Let the model call Python ``tools``; yields fragments, ``ToolCall``s and a final Done.

        ``act`` blocks inside the SDK, so it runs on a worker thread that feeds a queue.
        """
        pred_cfg = cfg.normalize_prediction_config(config)
        chat = _to_chat(history)
        name = model or self.default_model("llm")
        events: queue.Queue[Any] = queue.Queue()
        calls: list[ToolCall] = []
        tool_list = list(tools)
        if not tool_list:
            raise ConfigError("act() needs at least one tool", hint="pass Python functions")

        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(fn)
            def run(*args: Any, **kwargs: Any) -> Any:
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - the model sees the error text
                    call = ToolCall(fn.__name__, dict(kwargs), None, f"{type(exc).__name__}: {exc}")
                    calls.append(call)
                    events.put(call)
                    raise
                call = ToolCall(fn.__name__, dict(kwargs), result)
                calls.append(call)
                events.put(call)
                return result
            return run

        wrapped = [wrap(t) for t in tool_list]
        started = time.perf_counter()
        first: list[float] = []
        last_stats: list[Any] = []

        answer = _Answer()

        def on_fragment(frag: Any, _round: int) -> None:
            if not first:
                first.append(time.perf_counter() - started)
                events.put(FirstToken(first[0]))
            for piece in answer.fragments(frag):
                events.put(piece)

        def worker() -> None:
            try:
                def run(c: lmstudio.Client) -> Any:
                    return self._handle("llm", name, c).act(
                        chat, wrapped, max_prediction_rounds=max_rounds, config=pred_cfg or None,
                        on_prediction_fragment=on_fragment,
                        on_prediction_completed=lambda r: last_stats.append(r.stats))
                self._call(run, model=model, retry=False)
                events.put(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
                events.put(exc)

        threading.Thread(target=worker, daemon=True, name="lmsnb-act").start()

        def stream() -> Iterator[Event]:
            while True:
                item = events.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise translate(item, self.host, model) if not isinstance(
                        item, LmsnbError) else item
                yield item
            yield from answer.fragments()
            stats = _stats_from(last_stats[-1] if last_stats else None, name, started,
                                first[0] if first else None, len(answer.answer))
            stats.kind = "act"
            _notify(stats)
            yield Done(answer.text, stats, tool_calls=tuple(calls), reasoning=answer.thinking)

        return stream()

    # -- embeddings ------------------------------------------------------------------------

    def embed(self, model: str | None, texts: Sequence[str], *,
              on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` → float32 array (n × dim), keeping many requests in flight.

        The SDK sends one RPC per text and waits for each. Here identical texts are embedded
        once, and larger batches go through an ``AsyncClient`` on a worker thread with up to
        ``embed_concurrency`` requests in flight on one websocket. ``on_progress(done, total)``
        is called on the calling thread.
        """
        texts = [str(t) for t in texts]
        unique = list(dict.fromkeys(texts))
        name = model or self.default_model("embedding")
        if not unique:  # (0, dim), so it stacks with other results; one probe if dim is unknown
            dim = self._dims.get(name) or self.embed(name, ["dimension probe"]).shape[1]
            return np.zeros((0, dim), dtype=np.float32)
        if len(unique) <= 4:
            handle = self._call(lambda c: self._handle("embedding", name, c), model=name)
            vectors = self._call(lambda c: [handle.embed(t) for t in unique], model=name)
        else:
            vectors = self._embed_concurrently(name, unique, on_progress)
        if on_progress:
            on_progress(len(unique), len(unique))
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or 0 in dims:
            raise PredictionError(f"{name!r} returned embeddings of sizes {sorted(dims)}",
                                  hint="is it an embedding model? see %lms_models")
        index = {t: i for i, t in enumerate(unique)}
        matrix = np.asarray(vectors, dtype=np.float32)
        self._dims[name] = int(matrix.shape[1])
        return matrix[[index[t] for t in texts]]

    def _embed_concurrently(self, model: str, texts: list[str],
                            on_progress: Callable[[int, int], None] | None) -> list[Any]:
        results: list[Any] = [None] * len(texts)
        progress = [0]

        async def run() -> None:
            async with lmstudio.AsyncClient(self.host) as client:
                handle = await client.embedding.model(model, ttl=None)
                gate = asyncio.Semaphore(self.embed_concurrency)

                async def one(i: int, text: str) -> None:
                    async with gate:
                        results[i] = await handle.embed(text)
                    progress[0] += 1

                await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))

        def attempt() -> None:
            with ThreadPoolExecutor(1, thread_name_prefix="lmsnb-embed") as pool:
                future = pool.submit(asyncio.run, run())
                while True:
                    try:
                        future.result(timeout=0.1)
                        return
                    except FutureTimeout:
                        if on_progress:
                            on_progress(progress[0], len(texts))

        try:
            attempt()
        except LmsnbError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, self.host, model) from None
        return results


# ---------------------------------------------------------------------------------------------
# The process-wide connection

_connection: Connection | None = None
_connection_lock = threading.Lock()


def get_connection() -> Connection:
    """The kernel's connection (created on first use from ``$LMSNB_HOST`` or discovery)."""
    global _connection
    with _connection_lock:
        if _connection is None:
            _connection = Connection()
        return _connection


def connect(host: str | None = None, *, check: bool = True, simulate: bool = False
            ) -> Connection:
    """Point lmsnb at ``host`` (``"box:1234"``, ``"http://box:1234"``, …); returns the connection.

    With ``check`` the server must answer now, so a typo fails here rather than at first use.
    With ``simulate``, when nothing answers, lmsnb starts its LM Studio simulator (``lmsnb.sim``)
    in this process instead and says so — tutorials and CI run anywhere that way. The
    simulator is ``conn.simulator`` (None when a real server answered).
    """
    global _connection
    conn = Connection(host)
    if not is_reachable(conn.host):
        if simulate:
            conn = _simulated(conn.host)
        elif check:
            raise ConnectionFailed(f"LM Studio is not reachable at {conn.host}", hint=START_HINT)
    elif os.environ.get("LMSNB_SIMULATOR"):  # e.g. Binder, where binder/start runs the simulator
        conn.label = f"the lmsnb simulator at {conn.host} (started for this environment)"
    with _connection_lock:
        old, _connection = _connection, conn
    if old is not None and old is not conn:
        old.close()
    return conn


def _simulated(unreachable: str) -> Connection:
    """A connection to an in-process simulator (one per process, started on first need)."""
    global _simulator
    from dataclasses import replace

    from .sim import Simulator, Timing, default_models

    if _simulator is None or not _simulator.running:
        # A laptop-like pace, so stats look like a real model's; fast enough for tutorials.
        timing = Timing(tokens_per_second=400, first_token_latency=0.05, load_seconds=1.0)
        # The loaded LLM has its full context, as someone running GraphRAG would load it (the
        # simulator refuses prompts longer than the loaded context, like LM Studio).
        models = [replace(m, context_length=m.max_context_length) if m.loaded and m.type == "llm"
                  else m for m in default_models()]
        _simulator = Simulator(models=models, behaviour="graphrag", timing=timing).start()
    conn = Connection(_simulator.host)
    conn.simulator = _simulator
    conn.label = (f"the lmsnb simulator at {conn.host} — LM Studio is not reachable at "
                  f"{unreachable}; answers are canned, the protocol is real")
    return conn


_simulator: Any = None
