"""Documents in: whatever people pass to ``build_index``, as GraphRAG's ``documents`` table.

People's documents come as texts, paths, ``Path`` objects, glob patterns, folders, DataFrames and
lists mixing these, in the formats they have (text, Markdown, HTML, PDF, CSV, JSON). One function,
:func:`load_documents`, turns any of them into GraphRAG's ``documents`` rows plus an
:class:`InputReport` of what was taken and what was skipped and why, so a build never indexes the
wrong thing without a word (a path string as text, a folder's README, a binary file as
replacement characters).

The rules, in the order they are applied to a string: more than one line is text; an existing
file or folder is that path; a glob pattern that matches files is those files; something that
can only be a path (``docs/``, ``notes.txt``, ``./x``, ``~/x``) but does not exist is an error
naming it; anything else is text. A file you name is read or refused with an error; files found
in a folder or by a pattern that cannot be read are skipped, and the report says why.
"""

from __future__ import annotations

import codecs
import glob
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GraphIndexError
from .chunking import sha512

#: Formats read by file extension (lower case). Other files are read as plain text when you name
#: them (or a pattern does) and they are text; folders take only these by default.
FORMATS: dict[str, str] = {
    ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
    ".html": "html", ".htm": "html", ".pdf": "pdf", ".csv": "csv", ".json": "json",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".tsv": "csv",
}
#: What a folder contributes when no ``include=`` is given: every format above.
DEFAULT_INCLUDE: tuple[str, ...] = tuple(f"*{ext}" for ext in FORMATS)
#: What a folder or a glob pattern leaves out when no ``exclude=`` is given: notes *about* the
#: documents (README, licence) and tool folders. Names starting with "." are always skipped, as
#: by shell globs (``.git``, ``.ipynb_checkpoints``); name such a file to read it.
DEFAULT_EXCLUDE: tuple[str, ...] = ("README*", "LICENSE*", "LICENCE*", "COPYING*",
                                    "__pycache__", "node_modules")
#: The options :func:`load_documents` takes (``build_index`` and ``update`` pass them through).
OPTIONS = ("include", "exclude", "text_column", "title_column", "encoding")

PDF_HINT = "pip install 'lmsnb[pdf]' (or pip install pypdf), then run this again"
_DOC_EXTS = {*FORMATS, ".docx", ".doc", ".rtf", ".odt", ".pptx", ".xlsx", ".epub", ".parquet",
             ".log", ".xml", ".rst"}
_TEXT_NAMES = ("text", "content", "body")  # text columns found by name, in this order
_LONG_TEXT = 40  # mean characters that make a column look like running text
#: Columns of an in-memory DataFrame kept as they are (not metadata): GraphRAG's and ``source``.
_RESERVED = {"id", "human_readable_id", "text_unit_ids", "creation_date", "raw_data", "source"}
_WHAT = ("a folder, file paths or glob patterns, a list of texts, or a DataFrame with a "
         "'text' column")


# -- the report ------------------------------------------------------------------------------


@dataclass
class InputReport:
    """What :func:`load_documents` took and skipped.

    ``taken`` has a row per file, DataFrame or group of texts (``source``, ``format``,
    ``documents``, ``characters``, ``note``); ``skipped`` a row per file or folder left out
    (``source``, ``reason``). ``str(report)`` is the summary a build prints.
    """

    _taken: list[dict[str, Any]] = field(default_factory=list)
    _skipped: list[dict[str, Any]] = field(default_factory=list)
    _rows: list[tuple[int, int]] = field(default_factory=list)  # (entry, characters) per document

    @property
    def taken(self) -> pd.DataFrame:
        return pd.DataFrame(self._taken, columns=["source", "format", "documents", "characters",
                                                  "note"])

    @property
    def skipped(self) -> pd.DataFrame:
        return pd.DataFrame(self._skipped, columns=["source", "reason"])

    @property
    def files(self) -> int:
        return sum(1 for t in self._taken if t["format"] not in ("texts", "DataFrame"))

    @property
    def documents(self) -> int:
        return sum(t["documents"] for t in self._taken)

    @property
    def characters(self) -> int:
        return sum(t["characters"] for t in self._taken)

    def skip(self, source: Any, reason: str) -> None:
        self._skipped.append({"source": str(source), "reason": reason})

    def leave_out(self, drop: Sequence[bool], reason: str) -> None:
        """Move documents (a mask over the loaded rows) from taken to skipped, with ``reason``
        (``update`` leaves out what is already in the index)."""
        taken = {t["_entry"]: t for t in self._taken}
        gone: Counter[int] = Counter()
        rows = []
        for (entry, chars), d in zip(self._rows, drop, strict=True):
            if d:
                taken[entry]["documents"] -= 1
                taken[entry]["characters"] -= chars
                gone[entry] += 1
            else:
                rows.append((entry, chars))
        self._rows = rows
        for entry, n in gone.items():
            t = taken[entry]
            self.skip(t["source"], reason if not t["documents"] else
                      f"{n} of its documents {reason}")
        self._taken = [t for t in self._taken if t["documents"]]

    def lines(self, limit: int = 5) -> list[str]:
        """The summary: one line for what was taken, one per kind of reason something was not."""
        kinds = Counter(t["format"] for t in self._taken)
        parts = [f"{self.files} file{'s' * (self.files != 1)}"] if self.files else []
        for k in ("texts", "DataFrame"):
            n = sum(t["documents"] for t in self._taken if t["format"] == k)
            if kinds[k]:
                parts.append(f"{n} text{'s' * (n != 1)}" if k == "texts" else
                             f"{kinds[k]} DataFrame{'s' * (kinds[k] != 1)}")
        files = [t["source"] for t in self._taken if t["format"] not in ("texts", "DataFrame")]
        root = _root(files)
        if root and parts:
            parts[0] += f" from {root}"
        head = (f"{', '.join(parts) or 'nothing'} → {self.documents:,} "
                f"document{'s' * (self.documents != 1)}, {self.characters:,} characters")
        names = [_shown(f, root) for f in files]
        out = [head + (f": {_listing(names, limit)}" if names else "")]
        notes = [f"{_shown(t['source'], root)} ({t['note']})" for t in self._taken if t["note"]]
        if notes:
            out.append(f"notes: {_listing(notes, limit)}")
        by_reason: dict[str, list[str]] = {}
        for s in self._skipped:
            by_reason.setdefault(s["reason"], []).append(_shown(s["source"], root))
        for reason, sources in by_reason.items():
            out.append(f"skipped {_listing(sources, limit)}: {reason}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Counts and the skipped list (``idx.meta["inputs"]``; the files are ``documents.source``)."""
        return {"files": self.files, "documents": self.documents, "characters": self.characters,
                "skipped": [dict(s) for s in self._skipped]}

    def no_text_error(self) -> GraphIndexError:
        """The error for a build with nothing to index, saying why each input gave nothing."""
        why = "; ".join(self.lines()[1:]) if self._skipped else "every document is empty"
        return GraphIndexError(f"There is no text to index: {why}",
                               hint=f"pass {_WHAT}; include=/exclude= choose a folder's files")

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"InputReport({self.lines()[0]}; {len(self._skipped)} skipped)"

    def _repr_html_(self) -> str:
        import html

        body = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines())
        return f"<div><b>Documents in</b><ul>{body}</ul></div>"


def _short(source: str) -> str:
    return source if len(source) <= 60 else "…" + source[-59:]


def _root(files: list[str]) -> str | None:
    """The folder the taken files share (shown once in the summary), if any."""
    try:
        root = os.path.commonpath(files) if len(files) > 1 else os.path.dirname(files[0])
    except (ValueError, IndexError):  # no files, or absolute and relative paths mixed
        return None
    return root if root not in ("", ".", os.sep) else None


def _shown(source: str, root: str | None) -> str:
    if root and source.startswith(root.rstrip(os.sep) + os.sep):
        return _short(source[len(root.rstrip(os.sep)) + 1:] or source)
    return _short(source)


def _listing(names: Sequence[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- entry point -----------------------------------------------------------------------------


class _Unreadable(Exception):
    """A file that cannot be indexed: skipped in a folder, an error when named."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason, self.hint = reason, hint


def load_documents(inputs: Any, *, include: str | Iterable[str] | None = None,
                   exclude: str | Iterable[str] | None = None, text_column: str | None = None,
                   title_column: str | None = None, encoding: str | None = None
                   ) -> tuple[pd.DataFrame, InputReport]:
    """Read ``inputs`` into GraphRAG's ``documents`` table and say what was taken and skipped.

    ``inputs``: a text, a path (``str`` or ``pathlib.Path``: a file or a folder, read
    recursively), a glob pattern (``"docs/**/*.md"``), a DataFrame, a ``{title: text}`` dict,
    or a list mixing these (``glob.glob(...)`` gives files, not texts). Formats by extension:
    ``.txt``, ``.md`` (YAML front matter becomes ``raw_data``), ``.html`` (visible text),
    ``.pdf`` (``pip install 'lmsnb[pdf]'``), ``.csv``, ``.json``, ``.jsonl`` (a row per document:
    the text column, ``title_column``, the other fields in ``raw_data``).

    ``include``/``exclude``: glob patterns choosing a folder's files, matched case-insensitively
    against the path inside the folder (a pattern without "/" matches a file or folder name at
    any depth; ``**`` spans folders). Defaults: :data:`DEFAULT_INCLUDE`,
    :data:`DEFAULT_EXCLUDE`; ``exclude`` also filters glob matches. ``text_column``: the
    column or key (``a.b`` for nested JSON) holding the text; by default ``text``, ``content``
    or ``body``, else the only column of long strings. ``encoding``: force one (default:
    UTF-8 with or without BOM, UTF-16 with BOM, else cp1252/Latin-1 when it reads as text).

    Returns ``(documents, report)``: GraphRAG's columns (``id`` is the SHA-512 of the text
    unless a DataFrame brings its own, ``text_unit_ids`` empty until chunking) plus ``source``
    (the file a document came from; None for texts), and an :class:`InputReport`.
    """
    if inputs is None:
        raise GraphIndexError("No documents given (docs is None)", hint=f"pass {_WHAT}")
    loader = _Loader(_patterns(include, DEFAULT_INCLUDE, "include"),
                     _patterns(exclude, DEFAULT_EXCLUDE, "exclude"), text_column, title_column,
                     encoding)
    loader.add(inputs)
    return loader.finish()


def _patterns(value: Any, default: tuple[str, ...], name: str) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, (str, os.PathLike)):
        return (os.fspath(value),)
    try:
        pats = tuple(os.fspath(v) for v in value)
    except TypeError:
        raise GraphIndexError(f"{name}= takes glob patterns, not {value!r}",
                              hint=f"e.g. {name}=['*.txt', 'notes/**/*.md']") from None
    return pats


# -- turning inputs into rows ----------------------------------------------------------------


class _Loader:
    def __init__(self, include: tuple[str, ...], exclude: tuple[str, ...],
                 text_column: str | None, title_column: str | None, encoding: str | None) -> None:
        self.include, self.exclude = include, exclude
        self.text_column, self.title_column, self.encoding = text_column, title_column, encoding
        self.rows: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []  # becomes report.taken
        self.report = InputReport()
        self.texts_entry: int | None = None
        if encoding is not None:
            try:
                "".encode(encoding)
            except LookupError:
                raise GraphIndexError(f"Unknown encoding {encoding!r}",
                                      hint="e.g. encoding='utf-8', 'cp1252' or 'utf-16'") from None

    # .. dispatch ..
    def add(self, item: Any) -> None:
        if isinstance(item, pd.DataFrame):
            self._frame(item, "(DataFrame)")
        elif isinstance(item, Mapping):
            self._frame(pd.DataFrame({"title": [str(k) for k in item],
                                      "text": list(item.values())}, dtype=object), "(dict)")
        elif isinstance(item, (str, os.PathLike)):
            self._one(item, 0)
        elif isinstance(item, (bytes, bytearray)):
            raise GraphIndexError("Cannot index bytes",
                                  hint="decode them (data.decode('utf-8')) or write them to a "
                                       "file and pass its path")
        elif isinstance(item, Iterable):
            for i, x in enumerate(list(item)):
                if isinstance(x, (str, os.PathLike)):
                    self._one(x, i)
                elif isinstance(x, pd.DataFrame):
                    self._frame(x, f"(DataFrame, item {i})")
                elif _is_na(x):
                    self._text("", i)
                else:
                    raise GraphIndexError(
                        f"Documents must be texts, paths or DataFrames; item {i} is a "
                        f"{type(x).__name__}", hint=f"pass {_WHAT}")
        else:
            raise GraphIndexError(f"Cannot index a {type(item).__name__}", hint=f"pass {_WHAT}")

    def _one(self, item: str | os.PathLike[str], position: int) -> None:
        if isinstance(item, os.PathLike):
            self._path(Path(item).expanduser(), os.fspath(item))
            return
        kind = classify(item)
        if kind == "text":
            self._text(item, position)
        elif kind == "glob":
            self._glob(item.strip())
        else:
            self._path(Path(item.strip()).expanduser(), item.strip())

    # .. texts ..
    def _text(self, text: str, position: int) -> None:
        if self.texts_entry is None:
            self.texts_entry = self._entry("(texts)", "texts")
        self._row(text, f"document {position}", None, None, None, self.texts_entry)

    # .. paths ..
    def _path(self, path: Path, given: str) -> None:
        if path.is_dir():
            self._folder(path)
        elif path.exists():
            self._file(path, path.name, strict=True)
        else:
            raise GraphIndexError(f"No file or folder at {given!r}",
                                  hint="check the path; to index this string itself, put it in "
                                       "a DataFrame: pd.DataFrame({'text': [...]})")

    def _glob(self, pattern: str) -> None:
        matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        if not matches:
            raise GraphIndexError(f"No files match {pattern!r}",
                                  hint="check the pattern (** spans folders: 'docs/**/*.md')")
        base = _glob_base(os.path.expanduser(pattern))
        found = 0
        for m in matches:
            p = Path(m)
            rel = _rel(p, base)
            if p.is_dir():
                continue  # "data/*" also matches folders: their files come from the pattern
            hit = _first_match(rel, self.exclude)
            if hit:
                self.report.skip(p, _excluded(hit))
                continue
            found += 1
            self._file(p, rel, strict=False)
        if not found and not any(Path(m).is_file() for m in matches):
            self.report.skip(pattern, "matches only folders (add a file pattern: "
                                      f"'{pattern.rstrip('/')}/**/*.txt')")

    def _folder(self, folder: Path) -> None:
        left_out: Counter[str] = Counter()
        taken: list[tuple[str, Path]] = []
        excluded = hidden = 0
        for root, dirs, files in os.walk(folder):
            rootp = Path(root)
            keep = []
            for d in sorted(dirs):
                rel = _rel(rootp / d, folder)
                hit = None if d.startswith(".") else _first_match(rel, self.exclude)
                if d.startswith("."):
                    hidden += 1
                elif hit:
                    excluded += 1
                    self.report.skip(rootp / d, _excluded(hit))
                else:
                    keep.append(d)
            dirs[:] = keep
            for name in sorted(files):
                if name.startswith("."):
                    hidden += 1
                    continue
                p = rootp / name
                rel = _rel(p, folder)
                hit = _first_match(rel, self.exclude)
                if hit:
                    excluded += 1
                    self.report.skip(p, _excluded(hit))
                elif not _first_match(rel, self.include):
                    left_out[p.suffix.lower() or "(no extension)"] += 1
                else:
                    taken.append((rel, p))
        for rel, p in sorted(taken):  # in path order, as the glob of the same files
            self._file(p, rel, strict=False)
        where = os.path.join(folder, "")  # "data/": the folder, not a file named data
        if left_out:
            kinds = ", ".join(f"{ext} ×{n}" for ext, n in left_out.most_common())
            n = sum(left_out.values())
            now = "the default formats" if self.include == DEFAULT_INCLUDE else \
                ", ".join(self.include)
            self.report.skip(where, f"{n} file{'s' * (n != 1)} not included ({kinds}); "
                                     f"include= patterns choose a folder's files (now: {now})")
        elif not taken and not excluded:
            self.report.skip(where, "no files in it" + (" (names starting with '.' are "
                                                         "skipped)" if hidden else ""))

    # .. files ..
    def _file(self, path: Path, title: str, *, strict: bool) -> None:
        fmt = FORMATS.get(path.suffix.lower(), "text")
        try:
            created = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) \
                .strftime("%Y-%m-%d %H:%M:%S %z")
            records, note = self._read(path, fmt)
            entry = self._entry(str(path), fmt, note)
            if isinstance(records, pd.DataFrame):
                self._records(records, title, str(path), created, entry, frame=False)
            else:
                self._row(records[0], title, str(path), created, records[1], entry)
        except _Unreadable as exc:
            ext = path.suffix.lower()
            if ext in _DOC_EXTS and ext not in FORMATS and exc.reason.startswith("binary"):
                exc = _Unreadable(f"a {ext} file, a format lmsnb does not read (it reads "
                                  f"{', '.join(sorted(set(FORMATS)))})",
                                  "save or export it as PDF, HTML, Markdown or text "
                                  "(e.g. pandoc file.docx -o file.md)")
            if strict:
                raise GraphIndexError(f"Cannot index {path}: {exc.reason}",
                                      hint=exc.hint or "remove or exclude it") from None
            self.report.skip(path, exc.reason + (f" ({exc.hint})" if exc.hint else ""))
        except OSError as exc:
            raise GraphIndexError(f"Cannot read {path}: {exc.strerror or exc}",
                                  hint="check the path and its permissions") from None

    def _read(self, path: Path, fmt: str) -> tuple[Any, str]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _Unreadable(f"unreadable ({exc.strerror or exc})",
                              "check its permissions") from None
        if fmt == "pdf":
            return read_pdf(data), ""
        declared = _html_charset(data) if fmt == "html" and self.encoding is None else None
        text, enc = decode(data, self.encoding or declared)
        note = f"read as {enc}" if enc not in ("utf-8", "utf-8-sig", "ascii") else ""
        if fmt == "markdown":
            body, meta, problem = split_front_matter(text)
            return (body, meta), "; ".join(x for x in (note, problem) if x)
        if fmt == "html":
            body, title = html_text(text)
            return (body, {"title": title} if title else None), note
        if fmt in ("csv", "json", "jsonl"):
            return _table(text, fmt), note
        return (text, None), note

    # .. tables (DataFrames, CSV, JSON) ..
    def _frame(self, df: pd.DataFrame, label: str) -> None:
        entry = self._entry(label, "DataFrame")
        try:
            self._records(df, None, None, None, entry, frame=True)
        except _Unreadable as exc:
            raise GraphIndexError(f"The documents DataFrame: {exc.reason}",
                                  hint=exc.hint) from None

    def _records(self, df: pd.DataFrame, title: str | None, source: str | None,
                 created: str | None, entry: int, *, frame: bool) -> None:
        """One document per row: the text column, a title, the other fields as ``raw_data``.

        An in-memory DataFrame (``frame``) keeps its ``id``, ``creation_date``, ``source`` and
        ``raw_data`` columns (so ``idx.documents`` goes back in unchanged); in a file, every
        field but the text and title is metadata.
        """
        text_col = pick_text_column(df, self.text_column)
        title_col = self._title_col(df, text_col)
        if text_col != "text" or (title_col not in (None, "title")):
            cols = f"text from {text_col!r}" + (f", title from {title_col!r}" if title_col
                                                else "")
            self.entries[entry]["note"] = "; ".join(
                x for x in (self.entries[entry]["note"], cols) if x)
        reserved = _RESERVED if frame else set()
        other = [c for c in df.columns if c not in (text_col, title_col) and
                 str(c) not in reserved]
        kept = {c: c in df.columns for c in ("raw_data", "source", "creation_date", "id")} \
            if frame else dict.fromkeys(("raw_data", "source", "creation_date", "id"), False)
        many = len(df) > 1
        for i, (_, row) in enumerate(df.iterrows()):
            value = row[text_col]
            t = row[title_col] if title_col is not None else None
            if _is_na(t) or str(t).strip() == "":
                t = (f"{title} ({i})" if many else title) if title else f"document {i}"
            raw = _as_dict(row["raw_data"]) if kept["raw_data"] else None
            extra = {str(c): plain(row[c]) for c in other}
            if extra:
                raw = {**(raw or {}), **extra}
            src = row["source"] if kept["source"] and not _is_na(row["source"]) else source
            when = row["creation_date"] if kept["creation_date"] and \
                not _is_na(row["creation_date"]) else created
            doc_id = row["id"] if kept["id"] and not _is_na(row["id"]) else None
            self._row(value, str(t), src, when, raw, entry, doc_id)

    def _title_col(self, df: pd.DataFrame, text_col: Any) -> Any:
        if self.title_column is not None:
            col = _find_column(df, self.title_column)
            if col is None:
                raise _Unreadable(f"there is no column {self.title_column!r} for titles (it "
                                  f"has: {_names(df)})", "pass title_column= one of those")
            return col
        col = _find_column(df, "title")
        return col if col is not None and col != text_col else None

    # .. rows ..
    def _entry(self, source: str, fmt: str, note: str = "") -> int:
        self.entries.append({"source": source, "format": fmt, "note": note})
        return len(self.entries) - 1

    def _row(self, text: Any, title: str, source: str | None, created: str | None,
             raw: dict[str, Any] | None, entry: int, doc_id: Any = None) -> None:
        self.rows.append({"text": None if _is_na(text) else str(text), "title": title,
                          "source": source, "creation_date": created, "raw_data": raw or None,
                          "id": None if doc_id is None else str(doc_id), "_entry": entry})

    def finish(self) -> tuple[pd.DataFrame, InputReport]:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S %z")
        kept: list[dict[str, Any]] = []
        seen: dict[str, str] = {}
        empty: Counter[int] = Counter()
        dups: dict[int, list[str]] = {}
        for r in self.rows:
            if r["text"] is None or not r["text"].strip():
                empty[r["_entry"]] += 1
                continue
            r["id"] = r["id"] or sha512(r["text"])
            if r["id"] in seen:
                dups.setdefault(r["_entry"], []).append(seen[r["id"]])
                continue
            seen[r["id"]] = r["title"]
            kept.append(r)
        counts = Counter(r["_entry"] for r in kept)
        chars = Counter()
        for r in kept:
            chars[r["_entry"]] += len(r["text"])
        for i, e in enumerate(self.entries):
            if counts[i]:
                self.report._taken.append({**e, "documents": counts[i], "characters": chars[i],
                                           "_entry": i})
            why = []
            if empty[i]:
                why.append("empty" if e["format"] not in ("texts", "DataFrame", "csv", "json",
                                                          "jsonl") else
                           f"{empty[i]} empty text{'s' * (empty[i] != 1)}")
            if i in dups:
                firsts = dups[i]
                why.append(f"same text as {firsts[0]!r}" if len(firsts) == 1 else
                           f"{len(firsts)} texts already given (same text as {firsts[0]!r}, …)")
            if not counts[i] and not why:
                why.append("no rows")
            if why:
                self.report.skip(e["source"], "; ".join(why))
        out = pd.DataFrame({
            "id": [r["id"] for r in kept],
            "human_readable_id": range(len(kept)),
            "title": [r["title"] for r in kept],
            "text": [r["text"] for r in kept],
            "text_unit_ids": [[] for _ in kept],
            "creation_date": [str(r["creation_date"] or now) for r in kept],
            "raw_data": pd.Series([r["raw_data"] for r in kept], dtype=object),
            "source": pd.Series([r["source"] for r in kept], dtype=object),
        })
        out["human_readable_id"] = out["human_readable_id"].astype("int64")
        self.report._rows = [(r["_entry"], len(r["text"])) for r in kept]
        return out, self.report


# -- strings: text or path? ------------------------------------------------------------------


def classify(s: str) -> str:
    """``"text"``, ``"path"`` or ``"glob"`` for a string passed as a document (module rules)."""
    st = s.strip()
    if not st or "\n" in st or len(st) > 4096:
        return "text"
    if re.match(r"[a-z][a-z0-9+.-]*://", st, re.I) and " " not in st:
        raise GraphIndexError(f"Cannot index {st!r}: lmsnb reads files, it does not download",
                              hint="save the page or file and pass its path")
    try:
        if Path(st).expanduser().exists():
            return "path"
    except (OSError, ValueError):  # not a valid path here
        return "text"
    if glob.has_magic(st) and glob.glob(os.path.expanduser(st), recursive=True):
        return "glob"
    if _pathish(st):
        return "glob" if glob.has_magic(st) else "path"
    return "text"


def _pathish(s: str) -> bool:
    """Can only be meant as a path: ``./x``, ``~/x``, ``/x``, ``C:\\x``, or one word that holds
    a path separator or ends in a document extension (``notes.txt``, ``*.md``)."""
    if s.startswith(("./", "../", "~/", "/", ".\\", "..\\", "~\\")) or re.match(r"[A-Za-z]:[\\/]",
                                                                              s):
        return True
    if any(c.isspace() for c in s):
        return False
    return "/" in s or "\\" in s or Path(s).suffix.lower() in _DOC_EXTS


# -- patterns --------------------------------------------------------------------------------


def _rel(p: Path, base: Path) -> str:
    if base == Path("."):
        return p.as_posix()
    try:
        return p.relative_to(base).as_posix()
    except ValueError:
        return p.name


def _glob_base(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    pat = pattern.replace("\\", "/").strip()
    pat = pat[2:] if pat.startswith("./") else pat
    out, i = [], 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        elif pat[i] == "[" and "]" in pat[i + 2:]:
            j = pat.index("]", i + 2)
            body = pat[i + 1:j]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = j + 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    return re.compile("".join(out).rstrip("/") + r"\Z", re.IGNORECASE)


def _first_match(rel: str, patterns: tuple[str, ...]) -> str | None:
    """The first pattern matching ``rel`` (a file, or a folder it is in); None if none does."""
    parts = rel.split("/")
    for pat in patterns:
        rx = _compile(pat)
        if "/" not in pat.replace("\\", "/").strip("/"):
            if any(rx.match(part) for part in parts):
                return pat
        elif any(rx.match("/".join(parts[:k])) for k in range(1, len(parts) + 1)):
            return pat
    return None


def _excluded(pattern: str) -> str:
    how = "pass exclude=() to keep it" if pattern in DEFAULT_EXCLUDE else "change exclude= to keep it"
    return f"excluded by {pattern!r} ({how})"


# -- decoding --------------------------------------------------------------------------------

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
         (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """``(text, encoding)`` for a file's bytes, or :class:`_Unreadable` when it is not text.

    UTF-8 (BOM or not) and UTF-16/32 with a BOM are exact; UTF-16 without a BOM is recognised
    by its zero bytes; anything else is tried as cp1252 (Latin-1 where cp1252 has no character)
    and refused unless it reads like Western text: a wrong guess would index mojibake.
    """
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _Unreadable(f"not valid {encoding} (byte {exc.start})",
                              "pass the file's real encoding=, or save it as UTF-8") from None
        return _checked(text.lstrip("\ufeff")), encoding
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(enc).lstrip("\ufeff")), enc
            except UnicodeDecodeError:
                raise _Unreadable(f"a {enc.upper()} byte-order mark, but not {enc.upper()} "
                                  "after it", "save it again as UTF-8") from None
    if b"\x00" in data:
        enc = _bomless_utf16(data)
        if enc is None:
            raise _Unreadable("binary, not text (it contains zero bytes)",
                              "remove it, or exclude it with exclude=[...]")
        try:
            return _checked(data.decode(enc)), enc
        except UnicodeDecodeError:
            raise _Unreadable("binary, not text (it contains zero bytes)",
                              "remove it, or exclude it with exclude=[...]") from None
    try:
        return _checked(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    good = len(_UTF8_SEQ.findall(data))
    bad = sum(1 for b in _UTF8_SEQ.sub(b"", data) if b >= 0x80)
    if good and bad <= good // 20:  # UTF-8 with a few broken bytes, not another encoding
        return _checked(data.decode("utf-8", errors="replace")), \
            f"utf-8, {bad} invalid byte{'s' * (bad != 1)} replaced"
    try:
        text, enc = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, enc = data.decode("latin-1"), "latin-1"
    letters = [c for c in text[:100_000] if c.isalpha()]
    foreign = sum(1 for c in letters if ord(c) > 127)
    if _control_share(text) > 0.01 or (letters and foreign / len(letters) > 0.3):
        raise _Unreadable("not UTF-8, UTF-16 or Latin-1 text (another encoding, or binary)",
                          "if it is text, pass encoding='…' (e.g. 'cp1251', 'shift_jis') or "
                          "save it as UTF-8")
    return text, enc


_UTF8_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|"
                       rb"[\xf0-\xf4][\x80-\xbf]{3}")


def _html_charset(data: bytes) -> str | None:
    """The ``<meta charset>`` a page declares (when Python knows it and there is no BOM)."""
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.I)
    if not m or any(data.startswith(bom) for bom, _ in _BOMS):
        return None
    try:
        return codecs.lookup(m.group(1).decode("ascii")).name
    except LookupError:
        return None


def _bomless_utf16(data: bytes) -> str | None:
    sample = data[:4096]
    sample = sample[: len(sample) // 2 * 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # Unicode's Cc, less \t\n\v\f\r


def _control_share(text: str) -> float:
    sample = text[:100_000]
    return len(_CONTROL.findall(sample)) / len(sample) if sample else 0.0


def _checked(text: str) -> str:
    if _control_share(text) > 0.01:
        raise _Unreadable("binary, not text (control characters)",
                          "remove it, or exclude it with exclude=[...]")
    return text


# -- formats ---------------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[str, dict[str, Any] | None, str]:
    """``(body, metadata, problem)``: YAML front matter (``---`` … ``---``) becomes metadata."""
    m = re.match(r"---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", text, re.S | re.M)
    if not m:
        return text, None, ""
    import yaml

    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 2})" if line is not None else ""
        return text, None, f"front matter is not valid YAML{where}: kept as text"
    if meta is None:
        return text[m.end():], None, ""
    if not isinstance(meta, dict):
        return text, None, "front matter is not a YAML mapping: kept as text"
    return text[m.end():], {str(k): plain(v) for k, v in meta.items()}, ""


class _VisibleText(HTMLParser):
    """The text a browser shows: no script, style, head, template, svg or hidden elements."""

    HIDDEN = {"script", "style", "head", "noscript", "template", "svg", "canvas", "iframe",
              "object"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
            "source", "track", "wbr"}
    BLOCK = {"address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
             "figure", "footer", "form", "header", "li", "main", "nav", "ol", "section", "table",
             "tr", "ul", "br", "hr", "caption", "details", "summary", "fieldset", "legend"}
    PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self.in_title = False
        self.skip: str | None = None
        self.depth = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.skip in (None, "head"):
            self.in_title = True
        if self.skip is not None:
            if tag == "body" and self.skip == "head":  # </head> is optional
                self.skip = None
            elif tag == self.skip and tag not in self.VOID:
                self.depth += 1
                return
            else:
                return
        a = {k: (v or "") for k, v in attrs}
        hidden = ("hidden" in a or a.get("aria-hidden", "").lower() == "true"
                  or "display:none" in a.get("style", "").replace(" ", "").lower())
        if (tag in self.HIDDEN or hidden) and tag not in self.VOID:
            self.skip, self.depth = tag, 1
            return
        if tag == "pre":
            self.pre += 1
        if tag in self.PARAGRAPH:
            self._break(2)
        elif tag in self.BLOCK:
            self._break(1)
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if self.skip is not None:
            if tag == self.skip:
                self.depth -= 1
                if self.depth == 0:
                    self.skip = None
            return
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in self.PARAGRAPH:
            self._break(2)
        elif tag in self.BLOCK:
            self._break(1)

    def _break(self, n: int) -> None:
        """End the line (n=1) or the paragraph (n=2) unless the output already does."""
        tail = "".join(self.out[-4:]).rstrip(" ")
        have = len(tail) - len(tail.rstrip("\n")) if tail.strip() else n
        self.out.append("\n" * max(0, n - have))

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        if self.skip is not None:
            return
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = [line.strip() for line in "".join(self.out).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_text(source: str) -> tuple[str, str]:
    """``(visible text, <title>)`` of an HTML page (stdlib ``html.parser``)."""
    p = _VisibleText()
    p.feed(source)
    p.close()
    return p.text(), re.sub(r"\s+", " ", "".join(p.title)).strip()


def read_pdf(data: bytes) -> tuple[str, dict[str, Any]]:
    """``(text, raw_data)`` of a PDF through ``pypdf`` (the ``pdf`` extra): pages in order."""
    try:
        import pypdf
    except ImportError:
        raise _Unreadable("a PDF, and reading PDFs needs pypdf (not installed)", PDF_HINT) from None
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _Unreadable("password-protected", "save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except _Unreadable:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds for a damaged file
        raise _Unreadable(f"not a readable PDF ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:120] if str(exc) else ''})",
                          "open it in a PDF viewer; re-save or re-export it") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if pages and not text:
        raise _Unreadable(f"no text layer ({len(pages)} pages of images?)",
                          "run OCR on it first (e.g. ocrmypdf), then pass the result")
    raw: dict[str, Any] = {"pages": len(pages)}
    for key in ("title", "author", "subject"):
        value = getattr(info, key, None) if info else None
        if value:
            raw[key] = str(value)
    return text, raw


def _table(text: str, fmt: str) -> pd.DataFrame:
    """Rows of a CSV, JSON or JSON Lines file (nested JSON keys flattened to ``a.b``)."""
    if fmt == "csv":
        try:
            df = pd.read_csv(io.StringIO(text))
            if len(df.columns) == 1:  # ";" or tab separated (Excel in many locales)
                for sep in (";", "\t"):
                    if sep in str(df.columns[0]):
                        df = pd.read_csv(io.StringIO(text), sep=sep)
                        break
        except pd.errors.EmptyDataError:
            return pd.DataFrame({"text": []})
        except (pd.errors.ParserError, ValueError) as exc:
            raise _Unreadable(f"not valid CSV ({str(exc).strip().splitlines()[0][:120]})",
                              "check the file, or load it with pandas and pass the DataFrame") \
                from None
        return df
    if fmt == "jsonl":
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as exc:
                    raise _Unreadable(f"line {n} is not JSON ({exc})",
                                      "each line of a .jsonl file is one JSON object") from None
    else:
        try:
            data = json.loads(text) if text.strip() else []
        except ValueError as exc:
            raise _Unreadable(f"not valid JSON ({exc})", "check the file") from None
        items = _json_records(data)
    if all(isinstance(x, str) for x in items):
        return pd.DataFrame({"text": items}, dtype=object)
    bad = next((i for i, x in enumerate(items) if not isinstance(x, dict)), None)
    if bad is not None:
        raise _Unreadable(f"item {bad} is a {type(items[bad]).__name__}, not an object",
                          "give one JSON object (or one string) per document")
    return pd.json_normalize(items, sep=".") if items else pd.DataFrame({"text": []})


def _json_records(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and
                 all(isinstance(x, dict) for x in v)]
        if len(lists) == 1 and not any(k.lower() in _TEXT_NAMES for k in data):
            return lists[0]  # {"documents": [{...}, ...]}
        return [data]
    raise _Unreadable(f"a JSON {type(data).__name__}, not objects",
                      "give a list of objects, one per document")


def pick_text_column(df: pd.DataFrame, wanted: str | None) -> Any:
    """The column holding the text: ``wanted``, else by name, else the only long-string column."""
    if wanted is not None:
        col = _find_column(df, wanted)
        if col is None:
            raise _Unreadable(f"there is no column {wanted!r} (it has: {_names(df)})",
                              "pass text_column= one of those")
        return col
    for name in _TEXT_NAMES:
        col = _find_column(df, name)
        if col is not None:
            return col
    lengths = {c: _mean_length(df[c]) for c in df.columns
               if str(c) not in ("id", "human_readable_id", "text_unit_ids", "raw_data")}
    long = sorted((c for c, n in lengths.items() if n is not None and n >= _LONG_TEXT),
                  key=lambda c: -(lengths[c] or 0))
    if len(long) == 1 or (len(long) > 1 and lengths[long[0]] >= 4 * lengths[long[1]]):
        return long[0]  # the only (or by far the longest) column of running text
    described = ", ".join(f"{c} (" + (f"~{n:.0f} characters" if n is not None else "not text")
                          + ")" for c, n in lengths.items()) or "no columns"
    which = ("several columns hold long text" if long else "no column holds running text")
    raise _Unreadable(f"which column is the text? {which}: {described}",
                      "pass text_column='…' (or name the column 'text')")


def _find_column(df: pd.DataFrame, name: str) -> Any:
    if name in df.columns:
        return name
    folded = [c for c in df.columns if str(c).lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _mean_length(values: pd.Series) -> float | None:
    strings = [v for v in values.head(200) if isinstance(v, str)]
    return sum(map(len, strings)) / len(strings) if strings else None


def _names(df: pd.DataFrame) -> str:
    return ", ".join(map(str, df.columns)) or "no columns"


# -- values ----------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A field value as plain Python (numpy scalars, NaN, dates), for ``raw_data``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if _is_na(value):
        return None
    return value


def _as_dict(value: Any) -> dict[str, Any] | None:
    """``raw_data`` as a dict (a JSON text when it was saved as one, see index.py)."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return {str(k): plain(v) for k, v in value.items()} if isinstance(value, Mapping) else None


def _is_na(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and value != value
