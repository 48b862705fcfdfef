"""The indexing pipeline: documents -> chunks -> graph -> communities -> reports -> embeddings.

``build_index`` is the one entry point (``update_index`` re-uses it for new documents). Each
stage is a small function from the modules beside this one; this file only wires them together,
owns the settings, and accounts for every call (``idx.stats``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import pandas as pd

from ..errors import ConfigError, GraphIndexError
from . import sanity
from .budget import KNOWN_NAMES_TOKENS, model_window, plan_build
from .cache import DEFAULT_CACHE_DIR, CachedChat, CachedEmbedder, DiskCache
from .chunking import check_chunking, chunk_documents
from .communities import MAX_CLUSTER_SIZE, SEED, create_communities
from .edit import node_degrees
from .embed_index import EmbeddingJobs, embed_index
from .extract import (
    DEFAULT_ENTITY_TYPES,
    ParseResult,
    check_prompt_overrides,
    excerpt,
    expected_names,
    extraction_messages,
    gleaning_messages,
    load_prompt,
    missed_candidates,
    needs_gleaning,
    parse_reply,
)
from .fast import (
    build_cooccurrence_graph,
    candidate_names,
    describe_entities,
    describe_relationship,
)
from .giveup import GiveUp
from .index import GraphIndex
from .inputs import OPTIONS as INPUT_OPTIONS
from .inputs import InputReport, classify, load_documents
from .llm import (
    ChatModel,
    Embedder,
    default_embedder,
    load_named_models,
    resolve_chat,
    resolve_embedder,
)
from .progress import Accounting, Progress
from .reports import report_samples
from .scheduler import Scheduler, check_concurrency, describe_and_report
from .settings import ModelSettings, build_configs, check_model
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
                llm_config: dict[str, Any] | None = None, give_up_after: int | None = 3,
                _previous: GraphIndex | None = None,
                _loaded: tuple[pd.DataFrame, InputReport] | None = None,
                _embedder_source: str | None = None) -> GraphIndex:
    """Build a GraphRAG index from ``docs``: texts, paths, glob patterns, folders, DataFrames.

    ``docs`` and ``include``, ``exclude``, ``text_column``, ``title_column``, ``encoding`` are
    read by :func:`lmsnb.graphrag.inputs.load_documents` (formats, patterns, which column holds
    the text); the build prints which files it took and which it skipped and why, and keeps that
    in ``idx.meta["inputs"]``; ``idx.documents["source"]`` is the file each document came from.

    ``llm``: a model key (LM Studio), a :class:`ChatModel`, or None (standard: the first loaded
    LLM; fast: no LLM, extractive reports). ``embedding_model``: a key, an :class:`Embedder`,
    None (the embedding model loaded in LM Studio, as ``lmsnb.embed`` uses; the offline
    :class:`LocalEmbedder` when none is loaded or no server answers — the summary and
    ``idx.meta["embedder"]`` say which) or False (no embeddings). ``gleaning``: "auto" (a second
    pass only when the first looks incomplete), "always" (GraphRAG's default) or "never".
    Every LLM call is cached under ``cache_dir`` so an interrupted build resumes for free.
    ``live=True`` shows the graph growing as chunks are extracted (a ``lmsnb.graphview.LiveGraph``
    in the notebook; pass your own ``LiveGraph`` to place it yourself); the fast method has no
    chunks to watch, so its whole graph appears at once. At the end the view shows the finished
    index, coloured by community.
    ``concurrency``: "auto" keeps every model slot busy (as many calls in flight as each LM
    Studio host runs at once, learned while building; 4 for a model object of your own), or
    calls in flight per host.
    ``llm_config``: model settings for every LLM call (``{"temperature": 0, "maxTokens": …}``)
    with per-stage dicts (``extract``, ``glean``, ``summarize``, ``reports``); default:
    temperature 0 and a bounded answer per stage. Every prompt is fitted into the model's
    loaded context. ``give_up_after``: stop after that many chunks gave no records (and none
    did), with what the model answered; None never stops early.
    """
    check_concurrency(concurrency)
    if method not in ("standard", "fast"):
        raise ConfigError(f"Unknown method {method!r}", hint="use 'standard' or 'fast'")
    if gleaning not in ("auto", "always", "never"):
        raise ConfigError(f"Unknown gleaning mode {gleaning!r}", hint="use 'auto', 'always' or 'never'")
    check_prompt_overrides(prompts)
    settings = ModelSettings(llm_config, kind="build")
    if give_up_after is not None and (isinstance(give_up_after, bool) or not isinstance(
            give_up_after, int) or give_up_after < 0):
        raise ConfigError(f"give_up_after must be a number of chunks or None, not "
                          f"{give_up_after!r}", hint="e.g. give_up_after=3 (the default)")
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
    check_model(chat_model, settings)
    embedder, embedder_source = _embedder(embedding_model)
    embedder_source = _embedder_source or embedder_source
    if not manage_models:
        for key in load_named_models(chat_model, embedder, ttl=model_ttl):
            if progress and not callable(progress):
                print(f"[lmsnb.graphrag] loaded {key} for the build: LM Studio had not, and "
                      f"models loaded just in time evict each other (unloads after "
                      f"{model_ttl // 60} min idle)")

    t_start = time.perf_counter()
    acc = Accounting()
    prog = Progress(progress)
    prog.hosts = acc.host_calls
    cache = DiskCache(cache_dir)
    chat = CachedChat(chat_model, cache, acc, retries, retry_backoff) if chat_model else None
    sched = Scheduler([chat_model], concurrency, prog)
    loaded: list[str] = []
    if manage_models and llm_key:
        loaded.append(_load(llm_key, model_ttl))

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
    # Only the standard method's chunks are cut in the LLM's own tokens: a fast index must not
    # change with llm= (which only writes its reports), so it always counts with the estimate.
    counter = TokenCounter(_exact_counter(chat_model) if method == "standard" else None)
    window = model_window(chat_model, [" ".join(documents["text"].head(3))[:12000]])
    plan = plan_build(window, settings, method=method, gleaning=gleaning, prompts=prompts,
                      entity_types=entity_types, has_chat=chat_model is not None,
                      chunk_size=size, chunk_size_set=chunk_size is not None,
                      exact_chunks=counter.exact is not None,
                      summary_max_length=summary_max_length,
                      report_max_input_tokens=report_max_input_tokens,
                      report_set=report_max_input_tokens != 8000,
                      report_max_length=report_max_length)
    window.notify()
    if plan.chunk_size < size:  # the context is small: smaller chunks, the same overlap share
        overlap, size = overlap * plan.chunk_size // size, plan.chunk_size
    text_units = chunk_documents(documents, size, overlap, counter)
    if _previous is not None:
        documents, text_units, new_units = _merge_chunks(_previous, documents, text_units)
    else:
        new_units = text_units
    acc.wall("chunking", time.perf_counter() - t0)
    # Embeddings run beside the LLM stages, unless the two models must take turns.
    jobs = (EmbeddingJobs(CachedEmbedder(embedder, cache, acc, retries, retry_backoff), sched,
                          prog, acc) if embedder is not None and not manage_models else None)
    if jobs is not None:
        jobs.add("text_unit_text", list(text_units["id"]), list(text_units["text"]))

    parse_report: dict[str, Any] = {}
    feed = _live_feed(live)
    aliases: dict[str, list[str]] = {}
    if method == "standard":
        assert chat is not None
        records = _extract(chat, new_units, entity_types, gleaning, prompts, sched, prog,
                           acc, parse_report, feed and feed.chunk, plan.configs,
                           GiveUp(give_up_after, chat_model,
                                  plan.configs["extract"].get("temperature"),
                                  sched.slots))
        if feed is not None:
            feed.close()  # draw the last chunks now: summaries and reports take a while
        entities, relationships = _merge_records(records, _previous)
        plan.fit_reports(report_samples(entities, relationships, text_units))
    else:
        t0 = time.perf_counter()
        entities, relationships, aliases = _fast_graph(text_units)
        acc.wall("extract_graph_nlp", time.perf_counter() - t0)
        if feed is not None:  # no chunks to watch: the whole co-occurrence graph at once
            feed.add(entities, relationships)

    mode = "graph" if method == "standard" else "text"
    failures: list[str] = []
    repairs: dict[str, int] = {}
    entities, relationships, text_units, communities, reports = describe_and_report(
        sched, entities, relationships, text_units, finalize=_finalize,
        cluster=lambda e, r: create_communities(e, r, max_cluster_size=max_cluster_size,
                                                use_lcc=use_lcc, seed=seed),
        chat=chat,
        summary_template=(load_prompt("summarize_descriptions", prompts)
                          if method == "standard" else None),
        summary_kw={"max_length": plan.summary_max_length,
                    "threshold_tokens": summary_threshold_tokens,
                    "max_input_tokens": plan.summary_input_tokens,
                    "config": plan.configs["summarize"]},
        report_template=load_prompt("community_report" if mode == "graph"
                                    else "community_report_text", prompts),
        report_kw={"mode": mode, "max_input_tokens": plan.report_input_tokens,
                   "max_length": plan.report_max_length, "config": plan.configs["reports"],
                   "repairs": repairs},
        prog=prog, acc=acc, failures=failures,
        on_described=(None if jobs is None else lambda e: jobs.add(
            "entity_description", list(e["id"]),
            [f"{t}:{d}" for t, d in zip(e["title"], e["description"], strict=True)])))
    if failures:
        parse_report["unusable_reports"] = len(failures)
        parse_report["unusable_report_samples"] = failures[:5]
    parse_report.update({f"report_{k}": v for k, v in repairs.items() if v})

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
        "embedder": ({"key": idx.embedding_model, "source": embedder_source}
                     if embedder is not None else None),
        **({"aliases": aliases} if aliases else {}),
        "context": window.as_dict(), "model_settings": plan.configs if chat_model else {},
        "settings": {"chunk_size": size, "chunk_overlap": overlap,
                     "llm_config": llm_config or {}, "give_up_after": give_up_after,
                     "entity_types": list(entity_types), "gleaning": gleaning,
                     "max_cluster_size": max_cluster_size, "seed": seed, "use_lcc": use_lcc,
                     "summary_threshold_tokens": summary_threshold_tokens,
                     "summary_max_length": summary_max_length,
                     "report_max_input_tokens": report_max_input_tokens,
                     "report_max_length": report_max_length},
    }
    if feed is not None:
        feed.finish(idx)
    if progress:
        _print_summary(idx, progress)
    return idx


def update_index(index: GraphIndex, docs: Any, *, remove_missing: bool | None = None,
                 **kw: Any) -> GraphIndex:
    """The index for ``docs`` without a full rebuild (see :meth:`GraphIndex.update`).

    Documents are compared by content hash (and by file or title where ``docs`` names them):
    removed and replaced documents leave with what only they supported (:mod:`.edit`), and the
    descriptions that lost sources are re-derived; only chunks not already extracted cost LLM
    calls; existing entities keep their ids; communities are re-clustered on the whole graph
    and reports/embeddings come from the cache wherever their input did not change. The
    index's recorded edits are applied again and what went stale is refreshed.
    """
    import inspect

    from . import edit

    private = {"docs", "_previous", "_loaded", "_embedder_source"}
    known = set(inspect.signature(build_index).parameters) - private
    for key in kw:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, sorted(known | {"remove_missing"}), n=1)
            raise ConfigError(f"Unknown update() argument {key!r}",
                              hint=f"did you mean {close[0]!r}?" if close else
                              "see help(lmsnb.graphrag.build_index) for the arguments")
    if not isinstance(index, GraphIndex):
        raise GraphIndexError(f"Cannot update a {type(index).__name__}",
                              hint="pass a GraphIndex (build_index or GraphIndex.from_parquet)")
    new, report = load_documents(docs, **{k: kw.pop(k) for k in INPUT_OPTIONS if k in kw})
    removable = (_files_gone(index, docs) if remove_missing is None
                 else None if remove_missing else set())
    changes = edit.document_changes(index, new, removable=removable)
    already = new["id"].isin(set(index.documents["id"].astype(str)))
    if already.any():
        report.leave_out(already.tolist(), "already in the index")
        new = new[~already].reset_index(drop=True)
    show = kw.get("progress", True) and not callable(kw.get("progress"))
    harmless = {"llm", "progress", "cache_dir", "concurrency", "retries", "retry_backoff",
                "manage_models", "model_ttl", "live", "give_up_after"}
    if not changes and not set(kw) - harmless:
        if show:
            note = "; " + changes.describe().split("; ", 1)[1] if changes.kept_missing else ""
            print("[lmsnb.graphrag] nothing to update: every document is already in the index"
                  + note)
        return replace(index, meta=dict(index.meta), embeddings=dict(index.embeddings))
    if show:
        print(f"[lmsnb.graphrag] update: {changes.describe()}")
    index = sanity.typed(index)  # a user's edits (floats, text, arrays in columns) undone
    settings = dict(index.meta.get("settings", {}))
    method = kw.pop("method", index.meta.get("method", "standard"))
    kw.setdefault("llm", index.meta.get("llm"))
    if "embedding_model" not in kw and index.embeddings:
        kw["_embedder_source"] = "the model this index was embedded with"
    kw.setdefault("embedding_model", index.embedding_model if index.embeddings else False)
    for k in ("chunk_size", "chunk_overlap", "entity_types", "gleaning", "max_cluster_size",
              "seed", "use_lcc", "llm_config"):
        if k in settings:
            kw.setdefault(k, settings[k])
    gone = changes.replaced + changes.removed
    again = {k: kw[k] for k in ("cache_dir", "concurrency", "retries", "retry_backoff",
                                "progress") if k in kw}
    t0 = time.perf_counter()
    refreshed = []
    if method == "fast":  # the co-occurrence graph is cheap: rebuild it from all documents
        kept = index.documents[~index.documents["id"].astype(str).isin(gone)]
        corpus, _ = load_documents(pd.concat([kept, new], ignore_index=True))
        out = build_index(None, method="fast", _loaded=(corpus, report), **kw)
    else:
        work = replace(index, meta=dict(index.meta), embeddings=dict(index.embeddings))
        if gone:
            edit.delete_documents(work, gone, log=False)
            refreshed.append(edit.refresh(work, llm=kw["llm"], kinds=("descriptions",),
                                          prompts=kw.get("prompts"), **again))
        out = build_index(None, method=method, _previous=work, _loaded=(new, report), **kw)
    aliases = {**(out.meta.get("aliases") or {})}
    for title, forms in (index.meta.get("aliases") or {}).items():
        aliases[title] = list(dict.fromkeys([*aliases.get(title, []), *forms]))
    if aliases:
        out.meta["aliases"] = aliases
    edit.replay(out, index.meta.get("edits", []))
    if out.stale:
        emb = kw.get("embedding_model")
        refreshed.append(edit.refresh(out, llm=kw["llm"], prompts=kw.get("prompts"),
                                      embedding_model=emb if emb is not False else None,
                                      **again))
    parts = [s for s in [out.stats, *(r.stats for r in refreshed)] if s is not None and len(s)]
    if refreshed and parts:  # idx.stats accounts for every call the update made
        rows = pd.concat([s[s["stage"] != "total"] for s in parts], ignore_index=True)
        rows = rows.groupby("stage", sort=False, as_index=False).sum(numeric_only=True)
        out.stats = _with_total(rows[[c for c in out.stats.columns if c in rows]],
                                time.perf_counter() - t0)
    return out


def _files_gone(index: GraphIndex, docs: Any) -> set[str]:
    """Ids of index documents read from a file inside the folder (or under the glob pattern's
    folder) ``docs`` names that is no longer there: deleted files leave the index."""
    import os
    from pathlib import Path

    from .inputs import _glob_base

    if isinstance(docs, os.PathLike) or (isinstance(docs, str) and classify(docs) == "path"):
        base = Path(os.fspath(docs).strip()).expanduser()
    elif isinstance(docs, str) and classify(docs) == "glob":
        base = _glob_base(docs.strip())
    else:
        return set()
    if not base.is_dir() or "source" not in index.documents:
        return set()
    base = base.resolve()
    gone = set()
    for doc_id, src in zip(index.documents["id"].astype(str), index.documents["source"],
                           strict=True):
        if not isinstance(src, str) or not src:
            continue
        path = Path(src).expanduser()
        if not path.exists() and base in path.resolve().parents:
            gone.add(doc_id)
    return gone


# -- extraction ----------------------------------------------------------------------------


def _live_feed(live: Any) -> Any:
    """The live graph view fed during the build (None: no live view); see graphview.live."""
    if not live:
        return None
    from ..graphview.live import live_feed

    return live_feed(live)


def _extract(chat: CachedChat, units: pd.DataFrame, entity_types: Any, gleaning: str,
             prompts: Any, sched: Scheduler, prog: Progress, acc: Accounting,
             report: dict[str, Any], on_chunk: Any = None,
             configs: dict[str, dict[str, Any]] | None = None,
             give_up: GiveUp | None = None) -> list[tuple[str, ParseResult]]:
    first_t = load_prompt("extract_graph", prompts)
    glean_t = load_prompt("extract_graph_glean", prompts)
    stage = prog.stage("extract_graph", len(units))
    configs = configs or build_configs()
    give_up = give_up or GiveUp(None, chat.model)

    def one(job: tuple[int, str, str]) -> tuple[str, ParseResult]:
        rank, uid, text = job
        give_up.start(rank, getattr(chat.model, "abort", None))
        try:
            res = extract_chunk(text, 1 - (rank + 1) / (len(jobs) + 1))
        except BaseException:
            give_up.chunk_failed()
            raise
        give_up.chunk_done(res)
        return uid, res

    def extract_chunk(text: str, urgency: float) -> ParseResult:
        c = chat.complete("extract_graph", extraction_messages(first_t, text, entity_types),
                          config=configs.get("extract"), urgency=urgency)
        res = parse_reply(c.text, c.reasoning)
        res.raw = c.text or c.reasoning
        cands = candidate_names(text)
        if gleaning == "always" or (gleaning == "auto" and
                                    needs_gleaning(res, cands, c.finish_reason)):
            known = sorted({e["title"] for e in res.entities})
            missed = missed_candidates(res, cands)
            g = chat.complete("gleaning", gleaning_messages(glean_t, text, entity_types, known,
                                                             missed[:15], KNOWN_NAMES_TOKENS),
                              config=configs.get("glean"), urgency=urgency)
            res.extend(parse_reply(g.text, g.reasoning))
        if on_chunk is not None:
            on_chunk(res)
        return res

    rows = list(zip(units["id"], units["text"], strict=True))
    # Longest replies first (by the names in each chunk), so the stage ends on short calls
    # rather than on a long one begun late; the results keep the chunks' order.
    order = sorted(range(len(rows)), key=lambda i: -expected_names(rows[i][1]))
    jobs = [(rank, *rows[i]) for rank, i in enumerate(order)]
    done = sched.map(one, jobs, stage)
    results = [done[rank] for rank in sorted(range(len(order)), key=order.__getitem__)]
    acc.wall("extract_graph", stage.finish())
    if results and not any(r.n_records or r.complete for _, r in results):
        raise give_up.error(len(results), early=False)  # not one reply in the record format
    empty = [r for _, r in results if not r.n_records]
    report.update(chunks=len(results), chunks_without_records=len(empty),
                  no_record_samples=[excerpt(r.raw) for r in empty[:5]],
                  from_reasoning=sum(r.from_reasoning for _, r in results),
                  records=sum(r.n_records for _, r in results),
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


def _fast_graph(text_units: pd.DataFrame
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[str]]]:
    nodes, edges = build_cooccurrence_graph(text_units)
    aliases = {t: list(a) for t, a in zip(nodes["title"], nodes["aliases"], strict=True) if a}
    nodes = nodes.assign(id=None, description=describe_entities(nodes, text_units,
                                                                aliases=aliases))
    text_of = dict(zip(text_units["id"], text_units["text"], strict=True))
    edges = edges.assign(id=None, description=[
        describe_relationship(s, t, list(u), text_of, aliases=aliases) for s, t, u in
        zip(edges["source"], edges["target"], edges["text_unit_ids"], strict=True)])
    return nodes, edges, aliases


def _finalize(entities: pd.DataFrame, relationships: pd.DataFrame, text_units: pd.DataFrame
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Ids, human-readable ids, degrees and the text-unit back-references (GraphRAG columns)."""
    deg = node_degrees(relationships["source"].astype(str), relationships["target"].astype(str))
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


def _embedder(embedding_model: Any) -> tuple[Embedder | None, str]:
    """The build's embedder and where it came from (said in the summary and ``idx.meta``)."""
    if embedding_model is None:
        return default_embedder()
    emb = resolve_embedder(embedding_model)
    return emb, "passed as embedding_model" if emb is not None else ""


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
    emb = idx.meta.get("embedder")
    print(f"[lmsnb.graphrag] embeddings: {emb['key']} ({emb['source']})" if emb else
          "[lmsnb.graphrag] embeddings: none (embedding_model=False)")
    pr = idx.meta.get("parse_report", {})
    if pr.get("chunks_without_records"):
        print(f"[lmsnb.graphrag] {pr['chunks_without_records']} of {pr['chunks']} chunks gave no "
              "records — see idx.meta['parse_report'] (a small model? see the troubleshooting "
              "page)")


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
