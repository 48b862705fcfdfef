"""The indexing pipeline: documents -> chunks -> graph -> communities -> reports -> embeddings.

``build_index`` is the one entry point (``update_index`` re-uses it for new documents). Each
stage is a small function from the modules beside this one; this file only wires them together,
owns the settings, and accounts for every call (``idx.stats``).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import replace
from typing import Any

import pandas as pd

from ..errors import ConfigError, GraphIndexError, PredictionError
from .cache import DEFAULT_CACHE_DIR, CachedChat, CachedEmbedder, DiskCache
from .chunking import check_chunking, chunk_documents
from .communities import MAX_CLUSTER_SIZE, SEED, create_communities
from .embed_index import EmbeddingJobs, embed_index
from .extract import (
    DEFAULT_ENTITY_TYPES,
    ParseResult,
    check_prompt_overrides,
    extraction_messages,
    gleaning_messages,
    load_prompt,
    missed_candidates,
    needs_gleaning,
    parse_records,
)
from .fast import (
    build_cooccurrence_graph,
    candidate_names,
    describe_entities,
    describe_relationship,
)
from .index import GraphIndex
from .inputs import OPTIONS as INPUT_OPTIONS
from .inputs import InputReport, load_documents
from .llm import ChatModel, Embedder, resolve_chat, resolve_embedder
from .progress import Accounting, Progress
from .scheduler import Scheduler, check_concurrency, describe_and_report
from .summarize import most_common
from .tokens import TokenCounter, estimate_tokens

_NS = uuid.UUID("6c6d736e-6272-4167-8000-000000000000")  # uuid5 namespace: stable ids per title


def _defaults(method: str) -> tuple[int, int]:
    # The fast method builds its graph from co-occurrence inside a chunk, so it wants small
    # chunks (GraphRAG's docs suggest 50-100 tokens); 300/30 keeps basic search context useful.
    return (1200, 100) if method == "standard" else (300, 30)


def build_index(docs: Any, llm: str | ChatModel | None = None,
                embedding_model: str | Embedder | None | bool = None, method: str = "standard", *,
                chunk_size: int | None = None, chunk_overlap: int | None = None,
                entity_types: tuple[str, ...] | list[str] = DEFAULT_ENTITY_TYPES,
                gleaning: str = "auto", prompts: dict[str, str] | str | None = None,
                cache_dir: Any = DEFAULT_CACHE_DIR, concurrency: int | str = "auto", retries: int = 3,
                retry_backoff: float = 1.0, progress: Any = True, manage_models: bool = False,
                model_ttl: int = 600, max_cluster_size: int = MAX_CLUSTER_SIZE, seed: int = SEED,
                use_lcc: bool = True, summary_threshold_tokens: int = 200,
                summary_max_length: int = 500, report_max_input_tokens: int = 8000,
                report_max_length: int = 2000, live: Any = False,
                include: Any = None, exclude: Any = None, text_column: str | None = None,
                title_column: str | None = None, encoding: str | None = None,
                _previous: GraphIndex | None = None,
                _loaded: tuple[pd.DataFrame, InputReport] | None = None) -> GraphIndex:
    """Build a GraphRAG index from ``docs``: texts, paths, glob patterns, folders, DataFrames.

    ``docs`` and ``include``, ``exclude``, ``text_column``, ``title_column``, ``encoding`` are
    read by :func:`lmsnb.graphrag.inputs.load_documents` (formats, patterns, which column holds
    the text); the build prints which files it took and which it skipped and why, and keeps that
    in ``idx.meta["inputs"]``; ``idx.documents["source"]`` is the file each document came from.

    ``llm``: a model key (LM Studio), a :class:`ChatModel`, or None (standard: the first loaded
    LLM; fast: no LLM, extractive reports). ``embedding_model``: a key, an :class:`Embedder`,
    None (offline :class:`LocalEmbedder`) or False (no embeddings). ``gleaning``: "auto" (a second
    pass only when the first looks incomplete), "always" (GraphRAG's default) or "never".
    Every LLM call is cached under ``cache_dir`` so an interrupted build resumes for free.
    ``live=True`` shows the graph growing as chunks are extracted (a ``lmsnb.graphview.LiveGraph``
    in the notebook; pass your own ``LiveGraph`` to place it yourself).
    ``concurrency``: "auto" keeps every model slot busy (as many calls in flight as each LM
    Studio host runs at once, learned while building; 4 for a model object of your own), or
    calls in flight per host.
    """
    check_concurrency(concurrency)
    if method not in ("standard", "fast"):
        raise ConfigError(f"Unknown method {method!r}", hint="use 'standard' or 'fast'")
    if gleaning not in ("auto", "always", "never"):
        raise ConfigError(f"Unknown gleaning mode {gleaning!r}", hint="use 'auto', 'always' or 'never'")
    check_prompt_overrides(prompts)
    size, overlap = _defaults(method)
    size = chunk_size if chunk_size is not None else size
    overlap = chunk_overlap if chunk_overlap is not None else overlap
    check_chunking(size, overlap)
    llm_key = llm if isinstance(llm, str) else None
    emb_key = embedding_model if isinstance(embedding_model, str) else None
    chat_model = resolve_chat(llm)
    if chat_model is None and method == "standard":
        from .llm import LMStudioChat

        chat_model = LMStudioChat(None)
    embedder = resolve_embedder(embedding_model)

    t_start = time.perf_counter()
    acc = Accounting()
    prog = Progress(progress)
    prog.hosts = acc.host_calls
    cache = DiskCache(cache_dir)
    chat = CachedChat(chat_model, cache, acc, retries, retry_backoff) if chat_model else None
    sched = Scheduler([chat_model], concurrency)
    loaded: list[str] = []
    if manage_models and llm_key:
        loaded.append(_load(llm_key, model_ttl))
    # Embeddings run beside the LLM stages, unless the two models must take turns.
    jobs = (EmbeddingJobs(CachedEmbedder(embedder, cache, acc, retries, retry_backoff), sched,
                          prog, acc) if embedder is not None and not manage_models else None)

    # -- documents and chunks -------------------------------------------------------------
    t0 = time.perf_counter()
    documents, report = _loaded or load_documents(
        docs, include=include, exclude=exclude, text_column=text_column,
        title_column=title_column, encoding=encoding)
    if _previous is None and not len(documents):
        raise report.no_text_error()
    if progress and not callable(progress):
        for line in report.lines():
            print(f"[lmsnb.graphrag] {line}")
    counter = TokenCounter(_exact_counter(chat_model))
    text_units = chunk_documents(documents, size, overlap, counter)
    if _previous is not None:
        documents, text_units, new_units = _merge_chunks(_previous, documents, text_units)
    else:
        new_units = text_units
    acc.wall("chunking", time.perf_counter() - t0)
    if jobs is not None:
        jobs.add("text_unit_text", list(text_units["id"]), list(text_units["text"]))

    parse_report: dict[str, Any] = {}
    if method == "standard":
        assert chat is not None
        on_chunk = _live_feed(live)
        records = _extract(chat, new_units, entity_types, gleaning, prompts, sched, prog,
                           acc, parse_report, on_chunk)
        if on_chunk is not None:
            on_chunk(None)
        entities, relationships = _merge_records(records, _previous)
    else:
        t0 = time.perf_counter()
        entities, relationships = _fast_graph(text_units)
        acc.wall("extract_graph_nlp", time.perf_counter() - t0)

    mode = "graph" if method == "standard" else "text"
    failures: list[str] = []
    entities, relationships, text_units, communities, reports = describe_and_report(
        sched, entities, relationships, text_units, finalize=_finalize,
        cluster=lambda e, r: create_communities(e, r, max_cluster_size=max_cluster_size,
                                                use_lcc=use_lcc, seed=seed),
        chat=chat,
        summary_template=(load_prompt("summarize_descriptions", prompts)
                          if method == "standard" else None),
        summary_kw={"max_length": summary_max_length,
                    "threshold_tokens": summary_threshold_tokens},
        report_template=load_prompt("community_report" if mode == "graph"
                                    else "community_report_text", prompts),
        report_kw={"mode": mode, "max_input_tokens": report_max_input_tokens,
                   "max_length": report_max_length},
        prog=prog, acc=acc, failures=failures,
        on_described=(None if jobs is None else lambda e: jobs.add(
            "entity_description", list(e["id"]),
            [f"{t}:{d}" for t, d in zip(e["title"], e["description"], strict=True)])))
    if failures:
        parse_report["unusable_reports"] = len(failures)
        parse_report["unusable_report_samples"] = failures[:5]

    idx = GraphIndex(documents=documents, text_units=text_units, entities=entities,
                     relationships=relationships, communities=communities,
                     community_reports=reports)
    if jobs is not None:
        jobs.add("community_full_content", list(reports["id"]), list(reports["full_content"]))
        jobs.finish(idx)
    elif embedder is not None:
        if manage_models and llm_key and loaded:
            _unload(loaded.pop())
        if manage_models and emb_key:
            loaded.append(_load(emb_key, model_ttl))
        embed_index(idx, embedder, cache_dir=cache_dir, concurrency=concurrency, retries=retries,
                    retry_backoff=retry_backoff, progress=progress, accounting=acc)
    sched.close()
    acc.wall("total", 0.0)
    stats = acc.table()
    stats = stats[stats["stage"] != "total"]
    idx.stats = _with_total(stats, time.perf_counter() - t_start)
    idx.meta = {
        "method": method, "llm": getattr(chat_model, "key", None) if chat_model else None,
        "token_counter": counter.source, "parse_report": parse_report, "hosts": acc.hosts(),
        "inputs": report.to_dict(),
        "settings": {"chunk_size": size, "chunk_overlap": overlap,
                     "entity_types": list(entity_types), "gleaning": gleaning,
                     "max_cluster_size": max_cluster_size, "seed": seed, "use_lcc": use_lcc,
                     "summary_threshold_tokens": summary_threshold_tokens,
                     "summary_max_length": summary_max_length,
                     "report_max_input_tokens": report_max_input_tokens,
                     "report_max_length": report_max_length},
    }
    if progress:
        _print_summary(idx, progress)
    return idx


def update_index(index: GraphIndex, new_docs: Any, **kw: Any) -> GraphIndex:
    """Add ``new_docs`` to ``index`` without a full rebuild (see :meth:`GraphIndex.update`).

    Only chunks not already in the index are extracted; existing entities keep their ids and
    descriptions (new descriptions are merged in); communities are re-clustered on the whole
    graph and reports/embeddings come from the cache wherever their input did not change.
    """
    import inspect

    known = set(inspect.signature(build_index).parameters) - {"docs", "_previous", "_loaded"}
    for key in kw:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, sorted(known), n=1)
            raise ConfigError(f"Unknown update() argument {key!r}",
                              hint=f"did you mean {close[0]!r}?" if close else
                              "see help(lmsnb.graphrag.build_index) for the arguments")
    if not isinstance(index, GraphIndex):
        raise GraphIndexError(f"Cannot update a {type(index).__name__}",
                              hint="pass a GraphIndex (build_index or GraphIndex.from_parquet)")
    new, report = load_documents(new_docs, **{k: kw.pop(k) for k in INPUT_OPTIONS if k in kw})
    already = new["id"].isin(set(index.documents["id"].astype(str)))
    if already.any():
        report.leave_out(already.tolist(), "already in the index")
        new = new[~already].reset_index(drop=True)
    harmless = {"llm", "progress", "cache_dir", "concurrency", "retries", "retry_backoff",
                "manage_models", "model_ttl", "live"}
    if not set(kw) - harmless and not len(new):
        if kw.get("progress", True) and not callable(kw.get("progress")):
            print("[lmsnb.graphrag] nothing to update: every document is already in the index")
        return replace(index, meta=dict(index.meta), embeddings=dict(index.embeddings))
    settings = dict(index.meta.get("settings", {}))
    method = kw.pop("method", index.meta.get("method", "standard"))
    kw.setdefault("llm", index.meta.get("llm"))
    kw.setdefault("embedding_model", index.embedding_model if index.embeddings else False)
    for k in ("chunk_size", "chunk_overlap", "entity_types", "gleaning", "max_cluster_size",
              "seed", "use_lcc"):
        if k in settings:
            kw.setdefault(k, settings[k])
    if method == "fast":  # the co-occurrence graph is cheap: rebuild it from all documents
        docs, _ = load_documents(pd.concat([index.documents, new], ignore_index=True))
        return build_index(None, method="fast", _loaded=(docs, report), **kw)
    return build_index(None, method=method, _previous=index, _loaded=(new, report), **kw)


# -- extraction ----------------------------------------------------------------------------


def _live_feed(live: Any) -> Any:
    """A per-chunk callback feeding a live graph view (None: no live view)."""
    if not live:
        return None
    import threading

    if live is True:
        from IPython.display import display

        from ..graphview import LiveGraph

        live = LiveGraph()
        display(live.view)
    lock = threading.Lock()

    def feed(res: ParseResult | None) -> None:
        with lock:  # extraction runs on a thread pool; the view is fed one batch at a time
            if res is None:
                live.close()
            elif res.entities or res.relationships:
                live.add(pd.DataFrame(res.entities) if res.entities else None,
                         pd.DataFrame(res.relationships) if res.relationships else None)

    return feed


def _extract(chat: CachedChat, units: pd.DataFrame, entity_types: Any, gleaning: str,
             prompts: Any, sched: Scheduler, prog: Progress, acc: Accounting,
             report: dict[str, Any], on_chunk: Any = None) -> list[tuple[str, ParseResult]]:
    first_t = load_prompt("extract_graph", prompts)
    glean_t = load_prompt("extract_graph_glean", prompts)
    stage = prog.stage("extract_graph", len(units))

    def one(row: tuple[str, str]) -> tuple[str, ParseResult]:
        uid, text = row
        c = chat.complete("extract_graph", extraction_messages(first_t, text, entity_types))
        res = parse_records(c.text)
        res.raw = c.text
        cands = candidate_names(text)
        if gleaning == "always" or (gleaning == "auto" and
                                    needs_gleaning(res, cands, c.finish_reason)):
            known = sorted({e["title"] for e in res.entities})
            missed = missed_candidates(res, cands)
            g = chat.complete("gleaning", gleaning_messages(glean_t, text, entity_types, known,
                                                             missed[:15]))
            res.extend(parse_records(g.text))
        if on_chunk is not None:
            on_chunk(res)
        return uid, res

    results = sched.map(one, list(zip(units["id"], units["text"], strict=True)), stage)
    acc.wall("extract_graph", stage.finish())
    usable = [r for _, r in results if r.n_records or r.complete]
    if results and not usable:  # not one reply looked like the extraction format
        sample = results[0][1].raw[:200] if results[0][1].raw is not None else ""
        raise PredictionError(
            f"The model {getattr(chat.model, 'key', '?')!r} gave no usable extraction output for "
            f"any of the {len(results)} chunks (first reply: {sample!r})",
            hint="the model does not follow GraphRAG's record format: use a larger instruction "
                 "model, check any prompts you passed, or build with method='fast' (no LLM); "
                 "replies are cached, so clear cache_dir if you fix the same model's settings")
    report.update(records=sum(r.n_records for _, r in results),
                  entities=sum(len(r.entities) for _, r in results),
                  relationships=sum(len(r.relationships) for _, r in results),
                  repaired=sum(r.repaired for _, r in results),
                  unparsed=sum(len(r.unparsed) for _, r in results),
                  unparsed_samples=[u for _, r in results for u in r.unparsed][:10])
    if report["unparsed"] and prog.enabled:
        print(f"[lmsnb.graphrag] {report['unparsed']} extraction records could not be parsed "
              f"(kept {report['records']}, {report['repaired']} after repair); "
              "see idx.meta['parse_report']")
    return results


def _merge_records(results: list[tuple[str, ParseResult]], previous: GraphIndex | None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge records across chunks: entities by title, relationships by (source, target)."""
    ents: dict[str, dict[str, Any]] = {}
    rels: dict[tuple[str, str], dict[str, Any]] = {}
    if previous is not None:
        for _, e in previous.entities.iterrows():
            ents[e["title"]] = {"title": e["title"], "types": [e["type"]], "id": e["id"],
                                "descriptions": [e["description"]] if e["description"] else [],
                                "text_unit_ids": list(e["text_unit_ids"])}
        for _, r in previous.relationships.iterrows():
            rels[(r["source"], r["target"])] = {
                "source": r["source"], "target": r["target"], "id": r["id"],
                "descriptions": [r["description"]] if r["description"] else [],
                "weight": float(r["weight"]), "text_unit_ids": list(r["text_unit_ids"])}
    for uid, res in results:
        for e in res.entities:
            d = ents.setdefault(e["title"], {"title": e["title"], "types": [], "descriptions": [],
                                             "text_unit_ids": []})
            d["types"].append(e["type"])
            d["descriptions"].append(e["description"])
            if uid not in d["text_unit_ids"]:
                d["text_unit_ids"].append(uid)
        for r in res.relationships:
            if r["source"] == r["target"]:
                continue
            d = rels.setdefault((r["source"], r["target"]),
                                {"source": r["source"], "target": r["target"], "descriptions": [],
                                 "weight": 0.0, "text_unit_ids": []})
            d["descriptions"].append(r["description"])
            d["weight"] += float(r["weight"])
            if uid not in d["text_unit_ids"]:
                d["text_unit_ids"].append(uid)
            for end in (r["source"], r["target"]):  # endpoints the model forgot to list
                if end not in ents:
                    ents[end] = {"title": end, "types": [], "descriptions": [],
                                 "text_unit_ids": []}
                if uid not in ents[end]["text_unit_ids"]:
                    ents[end]["text_unit_ids"].append(uid)
    e_df = pd.DataFrame([{"id": v.get("id"), "title": k, "type": most_common(v["types"]),
                          "descriptions": v["descriptions"], "text_unit_ids": v["text_unit_ids"]}
                         for k, v in ents.items()],
                        columns=["id", "title", "type", "descriptions", "text_unit_ids"])
    r_df = pd.DataFrame([{"id": v.get("id"), "source": v["source"], "target": v["target"],
                          "descriptions": v["descriptions"], "weight": v["weight"],
                          "text_unit_ids": v["text_unit_ids"]} for v in rels.values()],
                        columns=["id", "source", "target", "descriptions", "weight",
                                 "text_unit_ids"])
    return e_df, r_df


def _fast_graph(text_units: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    nodes, edges = build_cooccurrence_graph(text_units)
    nodes = nodes.assign(id=None, description=describe_entities(nodes, text_units))
    text_of = dict(zip(text_units["id"], text_units["text"], strict=True))
    edges = edges.assign(id=None, description=[
        describe_relationship(s, t, list(u), text_of) for s, t, u in
        zip(edges["source"], edges["target"], edges["text_unit_ids"], strict=True)])
    return nodes, edges


def _finalize(entities: pd.DataFrame, relationships: pd.DataFrame, text_units: pd.DataFrame
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Ids, human-readable ids, degrees and the text-unit back-references (GraphRAG columns)."""
    deg: Counter[str] = Counter()
    for s, t in {tuple(sorted(p)) for p in zip(relationships["source"], relationships["target"],
                                                strict=True)}:
        deg[s] += 1
        deg[t] += 1
    e = pd.DataFrame({
        "id": [i if isinstance(i, str) and i else str(uuid.uuid5(_NS, t))
               for i, t in zip(entities["id"], entities["title"], strict=True)],
        "human_readable_id": range(len(entities)),
        "title": entities["title"].astype(str).to_numpy(),
        "type": entities["type"].fillna("").astype(str).to_numpy(),
        "description": entities["description"].fillna("").astype(str).to_numpy(),
        "text_unit_ids": [list(x) for x in entities["text_unit_ids"]],
        "frequency": [len(x) for x in entities["text_unit_ids"]],
        "degree": [deg.get(t, 0) for t in entities["title"]],
    })
    r = pd.DataFrame({
        "id": [i if isinstance(i, str) and i else str(uuid.uuid5(_NS, f"{s}\x00{t}"))
               for i, s, t in zip(relationships["id"], relationships["source"],
                                  relationships["target"], strict=True)],
        "human_readable_id": range(len(relationships)),
        "source": relationships["source"].astype(str).to_numpy(),
        "target": relationships["target"].astype(str).to_numpy(),
        "description": relationships["description"].fillna("").astype(str).to_numpy(),
        "weight": relationships["weight"].astype("float64").to_numpy(),
        "combined_degree": [deg.get(s, 0) + deg.get(t, 0) for s, t in
                            zip(relationships["source"], relationships["target"], strict=True)],
        "text_unit_ids": [list(x) for x in relationships["text_unit_ids"]],
    })
    for df, cols in ((e, ("human_readable_id", "frequency", "degree")),
                     (r, ("human_readable_id", "combined_degree"))):
        for c in cols:
            df[c] = df[c].astype("int64")
    ent_by_unit: dict[str, list[str]] = {}
    for eid, units in zip(e["id"], e["text_unit_ids"], strict=True):
        for u in units:
            ent_by_unit.setdefault(u, []).append(eid)
    rel_by_unit: dict[str, list[str]] = {}
    for rid, units in zip(r["id"], r["text_unit_ids"], strict=True):
        for u in units:
            rel_by_unit.setdefault(u, []).append(rid)
    tu = text_units.copy()
    tu["entity_ids"] = [ent_by_unit.get(u, []) for u in tu["id"]]
    tu["relationship_ids"] = [rel_by_unit.get(u, []) for u in tu["id"]]
    return e, r, tu


def _merge_chunks(previous: GraphIndex, documents: pd.DataFrame, text_units: pd.DataFrame
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Append new documents/chunks to the previous tables; return only the new chunks too."""
    old_docs = set(previous.documents["id"])
    documents = documents[~documents["id"].isin(old_docs)]
    new_units = text_units[~text_units["id"].isin(set(previous.text_units["id"]))]
    new_units = new_units[new_units["document_id"].isin(set(documents["id"]))]
    docs = pd.concat([previous.documents, documents], ignore_index=True)
    docs["human_readable_id"] = range(len(docs))
    units = pd.concat([previous.text_units, new_units], ignore_index=True)
    units["human_readable_id"] = range(len(units))
    units["text_unit_ids"] = None
    units = units.drop(columns="text_unit_ids")
    return docs, units, new_units.reset_index(drop=True)


# -- helpers ---------------------------------------------------------------------------------


def _exact_counter(model: Any) -> Any:
    from .llm import LMStudioChat

    if isinstance(model, LMStudioChat):
        return model.count_tokens
    return None


def _load(key: str, ttl: int) -> str:
    from ..client import get_connection

    info = get_connection().load(key, ttl=ttl)
    return str((info or {}).get("identifier", key))


def _unload(identifier: str) -> None:
    from ..client import get_connection

    try:
        get_connection().unload(identifier)
    except Exception:  # already gone (TTL): nothing to free
        pass


def _with_total(stats: pd.DataFrame, wall: float) -> pd.DataFrame:
    total = stats.drop(columns="stage").sum(numeric_only=True).to_dict()
    total["seconds"] = round(wall, 3)
    out = pd.concat([stats, pd.DataFrame([{"stage": "total", **total}])], ignore_index=True)
    for c in ("calls", "cached_calls", "retries", "prompt_tokens", "completion_tokens"):
        out[c] = out[c].fillna(0).astype("int64")
    return out


def _print_summary(idx: GraphIndex, progress: Any) -> None:
    if callable(progress):
        return
    s = idx.stats
    tot = s[s["stage"] == "total"].iloc[0]
    print(f"[lmsnb.graphrag] index built: {len(idx.entities)} entities, "
          f"{len(idx.relationships)} relationships, {len(idx.communities)} communities; "
          f"{int(tot['calls'])} calls ({int(tot['cached_calls'])} cached), "
          f"{int(tot['prompt_tokens'])} prompt + {int(tot['completion_tokens'])} completion "
          f"tokens, {tot['seconds']:.1f} s — details in idx.stats")
    hosts = idx.meta.get("hosts") or []
    if len(hosts) > 1:
        print("[lmsnb.graphrag] by host: " + "; ".join(
            f"{h['host']} {h['calls'] - h['lost']} calls" + (f" ({h['lost']} lost when it went "
                                                             "down, run elsewhere)" if h["lost"]
                                                             else "") for h in hosts)
              + " — idx.meta['hosts']")


# -- estimate --------------------------------------------------------------------------------


def estimate(docs: Any, llm: str | ChatModel | None = None, method: str = "standard", *,
             chunk_size: int | None = None, chunk_overlap: int | None = None,
             gleaning: str = "auto", prompts: Any = None, include: Any = None,
             exclude: Any = None, text_column: str | None = None,
             title_column: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Before a run: expected calls and tokens per stage (a small DataFrame).

    Chunking is exact (it is local); the rest uses ratios measured on the simulator's GraphRAG
    behaviour and GraphRAG's baseline: ~10 entities per 1,200-token chunk, gleaning on about half
    of the chunks in "auto" mode, one description summary per ~3 chunks, ~1.2 communities per
    chunk. Treat it as an order of magnitude, not a quote.
    """
    if method not in ("standard", "fast"):
        raise ConfigError(f"Unknown method {method!r}", hint="use 'standard' or 'fast'")
    if gleaning not in ("auto", "always", "never"):
        raise ConfigError(f"Unknown gleaning mode {gleaning!r}", hint="use 'auto', 'always' or 'never'")
    size, overlap = _defaults(method)
    size = chunk_size if chunk_size is not None else size
    overlap = chunk_overlap if chunk_overlap is not None else overlap
    check_chunking(size, overlap)
    documents, _ = load_documents(docs, include=include, exclude=exclude,
                                  text_column=text_column, title_column=title_column,
                                  encoding=encoding)
    units = chunk_documents(documents, size, overlap, TokenCounter())
    n = len(units)
    chunk_tokens = int(units["n_tokens"].sum())
    corpus = int(sum(estimate_tokens(t) for t in documents["text"]))
    rows = []
    scale = size / 1200
    n_reports = max(1, round(1.2 * n * max(scale, 0.25)))
    if method == "standard":
        p_extract = estimate_tokens(load_prompt("extract_graph", prompts))
        p_glean = estimate_tokens(load_prompt("extract_graph_glean", prompts))
        glean_share = {"auto": 0.5, "always": 1.0, "never": 0.0}[gleaning]
        rows.append(("extract_graph", n, n * p_extract + chunk_tokens, int(0.9 * chunk_tokens)))
        g = round(n * glean_share)
        rows.append(("gleaning", g, g * (p_glean + 150) + int(chunk_tokens * glean_share),
                     g * 250))
        s = max(0, round(n / 3))
        rows.append(("summarize_descriptions", s, s * 350, s * 100))
        p_report = estimate_tokens(load_prompt("community_report", prompts))
        rows.append(("community_reports", n_reports, n_reports * (p_report + 1500),
                     n_reports * 700))
        n_entities = 10 * n
    else:
        n_entities = 5 * n
        if llm is not None:
            p_report = estimate_tokens(load_prompt("community_report_text", prompts))
            n_reports = max(1, n // 5)
            rows.append(("community_reports", n_reports, n_reports * (p_report + 2500),
                         n_reports * 700))
    texts = n_entities + n + n_reports
    rows.append(("embeddings", -(-texts // 16), int(texts * 60 + chunk_tokens), 0))
    df = pd.DataFrame(rows, columns=["stage", "calls", "prompt_tokens", "completion_tokens"])
    total = df.drop(columns="stage").sum().to_dict()
    df = pd.concat([df, pd.DataFrame([{"stage": "total", **total}])], ignore_index=True)
    df.attrs.update(corpus_tokens=corpus, chunks=n, chunk_tokens=chunk_tokens)
    return df
