"""Embeddings as numpy arrays: ``lmsnb.embed(texts)`` → float32 array (n × dim).

The SDK embeds one text per sequential RPC; ``Connection.embed`` keeps many in flight and
embeds duplicates once. Long lists show a progress bar. ``embed_df`` gives the DataFrame form
(``text`` + ``embedding``, the shape GraphRAG's embedding tables use).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .client import get_connection
from .errors import ConfigError

__all__ = ["embed", "embed_df"]

PROGRESS_FROM = 200  # show a bar for lists at least this long


def embed(texts: str | Iterable[str], model: str | None = None, *,
          progress: bool | None = None, normalize: bool = False) -> np.ndarray:
    """Embed one text (→ 1-D vector) or many (→ 2-D array, one row per text, same order).

    ``model`` defaults to the first loaded embedding model. ``normalize`` scales rows to unit
    length, so a dot product is the cosine similarity.
    """
    single = isinstance(texts, str)
    items = [texts] if single else _items(texts)
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        first = items[bad[0]]
        where = f" (item {bad[0]}" + (f" and {len(bad) - 1} more)" if len(bad) > 1 else ")")
        raise ConfigError(f"embed() takes strings, got {type(first).__name__}{where}",
                          hint="convert or drop them first, e.g. "
                               "df['text'].dropna().astype(str)")
    conn = get_connection()
    name = model or conn.default_model("embedding")
    if not items:
        return conn.embed(name, [])  # (0, dim)
    show = progress if progress is not None else len(items) >= PROGRESS_FROM
    from .widgets.progress import LazyProgress

    with LazyProgress(f"embedding {len(items)} texts", enabled=show) as bar:
        vectors = conn.embed(name, items, on_progress=bar)
    bar.finish(f"embedded {len(items):,} texts with {name} ({vectors.shape[0]:,} × "
               f"{vectors.shape[1]}) — {bar.seconds:.1f} s")
    if normalize:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1, norms)
    return vectors[0] if single else vectors


def _items(texts: Any) -> list[Any]:
    """The texts as a list; what is not a list of texts gets one clear error."""
    if isinstance(texts, pd.DataFrame):
        cols = [str(c) for c in texts.columns]
        raise ConfigError("embed() takes texts, not a whole DataFrame",
                          hint=f"pass one column, e.g. df[{cols[0] if cols else 'text'!r}]")
    if isinstance(texts, Mapping | bytes | bytearray) or not isinstance(texts, Iterable):
        raise ConfigError(f"embed() takes a string or a list of strings, got "
                          f"{type(texts).__name__}",
                          hint="e.g. lmsnb.embed(['first text', 'second text'])")
    return list(texts)


def embed_df(texts: str | Iterable[str], model: str | None = None, *,
             progress: bool | None = None) -> pd.DataFrame:
    """The DataFrame form: columns ``text`` and ``embedding`` (one float32 array per row)."""
    items = [texts] if isinstance(texts, str) else _items(texts)
    vectors = embed(items, model, progress=progress)
    return pd.DataFrame({"text": items, "embedding": list(vectors)})


class _CallableModule(types.ModuleType):
    """``lmsnb.embed(texts)`` works even after ``import lmsnb.embed`` bound the module name."""

    def __call__(self, texts: str | Iterable[str], model: str | None = None, **kwargs: object
                 ) -> np.ndarray:
        return embed(texts, model, **kwargs)  # type: ignore[arg-type]


sys.modules[__name__].__class__ = _CallableModule
