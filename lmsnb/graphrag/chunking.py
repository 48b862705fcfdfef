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
    Empty texts (``""``, whitespace, None/NaN) are dropped; duplicates (same id) are kept once.
    """
    what = ("a folder of .txt/.md files, a list of strings, or a DataFrame with a 'text' "
            "column")
    if docs is None:
        raise GraphIndexError("No documents given (docs is None)", hint=f"pass {what}")
    if isinstance(docs, (str, os.PathLike)) and _looks_like_path(docs):
        path = Path(docs).expanduser()
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".txt", ".md")
                       and p.is_file()) if path.is_dir() else [path]
        if not files:
            raise GraphIndexError(f"No .txt or .md files in {path}",
                                  hint="pass a folder of text files (searched recursively)")
        try:
            rows = [{"title": p.name, "text": p.read_text(encoding="utf-8", errors="replace"),
                     "creation_date": datetime.fromtimestamp(p.stat().st_mtime, timezone.utc)
                     .strftime("%Y-%m-%d %H:%M:%S %z")} for p in files]
        except OSError as exc:
            raise GraphIndexError(f"Cannot read {exc.filename or path}: {exc.strerror or exc}",
                                  hint="check the path and its permissions") from None
        df = pd.DataFrame(rows)
    elif isinstance(docs, str):
        if _missing_path(docs):
            raise GraphIndexError(f"No file or folder at {docs!r}",
                                  hint="check the path; to index this string itself, pass it "
                                       "in a list: build_index([text])")
        df = pd.DataFrame({"text": [docs]})
    elif isinstance(docs, pd.DataFrame):
        if "text" not in docs.columns:
            raise GraphIndexError("The documents DataFrame has no 'text' column",
                                  hint=f"rename the column that holds the text to 'text' (it "
                                       f"has: {', '.join(map(str, docs.columns)) or 'none'})")
        df = docs.copy()
    elif isinstance(docs, (bytes, bytearray)) or not hasattr(docs, "__iter__"):
        raise GraphIndexError(f"Cannot index a {type(docs).__name__}", hint=f"pass {what}")
    else:
        texts = list(docs)
        bad = [(i, t) for i, t in enumerate(texts) if not (isinstance(t, str) or _is_na(t))]
        if bad:
            i, t = bad[0]
            raise GraphIndexError(f"Documents must be strings; item {i} is a "
                                  f"{type(t).__name__}", hint=f"pass {what}")
        df = pd.DataFrame({"text": texts}, dtype=object)
    keep = [not _is_na(t) and str(t).strip() != "" for t in df["text"]]
    df = df[pd.Series(keep, index=df.index, dtype=bool)].reset_index(drop=True)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S %z")
    out = pd.DataFrame({
        "id": df["id"].astype(str) if "id" in df else df["text"].astype(str).map(sha512),
        "human_readable_id": range(len(df)),
        "title": df["title"].astype(str) if "title" in df else [f"document {i}" for i in range(len(df))],
        "text": df["text"].astype(str),
        "text_unit_ids": [[] for _ in range(len(df))],
        "creation_date": df["creation_date"].astype(str) if "creation_date" in df else now,
        "raw_data": None,
    })
    return out.drop_duplicates("id").reset_index(drop=True)


def _is_na(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _missing_path(s: str) -> bool:
    """A one-word string that names a file or folder (``docs/``, ``notes.txt``) that is not
    there: almost surely a typo in a path, not a one-word document."""
    s = s.strip()
    if not s or any(c.isspace() for c in s) or len(s) > 1024:
        return False
    return (s.endswith(("/", "\\")) or s.lower().endswith((".txt", ".md"))
            or s.startswith(("./", "../", "~/", "/"))) and not Path(s).expanduser().exists()


def _looks_like_path(s: str | os.PathLike[str]) -> bool:
    if isinstance(s, os.PathLike):
        return True
    try:
        return "\n" not in s and len(s) < 4096 and Path(s).expanduser().exists()
    except (OSError, ValueError, RuntimeError):  # not a valid path on this system
        return False


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
