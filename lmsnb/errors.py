"""One exception hierarchy for lmsnb.

Every failure a user can hit ends as an ``LmsnbError`` whose message is one readable line that
says what went wrong and what to do about it. The SDK's own exceptions never reach the user.
"""

from __future__ import annotations


class LmsnbError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing message (with the fix)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} — {hint}" if hint else message)


class ConnectionFailed(LmsnbError):
    """LM Studio (or the simulator) cannot be reached, or the connection dropped."""


class Reconnected(ConnectionFailed):
    """The connection died and was re-established; the call that saw it may be repeated."""


class ModelNotFound(LmsnbError):
    """The model key or identifier is not downloaded / not loaded."""


class ConfigError(LmsnbError, ValueError):
    """A prediction or load config key or value is invalid."""


class ImageError(LmsnbError, ValueError):
    """An image cannot be sent: not found, not an image, too large, or an empty Figure."""


class PredictionError(LmsnbError):
    """The server failed while generating (or returned output we cannot use)."""


class RequestTimeout(LmsnbError, TimeoutError):
    """No message arrived from the server within the sync timeout."""


class Cancelled(LmsnbError):
    """The user stopped a prediction; the partial result is kept."""


class GraphIndexError(LmsnbError):
    """A GraphRAG index is missing something the operation needs (tables, embeddings, ...)."""
