"""Predictions: the event stream of one chat call, and the listeners that see every call.

The SDK's stream yields fragments and calls callbacks; lmsnb turns both into one ordered iterator
of events (``lmsnb.events``) that any front end can render, keeps thinking apart from the answer,
and makes a Stop (or Ctrl-C) cancel on the server while keeping the partial text.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import wraps
from typing import Any

import lmstudio

from .. import config as cfg
from ..errors import ConfigError, ConnectionFailed, LmsnbError, ModelNotFound
from ..events import (
    Done,
    Event,
    FirstToken,
    Fragment,
    PredictionStats,
    PromptProgress,
    ThinkSplitter,
    ToolCall,
)
from ..images import Image, to_images
from .errors import is_disconnect
from .files import upload as upload_image

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


Turn = tuple[str, str, list[Image]]


def _turns(history: Sequence[Mapping[str, Any]] | str) -> list[Turn]:
    """Our plain history (role/content dicts, user messages may have ``images``) → checked
    (role, content, images) turns; repeated system or assistant messages are merged."""
    if isinstance(history, str):
        return [("user", history, [])]
    turns: list[Turn] = []
    for msg in history:
        role, content = str(msg.get("role", "user")), str(msg.get("content", ""))
        if role not in ("system", "user", "assistant"):
            raise ConfigError(f"Unknown chat role {role!r}", hint="use system, user or assistant")
        images = to_images(msg.get("images"))
        if images and role != "user":
            raise ConfigError(f"A {role} message has images; only user messages can",
                              hint="move the images to a user message")
        if turns and turns[-1][0] == role and role != "user":
            turns[-1] = (role, turns[-1][1] + "\n\n" + content, [])
        else:
            turns.append((role, content, images))
    return turns


def _images_of(turns: list[Turn]) -> list[Image]:
    return [image for _role, _content, images in turns for image in images]


def _to_chat(history: Sequence[Mapping[str, Any]] | str) -> lmstudio.Chat:
    """Our plain history → an SDK ``Chat`` (text only: no client to upload images to)."""
    return _build_chat(_turns(history), None)


def _build_chat(turns: list[Turn], upload: Callable[[Image], Any] | None) -> lmstudio.Chat:
    """An SDK ``Chat``; ``upload`` turns each image into a file handle of the client in use."""
    chat = lmstudio.Chat()
    for role, content, images in turns:
        if role == "system":
            chat.add_system_prompt(content)
        elif role == "assistant":
            chat.add_assistant_response(content)
        elif images:
            if upload is None:
                raise ConfigError("Images cannot be sent on this kind of call",
                                  hint="send them with lmsnb.chat (Session.send(..., images=))")
            chat.add_user_message(content or " ", images=[upload(i) for i in images])
        else:
            chat.add_user_message(content or " ")
    return chat


class PredictMixin:
    """``predict`` and ``act`` of a :class:`~lmsnb.client.Connection`."""

    def predict(self, model: str | None, history: Sequence[Mapping[str, Any]] | str, *,
                config: Mapping[str, Any] | None = None, response_format: Any = None,
                kind: str = "chat") -> Prediction:
        """Start a streamed chat prediction; iterate the result for events."""
        pred_cfg = cfg.normalize_prediction_config(config)
        turns = _turns(history)
        if _images_of(turns):
            self.require_vision(model)  # before anything is uploaded

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
                chat = _build_chat(turns, lambda image: upload_image(c, image))
                return handle.respond_stream(
                    chat, config=pred_cfg or None, response_format=response_format,
                    on_prompt_processing_progress=lambda p: inbox.put(PromptProgress(p)),
                    on_first_token=on_first)

            stream = self._call(open_stream, model=model, kind="llm")
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
                if is_disconnect(exc):
                    self._drop_client()
                    raise ConnectionFailed(
                        f"The connection to LM Studio at {self.host} dropped mid-answer",
                        hint="the partial answer is kept; run the cell again "
                             "(lmsnb reconnects by itself)") from None
                err = self._translate(exc, model, "llm")
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
        turns = _turns(history)
        name = model or self.default_model("llm")
        if _images_of(turns):
            self.require_vision(name)
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
                    handle = self._handle("llm", name, c)
                    chat = _build_chat(turns, lambda image: upload_image(c, image))
                    return handle.act(
                        chat, wrapped, max_prediction_rounds=max_rounds, config=pred_cfg or None,
                        on_prediction_fragment=on_fragment,
                        on_prediction_completed=lambda r: last_stats.append(r.stats))
                self._call(run, model=model, kind="llm", retry=False)
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
                    raise self._translate(item, model, "llm")
                yield item
            yield from answer.fragments()
            stats = _stats_from(last_stats[-1] if last_stats else None, name, started,
                                first[0] if first else None, len(answer.answer))
            stats.kind = "act"
            _notify(stats)
            yield Done(answer.text, stats, tool_calls=tuple(calls), reasoning=answer.thinking)

        return stream()
