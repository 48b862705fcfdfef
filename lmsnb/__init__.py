"""lmsnb — LM Studio's local models in Jupyter.

``%load_ext lmsnb`` gives ``%%lms_chat``, ``%lms_models`` and ``%%graphrag_query``; the same
features are a Python API: ``lmsnb.chat``, ``lmsnb.embed``, ``lmsnb.models``, ``lmsnb.monitor``,
``lmsnb.graphrag`` and ``lmsnb.GraphView``. Everything talks to LM Studio through the official
``lmstudio`` SDK — or to ``lmsnb.sim``, a simulator of LM Studio for tests and tutorials.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import monitor as _monitor  # noqa: F401 - subscribes to every prediction's stats
from .client import connect, get_connection, get_timeout, set_timeout
from .errors import (
    Cancelled,
    ConfigError,
    ConnectionFailed,
    GraphIndexError,
    ImageError,
    LmsnbError,
    ModelNotFound,
    PredictionError,
    RequestTimeout,
)

__version__ = "0.1.0"

__all__ = [
    "Cancelled", "ConfigError", "ConnectionFailed", "GraphIndexError", "ImageError", "LmsnbError",
    "ModelNotFound", "PredictionError", "RequestTimeout", "connect", "get_connection",
    "get_timeout", "set_timeout", "load_ipython_extension", "__version__",
]

# Heavier pieces are imported on first use so ``import lmsnb`` stays fast.
_LAZY = {
    "chat": ("lmsnb.chat", None),
    "models": ("lmsnb.models", None),
    "embed": ("lmsnb.embed", None),  # a callable module: lmsnb.embed(texts)
    "monitor": ("lmsnb.monitor", None),  # a callable module: lmsnb.monitor()
    "Session": ("lmsnb.chat", "Session"),
    "graphrag": ("lmsnb.graphrag", None),
    "GraphView": ("lmsnb.graphview", "GraphView"),
    "GraphIndex": ("lmsnb.graphrag", "GraphIndex"),
    "build_index": ("lmsnb.graphrag", "build_index"),
    "sim": ("lmsnb.sim", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lmsnb' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext lmsnb``: register the chat, model and GraphRAG magics."""
    from . import magics, nesting
    from .graphrag import magic as graphrag_magic

    magics.register(ipython)
    graphrag_magic.register(ipython)
    nesting.register(ipython)  # one line if nest_asyncio 1.x is (or gets) applied
