"""An on-disk cache of LLM and embedding calls, and the call wrappers that use it.

Every completed call is written at once (one JSON file, atomically: temp file + rename), keyed by
a hash of the model key, the messages and the generation config. A re-run, or a run after the
kernel died or the server dropped midway, finds those files and pays for nothing twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConnectionFailed, LmsnbError, PredictionError, RequestTimeout
from .llm import ChatModel, Completion, Embedder, check_vectors
from .progress import Accounting
from .scheduler import set_stage
from .settings import cache_part, call_kwargs
from .tokens import estimate_tokens

DEFAULT_CACHE_DIR = ".lmsnb-cache"
TRANSIENT = (ConnectionFailed, RequestTimeout, ConnectionError, TimeoutError)


class DiskCache:
    """JSON files under ``folder/<kind>/<aa>/<key>.json``; ``folder=None`` keeps nothing."""

    def __init__(self, folder: str | os.PathLike[str] | None = DEFAULT_CACHE_DIR) -> None:
        self.folder = Path(folder) if folder is not None else None

    @staticmethod
    def key(payload: Any) -> str:
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _path(self, kind: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        path = self._path(kind, key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, or a torn file from an old crash: recompute
            return None

    def put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        if self.folder is None:
            return
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False)
        os.replace(tmp, path)


def with_retries(fn: Any, retries: int, backoff: float) -> Any:
    """Call ``fn()``; on a transient failure wait ``backoff·2^n`` (±25 %) and try again."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except TRANSIENT:
            if attempt >= retries:
                raise
            time.sleep(backoff * (2 ** attempt) * (0.75 + random.random() / 2))
    raise AssertionError("unreachable")


class CachedChat:
    """A :class:`ChatModel` wrapped with the disk cache, retries and per-stage accounting."""

    def __init__(self, model: ChatModel, cache: DiskCache, accounting: Accounting,
                 retries: int = 3, backoff: float = 1.0) -> None:
        self.model, self.cache, self.accounting = model, cache, accounting
        self.retries, self.backoff = retries, backoff
        self._lock = threading.Lock()

    def complete(self, stage: str, messages: list[dict[str, str]], *,
                 json_schema: dict | None = None, config: dict[str, Any] | None = None,
                 urgency: float = 0.0) -> Completion:
        """One call with ``config`` (the stage's model settings, ``graphrag/settings.py``);
        ``urgency`` (0–1) orders it among the stage's calls waiting for a slot."""
        kw = call_kwargs(self.model, config)
        payload = {"model": self.model.key, "messages": messages, "json_schema": json_schema,
                   "max_tokens": kw.get("max_tokens"), "temperature": kw.get("temperature")}
        extra = cache_part({k: v for k, v in (config or {}).items()
                            if k not in ("maxTokens", "temperature")})
        if extra:  # keys stay as they were for calls with only the two protocol settings
            payload["config"] = extra
        key = self.cache.key(payload)
        hit = self.cache.get("chat", key)
        if hit is not None:
            c = Completion(hit["text"], hit.get("prompt_tokens", 0),
                           hit.get("completion_tokens", 0), 0.0, cached=True,
                           finish_reason=hit.get("finish_reason", "stop"),
                           reasoning=hit.get("reasoning", ""))
            self.accounting.add(stage, c)
            return c
        t0 = time.perf_counter()
        set_stage(stage, urgency)
        failed = 0

        def attempt() -> Any:
            nonlocal failed
            try:
                return self.model.complete(messages, json_schema=json_schema, **kw)
            except TRANSIENT:  # it reached the server (or may have): it counts as a call
                failed += 1
                raise

        try:
            c = with_retries(attempt, self.retries, self.backoff)
        except LmsnbError:
            self.accounting.add_failed(stage, failed)
            raise
        except Exception as exc:  # a custom model's own failure: one message, chain kept
            raise model_failed("chat", self.model, stage, exc) from exc
        c = as_completion(c)
        if not c.prompt_tokens:  # a bare model that does not report usage: estimate it
            c = replace(c, prompt_tokens=sum(estimate_tokens(m["content"]) for m in messages),
                        completion_tokens=c.completion_tokens or estimate_tokens(c.text),
                        seconds=c.seconds or time.perf_counter() - t0)
        self.cache.put("chat", key, {"model": self.model.key, "text": c.text,
                                     "prompt_tokens": c.prompt_tokens,
                                     "completion_tokens": c.completion_tokens,
                                     "finish_reason": c.finish_reason, "stage": stage,
                                     **({"reasoning": c.reasoning} if c.reasoning else {})})
        self.accounting.add(stage, c, failed)
        return c


def model_failed(kind: str, model: Any, stage: str, exc: BaseException,
                 hint: str | None = None) -> PredictionError:
    key = getattr(model, "key", type(model).__name__)
    return PredictionError(f"The {kind} model {key!r} failed during {stage}: "
                           f"{type(exc).__name__}: {exc}",
                           hint=hint or "calls that completed are cached: fix the model (or "
                                        "pass another) and run the same cell again to resume")


def as_completion(c: Any) -> Completion:
    """A model's reply as a :class:`Completion` (a bare string or a None text is accepted)."""
    if isinstance(c, Completion):
        return c if isinstance(c.text, str) else replace(
            c, text="" if c.text is None else str(c.text), reasoning=c.reasoning or "")
    if c is None or isinstance(c, str):
        return Completion(c or "")
    text = getattr(c, "text", None)
    if text is None and not hasattr(c, "text"):
        raise PredictionError(f"The chat model returned a {type(c).__name__}, not a Completion",
                              hint="complete() must return lmsnb.graphrag.Completion(text, ...)")
    return Completion("" if text is None else str(text), int(getattr(c, "prompt_tokens", 0) or 0),
                      int(getattr(c, "completion_tokens", 0) or 0),
                      float(getattr(c, "seconds", 0.0) or 0.0),
                      finish_reason=str(getattr(c, "finish_reason", "stop") or "stop"),
                      reasoning=str(getattr(c, "reasoning", "") or ""))


class CachedEmbedder:
    """An :class:`Embedder` with a per-text disk cache (vectors stored as base64 float32)."""

    def __init__(self, model: Embedder, cache: DiskCache, accounting: Accounting,
                 retries: int = 3, backoff: float = 1.0) -> None:
        self.model, self.cache, self.accounting = model, cache, accounting
        self.retries, self.backoff = retries, backoff
        self.dim: int | None = None  # the first vector's size; every later one must match

    def embed(self, stage: str, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (one request for all uncached ones); rows in input order."""
        keys = [self.cache.key({"model": self.model.key, "text": t}) for t in texts]
        out: list[np.ndarray | None] = []
        missing: list[int] = []
        for i, k in enumerate(keys):
            hit = self.cache.get("embed", k)
            if hit is None:
                out.append(None)
                missing.append(i)
            else:
                v = np.frombuffer(base64.b64decode(hit["v"]), dtype=np.float32)
                if self.dim is None:
                    self.dim = len(v)
                if len(v) != self.dim:  # cached by an earlier model under the same key
                    out.append(None)
                    missing.append(i)
                    continue
                out.append(v)
        t0 = time.perf_counter()
        if missing:
            try:
                vecs = with_retries(lambda: self.model.embed([texts[i] for i in missing]),
                                    self.retries, self.backoff)
            except LmsnbError:
                raise
            except Exception as exc:
                raise model_failed("embedding", self.model, stage, exc) from exc
            vecs = check_vectors(vecs, len(missing), getattr(self.model, "key", None), self.dim)
            if self.dim is None and len(vecs):
                self.dim = int(vecs.shape[1])
            for i, v in zip(missing, vecs, strict=True):
                out[i] = v
                self.cache.put("embed", keys[i], {"model": self.model.key,
                                                  "v": base64.b64encode(v.tobytes()).decode()})
        self.accounting.add_embed(stage, n_texts=len(texts), n_cached=len(texts) - len(missing),
                                  tokens=sum(estimate_tokens(texts[i]) for i in missing),
                                  seconds=time.perf_counter() - t0, requests=1 if missing else 0)
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack(out)  # type: ignore[arg-type]
