"""GraphRAG on DataFrames: build an index from documents with local models, query it, save it.

```python
idx = lmsnb.graphrag.build_index(docs, llm="qwen2.5-7b-instruct",
                                 embedding_model="text-embedding-nomic-embed-text-v1.5")
idx.entities            # a plain DataFrame, Microsoft GraphRAG's columns
idx.to_parquet("out")   # a folder GraphRAG's own tools read
idx.query("Who is Scrooge?", method="local")   # local | global | basic | drift
```

Heavy modules load on first use so ``import lmsnb.graphrag`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from .index import GraphIndex

__all__ = ["GraphIndex", "build_index", "estimate", "load_documents", "embed_index",
           "LMStudioChat", "LMStudioEmbedder", "LocalEmbedder", "ChatModel", "Embedder",
           "Completion", "load_prompt", "run_query", "QueryResult", "QueryConfig",
           "ContextNotice"]

_LAZY = {
    "build_index": ".build", "estimate": ".build", "update_index": ".build",
    "embed_index": ".embed_index", "load_documents": ".inputs",
    "LMStudioChat": ".llm", "LMStudioEmbedder": ".llm", "LocalEmbedder": ".llm",
    "ChatModel": ".llm", "Embedder": ".llm", "Completion": ".llm",
    "load_prompt": ".extract", "ContextNotice": ".budget",
    "run_query": ".query", "QueryResult": ".query", "QueryConfig": ".query",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'lmsnb.graphrag' has no attribute {name!r}")
