"""SDK exceptions → one ``LmsnbError`` line with the fix; the SDK's silence timeout.

The SDK raises a dozen exception types (and bare ``RuntimeError``/``ValueError`` for some), with
multi-line messages. Users get one short line and what to do about it.
"""

from __future__ import annotations

import re

import httpx
import lmstudio
import msgspec

from ..errors import (
    Cancelled,
    ConfigError,
    ConnectionFailed,
    LmsnbError,
    ModelNotFound,
    PredictionError,
    RequestTimeout,
)
from .hosts import START_HINT


def get_timeout() -> float | None:
    """Seconds the SDK waits between two messages of a call (None = forever)."""
    return lmstudio.get_sync_api_timeout()


def set_timeout(seconds: float | None) -> None:
    """Set the SDK's sync timeout: the longest silence tolerated on a call, not a deadline."""
    if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
        raise ConfigError(f"timeout must be a positive number of seconds or None, got {seconds!r}")
    lmstudio.set_sync_api_timeout(seconds)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


def is_disconnect(exc: BaseException) -> bool:
    # A client whose websocket thread has stopped (server restarted, client closed by a
    # reconnect) raises a bare RuntimeError "... is currently inactive" from the SDK.
    return isinstance(exc, lmstudio.LMStudioWebsocketError) or (
        isinstance(exc, lmstudio.LMStudioClientError) and "not reachable" in str(exc)) or (
        isinstance(exc, RuntimeError) and "currently inactive" in str(exc))


NOT_FOUND_HINT = ("see lmsnb.models.downloaded() / %lms_models for the keys, or download it "
                   "in LM Studio")


def translate(exc: BaseException, host: str, model: str | None = None) -> LmsnbError:
    """Turn any SDK (or transport) exception into one readable ``LmsnbError``."""
    if isinstance(exc, LmsnbError):
        return exc
    text = str(exc)
    if is_disconnect(exc) or isinstance(exc, httpx.HTTPError | ConnectionError):
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
                             hint=NOT_FOUND_HINT)
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
    overflow = re.search(r"context length of only (\d+) tokens", text)
    if overflow:
        name = f"{model!r}" if model else "the model"
        return PredictionError(
            f"The prompt does not fit the context {name} is loaded with "
            f"({int(overflow.group(1)):,} tokens)",
            hint=f"load it with a longer context (%lms_models load {model or 'KEY'} "
                 "--context 16384), or send less: a new session, or a shorter text")
    if isinstance(exc, lmstudio.LMStudioServerError):
        detail = " ".join(line.strip() for line in text.splitlines() if line.strip())[:300]
        return PredictionError(f"LM Studio reported an error: {detail}")
    return LmsnbError(f"{type(exc).__name__}: {_first_line(exc)}")
