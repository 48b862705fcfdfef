"""Models without magics: what is downloaded and loaded, load/unload, TTL, context, tokens.

Tables are DataFrames so they sort, filter and display like any other data in the notebook:
``downloaded()`` and ``loaded()`` hold numbers, ``table()`` is the compact, human-readable view
``%lms_models`` shows. ``load`` shows a progress bar fed by the SDK's load-progress callback
(``progress=False`` to pass your own ``on_progress``).

LM Studio does not report an instance's idle TTL, so the ``ttl`` column is the TTL set through
lmsnb in this kernel (``load(ttl=…)``, ``set_ttl``, the model manager); ``None`` means none was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from . import human
from .client import get_connection

__all__ = ["downloaded", "loaded", "table", "load", "unload", "unload_all", "set_ttl",
           "context_length", "count_tokens", "tokenize", "info", "load_config"]

DOWNLOADED_COLUMNS = ["key", "type", "display_name", "params", "architecture", "size_gb",
                      "max_context_length", "format", "vision", "tool_use", "loaded", "instances"]
LOADED_COLUMNS = ["identifier", "key", "type", "context_length", "max_context_length",
                  "size_gb", "ttl", "vision", "tool_use"]
TABLE_COLUMNS = ["type", "params", "size", "max_context", "loaded", "context", "ttl",
                 "instances"]

_ttls: dict[tuple[str, str], float | None] = {}  # (host, identifier) -> TTL set through lmsnb


def _remember_ttl(identifier: Any, ttl: Any) -> None:
    """Record a TTL sent with a load (no TTL sent: LM Studio keeps what the instance had)."""
    from .config import parse_ttl

    if identifier and ttl is not None:
        _ttls[(get_connection().host, str(identifier))] = parse_ttl(ttl)


def _with_ttl(rows: list[dict[str, Any]], *, complete: bool = False) -> list[dict[str, Any]]:
    """Add the ``ttl`` column. ``complete``: ``rows`` is every loaded instance, so TTLs of
    instances that are gone are forgotten (a later load under that name starts afresh)."""
    host = get_connection().host
    if complete:
        live = {str(r.get("identifier")) for r in rows}
        for key in [k for k in _ttls if k[0] == host and k[1] not in live]:
            del _ttls[key]
    for row in rows:
        row["ttl"] = _ttls.get((host, str(row.get("identifier"))))
    return rows


def _size_gb(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        size = row.get("size_bytes")
        row["size_gb"] = round(size / 1e9, 3) if isinstance(size, int | float) else None


def loaded(kind: str | None = None) -> pd.DataFrame:
    """Loaded model instances (``kind``: "llm", "embedding" or None for both)."""
    conn = get_connection()
    rows = _with_ttl(conn.list_loaded(kind), complete=False) if kind else \
        _with_ttl(conn.list_loaded(), complete=True)
    _size_gb(rows)
    df = pd.DataFrame(rows, columns=LOADED_COLUMNS)
    df["ttl"] = df["ttl"].astype("Int64")  # seconds, or <NA> where none was set
    return df


def downloaded(kind: str | None = None) -> pd.DataFrame:
    """Downloaded models, with ``loaded`` (True/False) and ``instances`` (how many are loaded)."""
    conn = get_connection()
    rows = conn.list_downloaded()
    if kind:
        rows = [r for r in rows if r.get("type") == kind]
    counts: dict[str, int] = {}
    for inst in conn.list_loaded():
        counts[inst["key"]] = counts.get(inst["key"], 0) + 1
    _size_gb(rows)
    for row in rows:
        row["instances"] = counts.get(row["key"], 0)
        row["loaded"] = row["instances"] > 0
    return pd.DataFrame(rows, columns=DOWNLOADED_COLUMNS)


def table() -> pd.DataFrame:
    """The ``%lms_models`` view: one row per downloaded model (loaded first, LLMs before
    embedding models), indexed by key,
    in words people read — sizes like ``4.7 GB``, ``✓`` for loaded, the loaded context and TTL,
    and ``instances`` only where an instance is not simply named after its model."""
    conn = get_connection()
    insts: dict[str, list[dict[str, Any]]] = {}
    for inst in _with_ttl(conn.list_loaded(), complete=True):
        insts.setdefault(inst["key"], []).append(inst)
    rows = []
    for row in conn.list_downloaded():
        key, mine = row["key"], insts.get(row["key"], [])
        idents = [str(i["identifier"]) for i in mine]
        rows.append({
            "model": key, "type": row.get("type"), "params": row.get("params") or "",
            "size": human.size(row.get("size_bytes")),
            "max_context": human.number(row.get("max_context_length")),
            "loaded": ("✓" if len(mine) == 1 else f"✓ ×{len(mine)}") if mine else "",
            "context": ", ".join(human.number(i.get("context_length")) for i in mine),
            "ttl": ", ".join(human.duration(i["ttl"]) or "–" for i in mine)
                   if any(i["ttl"] for i in mine) else "",
            "instances": "" if idents in ([], [key]) else ", ".join(idents),
        })
    rows.sort(key=lambda r: (not r["loaded"], r["type"] != "llm", r["model"]))
    return pd.DataFrame(rows, columns=["model", *TABLE_COLUMNS]).set_index("model")


def load(key: str, *, identifier: str | None = None, new_instance: bool = False,
         ttl: int | str | None = None, context_length: int | None = None,
         gpu: float | str | None = None, config: Mapping[str, Any] | None = None,
         progress: bool = True, on_progress: Callable[[float], None] | None = None
         ) -> dict[str, Any]:
    """Load ``key`` (no-op if loaded, unless ``new_instance``) and return the instance info.

    The load is LM Studio's explicit one, so its auto-evict never unloads the model for a
    model that a request later loads just in time.

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
    _remember_ttl(info.get("identifier"), ttl)
    info["ttl"] = _ttls.get((get_connection().host, str(info.get("identifier"))))
    if bar.bar is not None:
        bar.finish(loaded_line(key, info))
    elif bar.enabled:  # no load happened: say so rather than nothing
        print(loaded_line(key, info, verb="already loaded:"))
    return info


def loaded_line(key: str, info: Mapping[str, Any], *, verb: str = "loaded") -> str:
    """``loaded qwen2.5-7b-instruct (context 8,192, TTL 10 min)`` — what a finished load says."""
    ident = info.get("identifier")
    name = key if ident in (None, key) else f"{key} as {ident}"
    ttl = human.duration(info.get("ttl"))
    return (f"{verb} {name} (context {human.number(info.get('context_length')) or '?'}"
            f"{f', TTL {ttl}' if ttl else ''})")


def unload(identifier: str) -> None:
    """Unload one instance (identifier or model key)."""
    conn = get_connection()
    conn.unload(identifier)
    _with_ttl(conn.list_loaded(), complete=True)  # forget the TTL of what is gone


def unload_all(kind: str | None = None) -> list[str]:
    """Unload every loaded instance (of ``kind``); returns their identifiers."""
    conn = get_connection()
    ids = [r["identifier"] for r in (conn.list_loaded(kind) if kind else conn.list_loaded())]
    for ident in ids:
        conn.unload(ident)
        _ttls.pop((conn.host, str(ident)), None)
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
    inst = conn.load(key, ttl=ttl)
    _remember_ttl(inst.get("identifier"), ttl)
    return {**inst, "ttl": parse_ttl(ttl)}


def info(identifier: str | None = None) -> dict[str, Any]:
    """Info of a loaded instance (default: the default LLM), with the ``ttl`` set through lmsnb."""
    conn = get_connection()
    return _with_ttl([conn.model_info(identifier or conn.default_model("llm"))])[0]


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
