"""Model calls for the query methods: prompts from data files, logged completions, streaming.

Every call goes through :func:`complete` or :func:`stream` so the query's :class:`CallLog`
counts calls, tokens and seconds the same way for every method.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from ...events import Done, Event, Fragment
from .result import CallLog

Messages = list[dict[str, str]]


@cache
def prompt(name: str) -> str:
    """The text of ``lmsnb/graphrag/prompts/query_<name>.txt``."""
    return (resources.files("lmsnb.graphrag") / "prompts" / f"query_{name}.txt").read_text(
        encoding="utf-8")


def fill(name: str, **values: Any) -> str:
    """Prompt ``name`` with ``{key}`` placeholders replaced in one pass.

    One pass (not ``str.format``) so braces in JSON examples and in the data stay untouched.
    """
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]) if m.group(1) in values
                  else m.group(0), prompt(name))


def complete(chat: Any, messages: Messages, *, stage: str, log: CallLog,
             json_schema: dict | None = None, config: dict[str, Any] | None = None) -> str:
    """One non-streamed chat call with the stage's model settings; returns its text.

    A structured (JSON) answer that an unclosed ``<think>`` filed as reasoning is taken from
    the reasoning.
    """
    from ...errors import LmsnbError
    from ..cache import as_completion, model_failed
    from ..settings import call_kwargs

    t0 = time.perf_counter()
    kw = call_kwargs(chat, config)
    if json_schema is not None:
        kw["json_schema"] = json_schema
    try:
        c = as_completion(chat.complete(messages, **kw))
    except LmsnbError:
        raise
    except Exception as exc:  # a custom model's own failure: one message, chain kept
        raise model_failed("chat", chat, stage, exc,
                           hint="fix the model (or pass another) and ask again") from exc
    log.add(stage, prompt_tokens=getattr(c, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(c, "completion_tokens", 0) or 0,
            seconds=getattr(c, "seconds", None) or time.perf_counter() - t0)
    if json_schema is not None and "{" not in c.text and "{" in c.reasoning:
        return c.reasoning
    return c.text


def _open_stream(chat: Any, messages: Messages, kw: dict[str, Any]) -> Any:
    """An event iterator for one streamed call, or None when the model cannot stream."""
    if hasattr(chat, "stream"):  # LMStudioChat streams straight from the connection
        return chat.stream(messages, **kw)
    return None


def stream(chat: Any, messages: Messages, *, stage: str, log: CallLog,
           config: dict[str, Any] | None = None,
           out: dict[str, Any], on_start: Any = None) -> Iterator[Event]:
    """Stream one chat call's events (all but its ``Done``); ``out["text"]`` gets the answer.

    Streams through ``chat.stream(...)`` when the model has it, or the LM Studio connection for
    :class:`LMStudioChat`; any other model answers with one ``complete`` call delivered as a
    single fragment, so every model works with ``stream=True``. ``on_start(events)`` receives
    the live iterator (so a Stop button can ``cancel()`` it).
    """
    from ..settings import call_kwargs

    t0 = time.perf_counter()
    events = _open_stream(chat, messages, call_kwargs(chat, config, method="stream"))
    if events is None:
        text = complete(chat, messages, stage=stage, log=log, config=config)
        out["text"] = text
        if text:
            yield Fragment(text)
        return
    if on_start is not None:
        on_start(events)
    parts: list[str] = []
    done: Done | None = None
    for ev in events:
        if isinstance(ev, Done):
            done = ev
            break
        if isinstance(ev, Fragment) and not ev.reasoning:
            parts.append(ev.text)
        yield ev
    text = done.text if done is not None else "".join(parts)
    st = done.stats if done is not None else None
    log.add(stage, prompt_tokens=getattr(st, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(st, "predicted_tokens", 0) or 0,
            seconds=time.perf_counter() - t0)
    out["text"] = text
    out["stopped"] = bool(done is not None and done.stopped)


def parse_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (tolerates code fences, prose and single quotes)."""
    if not text:
        return None
    cleaned = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.MULTILINE).strip()
    start = cleaned.find("{")
    while start != -1:
        depth = 0
        for i in range(start, len(cleaned)):
            ch = cleaned[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    chunk = cleaned[start:i + 1]
                    for cand in (chunk, chunk.replace("'", '"')):
                        try:
                            obj = json.loads(cand)
                        except ValueError:
                            continue
                        if isinstance(obj, dict):
                            return obj
                    break
        start = cleaned.find("{", start + 1)
    return None
