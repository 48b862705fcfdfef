"""lmsnb.sim — a local LM Studio simulator for tests, CI, tutorials and offline notebooks.

It speaks LM Studio's real websocket protocol (what the ``lmstudio`` SDK uses) and the
OpenAI-compatible REST API on one port::

    from lmsnb.sim import Simulator
    with Simulator() as sim:                       # port=0: any free port
        client = lmstudio.Client(sim.host)         # "127.0.0.1:PORT"
        sim.set_behaviour("lorem")                 # or any f(SimRequest) -> str | Iterable | ToolCalls
        sim.set_embedder(lambda text: [...])       # embeddings from your own function
        sim.inject("drop", "predict", after=3)     # fault injection
        sim.counters["llm.predict"].generated_tokens
        sim.counters.predictions("qwen2.5-7b-instruct").max_running   # the per-model queue

Like LM Studio, each loaded LLM runs at most N predictions at once (``max_concurrent_predictions``:
4 for GGUF, 1 for MLX by default) and queues the rest silently; a JIT load evicts the models loaded
JIT before it; a prompt longer than the loaded context is refused.

Command line: ``python -m lmsnb.sim --port 1234 [--catalogue FILE] [--model KEY,FIELD=VALUE]``.

Only :mod:`lmsnb.sim.lexical` (pure numpy) is meant to be imported by the rest of lmsnb outside
tests; the names below are imported lazily so that importing it stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Simulator",
    "Timing",
    "Counters",
    "ModelSpec",
    "Catalogue",
    "default_models",
    "SimRequest",
    "ToolCall",
    "ToolCalls",
    "BEHAVIOURS",
    "echo",
    "lorem",
    "scripted",
    "schema_instance",
    "Fault",
    "SimError",
    "PredictionCounts",
    "StoredFile",
    "read_catalogue",
    "CatalogueError",
]

_WHERE = {
    "Simulator": "server",
    "Timing": "timing",
    "Counters": "timing",
    "ModelSpec": "catalogue",
    "Catalogue": "catalogue",
    "default_models": "catalogue",
    "SimRequest": "behaviours",
    "ToolCall": "behaviours",
    "ToolCalls": "behaviours",
    "BEHAVIOURS": "behaviours",
    "echo": "behaviours",
    "lorem": "behaviours",
    "scripted": "behaviours",
    "schema_instance": "behaviours",
    "Fault": "faults",
    "SimError": "protocol",
    "PredictionCounts": "slots",
    "StoredFile": "files",
    "read_catalogue": "config",
    "CatalogueError": "config",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
