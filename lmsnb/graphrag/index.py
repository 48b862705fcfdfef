"""``GraphIndex``: a GraphRAG index as plain pandas DataFrames.

The tables and their column names are Microsoft GraphRAG's own (DESIGN.md, "The index contract"),
so a folder GraphRAG wrote loads here and a folder we write loads there. What GraphRAG has no
place for (embedding model key and dimension, build stats) goes into ``lmsnb.json`` and
``embeddings.<name>.parquet`` beside the tables; GraphRAG ignores files it does not know.
"""

from __future__ import annotations

import html
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import GraphIndexError
from ..human import plural
from . import legacy

#: GraphRAG's output tables (graphrag-reference §1.9). Extra columns are allowed, these are not optional.
TABLE_COLUMNS: dict[str, list[str]] = {
    "documents": ["id", "human_readable_id", "title", "text", "text_unit_ids", "creation_date",
                  "raw_data"],
    "text_units": ["id", "human_readable_id", "text", "n_tokens", "document_id", "entity_ids",
                   "relationship_ids", "covariate_ids"],
    "entities": ["id", "human_readable_id", "title", "type", "description", "text_unit_ids",
                 "frequency", "degree"],
    "relationships": ["id", "human_readable_id", "source", "target", "description", "weight",
                      "combined_degree", "text_unit_ids"],
    "communities": ["id", "human_readable_id", "community", "level", "parent", "children", "title",
                    "entity_ids", "relationship_ids", "text_unit_ids", "period", "size"],
    "community_reports": ["id", "human_readable_id", "community", "level", "parent", "children",
                          "title", "summary", "full_content", "rank", "rating_explanation",
                          "findings", "full_content_json", "period", "size"],
    "covariates": ["id", "human_readable_id", "covariate_type", "type", "description",
                   "subject_id", "object_id", "status", "start_date", "end_date", "source_text",
                   "text_unit_id"],
}
REQUIRED_TABLES = ("documents", "text_units", "entities", "relationships", "communities",
                   "community_reports")
EMBEDDING_NAMES = ("entity_description", "text_unit_text", "community_full_content")
META_FILE = "lmsnb.json"

_STR = pa.string()
_LIST_STR = pa.list_(pa.string())
_FINDINGS = pa.list_(pa.struct([("explanation", pa.string()), ("summary", pa.string())]))
#: Arrow types GraphRAG writes (read from its parquet files). Pinning them keeps empty list
#: columns from becoming ``list<null>`` and keeps the files readable by GraphRAG's adapters.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": _STR, "human_readable_id": pa.int64(), "title": _STR, "text": _STR, "type": _STR,
    "description": _STR, "text_unit_ids": _LIST_STR, "creation_date": _STR, "n_tokens": pa.int64(),
    "document_id": _STR, "entity_ids": _LIST_STR, "relationship_ids": _LIST_STR,
    "covariate_ids": _LIST_STR, "frequency": pa.int64(), "degree": pa.int64(), "source": _STR,
    "target": _STR, "weight": pa.float64(), "combined_degree": pa.int64(), "community": pa.int64(),
    "level": pa.int64(), "parent": pa.int64(), "children": pa.list_(pa.int64()), "period": _STR,
    "size": pa.int64(), "summary": _STR, "full_content": _STR, "rank": pa.float64(),
    "rating_explanation": _STR, "findings": _FINDINGS, "full_content_json": _STR,
    "covariate_type": _STR, "subject_id": _STR, "object_id": _STR, "status": _STR,
    "start_date": _STR, "end_date": _STR, "source_text": _STR, "text_unit_id": _STR,
    "embedding": pa.list_(pa.float32()),
}


def empty_table(name: str) -> pd.DataFrame:
    """An empty DataFrame with GraphRAG's columns for table ``name``."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in TABLE_COLUMNS[name]})


def _empty_tables() -> dict[str, pd.DataFrame]:
    return {name: empty_table(name) for name in REQUIRED_TABLES}


@dataclass
class GraphIndex:
    """A GraphRAG index held as DataFrames (GraphRAG's column names, exactly).

    Build one with :func:`lmsnb.graphrag.build_index`, or load a folder GraphRAG wrote with
    :meth:`from_parquet`. Every table is a plain DataFrame you can filter, join and plot.
    ``embeddings`` maps GraphRAG's embedding names (``entity_description``, ``text_unit_text``,
    ``community_full_content``) to DataFrames with ``id`` and ``embedding`` columns; the model
    that made them is recorded in ``embedding_model`` / ``embedding_dim`` so a query with a
    different embedder can be refused (:meth:`check_embedder`) instead of silently returning
    nonsense.
    """

    documents: pd.DataFrame = field(default_factory=lambda: empty_table("documents"))
    text_units: pd.DataFrame = field(default_factory=lambda: empty_table("text_units"))
    entities: pd.DataFrame = field(default_factory=lambda: empty_table("entities"))
    relationships: pd.DataFrame = field(default_factory=lambda: empty_table("relationships"))
    communities: pd.DataFrame = field(default_factory=lambda: empty_table("communities"))
    community_reports: pd.DataFrame = field(
        default_factory=lambda: empty_table("community_reports"))
    covariates: pd.DataFrame | None = None
    embeddings: dict[str, pd.DataFrame] = field(default_factory=dict)
    embedding_model: str | None = None
    embedding_dim: int | None = None
    #: Per-stage accounting of the build that made this index (stage, calls, cached_calls,
    #: prompt_tokens, completion_tokens, seconds, model_seconds); None for an index loaded
    #: from GraphRAG. ``seconds`` is the stage's wall-clock time; ``model_seconds`` adds up
    #: the time each model call took, so with parallel calls it exceeds ``seconds``.
    stats: pd.DataFrame | None = None
    #: Free-form build metadata: method, llm key, chunking settings, parse report, ...
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ tables
    def tables(self) -> dict[str, pd.DataFrame]:
        """GraphRAG's tables by name (covariates only when present)."""
        out = {name: getattr(self, name) for name in REQUIRED_TABLES}
        if self.covariates is not None:
            out["covariates"] = self.covariates
        return out

    def summary(self) -> pd.DataFrame:
        """Row counts per table (and per embedding set), as a small DataFrame."""
        rows = [{"table": name, "rows": len(df), "columns": len(df.columns)}
                for name, df in self.tables().items()]
        for name, df in self.embeddings.items():
            rows.append({"table": f"embeddings.{name}", "rows": len(df), "columns": len(df.columns)})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        counts = ", ".join(f"{r.table}={r.rows}" for r in self.summary().itertuples())
        emb = f", embedder={self.embedding_model!r}/{self.embedding_dim}" if self.embedding_model else ""
        from .edit import describe_stale

        stale = describe_stale(self.stale)
        return f"GraphIndex({counts}{emb}{f', stale: {stale}' if stale else ''})"

    def _repr_html_(self) -> str:
        s = self.summary()
        levels = ""
        if len(self.communities):
            levels = f" · {plural(self.communities['level'].nunique(), 'community level')}"
        emb = ""
        if self.embedding_model or self.embedding_dim:
            emb = (f" · embeddings by <code>{html.escape(str(self.embedding_model))}</code>"
                   f" ({self.embedding_dim}-d)")
        from .edit import describe_stale

        stale = describe_stale(self.stale)
        if stale:
            emb += f" · stale: {html.escape(stale)} (<code>idx.refresh()</code>)"
        return (f"<div><b>GraphIndex</b>{levels}{emb}</div>"
                + s.to_html(index=False, border=0))

    def validate(self, *, strict: bool = False, quiet: bool = False) -> GraphIndex:
        """Check the index; return it (so ``GraphIndex.from_parquet(folder).validate()`` reads).

        Raises :class:`GraphIndexError` listing every missing GraphRAG column (nothing can use
        such a table). Then prints one line per oddity in the values, with its count, a few
        examples and what lmsnb does with those rows: "84 relationships name entities not in
        the entities table: ..." The graph view, the queries and the build apply the same
        rules (:mod:`lmsnb.graphrag.sanity`), so the line is also why a row is skipped.
        ``strict=True`` raises on oddities too; ``quiet=True`` prints nothing. The oddities
        as objects: :meth:`findings`.
        """
        problems = []
        for name, df in self.tables().items():
            if not isinstance(df, pd.DataFrame):
                problems.append(f"{name} is not a DataFrame")
                continue
            missing = [c for c in TABLE_COLUMNS[name] if c not in df.columns]
            if missing:
                problems.append(f"{name} lacks {', '.join(missing)}")
        for name, df in self.embeddings.items():
            if not isinstance(df, pd.DataFrame):
                problems.append(f"embeddings.{name} is not a DataFrame")
                continue
            missing = [c for c in ("id", "embedding") if c not in df.columns]
            if missing:
                problems.append(f"embeddings.{name} lacks {', '.join(missing)}")
        if problems:
            raise GraphIndexError("The index does not match GraphRAG's tables: " + "; ".join(problems),
                                  hint="rebuild it, or add the columns before querying")
        found = self.findings()
        if strict and found:
            raise GraphIndexError(f"The index has {len(found)} kinds of odd rows: "
                                  + "; ".join(found.lines()),
                                  hint="fix those rows, or validate() without strict=True to "
                                       "let lmsnb work around them as described")
        if found and not quiet:
            print(f"[lmsnb.graphrag] {len(found)} kinds of odd rows (lmsnb works around each "
                  "as said; idx.findings() has them as a table):")
            for line in found.lines():
                print(f"  - {line}")
        return self

    def findings(self) -> Any:
        """The oddities in the tables' values, one :class:`~lmsnb.graphrag.sanity.Finding`
        per rule with its count (``.lines()``, ``.frame()``; empty when every row is usable)."""
        from .sanity import findings

        return findings(self)

    # -------------------------------------------------------------- embeddings
    def check_embedder(self, key: str | None, dim: int | None) -> None:
        """Refuse a query embedder that differs from the one that built the index.

        Vectors from two models live in unrelated spaces (and often have different sizes), so a
        mismatch would make similarity search return noise; GraphRAG users hit this as
        "Query vector size 768 does not match index column size 3072". We fail with the fix.
        """
        have_dim = self.embedding_dim or self._stored_dim()
        if self.embedding_model and key and key != self.embedding_model:
            raise GraphIndexError(
                f"This index was embedded with {self.embedding_model!r} ({have_dim}-d), "
                f"but the query uses {key!r}" + (f" ({dim}-d)" if dim else ""),
                hint=f"query with embedding_model={self.embedding_model!r}, or re-embed the index "
                     "with lmsnb.graphrag.embed_index(idx, <new model>)")
        if have_dim and dim and int(dim) != int(have_dim):
            raise GraphIndexError(
                f"This index has {have_dim}-d embeddings"
                + (f" from {self.embedding_model!r}" if self.embedding_model else "")
                + f", but the query embedder {key or ''!s} gives {dim}-d vectors".replace("  ", " "),
                hint="use the embedding model the index was built with, or re-embed the index")

    def _stored_dim(self) -> int | None:
        for df in self.embeddings.values():
            if len(df):
                return int(len(df["embedding"].iloc[0]))
        return None

    def embedding_matrix(self, name: str) -> tuple[list[str], np.ndarray]:
        """``(ids, matrix)`` for embedding set ``name``: float32, one row per id, L2-normalised
        (vectors of the wrong size or with NaN are left out, as in searches)."""
        if name not in self.embeddings:
            raise GraphIndexError(f"The index has no {name!r} embeddings "
                                  f"(it has: {', '.join(self.embeddings) or 'none'})",
                                  hint="build with an embedding model, or run lmsnb.graphrag.embed_index(idx)")
        df = self.embeddings[name]
        if not len(df):
            return [], np.zeros((0, self.embedding_dim or 0), dtype=np.float32)
        from .sanity import vectors

        ok, mat = vectors(df["embedding"], self.embedding_dim)  # unusable vectors left out
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        mat = mat / np.where(norms == 0, 1.0, norms)
        return [str(i) for i, k in zip(df["id"], ok, strict=True) if k], mat

    # -------------------------------------------------------------- behaviour
    def query(self, question: str, method: str = "local", **kw: Any) -> Any:
        """Answer ``question`` with a GraphRAG query method (local, global, basic, drift)."""
        from .query import run_query

        return run_query(self, question, method=method, **kw)

    def update(self, docs: Any, *, remove_missing: bool | None = None, **kw: Any) -> GraphIndex:
        """Return a new index for ``docs``, re-using everything already computed.

        ``docs`` is anything ``build_index`` takes (a folder, paths, a glob pattern, texts, a
        DataFrame; ``include=``/``exclude=``/``text_column=`` apply too). Documents are compared
        by content hash: one already in the index costs nothing (the summary says so), a new one
        is added, and one that names a file or title the index has, with other text (a file you
        edited, a DataFrame row with the same ``title``), is *changed*: its old text units, and
        what only they supported, leave and its new text is chunked and extracted.
        ``remove_missing``: by default, a document whose file is gone from the folder (or glob
        pattern) ``docs`` names is removed — the folder is the corpus — and the others stay, so
        ``update(new_docs)`` adds; True removes every document ``docs`` lacks, False none. Only
        new chunks cost LLM calls (the cache answers the rest);
        your edits (``merge_entities``, ...) are applied again to what the new text brings, and
        what went stale is refreshed.
        """
        from .build import update_index

        return update_index(self, docs, remove_missing=remove_missing, **kw)

    # ------------------------------------------------------------------ edits
    def merge_entities(self, names: Any, into: str | None = None) -> Any:
        """Fold the entities ``names`` (titles or ids; case does not matter) into one, in place.

        ``into``: the merged entity's title — one of ``names``, another entity's title (it joins
        the merge) or a new title (default: the first of ``names``). Relationships are
        re-pointed (self-loops dropped, parallel edges combined), and every table stays
        consistent; the merged description and the reports of the communities involved are
        marked stale (:attr:`stale`, :meth:`refresh`). Returns an ``Edit`` (what changed, by id;
        its repr is a one-line summary). Example::

            idx.merge_entities(["ALEX", "AGENT MERCER"], into="ALEX MERCER")
        """
        from .edit import merge_entities

        return merge_entities(self, names, into=into)

    def rename_entity(self, old: str, new: str) -> Any:
        """Give entity ``old`` the title ``new`` (relationships and claims follow), in place.

        A ``new`` that another entity already has is refused with the merge to do instead.
        """
        from .edit import rename_entity

        return rename_entity(self, old, new)

    def delete_entities(self, names: Any) -> Any:
        """Remove entities (titles or ids) and every relationship that touches them, in place."""
        from .edit import delete_entities

        return delete_entities(self, names)

    def delete_documents(self, docs: Any) -> Any:
        """Remove documents (ids or titles), in place: their text units, the entities and
        relationships only they supported, and their claims. What lost some of its sources
        gets its description marked stale."""
        from .edit import delete_documents

        return delete_documents(self, docs)

    @property
    def stale(self) -> dict[str, int]:
        """What edits left out of date, by kind: ``{"descriptions": 1, "community reports": 2,
        "embeddings": 3}`` (empty when nothing is). The ids are in ``meta["stale"]``."""
        from .edit import stale_counts

        return stale_counts(self.meta)

    def refresh(self, *, llm: Any = None, embedding_model: Any = None, **kw: Any) -> Any:
        """Redo only what is stale, with the index's own models; returns what it did and cost.

        Joined descriptions get a summary where the build would write one; descriptions that
        lost sources are re-derived from their remaining text units; stale community reports
        are rewritten; changed entities and reports are re-embedded. The standard method uses
        ``llm`` (default: the one the index was built with, else LM Studio's loaded LLM); the
        fast method needs none. Every call goes through the LLM cache (``cache_dir``). Other
        keywords: ``cache_dir``, ``concurrency``, ``retries``, ``prompts``, ``progress``.
        """
        from .edit import refresh

        return refresh(self, llm=llm, embedding_model=embedding_model, **kw)

    def copy(self) -> GraphIndex:
        """An independent copy (tables, embeddings and metadata), e.g. to keep before editing."""
        import copy

        return GraphIndex(**{name: df.copy() for name, df in self.tables().items()},
                          embeddings={k: v.copy() for k, v in self.embeddings.items()},
                          embedding_model=self.embedding_model,
                          embedding_dim=self.embedding_dim,
                          stats=None if self.stats is None else self.stats.copy(),
                          meta=copy.deepcopy(self.meta))

    # ------------------------------------------------------------------- I/O
    @classmethod
    def from_parquet(cls, folder: str | os.PathLike[str]) -> GraphIndex:
        """Load a GraphRAG output folder (``entities.parquet``, ...) or one lmsnb wrote.

        Folders from older GraphRAG releases (2.x, 1.x and 0.x ``create_final_*.parquet``,
        and pre-0.4 ``output/<timestamp>/artifacts``) are mapped onto today's tables. What was
        renamed or derived is listed in ``idx.meta["converted_from"]`` (see
        :mod:`lmsnb.graphrag.legacy`).
        """
        if not isinstance(folder, (str, os.PathLike)):
            raise GraphIndexError(f"from_parquet needs a folder path, not a {type(folder).__name__}",
                                  hint="pass the GraphRAG 'output' folder that holds "
                                       "entities.parquet")
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.is_file() else "does not exist"
            raise GraphIndexError(f"No index folder at {folder} (it {what})",
                                  hint="pass the GraphRAG 'output' folder that holds entities.parquet")
        folder, note = legacy.resolve_folder(folder)
        found = {p.stem for p in folder.glob("*.parquet")}
        current = [t for t in (*REQUIRED_TABLES, "covariates") if t in found]
        old = [t for t in legacy.LEGACY_TABLES if legacy.LEGACY_PREFIX + t in found]
        if not current and not old:
            raise legacy.not_an_index(folder, found, REQUIRED_TABLES)
        is_legacy = len(old) > len(current)
        prefix = legacy.LEGACY_PREFIX if is_legacy else ""
        names = [t for t in (old if is_legacy else current) if t != "nodes"]
        files = {name: f"{prefix}{name}.parquet" for name in names}
        read = {name: _read(folder / fname) for name, fname in files.items()}
        legacy.check_essentials(read, files)
        nodes = _read(folder / f"{prefix}nodes.parquet") if "nodes" in old and is_legacy \
            else None
        converted, log = legacy.upgrade(read, nodes, TABLE_COLUMNS)
        tables: dict[str, Any] = {name: converted.get(name, empty_table(name))
                                  for name in REQUIRED_TABLES}
        tables["documents"] = _json_raw_data(tables["documents"])
        cov = converted.get("covariates")
        embeddings = {p.stem.split(".", 1)[1]: _read(p)
                      for p in sorted(folder.glob("embeddings.*.parquet"))}
        for name, df in embeddings.items():
            lacking = [c for c in ("id", "embedding") if c not in df.columns]
            if lacking:
                raise GraphIndexError(f"{folder / f'embeddings.{name}.parquet'} lacks "
                                      f"{', '.join(lacking)}",
                                      hint="delete that file (queries recompute embeddings), "
                                           "then load again")
        meta: dict[str, Any] = {}
        if (folder / META_FILE).exists():
            try:
                meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise GraphIndexError(f"{folder / META_FILE} is not readable JSON ({exc})",
                                      hint=f"delete {META_FILE} to load the tables without "
                                           "lmsnb's extras (embedding model, build stats)") from None
            if not isinstance(meta, dict):
                raise GraphIndexError(f"{folder / META_FILE} is not lmsnb's metadata",
                                      hint=f"delete {META_FILE} to load the tables without it")
        stats = pd.DataFrame(meta.pop("stats")) if meta.get("stats") else None
        idx = cls(**tables, covariates=cov, embeddings=embeddings,
                  embedding_model=meta.pop("embedding_model", None),
                  embedding_dim=meta.pop("embedding_dim", None), stats=stats, meta=meta)
        if idx.embedding_dim is None:
            idx.embedding_dim = idx._stored_dim()
        if is_legacy or log:
            version = legacy.guess_version(is_legacy, read, log)
            idx.meta["converted_from"] = {
                "version": version, "files": sorted(files.values()), "derived": log,
                **({"folder": str(folder)} if note else {})}
            print(f"[lmsnb.graphrag] {folder} looks like a GraphRAG {version} output: mapped "
                  f"onto today's tables ({len(log)} changes, listed in "
                  f"idx.meta['converted_from'])" + (f"; {note}" if note else ""),
                  file=sys.stderr)
        return idx

    def to_parquet(self, folder: str | os.PathLike[str]) -> Path:
        """Write the index as a GraphRAG output folder (plus lmsnb extras GraphRAG ignores).

        Every table is converted before anything is written, so a table that cannot be saved
        leaves the folder as it was. Index files the index no longer has (embeddings of another
        model, a covariates table) are removed so the folder loads back as this index; other
        files in the folder are left alone.
        """
        if not isinstance(folder, (str, os.PathLike)):
            raise GraphIndexError(f"to_parquet needs a folder path, not a {type(folder).__name__}",
                                  hint="e.g. idx.to_parquet('my_index')")
        folder = Path(folder).expanduser()
        if folder.exists() and not folder.is_dir():
            raise GraphIndexError(f"Cannot write the index to {folder}: it is a file",
                                  hint="pass a folder path (it is created if missing)")
        files = {f"{name}.parquet": (name, df) for name, df in self.tables().items()}
        files.update({f"embeddings.{name}.parquet": (f"embeddings.{name}", df)
                      for name, df in self.embeddings.items()})
        arrow = {}
        for fname, (name, df) in files.items():
            if not isinstance(df, pd.DataFrame):
                raise GraphIndexError(f"Cannot save the index: {name} is a {type(df).__name__}, "
                                      "not a DataFrame", hint="assign a DataFrame to it first")
            arrow[fname] = _to_arrow(df, name)
        meta = dict(self.meta)
        meta.update(embedding_model=self.embedding_model, embedding_dim=self.embedding_dim,
                    format="graphrag-3", writer="lmsnb")
        if self.stats is not None:
            meta["stats"] = self.stats.to_dict("records")
        meta_text = json.dumps(meta, indent=2, default=_json_default)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stale = [p for p in folder.glob("embeddings.*.parquet") if p.name not in arrow]
            if self.covariates is None and (folder / "covariates.parquet").exists():
                stale.append(folder / "covariates.parquet")
            for fname, table in arrow.items():
                _write_arrow(table, folder / fname)
            for p in stale:
                p.unlink()
            _atomic_write_text(folder / META_FILE, meta_text)
        except OSError as exc:
            raise GraphIndexError(f"Cannot write the index to {folder}: "
                                  f"{exc.strerror or exc}",
                                  hint="pass a folder you can write to") from None
        return folder


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        first = (str(exc).splitlines() or [""])[0].replace(str(path), "").strip(" '\"")
        raise GraphIndexError(f"Cannot read {path}: {type(exc).__name__}: {first[:160]}",
                              hint="the file is damaged or not parquet: restore it from the "
                                   "pipeline output, or rebuild the index") from None


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to parquet with GraphRAG's Arrow types for the columns it knows."""
    _write_arrow(_to_arrow(df, path.stem), path)


def _to_arrow(df: pd.DataFrame, name: str) -> pa.Table:
    """``df`` as an Arrow table with GraphRAG's types (``GraphIndexError`` naming the column
    whose values do not fit)."""
    arrays = []
    names = []
    for col in df.columns:
        typ = _ARROW_TYPES.get(str(col))
        if col == "raw_data":
            arrays.append(_raw_data_array(df[col]))
            names.append(str(col))
            continue
        try:
            if typ is None:
                arr = pa.array(_plain(df[col]), from_pandas=True)
            else:
                arr = pa.array(_plain(df[col], typ), type=typ, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            want = f" (GraphRAG stores it as {typ})" if typ is not None else ""
            raise GraphIndexError(
                f"Cannot save {name}.{col}{want}: {str(exc).splitlines()[0][:200]}",
                hint=f"fix or drop that column (e.g. idx.{name.split('.')[0]}['{col}'] = "
                     f"...astype(...)); nothing was written") from None
        arrays.append(arr)
        names.append(str(col))
    return pa.Table.from_arrays(arrays, names=names)


def _raw_data_array(values: pd.Series) -> pa.Array:
    """``documents.raw_data`` as GraphRAG stores it (a struct per row) when the rows agree on
    their fields' types; otherwise (a front-matter field that is a number in one file and text
    in another) as JSON text, which :meth:`GraphIndex.from_parquet` turns back into dicts."""
    plain = _plain(values)
    try:
        arr = pa.array(plain, from_pandas=True)
        if not (pa.types.is_struct(arr.type) and arr.type.num_fields == 0):
            return arr
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    return pa.array([None if v is None else json.dumps(v, default=_json_default)
                     for v in plain], type=pa.string())


def _json_raw_data(docs: pd.DataFrame) -> pd.DataFrame:
    col = docs.get("raw_data")
    texts = [v for v in col if not (v is None or (isinstance(v, float) and v != v))] \
        if col is not None else []
    if not texts or not all(isinstance(v, str) and v.startswith("{") for v in texts):
        return docs
    docs = docs.copy()
    docs["raw_data"] = [json.loads(v) if isinstance(v, str) else None for v in col]
    return docs


def _write_arrow(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _plain(values: pd.Series, typ: pa.DataType | None = None) -> list[Any]:
    """Python values Arrow accepts: numpy arrays -> lists, NaN -> None; numbers a user's
    edits turned into floats or text ("3", 3.0, "0.5") go back to GraphRAG's number type
    (``sanity.whole``/``numbers``), anything else in a number column is refused."""
    if typ is not None and (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
        return _plain_numbers(values, typ)
    out: list[Any] = []
    is_list = typ is not None and pa.types.is_list(typ)
    for v in values.tolist():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        if v is None or (isinstance(v, float) and np.isnan(v) and not
                         (typ is not None and pa.types.is_floating(typ))):
            v = [] if is_list else None
        out.append(v)
    return out


def _plain_numbers(values: pd.Series, typ: pa.DataType) -> list[Any]:
    from . import sanity

    integer = pa.types.is_integer(typ)
    num = sanity.whole(values) if integer else sanity.numbers(values)
    given = ~values.isna().to_numpy()
    lost = given & num.isna().to_numpy()
    # text a missing value became ("nan", "None", "<NA>", "") is a missing value
    lost &= ~np.array([isinstance(v, str) and v.strip().lower() in ("nan", "none", "<na>", "")
                       for v in values], dtype=bool)
    if lost.any():
        bad = values[lost].iloc[0]
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise TypeError(f"{int(lost.sum())} value(s) are not "
                        f"{'whole numbers' if integer else 'numbers'}, e.g. {bad!r} "
                        f"(row {values.index[lost][0]})")
    if integer:
        return [None if np.isnan(v) else int(v) for v in num.to_numpy()]
    return num.tolist()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
