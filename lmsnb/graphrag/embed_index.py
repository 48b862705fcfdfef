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
from .llm import Embedder, default_embedder, resolve_embedder
from .progress import Accounting, Progress, run_parallel
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
                batch_max_tokens: int = 8191, concurrency: int = 4, retries: int = 3,
                retry_backoff: float = 1.0, progress: Any = True,
                accounting: Accounting | None = None) -> GraphIndex:
    """(Re-)embed ``index`` in place with ``embedding_model`` and return it.

    ``embedding_model=None`` means what it means for ``build_index``: the embedding model loaded
    in LM Studio, else the offline lexical embedder.
    """
    model = default_embedder()[0] if embedding_model is None else resolve_embedder(embedding_model)
    if model is None:
        return index
    acc = accounting or Accounting()
    emb = CachedEmbedder(model, DiskCache(cache_dir), acc, retries, retry_backoff)
    prog = Progress(progress)
    sets = embedding_texts(index)
    jobs = [(name, idxs) for name, (_ids, texts) in sets.items()
            for idxs in batches(texts, batch_size, batch_max_tokens)]
    stage = prog.stage("embeddings", len(jobs))

    def one(job: tuple[str, list[int]]) -> np.ndarray:
        name, idxs = job
        return emb.embed("embeddings", [sets[name][1][i] for i in idxs])

    vecs = run_parallel(one, jobs, concurrency, stage)
    acc.wall("embeddings", stage.finish())
    parts: dict[str, list[np.ndarray]] = {name: [] for name in sets}
    for (name, _), v in zip(jobs, vecs, strict=True):
        parts[name].append(v)
    dim = None
    index.embeddings = {}
    for name, (ids, _texts) in sets.items():
        mat = np.vstack(parts[name]) if parts[name] else np.zeros((0, 0), np.float32)
        if len(mat):
            dim = int(mat.shape[1])
        index.embeddings[name] = pd.DataFrame({"id": ids, "embedding": list(mat.astype(np.float32))})
    index.embedding_model = model.key
    index.embedding_dim = dim or getattr(model, "dimension", None)
    return index
