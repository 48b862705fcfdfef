"""Documents in, GraphRAG ``documents`` and ``text_units`` tables out.

Chunks are cut by tokens with overlap, like GraphRAG's ``tokens`` chunker (1200/100 by default),
on whitespace boundaries so no word is split. Ids are content hashes (SHA-512 like GraphRAG's
text units), so the same text always gets the same id: that is what lets ``update`` skip chunks
already in the index and the LLM cache recognise them.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import GraphIndexError
from .tokens import TokenCounter, token_cost

_WORD_RE = re.compile(r"\S+\s*")


def sha512(text: str) -> str:
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def load_documents(docs: Any) -> pd.DataFrame:
    """Accept a DataFrame (``text`` and optional ``title``/``id``), strings, or a folder/file.

    Returns GraphRAG's ``documents`` columns (``text_unit_ids`` filled later by chunking).
    """
    if isinstance(docs, (str, os.PathLike)) and _looks_like_path(docs):
        path = Path(docs)
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".txt", ".md")) \
            if path.is_dir() else [path]
        if not files:
            raise GraphIndexError(f"No .txt or .md files in {path}", hint="pass a folder of text files")
        rows = [{"title": p.name, "text": p.read_text(encoding="utf-8", errors="replace"),
                 "creation_date": datetime.fromtimestamp(p.stat().st_mtime, timezone.utc)
                 .strftime("%Y-%m-%d %H:%M:%S %z")} for p in files]
        df = pd.DataFrame(rows)
    elif isinstance(docs, str):
        df = pd.DataFrame({"text": [docs]})
    elif isinstance(docs, pd.DataFrame):
        if "text" not in docs.columns:
            raise GraphIndexError("The documents DataFrame has no 'text' column",
                                  hint=f"it has: {', '.join(map(str, docs.columns))}")
        df = docs.copy()
    else:
        texts = list(docs)
        if not all(isinstance(t, str) for t in texts):
            raise GraphIndexError("Documents must be strings, a DataFrame with a 'text' column, "
                                  "or a folder of .txt files")
        df = pd.DataFrame({"text": texts})
    df = df[df["text"].astype(str).str.strip() != ""].reset_index(drop=True)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S %z")
    out = pd.DataFrame({
        "id": df["id"].astype(str) if "id" in df else df["text"].map(sha512),
        "human_readable_id": range(len(df)),
        "title": df["title"].astype(str) if "title" in df else [f"document {i}" for i in range(len(df))],
        "text": df["text"].astype(str),
        "text_unit_ids": [[] for _ in range(len(df))],
        "creation_date": df["creation_date"].astype(str) if "creation_date" in df else now,
        "raw_data": None,
    })
    return out.drop_duplicates("id").reset_index(drop=True)


def _looks_like_path(s: str | os.PathLike[str]) -> bool:
    if isinstance(s, os.PathLike):
        return True
    return "\n" not in s and len(s) < 4096 and Path(s).exists()


def chunk_text(text: str, size: int, overlap: int, count=token_cost) -> list[str]:
    """Split ``text`` into chunks of about ``size`` tokens that overlap by ``overlap`` tokens."""
    if size <= overlap:
        raise ValueError("chunk size must be larger than the overlap")
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
