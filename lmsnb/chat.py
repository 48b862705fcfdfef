"""Chat without magics: one-shot answers, multi-turn sessions, streaming, tool calling.

A ``Session`` is a plain list of ``{"role", "content"}`` messages you can read, edit, save and
load as JSON; a user message may also carry ``"images"`` (``lmsnb.images.Image``, for vision
models), which a saved session keeps inside its JSON. ``session.stream(prompt)`` returns a ``ChatStream`` — an iterator of events
(``PromptProgress``, ``FirstToken``, ``Fragment``…, ``Done``) with ``.cancel()`` — so any front end
(the widgets, a test, a log line) can render it. When the stream ends the reply joins the
history (marked ``"stopped": True`` if it was cancelled) and its stats go to ``lmsnb.monitor()``.
"""

from __future__ import annotations

import copy
import html
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .client import get_connection
from .config import normalize_prediction_config
from .errors import ConfigError, LmsnbError
from .events import Done, Event, Fragment
from .images import Image, images_html, to_image, to_images
from .monitor import record as _record_stats

__all__ = ["Session", "ChatStream", "Messages", "ask", "stream", "act", "get_session",
           "sessions"]

Message = dict[str, Any]


class ChatStream:
    """An iterator of events for one prediction; ``cancel()`` works from any thread.

    Iterate it exactly once. ``done`` holds the final ``Done`` afterwards; ``result()`` consumes
    the rest and returns it. ``on_done`` callbacks run (on the consuming thread) with the Done.
    """

    def __init__(self, source: Any, *, session: str | None = None, kind: str = "chat",
                 on_done: Callable[[Done], None] | None = None,
                 on_error: Callable[[BaseException, str], None] | None = None,
                 images: Iterable[Image] = ()) -> None:
        self._source = source
        self.images = list(images)  # sent with the prompt: the views show them as thumbnails
        self._session = session
        self._kind = kind
        self._callbacks: list[Callable[[Done], None]] = [on_done] if on_done else []
        self._on_error = on_error
        self._started = time.perf_counter()
        self._iter: Iterator[Event] | None = None
        self.text = ""
        self.done: Done | None = None

    @property
    def cancellable(self) -> bool:
        return hasattr(self._source, "cancel")

    def cancel(self) -> None:
        """Stop the prediction on the server; the partial text is kept (``Done.stopped``)."""
        cancel = getattr(self._source, "cancel", None)
        if cancel is not None:
            cancel()

    def __iter__(self) -> Iterator[Event]:
        if self._iter is None:
            self._iter = self._run()
        return self._iter

    def _run(self) -> Iterator[Event]:
        try:
            for event in self._source:
                if isinstance(event, Fragment):
                    self.text += event.text
                elif isinstance(event, Done):
                    self._finish(event)
                yield event
        except BaseException as exc:
            if self._on_error is not None and self.done is None:
                self._on_error(exc, self.text)
            raise

    def _finish(self, done: Done) -> None:
        stats = done.stats
        if not stats.total_seconds:
            stats.total_seconds = time.perf_counter() - self._started
        stats.session = stats.session or self._session
        stats.kind = stats.kind if stats.kind != "chat" else self._kind
        self.done = done
        _record_stats(stats)
        for callback in self._callbacks:
            callback(done)

    def add_done_callback(self, callback: Callable[[Done], None]) -> None:
        """Run ``callback(done)`` when the stream ends (e.g. store the reply in a variable)."""
        self._callbacks.append(callback)

    def result(self) -> Done:
        """Consume what is left and return the final ``Done``."""
        for _ in self:
            pass
        if self.done is None:
            raise LmsnbError("The prediction ended without a result",
                             hint="the server closed the stream early; try again")
        return self.done


class Session:
    """A multi-turn conversation: system prompt, editable history, per-session config.

    ``history`` is a list of ``{"role": "user"|"assistant"|"system", "content": str}`` dicts
    (user messages sent with images also have ``"images"``: a list of ``lmsnb.images.Image``);
    edit it freely. ``config`` (temperature, maxTokens, topP…) applies to every turn and a call's
    own ``config`` overrides it key by key.
    """

    def __init__(self, system: str | None = None, *, model: str | None = None,
                 config: Mapping[str, Any] | None = None, name: str | None = None,
                 history: Iterable[Mapping[str, Any]] | None = None) -> None:
        self.name = name
        self.model = model
        self.config: dict[str, Any] = dict(config or {})
        self.history: list[Message] = [dict(m) for m in history or []]
        if system is not None:
            self.system = system
        self.last: Done | None = None
        self._lock = threading.Lock()

    # -- the conversation ------------------------------------------------------------------

    @property
    def system(self) -> str | None:
        """The system prompt (the first message, when it is a system message)."""
        if self.history and self.history[0].get("role") == "system":
            return str(self.history[0]["content"])
        return None

    @system.setter
    def system(self, text: str | None) -> None:
        if self.history and self.history[0].get("role") == "system":
            self.history.pop(0)
        if text:
            self.history.insert(0, {"role": "system", "content": text})

    def stream(self, prompt: str, *, images: Any = None, config: Mapping[str, Any] | None = None,
               model: str | None = None, remember: bool = True) -> ChatStream:
        """Send ``prompt`` and return the event stream; the reply joins the history at the end.

        ``images`` (one or a list: paths, bytes, PIL images, matplotlib Figures) go with the
        prompt to a vision model. With ``remember=False`` the turn is one-shot: the history is
        sent as context but neither the prompt nor the reply is kept.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError("The prompt is empty", hint="write the question in the cell body")
        user = _user_message(prompt, images)
        messages = [*self.history, user]
        merged = {**self.config, **(config or {})}
        source = get_connection().predict(model or self.model, messages, config=merged or None)
        if remember:
            self.history.append(user)

        def on_done(done: Done) -> None:
            self.last = done
            if remember:
                reply: Message = {"role": "assistant", "content": done.text}
                if done.stopped:
                    reply["stopped"] = True
                self.history.append(reply)

        def on_error(exc: BaseException, partial: str) -> None:
            if remember:
                self._keep_failed_turn(user, partial, exc)

        return ChatStream(source, session=self.name, on_done=on_done, on_error=on_error,
                          images=user.get("images", ()))

    def _keep_failed_turn(self, user: Message, partial: str, exc: BaseException) -> None:
        """A turn that failed midway keeps what the user saw: the question and the partial
        answer, marked stopped (with the error). One that failed before any text leaves no
        dangling question (the prompt is still in the cell)."""
        if not (self.history and self.history[-1] is user):
            return
        if partial:
            self.history.append({"role": "assistant", "content": partial, "stopped": True,
                                 "error": str(exc)})
        else:
            self.history.pop()

    def send(self, prompt: str, *, images: Any = None, config: Mapping[str, Any] | None = None,
             model: str | None = None, remember: bool = True) -> Done:
        """Send ``prompt`` (and ``images``) and wait for the whole reply (``.text``, ``.stats``)."""
        return self.stream(prompt, images=images, config=config, model=model,
                           remember=remember).result()

    __call__ = send

    def act(self, prompt: str, tools: Iterable[Callable[..., Any]], *, images: Any = None,
            config: Mapping[str, Any] | None = None, model: str | None = None,
            max_rounds: int | None = None) -> ChatStream:
        """Let the model call Python functions; events include each ``ToolCall`` and its result."""
        user = _user_message(prompt, images)
        merged = {**self.config, **(config or {})}
        conn = get_connection()
        model = model or self.model or conn.default_model("llm")  # so the stats name it
        source = conn.act(model, [*self.history, user], list(tools),
                                      config=merged or None, max_rounds=max_rounds)
        self.history.append(user)

        def on_done(done: Done) -> None:
            self.last = done
            self.history.append({"role": "assistant", "content": done.text})

        def on_error(exc: BaseException, partial: str) -> None:
            self._keep_failed_turn(user, partial, exc)

        return ChatStream(source, session=self.name, kind="act", on_done=on_done,
                          on_error=on_error, images=user.get("images", ()))

    # -- history management ----------------------------------------------------------------

    def reset(self, *, keep_system: bool = True) -> None:
        """Forget the conversation (the system prompt stays unless ``keep_system=False``)."""
        system = self.system if keep_system else None
        self.history.clear()
        self.last = None
        if system:
            self.system = system

    def undo(self) -> list[Message]:
        """Remove the last exchange (the last user message and everything after it)."""
        for i in range(len(self.history) - 1, -1, -1):
            if self.history[i].get("role") == "user":
                removed = self.history[i:]
                del self.history[i:]
                return removed
        return []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; images are kept whole (base64), so the session reloads anywhere."""
        history = []
        for msg in self.history:
            out = copy.deepcopy({k: v for k, v in msg.items() if k != "images"})
            images = to_images(msg.get("images"))
            if images:
                out["images"] = [image.to_dict() for image in images]
            history.append(out)
        return {"name": self.name, "model": self.model, "config": self.config,
                "history": history}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        """Write the session as JSON (history, model, config) — reload it with ``Session.load``."""
        path = Path(path)
        if not str(path).strip():
            raise ConfigError("No file name given", hint="e.g. session.save('notes.json')")
        text = self.to_json()
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot write {path}: {exc.strerror or exc}",
                              hint="check that the folder exists and is writable") from None
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | list[Any]) -> Session:
        if isinstance(data, list):  # a bare history list is fine too
            data = {"history": data}
        if not isinstance(data, Mapping):
            raise ConfigError(f"Not a saved session (a JSON {type(data).__name__}, not an "
                              "object)", hint="load a file written by session.save() or "
                                              "%lms_history --save")
        history = data.get("history", [])
        if not isinstance(history, list) or not all(
                isinstance(m, dict) and "role" in m and "content" in m for m in history):
            raise ConfigError("A saved session needs a 'history' list of {role, content} objects")
        roles = {str(m["role"]) for m in history} - {"system", "user", "assistant"}
        if roles:
            raise ConfigError(f"The saved session has an unknown role {sorted(roles)[0]!r}",
                              hint="roles are system, user and assistant")
        if any(not isinstance(m["content"], str) for m in history):
            raise ConfigError("The saved session has a message whose content is not text")
        history = [_saved_images(m) for m in history]
        config = data.get("config") or {}
        if not isinstance(config, Mapping):
            raise ConfigError("The saved session's 'config' is not an object",
                              hint='e.g. "config": {"temperature": 0.2}')
        normalize_prediction_config(config)  # an unknown key fails now, not at the next turn
        model, name = data.get("model"), data.get("name")
        if model is not None and not isinstance(model, str):
            raise ConfigError(f"The saved session's 'model' is not a model key: {model!r}")
        return cls(model=model or None, config=config,
                   name=name if isinstance(name, str) else None, history=history)

    @classmethod
    def from_json(cls, text: str) -> Session:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"Not a saved session (invalid JSON: {exc.msg})") from None

    @classmethod
    def load(cls, path: str | Path) -> Session:
        """Read a session saved with ``save``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"Not a saved session: {path} is not a UTF-8 text file",
                              hint="load a file written by session.save()") from None
        return cls.from_json(text)

    def messages(self) -> Any:
        """The history as a DataFrame (role, content, stopped, images); in a notebook its
        images show as thumbnails."""
        rows = [{"role": m.get("role"), "content": m.get("content"),
                 "stopped": bool(m.get("stopped", False)),
                 "images": to_images(m.get("images"))} for m in self.history]
        return Messages(rows, columns=["role", "content", "stopped", "images"])

    def __repr__(self) -> str:
        turns = sum(1 for m in self.history if m.get("role") == "user")
        return f"Session(name={self.name!r}, model={self.model!r}, turns={turns})"


def _user_message(prompt: str, images: Any) -> Message:
    """The user's turn; its images are converted now, so a bad one changes nothing."""
    message: Message = {"role": "user", "content": prompt}
    converted = to_images(images)
    if converted:
        message["images"] = converted
    return message


def _saved_images(message: Mapping[str, Any]) -> Message:
    """A saved message with its ``images`` (``Image.to_dict()`` entries, or paths) read back."""
    out = dict(message)
    if "images" not in out:
        return out
    images = out["images"]
    if not isinstance(images, list):
        raise ConfigError("A saved message's 'images' is not a list")
    if images and out["role"] != "user":
        raise ConfigError(f"The saved session has images on a {out['role']} message",
                          hint="only user messages carry images")
    out["images"] = [Image.from_dict(i) if isinstance(i, Mapping) else to_image(i)
                     for i in images]
    return out


class Messages(pd.DataFrame):
    """``Session.messages()``: a DataFrame whose notebook view shows images as thumbnails.

    pandas escapes every cell's HTML, so the table is written here with each text cell escaped;
    anything derived from it (a filter, a column) is a plain DataFrame again.
    """

    @property
    def _constructor(self) -> type:
        return pd.DataFrame

    def _repr_html_(self) -> str:
        width = pd.get_option("display.max_colwidth")

        def text(value: Any) -> str:
            value = str(value)
            if width and len(value) > width:  # pandas' own cut, done before escaping
                value = value[:width - 3] + "..."
            return html.escape(value)

        formatters: dict[Any, Callable[[Any], str]] = {c: text for c in self.columns}
        formatters["images"] = lambda images: images_html(images) if images else ""
        with pd.option_context("display.max_colwidth", None):
            return self.to_html(escape=False, formatters=formatters, notebook=True,
                                max_rows=pd.get_option("display.max_rows"))


# -- named sessions (what %%lms_chat --session uses) -------------------------------------------

_sessions: dict[str, Session] = {}


def get_session(name: str = "default", *, create: bool = True) -> Session:
    """The named session of this kernel (created on first use)."""
    if name not in _sessions:
        if not create:
            raise ConfigError(f"No chat session called {name!r}",
                              hint=f"known: {', '.join(_sessions) or 'none yet'}")
        _sessions[name] = Session(name=name)
    return _sessions[name]


def sessions() -> dict[str, Session]:
    """All named sessions of this kernel."""
    return dict(_sessions)


# -- one-shot helpers --------------------------------------------------------------------------


def stream(prompt: str, *, images: Any = None, model: str | None = None,
           system: str | None = None, config: Mapping[str, Any] | None = None) -> ChatStream:
    """One-shot streamed answer (no history kept)."""
    return Session(system, model=model, config=config).stream(prompt, images=images,
                                                              remember=False)


def ask(prompt: str, *, images: Any = None, model: str | None = None, system: str | None = None,
        config: Mapping[str, Any] | None = None) -> Done:
    """One-shot answer: ``lmsnb.chat.ask("Why is the sky blue?").text``; ``images=`` (paths,
    bytes, PIL images, matplotlib Figures) go to a vision model with the question."""
    return stream(prompt, images=images, model=model, system=system, config=config).result()


def act(prompt: str, tools: Iterable[Callable[..., Any]], *, images: Any = None,
        model: str | None = None, system: str | None = None,
        config: Mapping[str, Any] | None = None, max_rounds: int | None = None) -> ChatStream:
    """One-shot tool-calling run: pass plain Python functions (type hints + docstring)."""
    return Session(system, model=model, config=config).act(prompt, tools, images=images,
                                                           max_rounds=max_rounds)
