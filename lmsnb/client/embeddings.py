"""Embeddings: many requests in flight instead of the SDK's one-at-a-time loop.

The SDK's ``embed(list)`` sends one RPC per text and waits for each; here identical texts are
embedded once and larger batches keep many requests in flight on the host's async client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from ..errors import ConnectionFailed, LmsnbError, PredictionError


class EmbedMixin:
    """``embed`` of a :class:`~lmsnb.client.Connection`."""

    def embed(self, model: str | None, texts: Sequence[str], *,
              on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` → float32 array (n × dim), keeping many requests in flight.

        The SDK sends one RPC per text and waits for each. Here identical texts are embedded
        once, and larger batches go through the host's async client (``runner.Runner``) with up
        to ``embed_concurrency`` requests in flight on one websocket. ``on_progress(done, total)``
        is called on the calling thread.
        """
        texts = [str(t) for t in texts]
        unique = list(dict.fromkeys(texts))
        if not unique:
            return np.zeros((0, 0), dtype=np.float32)
        name = model or self.default_model("embedding")
        if len(unique) <= 4:
            handle = self._call(lambda c: self._handle("embedding", name, c), model=name,
                                kind="embedding")
            vectors = self._call(lambda c: [handle.embed(t) for t in unique], model=name,
                                 kind="embedding")
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
        return matrix[[index[t] for t in texts]]

    def _embed_concurrently(self, model: str, texts: list[str],
                            on_progress: Callable[[int, int], None] | None,
                            retry: bool = True) -> list[Any]:
        progress = [0]
        runner = self.runner
        future = runner.submit(runner.embed(model, texts, self.embed_concurrency, progress))
        while True:
            try:
                return future.result(timeout=0.1)
            except FutureTimeout:
                if on_progress:
                    on_progress(progress[0], len(texts))
            except ConnectionFailed:
                if not retry:  # the websocket died (a server restart): reconnect once
                    raise
                return self._embed_concurrently(model, texts, on_progress, retry=False)
            except LmsnbError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise self._translate(exc, model, "embedding") from None
