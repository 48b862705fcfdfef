"""Query a :class:`~lmsnb.graphrag.GraphIndex`: local, global, basic and DRIFT search.

```python
res = idx.query("Who is Scrooge?", method="local")      # QueryResult
res.answer, res.context["entities"], res.citations, res.stats
res2 = res.follow_up("And how does he change?")         # conversation history carried over
for ev in idx.query("Main themes?", method="global", stream=True):  # lmsnb.events, ends in Done
    ...
```

Parameters (``QueryConfig``) default to Microsoft GraphRAG's; models default to the index's
embedding model and LM Studio's loaded LLM. Missing embeddings are computed on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ...errors import ConfigError, GraphIndexError
from .. import sanity
from ..budget import model_window
from ..tokens import estimate_tokens
from . import basic, drift, global_search, local
from .base import QueryRun, fit_query
from .params import ALIASES, FIELD_NAMES, METHODS, NO_DATA_ANSWER, QueryConfig, make_config
from .result import Context, QueryResult, QueryStream
from .vectors import ensure_embeddings

__all__ = ["run_query", "QueryConfig", "QueryResult", "QueryStream", "Context", "METHODS",
           "NO_DATA_ANSWER", "resolve_models"]

#: method -> (runner, embedding sets it searches)
_METHODS: dict[str, tuple[Callable[[QueryRun], Any], tuple[str, ...]]] = {
    "local": (local.run, ("entity_description",)),
    "global": (global_search.run, ()),
    "basic": (basic.run, ("text_unit_text",)),
    "drift": (drift.run, ("entity_description", "community_full_content")),
}


#: method -> the columns it reads, per table (a table loaded from an older or hand-made folder
#: may lack some: the query then fails with the list instead of deep inside pandas)
_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "local": {"entities": ("id", "human_readable_id", "title", "type", "description",
                           "text_unit_ids", "degree"),
              "relationships": ("id", "human_readable_id", "source", "target", "description",
                                "weight", "combined_degree", "text_unit_ids"),
              "text_units": ("id", "human_readable_id", "text"),
              "communities": ("community", "entity_ids"),
              "community_reports": ("id", "community", "level", "title", "summary",
                                    "full_content", "rank")},
    "global": {"communities": ("community", "text_unit_ids"),
               "community_reports": ("id", "community", "level", "title", "full_content",
                                     "rank")},
    "basic": {"text_units": ("id", "human_readable_id", "text")},
}
_COLUMNS["drift"] = _COLUMNS["local"]


def _check_index(index: Any, method: str, cfg: QueryConfig) -> None:
    if not all(hasattr(index, t) for t in ("entities", "text_units", "community_reports")):
        raise GraphIndexError(f"{type(index).__name__} is not a GraphIndex",
                              hint="load one with GraphIndex.from_parquet(folder) or build_index")
    problems = []
    needs = dict(_COLUMNS[method])
    if method in ("local", "drift") and getattr(index, "covariates", None) is not None \
            and cfg.include_claims:
        needs["covariates"] = ("id", "human_readable_id", "subject_id", "object_id", "type",
                               "status", "description")
    for table, cols in needs.items():
        df = getattr(index, table, None)
        if df is None or not isinstance(df, pd.DataFrame):
            problems.append(f"{table} is not a DataFrame")
            continue
        lacking = [c for c in cols if c not in df.columns]
        if lacking:
            problems.append(f"{table} lacks {', '.join(lacking)}")
    if problems:
        raise GraphIndexError(f"The index cannot be searched with method={method!r}: "
                              + "; ".join(problems),
                              hint="rebuild it, or add the missing GraphRAG columns "
                                   "(idx.validate() lists them all)")
    if method in ("local", "drift"):
        local.require_entities(index)
    if method in ("global", "drift"):
        global_search.require_reports(index, cfg.community_level)
    if method == "basic":
        basic.require_text_units(index)


def _check_level(index: Any, level: int) -> None:
    """A level asked for by name must exist: above the deepest one, every level is searched
    and the answer would not be at the level the person thinks (``--level 5`` on a one-level
    index). The default (2, GraphRAG's) is left alone."""
    table = getattr(index, "communities", None)
    if table is None or not len(table) or "level" not in table:
        table = getattr(index, "community_reports", None)
    if table is None or not len(table) or "level" not in table:
        return
    levels = sorted({int(x) for x in table["level"]})
    if level > levels[-1]:
        have = (f"level {levels[0]} only" if len(levels) == 1
                else f"levels {levels[0]}–{levels[-1]}")
        raise ConfigError(f"This index has no community level {level}: it has {have}",
                          hint=f"use --level {levels[-1]} (community_level={levels[-1]}), the "
                               "most detailed, or lower for broader communities")


def resolve_models(index: Any, *, chat: Any = None, model: Any = None, embedder: Any = None,
                   embedding_model: Any = None, need_embedder: bool = True) -> tuple[Any, Any]:
    """``(chat, embedder)`` from objects or model keys; defaults: LM Studio's loaded LLM, and the
    embedding model recorded with the index (else LM Studio's loaded embedding model)."""
    from ..llm import (
        LMStudioChat,
        LMStudioEmbedder,
        embedder_for_index,
        resolve_chat,
        resolve_embedder,
    )

    chat = chat if chat is not None else (resolve_chat(model) if model is not None
                                          else LMStudioChat(None))
    if not need_embedder:
        return chat, None
    emb = embedder if embedder is not None else embedding_model
    if emb is not None:
        emb = resolve_embedder(emb)
    else:
        emb = embedder_for_index(index) or LMStudioEmbedder(None)
    return chat, emb


def _samples(index: Any) -> list[str]:
    """Some of the index's own text in the shapes contexts carry (source text, reports,
    entity rows): the model's tokens per estimated token differ between them."""
    out = []
    for table, cols in (("text_units", ("text",)), ("community_reports", ("full_content",)),
                        ("entities", ("title", "description"))):
        df = getattr(index, table, None)
        if isinstance(df, pd.DataFrame) and set(cols) <= set(df.columns) and len(df):
            rows = df[list(cols)].head(30 if table == "entities" else 3).apply(sanity.text)
            out.append("\n".join("|".join(r) for r in rows.itertuples(index=False))[:12000])
    return out


def _history(history: Any) -> list[dict[str, str]]:
    if history is None:
        return []
    if isinstance(history, QueryResult):
        return list(history.history)
    out = []
    for m in history:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ConfigError("history must be a QueryResult or a list of "
                              "{'role': ..., 'content': ...} messages")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out


def run_query(index: Any, question: str, method: str = "local", *, chat: Any = None,
              model: Any = None, embedder: Any = None, embedding_model: Any = None,
              history: Any = None, stream: bool = False, progress: Any = True,
              config: QueryConfig | None = None, count_tokens: Callable[[str], int] | None = None,
              **params: Any) -> QueryResult | QueryStream:
    """Answer ``question`` from ``index`` with ``method`` (local, global, basic or drift).

    ``chat``/``model``: a ChatModel or an LM Studio model key (default: the loaded LLM).
    ``embedder``/``embedding_model``: an Embedder or key (default: the index's own model).
    ``history``: a previous :class:`QueryResult` or a list of chat messages.
    ``stream=True`` returns a :class:`QueryStream` (iterator of ``lmsnb.events`` ending in
    ``Done`` whose ``parsed`` is the result); otherwise the :class:`QueryResult`.
    ``params``: any :class:`QueryConfig` field (``community_level``, ``top_k_entities``,
    ``max_context_tokens``, ``response_type``, ``llm_config``, ...). Problems are raised before
    anything runs. Budgets are fitted into the model's loaded context (a budget you set higher
    is lowered with one :class:`~lmsnb.graphrag.budget.ContextNotice`).
    """
    method = str(method).lower().strip()
    if method not in _METHODS:
        import difflib

        close = difflib.get_close_matches(method, METHODS, n=1)
        raise ConfigError(f"Unknown query method {method!r}",
                          hint=f"did you mean {close[0]!r}?" if close else
                          f"use one of {', '.join(METHODS)}")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("The question is empty", hint="write the question to ask")
    cfg = make_config(config, **params)
    if {"community_level", "level"} & set(params):
        _check_level(index, cfg.community_level)
    _check_index(index, method, cfg)
    sanity.explain_once(index, "queries")  # one line, the first time, if rows are skipped
    runner, sets = _METHODS[method]
    chat, emb = resolve_models(index, chat=chat, model=model, embedder=embedder,
                               embedding_model=embedding_model, need_embedder=bool(sets))
    if emb is not None:
        from ..llm import load_named_models

        for key in load_named_models(chat, emb):
            if progress and not callable(progress):
                print(f"[lmsnb.graphrag] loaded {key}: LM Studio had not, and models loaded "
                      "just in time evict each other (unloads after 10 min idle)")
    window = model_window(chat, _samples(index))
    chosen = {ALIASES.get(k, k) for k in params}
    if config is not None:
        chosen |= {f for f in FIELD_NAMES if getattr(config, f) != getattr(QueryConfig(), f)}
    cfg, configs = fit_query(cfg, window, method, question, chosen)
    window.notify()
    q = QueryRun(index=index, question=question.strip(), method=method, cfg=cfg, chat=chat,
                 embedder=emb, history=_history(history), count=count_tokens or estimate_tokens,
                 streaming=stream, progress=progress, configs=configs, window=window)
    if sets:
        ensure_embeddings(index, sets, emb, log=q.log, progress=progress)
    s = QueryStream(lambda: runner(q), cancel=q.cancel)
    return s if stream else s.collect()
