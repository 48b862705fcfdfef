"""Models without magics: what is downloaded and loaded, load/unload, TTL, context, tokens.

Tables are DataFrames so they sort, filter and display like any other data in the notebook.
``load`` shows a progress bar fed by the SDK's load-progress callback (``progress=False`` to
pass your own ``on_progress``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from .client import get_connection

__all__ = ["downloaded", "loaded", "table", "load", "unload", "unload_all", "set_ttl",
           "context_length", "count_tokens", "tokenize", "info", "load_config"]

DOWNLOADED_COLUMNS = ["key", "type", "display_name", "params", "architecture", "size_gb",
                      "max_context_length", "format", "vision", "tool_use", "loaded"]
LOADED_COLUMNS = ["identifier", "key", "type", "context_length", "max_context_length",
                  "size_gb", "vision", "tool_use"]


def _size_gb(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        size = row.get("size_bytes")
        row["size_gb"] = round(size / 1e9, 2) if isinstance(size, int | float) else None


def loaded(kind: str | None = None) -> pd.DataFrame:
    """Loaded model instances (``kind``: "llm", "embedding" or None for both)."""
    rows = get_connection().list_loaded(kind) if kind else get_connection().list_loaded()
    _size_gb(rows)
    return pd.DataFrame(rows, columns=LOADED_COLUMNS)


def downloaded(kind: str | None = None) -> pd.DataFrame:
    """Downloaded models, with a ``loaded`` column (number of loaded instances)."""
    conn = get_connection()
    rows = conn.list_downloaded()
    if kind:
        rows = [r for r in rows if r.get("type") == kind]
    counts: dict[str, int] = {}
    for inst in conn.list_loaded():
        counts[inst["key"]] = counts.get(inst["key"], 0) + 1
    _size_gb(rows)
    for row in rows:
        row["loaded"] = counts.get(row["key"], 0)
    return pd.DataFrame(rows, columns=DOWNLOADED_COLUMNS)


def table() -> pd.DataFrame:
    """One table for ``%lms_models``: every downloaded model, loaded ones first, with contexts."""
    conn = get_connection()
    ctx: dict[str, list[str]] = {}
    for inst in conn.list_loaded():
        ctx.setdefault(inst["key"], []).append(f"{inst['identifier']} ({inst.get('context_length')})")
    df = downloaded()
    df.insert(1, "loaded_as", [", ".join(ctx.get(k, [])) for k in df["key"]])
    df = df.sort_values(["loaded", "type", "key"], ascending=[False, True, True], ignore_index=True)
    return df


def load(key: str, *, identifier: str | None = None, new_instance: bool = False,
         ttl: int | str | None = None, context_length: int | None = None,
         gpu: float | str | None = None, config: Mapping[str, Any] | None = None,
         progress: bool = True, on_progress: Callable[[float], None] | None = None
         ) -> dict[str, Any]:
    """Load ``key`` (no-op if loaded, unless ``new_instance``) and return the instance info.

    ``ttl`` unloads it after that many idle seconds; ``context_length`` and ``gpu`` (offload
    ratio 0..1, "max" or "off") are the usual load settings — ``config`` takes any others.
    """
    conf = dict(config or {})
    if context_length is not None:
        conf["contextLength"] = context_length
    if gpu is not None:
        conf["gpu"] = {"ratio": gpu}
    from .widgets.progress import LazyProgress

    bar = LazyProgress(f"loading {key}", enabled=progress and on_progress is None)
    with bar:
        info = get_connection().load(key, identifier=identifier, new_instance=new_instance,
                                     ttl=ttl, config=conf or None,
                                     on_progress=on_progress or bar)
    bar.finish(f"loaded as {info.get('identifier')} (context {info.get('context_length')})")
    return info


def unload(identifier: str) -> None:
    """Unload one instance (identifier or model key)."""
    get_connection().unload(identifier)


def unload_all(kind: str | None = None) -> list[str]:
    """Unload every loaded instance (of ``kind``); returns their identifiers."""
    conn = get_connection()
    ids = [r["identifier"] for r in (conn.list_loaded(kind) if kind else conn.list_loaded())]
    for ident in ids:
        conn.unload(ident)
    return ids


def set_ttl(key: str, ttl: int | str | None) -> dict[str, Any]:
    """Set the idle time-to-live of a loaded model (LM Studio takes it with get-or-load).

    A model that is not loaded is refused rather than loaded as a side effect.
    """
    from .config import parse_ttl
    from .errors import ModelNotFound

    parse_ttl(ttl)  # a bad duration fails before anything else
    conn = get_connection()
    if not any(key in (r["identifier"], r["key"]) for r in conn.list_loaded()):
        raise ModelNotFound(f"{key!r} is not loaded, so it has no TTL to set",
                            hint=f"load it with one: %lms_models load {key} --ttl {ttl}")
    return conn.load(key, ttl=ttl)


def info(identifier: str | None = None) -> dict[str, Any]:
    """Info of a loaded instance (default: the default LLM)."""
    conn = get_connection()
    return conn.model_info(identifier or conn.default_model("llm"))


def context_length(identifier: str | None = None) -> int:
    """The context length the instance was loaded with."""
    return int(info(identifier).get("context_length") or 0)


def load_config(identifier: str | None = None) -> dict[str, Any]:
    conn = get_connection()
    return conn.load_config(identifier or conn.default_model("llm"))


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in ``text`` by the model's own tokenizer (default: the default LLM)."""
    return get_connection().count_tokens(model, text)


def tokenize(text: str, model: str | None = None) -> list[int]:
    return get_connection().tokenize(model, text)
