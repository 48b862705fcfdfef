"""Vector search over an index's embedding tables, and embedding them on first use.

A GraphRAG folder often arrives without vectors (GraphRAG keeps them in LanceDB, not parquet),
so the first query that needs a set computes it with the query's embedder, shows progress, and
stores it in ``idx.embeddings`` with the model key and dimension: later queries, and a saved
index, reuse it. A query with a different embedder is refused (``GraphIndex.check_embedder``):
vectors from two models are not comparable.

Search normalises the matrix once per embedding table (cached) and uses ``argpartition``, so a
top-k over 10k vectors is one matrix-vector product, well under a millisecond at 768-d.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...errors import GraphIndexError, LmsnbError
from .. import sanity
from ..cache import model_failed
from ..llm import check_vectors
from ..progress import Progress
from .context import ObjectCache
from .result import CallLog

ProgressMode = bool | str | Callable[[str, int, int], None]

#: embedding set -> (index table, how to make the text GraphRAG embeds for one row)
SOURCES: dict[str, tuple[str, Callable[[Any], str]]] = {
    "entity_description": ("entities", lambda r: f"{r.title}:{r.description}"),
    "text_unit_text": ("text_units", lambda r: str(r.text)),
    "community_full_content": ("community_reports", lambda r: str(r.full_content)),
}
BATCH = 64
_LOCK = threading.RLock()
_MATRICES = ObjectCache()  # embeddings DataFrame -> (stamp, ids, normalised matrix)


def ensure_embeddings(index: Any, names: Sequence[str], embedder: Any, *,
                      log: CallLog | None = None, progress: ProgressMode = True) -> None:
    """Check ``embedder`` against the index, then compute any missing set in ``names``.

    ``progress`` is as for the build: True (a bar in a kernel, text lines elsewhere), "text",
    False, or a callback ``f(stage, done, total)``. Raises :class:`GraphIndexError` when the index was embedded by another model or size.
    """
    key = getattr(embedder, "key", None)
    dim = getattr(embedder, "dimension", None)
    index.check_embedder(key, dim)
    with _LOCK:
        for name in names:
            if name in index.embeddings and len(index.embeddings[name]):
                continue
            table, text_of = SOURCES[name]
            df = getattr(index, table)
            if not len(df):
                raise GraphIndexError(f"The index has no {table} to embed for {name!r}",
                                      hint="build the index first (lmsnb.graphrag.build_index)")
            texts = [text_of(r) for r in df.itertuples(index=False)]
            bar = Progress(progress).stage(f"embed {name} ({getattr(embedder, 'key', '?')})",
                                           len(texts))
            vecs = []
            for start in range(0, len(texts), BATCH):
                t0 = time.perf_counter()
                batch = texts[start:start + BATCH]
                vecs.append(check_vectors(_embed(embedder, batch), len(batch), key,
                                          vecs[0].shape[1] if vecs else dim))
                if log is not None:
                    log.add(f"embed {name}", kind="embed", texts=len(batch),
                            seconds=time.perf_counter() - t0)
                bar.advance(len(batch))
            bar.finish()
            mat = np.vstack(vecs)
            index.embeddings[name] = pd.DataFrame({"id": df["id"].astype(str).to_numpy(),
                                                   "embedding": list(mat)})
            if key and not index.embedding_model:
                index.embedding_model = key
            if not index.embedding_dim:
                index.embedding_dim = int(mat.shape[1])
            index.check_embedder(key, int(mat.shape[1]))


def matrix(index: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, unit-norm float32 matrix)`` for embedding set ``name``, cached per table."""
    df = index.embeddings.get(name)
    if df is None:
        raise GraphIndexError(f"The index has no {name!r} embeddings",
                              hint="pass an embedder (embedding_model=...) so they are computed")
    with _LOCK:
        hit = _MATRICES.get(df)
        col = df["embedding"]
        values = col.to_numpy()  # same buffer until the column is replaced
        stamp = (len(df), values.__array_interface__["data"][0] if values.dtype == object
                 else id(values))
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        # vectors of the wrong size or with NaN are left out of the search (sanity: bad_vector)
        ok, mat = sanity.vectors(col, index.embedding_dim)
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        mat = mat / np.where(norms == 0, 1.0, norms)
        ids = sanity.text(df["id"]).to_numpy()[ok]
        _MATRICES.set(df, (stamp, ids, mat))
        return ids, mat


def nearest(index: Any, name: str, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and cosine scores of the ``k`` rows of ``name`` most similar to ``vector``, best first."""
    ids, mat = matrix(index, name)
    if not len(ids) or k <= 0:
        return ids[:0], np.zeros(0, dtype=np.float32)
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape[0] != mat.shape[1]:
        raise GraphIndexError(f"The query vector has {v.shape[0]} dimensions but the index's "
                              f"{name!r} embeddings have {mat.shape[1]}",
                              hint="query with the embedding model the index was built with")
    v = v / (np.linalg.norm(v) or 1.0)
    scores = mat @ v
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return ids[top], scores[top]


def embed_query(embedder: Any, text: str, log: CallLog | None = None) -> np.ndarray:
    """Embed one query text (one embedding call, logged)."""
    t0 = time.perf_counter()
    vec = check_vectors(_embed(embedder, [text]), 1, getattr(embedder, "key", None))[0]
    if log is not None:
        log.add("embed query", kind="embed", texts=1, seconds=time.perf_counter() - t0)
    return vec


def _embed(embedder: Any, texts: list[str]) -> Any:
    """``embedder.embed(texts)``, with a custom embedder's own failure as one message."""
    try:
        return embedder.embed(texts)
    except LmsnbError:
        raise
    except Exception as exc:
        raise model_failed("embedding", embedder, "the query", exc,
                           hint="fix the embedder (or pass another) and ask again") from exc
