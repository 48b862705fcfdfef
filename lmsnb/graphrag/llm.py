"""Model adapters: the two small protocols the pipeline talks to, and their implementations.

The build never imports the LM Studio SDK. It needs only a chat model that completes a message
list and an embedder that turns texts into vectors; anything with those methods works (tests pass
in-process fakes). ``LMStudioChat``/``LMStudioEmbedder`` go through ``lmsnb.client``;
``LocalEmbedder`` is a deterministic offline embedder so an index can be built with no server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .tokens import estimate_tokens

LOCAL_EMBEDDER_PREFIX = "lmsnb-lexical-"


@dataclass(frozen=True)
class Completion:
    """One chat completion: the text and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False
    finish_reason: str = "stop"  # "length" when the model hit max_tokens (truncated output)
    host: str = ""  # the LM Studio host that answered (several hosts share a build)
    attempts: int = 1  # times it was sent: >1 when a host died midway and another answered
    queued_seconds: float = 0.0  # of ``seconds``, the time spent waiting in LM Studio's queue
    lost_on: tuple[str, ...] = ()  # hosts that died while running it (``attempts`` counts them)
    #: the model's thinking, kept apart from ``text`` (a reply that opened ``<think>`` and never
    #: closed it has all of its output here: the GraphRAG parsers look here when ``text`` fails)
    reasoning: str = ""


@runtime_checkable
class ChatModel(Protocol):
    """What the pipeline needs from an LLM."""

    key: str

    def complete(self, messages: list[dict[str, str]], *, json_schema: dict | None = None,
                 max_tokens: int | None = None, temperature: float | None = None) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...

    # Optional: ``context_length`` (an int, or a method returning one) — the model's context
    # window in its own tokens, so every prompt and answer is fitted into it (graphrag/budget.py);
    # and ``config=`` on complete() for settings beyond max_tokens/temperature (settings.py).


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline needs from an embedding model."""

    key: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class LMStudioChat:
    """A chat model served by LM Studio (or the simulator), through ``lmsnb.client``.

    ``model=None`` uses the first loaded LLM. Token counts come from the server's stats, so the
    accounting table reports the model's own tokens.
    """

    def __init__(self, model: str | None = None) -> None:
        self._model = model
        #: calls in flight per host (None: as many as the server runs at once, learned)
        self.concurrency: int | None = None
        #: set to cancel every call of this model on the server (a build that gave up)
        self.abort = threading.Event()

    @property
    def key(self) -> str:
        if self._model is None:
            self._model = _conn().default_model("llm")
        return self._model

    def stream(self, messages: list[dict[str, str]], *, json_schema: dict | None = None,
               max_tokens: int | None = None, temperature: float | None = None,
               config: dict[str, Any] | None = None) -> Any:
        """A live, cancellable event iterator (``lmsnb.client.Prediction``) for one call.

        ``config`` carries any other prediction setting (``topPSampling``, ``stopStrings``, …).
        """
        config = _settings(config, max_tokens, temperature)
        return _conn().predict(self.key, messages, config=config or None,
                               response_format=json_schema, kind="graphrag")

    def complete(self, messages: list[dict[str, str]], *, json_schema: dict | None = None,
                 max_tokens: int | None = None, temperature: float | None = None,
                 config: dict[str, Any] | None = None) -> Completion:
        """One call, scheduled by ``lmsnb.client`` (free slots, hosts, cancel on give-up).

        ``config`` carries any other prediction setting (``topPSampling``, ``stopStrings``, …).
        """
        from .scheduler import current_priority

        config = _settings(config, max_tokens, temperature)
        done = _conn().complete(self.key, messages, config=config or None,
                                response_format=json_schema, concurrency=self.concurrency,
                                abort=self.abort, priority=current_priority())
        text = done.text or ""
        stats = done.stats
        prompt = stats.prompt_tokens or sum(estimate_tokens(m["content"]) for m in messages)
        completion = stats.predicted_tokens or estimate_tokens(text)
        stop = stats.stop_reason
        return Completion(text, int(prompt), int(completion), stats.total_seconds,
                          finish_reason="length" if stop in ("maxPredictedTokensReached", "length",
                                                             "contextLengthReached")
                          else "stop", host=stats.host, attempts=stats.attempts,
                          queued_seconds=stats.queued_seconds, lost_on=stats.lost_on,
                          reasoning=done.reasoning or "")

    def count_tokens(self, text: str) -> int:
        return int(_conn().count_tokens(self.key, text))

    def slots(self) -> int:
        """How many of this model's calls may be in flight now, over all hosts."""
        return int(_conn().slots(self.key, self.concurrency))

    def context_length(self) -> int | None:
        """The loaded instance's context length (LM Studio loads many models at 4,096).

        A model that is not loaded yet is loaded now, as LM Studio would on the first call
        (JIT, with its own default settings), so the length read is the one the calls get.
        """
        from ..errors import ModelNotFound

        conn = _conn()
        try:
            info = conn.model_info(self.key, kind="llm")
        except ModelNotFound:
            conn.count_tokens(self.key, " ")  # JIT-loads it (raises ModelNotFound if unknown)
            info = conn.model_info(self.key, kind="llm")
        value = info.get("context_length")
        return int(value) if value else None

    def __repr__(self) -> str:
        return f"LMStudioChat({self._model!r})"


class LMStudioEmbedder:
    """An embedding model served by LM Studio; ``dimension`` is learned from one probe call."""

    def __init__(self, model: str | None = None) -> None:
        self._model = model
        self._dim: int | None = None

    @property
    def key(self) -> str:
        if self._model is None:
            self._model = _conn().default_model("embedding")
        return self._model

    @property
    def dimension(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        vecs = np.asarray(_conn().embed(self.key, list(texts)), dtype=np.float32)
        if vecs.ndim == 2 and len(vecs):
            self._dim = int(vecs.shape[1])
        return vecs

    def __repr__(self) -> str:
        return f"LMStudioEmbedder({self._model!r})"


class LocalEmbedder:
    """Offline hashed-n-gram embeddings (``lmsnb.sim.lexical``): real lexical similarity, no model.

    Good enough for keyword-ish retrieval and for running everything without a server; use a real
    embedding model for semantic search.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dimension = int(dim)
        self.key = f"{LOCAL_EMBEDDER_PREFIX}{self.dimension}"

    def embed(self, texts: list[str]) -> np.ndarray:
        from ..sim.lexical import embed_texts

        return embed_texts(list(texts), self.dimension)

    def __repr__(self) -> str:
        return f"LocalEmbedder(dim={self.dimension})"


def resolve_chat(llm: str | ChatModel | None) -> ChatModel | None:
    """A model key becomes :class:`LMStudioChat`; objects pass through; None stays None."""
    if llm is None:
        return None
    if isinstance(llm, str):
        if not llm.strip():
            raise _config_error("llm is an empty string",
                                "pass an LM Studio model key, or None for the loaded LLM")
        return LMStudioChat(llm)
    if not callable(getattr(llm, "complete", None)):
        raise _config_error(f"llm must be a model key or a chat model, not a {type(llm).__name__}",
                            "pass an LM Studio key such as 'qwen2.5-7b-instruct', or an object "
                            "with .key and .complete(messages, ...)")
    return llm


def resolve_embedder(model: str | Embedder | None | bool) -> Embedder | None:
    """Key -> :class:`LMStudioEmbedder` (or :class:`LocalEmbedder` for ``lmsnb-lexical-<dim>``);
    None -> :class:`LocalEmbedder`; False -> no embeddings."""
    if model is False:
        return None
    if model is None:
        return LocalEmbedder()
    if isinstance(model, str):
        if not model.strip():
            raise _config_error("embedding_model is an empty string",
                                "pass an LM Studio embedding model key, None (offline "
                                "embeddings) or False (none)")
        if model.startswith(LOCAL_EMBEDDER_PREFIX):
            dim = model[len(LOCAL_EMBEDDER_PREFIX):]
            if not dim.isdigit() or int(dim) < 1:
                raise _config_error(f"Unknown offline embedder {model!r}",
                                    f"use '{LOCAL_EMBEDDER_PREFIX}256' (any size in tokens)")
            return LocalEmbedder(int(dim))
        return LMStudioEmbedder(model)
    if model is True or not callable(getattr(model, "embed", None)):
        raise _config_error(f"embedding_model must be a model key, an embedder, None or False, "
                            f"not {model!r}" if model is True else
                            f"embedding_model must be a model key, an embedder, None or False, "
                            f"not a {type(model).__name__}",
                            "pass an LM Studio key such as 'text-embedding-nomic-embed-text-v1.5'")
    return model


def default_embedder() -> tuple[Embedder, str]:
    """What ``embedding_model=None`` means for an index, and why: the first embedding model
    loaded in LM Studio (what ``lmsnb.embed`` uses), else the offline :class:`LocalEmbedder`."""
    from ..errors import LmsnbError

    try:
        key = _conn().default_model("embedding")
    except LmsnbError as exc:
        return LocalEmbedder(), f"offline lexical embedder: {exc.message}"
    return LMStudioEmbedder(key), "the embedding model loaded in LM Studio"


def _config_error(message: str, hint: str) -> Exception:
    from ..errors import ConfigError

    return ConfigError(message, hint=hint)


def embedder_for_index(index: Any) -> Embedder | None:
    """The embedder that matches the one ``index`` was built with (for query code)."""
    key = getattr(index, "embedding_model", None)
    return resolve_embedder(key) if key else None


def load_named_models(chat: Any, embedder: Any, *, ttl: int = 600) -> list[str]:
    """Load explicitly the LM Studio models ``chat`` and ``embedder`` name that are not loaded.

    A request for a model that is not loaded loads it just in time, and LM Studio's auto-evict
    (on by default) then unloads the previous just-in-time model: an LLM and an embedding model
    used together would evict each other at every switch, cutting off running predictions.
    Models loaded explicitly are never evicted; ``ttl`` unloads them after that long idle.
    Returns the keys it loaded.
    """
    from ..errors import ModelNotFound

    named = [m._model for m in (chat, embedder)
             if isinstance(m, (LMStudioChat, LMStudioEmbedder)) and m._model]
    if len(named) < 2:  # one model alone has nothing to be evicted by
        return []
    conn = _conn()
    rows = conn.list_loaded()
    loaded = []
    for key in named:
        low = key.lower()
        if any(low in (str(r.get("key")).lower(), str(r.get("identifier")).lower())
               or str(r.get("path") or "").lower().startswith(low) for r in rows):
            continue
        try:
            conn.load(key, ttl=ttl)
        except ModelNotFound:  # the call itself will say so, with its hint
            continue
        loaded.append(key)
    return loaded


def _settings(config: dict[str, Any] | None, max_tokens: int | None,
              temperature: float | None) -> dict[str, Any]:
    """The prediction settings of one call: ``config`` with the two usual ones on top."""
    config = dict(config or {})
    if max_tokens is not None:
        config["maxTokens"] = int(max_tokens)
    if temperature is not None:
        config["temperature"] = float(temperature)
    return config


def _conn() -> Any:
    from ..client import get_connection  # imported late: the client layer is optional here

    return get_connection()


def check_vectors(vecs: Any, n: int, key: str | None, dim: int | None = None) -> np.ndarray:
    """``vecs`` as an ``n × d`` float32 matrix, or a :class:`PredictionError` saying what the
    embedding model returned instead (wrong count, ragged or changed size, NaN/inf)."""
    from ..errors import PredictionError

    name = f"The embedding model {key!r}" if key else "The embedding model"
    fix = "check the embedding model (is it an embedding model, and the same one throughout?)"
    try:
        mat = np.asarray(vecs, dtype=np.float32)
    except (TypeError, ValueError):
        raise PredictionError(f"{name} returned vectors of different sizes in one batch",
                              hint=fix) from None
    if mat.ndim != 2 or mat.shape[0] != n or (n and mat.shape[1] == 0):
        got = f"{mat.shape[0]} × {mat.shape[1]}" if mat.ndim == 2 else f"shape {mat.shape}"
        raise PredictionError(f"{name} returned {got} values for {n} texts "
                              "(expected one vector per text)", hint=fix)
    if dim and n and mat.shape[1] != int(dim):
        raise PredictionError(f"{name} returned {mat.shape[1]}-d vectors after {dim}-d ones",
                              hint="one model must embed every text: check that the key names "
                                   "the same embedding model throughout, then run again")
    if n and not np.isfinite(mat).all():
        raise PredictionError(f"{name} returned NaN or infinite values", hint=fix)
    return mat
