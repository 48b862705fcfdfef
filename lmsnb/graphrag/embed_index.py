"""Embeddings of the index: entity descriptions, text units and community reports.

Texts are batched (16 per request or 8,191 estimated tokens, GraphRAG's defaults), batches run
concurrently, and every vector is cached on disk by (model, text), so re-embedding after an
update only pays for new or changed texts. The model's key and dimension are recorded on the
index: queries with another embedder are refused (``GraphIndex.check_embedder``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .cache import DEFAULT_CACHE_DIR, CachedEmbedder, DiskCache
from .index import GraphIndex
from .llm import Embedder, resolve_embedder
from .progress import Accounting, Progress
from .tokens import estimate_tokens


def embedding_texts(index: GraphIndex) -> dict[str, tuple[list[str], list[str]]]:
    """``name -> (ids, texts)`` for GraphRAG's three embedding sets."""
    e, u, r = index.entities, index.text_units, index.community_reports
    return {
        "entity_description": (list(e["id"]), [f"{t}:{d}" for t, d in
                                               zip(e["title"], e["description"], strict=True)]),
        "text_unit_text": (list(u["id"]), list(u["text"])),
        "community_full_content": (list(r["id"]), list(r["full_content"])),
    }


def batches(n_texts: list[str], size: int, max_tokens: int) -> list[list[int]]:
    out: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i, t in enumerate(n_texts):
        n = estimate_tokens(t)
        if cur and (len(cur) >= size or used + n > max_tokens):
            out.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += n
    if cur:
        out.append(cur)
    return out


def embed_index(index: GraphIndex, embedding_model: str | Embedder | None = None, *,
                cache_dir: Any = DEFAULT_CACHE_DIR, batch_size: int = 16,
                batch_max_tokens: int = 8191, concurrency: Any = "auto", retries: int = 3,
                retry_backoff: float = 1.0, progress: Any = True,
                accounting: Accounting | None = None) -> GraphIndex:
    """(Re-)embed ``index`` in place with ``embedding_model`` and return it."""
    from .scheduler import Scheduler

    model = resolve_embedder(embedding_model)
    if model is None:
        return index
    acc = accounting or Accounting()
    emb = CachedEmbedder(model, DiskCache(cache_dir), acc, retries, retry_backoff)
    with Scheduler((), concurrency) as sched:
        jobs = EmbeddingJobs(emb, sched, Progress(progress), acc, batch_size, batch_max_tokens)
        for name, (ids, texts) in embedding_texts(index).items():
            jobs.add(name, ids, texts)
        jobs.finish(index)
    return index


class EmbeddingJobs:
    """Embedding batches submitted as soon as their texts are final, collected at the end.

    A build adds text units while the graph is still being extracted, entity descriptions
    once summaries are done, and reports last; :meth:`finish` waits and fills
    ``index.embeddings`` (in the order of the index's tables).
    """

    def __init__(self, emb: CachedEmbedder, sched: Any, prog: Progress, acc: Accounting,
                 batch_size: int = 16, batch_max_tokens: int = 8191) -> None:
        self.emb, self.sched, self.acc = emb, sched, acc
        self.batch_size, self.batch_max_tokens = batch_size, batch_max_tokens
        self.stage = prog.stage("embeddings", 0)
        self._jobs: list[tuple[str, list[str], Any]] = []

    def add(self, name: str, ids: list[str], texts: list[str]) -> None:
        for idxs in batches(texts, self.batch_size, self.batch_max_tokens):
            batch = [texts[i] for i in idxs]
            self.stage.total += 1
            self._jobs.append((name, [ids[i] for i in idxs],
                               self.sched.submit(self._one, batch)))

    def _one(self, texts: list[str]) -> np.ndarray:
        out = self.emb.embed("embeddings", texts)
        self.stage.advance()
        return out

    def finish(self, index: GraphIndex) -> None:
        self.sched.wait_all([f for _, _, f in self._jobs])
        self.acc.wall("embeddings", self.stage.finish())
        vectors: dict[str, dict[str, np.ndarray]] = {}
        for name, ids, fut in self._jobs:
            vectors.setdefault(name, {}).update(zip(ids, fut.result(), strict=True))
        dim = None
        index.embeddings = {}
        for name, (ids, _texts) in embedding_texts(index).items():
            got = vectors.get(name, {})
            rows = [got[i] for i in ids]
            mat = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
            if len(mat):
                dim = int(mat.shape[1])
            index.embeddings[name] = pd.DataFrame({"id": ids, "embedding": list(mat)})
        index.embedding_model = self.emb.model.key
        index.embedding_dim = dim or getattr(self.emb.model, "dimension", None)
