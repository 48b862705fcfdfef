"""Parse GraphRAG-style references (``[Data: Entities (1, 2); Reports (3, +more)]``) from an
answer and resolve them to index rows.

The ids a model cites are the short ids it saw in the context tables: ``human_readable_id`` for
entities, relationships, text units ("Sources") and claims, and ``community`` for reports.
Resolving them against the index (not just the context) lets a user see exactly which rows back
each sentence, and flags ids the model invented (``found=False``).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

#: dataset name the model writes -> (index table, column holding the id it saw)
DATASETS: dict[str, tuple[str, str]] = {
    "entities": ("entities", "human_readable_id"),
    "relationships": ("relationships", "human_readable_id"),
    "reports": ("community_reports", "community"),
    "sources": ("text_units", "human_readable_id"),
    "claims": ("covariates", "human_readable_id"),
}
_SYNONYMS = {
    "entity": "entities", "relationship": "relationships", "relations": "relationships",
    "report": "reports", "communities": "reports", "community": "reports",
    "community reports": "reports", "source": "sources", "text units": "sources",
    "text unit": "sources", "chunks": "sources", "claim": "claims", "covariates": "claims",
}
_BLOCK = re.compile(r"\[\s*Data\s*:(?P<body>[^\]]*)\]", re.IGNORECASE)
_PART = re.compile(r"(?P<name>[A-Za-z][A-Za-z _-]*?)\s*\((?P<ids>[^)]*)\)")


def parse_references(text: str) -> dict[str, list[int]]:
    """``{"entities": [1, 2], "reports": [3]}`` from every ``[Data: ...]`` block in ``text``.

    Lenient about what local models write: singular names, commas instead of semicolons,
    ``+more`` markers and stray words are tolerated; order of first mention is kept.
    """
    out: dict[str, list[int]] = {}
    for block in _BLOCK.finditer(text or ""):
        for part in _PART.finditer(block.group("body")):
            name = part.group("name").strip(" ;,").lower()
            name = _SYNONYMS.get(name, name)
            if name not in DATASETS:
                continue
            ids = out.setdefault(name, [])
            for tok in re.findall(r"-?\d+", part.group("ids")):
                n = int(tok)
                if n not in ids:
                    ids.append(n)
    return out


def _summary(row: pd.Series, table: str) -> str:
    if table == "entities":
        return f"{row.get('title', '')}: {row.get('description', '')}"
    if table == "relationships":
        return f"{row.get('source', '')} → {row.get('target', '')}: {row.get('description', '')}"
    if table == "community_reports":
        return f"{row.get('title', '')}: {row.get('summary', '')}"
    if table == "covariates":
        return f"{row.get('subject_id', '')}: {row.get('description', '')}"
    return str(row.get("text", ""))


def resolve_references(index: Any, refs: dict[str, list[int]],
                       context: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per cited id: dataset, short id, the row's ``id``, a one-line text, and whether
    it exists in the index (``found``) and was in the context sent to the model (``in_context``).
    """
    rows: list[dict[str, Any]] = []
    for dataset, ids in refs.items():
        table, key = DATASETS[dataset]
        df = getattr(index, table, None)
        ctx = (context or {}).get(dataset)
        ctx_ids = set(pd.to_numeric(ctx["short_id"], errors="coerce").dropna().astype(int)) \
            if ctx is not None and "short_id" in ctx else set()
        lookup: dict[int, pd.Series] = {}
        if isinstance(df, pd.DataFrame) and key in df.columns and len(df):
            keys = pd.to_numeric(df[key], errors="coerce")
            wanted = keys.isin(ids)
            for k, (_, row) in zip(keys[wanted], df[wanted].iterrows(), strict=False):
                lookup.setdefault(int(k), row)
        for short in ids:
            row = lookup.get(short)
            rows.append({
                "dataset": dataset, "short_id": short,
                "id": None if row is None else str(row["id"]),
                "text": "" if row is None else _summary(row, table),
                "found": row is not None, "in_context": short in ctx_ids,
            })
    return pd.DataFrame(rows, columns=["dataset", "short_id", "id", "text", "found", "in_context"])
