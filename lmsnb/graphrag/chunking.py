"""GraphRAG's ``documents`` table in (see ``inputs.py``), ``text_units`` out.

Chunks are cut by tokens with overlap, like GraphRAG's ``tokens`` chunker (1200/100 by default),
on whitespace boundaries so no word is split. Ids are content hashes (SHA-512 like GraphRAG's
text units), so the same text always gets the same id: that is what lets ``update`` skip chunks
already in the index and the LLM cache recognise them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pandas as pd

from .tokens import TokenCounter, token_cost

_WORD_RE = re.compile(r"\S+\s*")


def sha512(text: str) -> str:
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def check_chunking(size: Any, overlap: Any) -> None:
    """Refuse chunk settings that cannot work, with the fix (a ``ConfigError``)."""
    from ..errors import ConfigError

    for name, value in (("chunk_size", size), ("chunk_overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ConfigError(f"{name} must be a number of tokens, not {value!r}",
                              hint="e.g. chunk_size=1200, chunk_overlap=100")
    if size < 1:
        raise ConfigError(f"chunk_size must be at least 1 token (got {size})",
                          hint="e.g. chunk_size=1200 (standard) or 300 (fast)")
    if overlap < 0:
        raise ConfigError(f"chunk_overlap cannot be negative (got {overlap})",
                          hint="use 0 for no overlap")
    if overlap >= size:
        raise ConfigError(f"chunk_overlap ({overlap}) must be smaller than chunk_size ({size})",
                          hint="e.g. an overlap of about a tenth of the chunk size")


def chunk_text(text: str, size: int, overlap: int, count=token_cost) -> list[str]:
    """Split ``text`` into chunks of about ``size`` tokens that overlap by ``overlap`` tokens."""
    check_chunking(size, overlap)
    words = _WORD_RE.findall(text)
    lead = text[: len(text) - len(text.lstrip())]
    if words and lead:
        words[0] = lead + words[0]
    costs = [max(1, count(w)) for w in words]
    chunks, start = [], 0
    while start < len(words):
        total, end = 0, start
        while end < len(words) and (total + costs[end] <= size or end == start):
            total += costs[end]
            end += 1
        chunks.append("".join(words[start:end]).strip())
        if end >= len(words):
            break
        back, nxt = 0, end
        while nxt > start + 1 and back + costs[nxt - 1] <= overlap:
            nxt -= 1
            back += costs[nxt]
        start = nxt
    return [c for c in chunks if c]


def chunk_documents(documents: pd.DataFrame, size: int = 1200, overlap: int = 100,
                    counter: TokenCounter | None = None) -> pd.DataFrame:
    """Chunk every document; fills ``documents.text_unit_ids`` and returns ``text_units``."""
    counter = counter or TokenCounter()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, doc in documents.iterrows():
        if counter.exact is not None:
            counter.calibrate(doc["text"][:20000])
        ratio = counter.ratio

        def cost(w: str, _r: float = ratio) -> float:
            return token_cost(w) * _r  # unrounded: rounding each word would bias chunk sizes

        ids = []
        for piece in chunk_text(doc["text"], size, overlap, cost):
            tid = sha512(piece)
            ids.append(tid)
            if tid in seen:
                continue
            seen.add(tid)
            rows.append({"id": tid, "text": piece, "n_tokens": counter(piece),
                         "document_id": doc["id"]})
        documents.at[i, "text_unit_ids"] = ids
    units = pd.DataFrame(rows, columns=["id", "text", "n_tokens", "document_id"])
    units.insert(1, "human_readable_id", range(len(units)))
    for col in ("entity_ids", "relationship_ids", "covariate_ids"):
        units[col] = [[] for _ in range(len(units))]
    units["n_tokens"] = units["n_tokens"].astype("int64")
    return units
