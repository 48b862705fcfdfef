"""How a build runs its model calls: how many at once, in what order, and how it stops.

- ``concurrency="auto"`` (the default): an LM Studio model gets as many calls in flight as each
  of its hosts runs at once, learned from how the server behaves (``lmsnb.client.pool``); a
  model object of your own gets ``AUTO_THREADS`` at a time. A number is calls in flight per
  host (threads, for your own model).
- One pool of worker threads serves the whole build, so work of the next stage starts as soon
  as its inputs exist (:func:`describe_and_report`): a community's report is written once the
  descriptions it shows are summarised — while other summaries still run — and a parent's
  report does not wait for its children unless it needs their reports; text units are embedded
  while the graph is extracted.
- Calls that finish work already started go first (a chunk's gleaning before the next chunk's
  extraction, reports before summaries), and chunks start most-names-first (their replies are
  the longest), so the end of a stage is short calls, not a long one begun late. Calls of
  equal priority take free slots in the order they came (``lmsnb.client.pool``).
- On a failure or Ctrl-C: queued work is dropped, calls in flight are cancelled on the server,
  and the error is raised; every answer already received is in the cache.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import pandas as pd

from ..errors import Cancelled, ConfigError
from .progress import Accounting, Progress, StageProgress
from .reports import needs_sub_reports, report_table, write_report
from .summarize import Item, plan, summarize_item

T = TypeVar("T")
R = TypeVar("R")

AUTO_THREADS = 4  # "auto" for a chat model that is not served by LM Studio
LMSTUDIO_THREADS = 64  # worker threads per LM Studio host; the hosts' slots decide what runs

#: Which waiting call gets a free slot first (higher first): finish what is started.
PRIORITY = {"extract_graph": 0, "gleaning": 1, "summarize_descriptions": 2,
            "community_reports": 3}
_priority: contextvars.ContextVar[float] = contextvars.ContextVar("lmsnb_priority", default=0)


def set_stage(stage: str, urgency: float = 0.0) -> None:
    """Mark the calls this thread makes next as ``stage``'s (see ``PRIORITY``); ``urgency``
    (0 to 1, below the next stage's) orders waiting calls of one stage, higher first."""
    _priority.set(PRIORITY.get(stage, 0) + min(max(urgency, 0.0), 0.999))


def current_priority() -> float:
    return _priority.get()


def check_concurrency(value: Any) -> int | None:
    """``"auto"``/None → None (learned); a positive int → itself; anything else → ConfigError."""
    if value is None or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"concurrency must be 'auto' or a positive number, not {value!r}",
                          hint="'auto' runs as many calls as LM Studio runs at once; a number "
                               "sets calls in flight per host")
    return value


def thread_count(concurrency: Any) -> int:
    """Threads for stage code that runs its own small pool (``progress.run_parallel``, used by
    ``idx.refresh()``): a number is itself; "auto" is ``AUTO_THREADS`` (an LM Studio host still
    runs no more at once than it can)."""
    return check_concurrency(concurrency) or AUTO_THREADS


class Scheduler:
    """The build's worker threads; ``with Scheduler(...) as s:`` aborts everything on error."""

    def __init__(self, models: Iterable[Any] = (), concurrency: Any = "auto",
                 progress: Progress | None = None) -> None:
        from .llm import LMStudioChat

        self.progress = progress  # its live stages are marked failed when the build fails
        self.limit = check_concurrency(concurrency)
        self._chats = [m for m in models if isinstance(m, LMStudioChat)]
        for chat in self._chats:
            chat.concurrency = self.limit
            chat.abort = threading.Event()
        if self._chats:
            threads = LMSTUDIO_THREADS * _host_count()
        else:
            threads = self.limit or AUTO_THREADS
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lmsnb-graphrag")
        self.error: BaseException | None = None  # the first failure (what the build raises)
        self._changed = threading.Condition()
        self._recent: list[Future[Any]] = []  # finished since the last look (see as_completed)

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.fail()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def slots(self) -> int:
        """How many model calls may be in flight now (threads, for a model of your own)."""
        return sum(chat.slots() for chat in self._chats) if self._chats else self.threads

    def submit(self, fn: Callable[..., R], *args: Any) -> Future[R]:
        """Run ``fn(*args)`` on a worker; after a failure, work not yet started is skipped."""

        def run() -> R:
            if self.error is not None:
                raise Cancelled("The build stopped after an error")
            try:
                return fn(*args)
            except BaseException as exc:
                if self.error is None and not isinstance(exc, Cancelled):
                    self.error = exc
                self.abort()
                raise

        if self.error is not None:  # the build already failed: say why, once
            raise self.error
        future = self._pool.submit(run)
        future.add_done_callback(self._wake)  # also called when a queued future is cancelled
        return future

    def _wake(self, future: Future[Any]) -> None:
        with self._changed:
            self._recent.append(future)
            self._changed.notify_all()

    def close(self) -> None:
        """Let the idle workers go (the build is done)."""
        self._pool.shutdown(wait=False)

    def fail(self) -> None:
        """The build failed (caller's thread): stop everything, and no stage stays live."""
        self.abort()
        if self.progress is not None:
            self.progress.fail_open()

    def abort(self) -> None:
        """Drop queued work and cancel calls in flight on the server."""
        for chat in self._chats:
            chat.abort.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def map(self, fn: Callable[[T], R], items: Iterable[T],
            progress: StageProgress | None = None) -> list[R]:
        """``[fn(x) for x in items]`` on the workers, in input order; the first error aborts."""
        items = list(items)

        def job(x: T) -> R:
            out = fn(x)
            if progress:
                progress.advance()
            return out

        futures = [self.submit(job, x) for x in items]
        self.wait_all(futures)
        return [f.result() for f in futures]

    def wait_all(self, futures: Iterable[Future[Any]]) -> None:
        """Wait for ``futures``; the first failure aborts the build and is raised."""
        for future in self.as_completed(set(futures)):
            self.check(future)

    def check(self, future: Future[Any]) -> None:
        """Raise the build's error if ``future`` failed or was dropped because of one."""
        if future.cancelled() or future.exception() is not None:
            self.fail()
            raise self.error or (Cancelled("The build was stopped") if future.cancelled()
                                 else future.exception())  # type: ignore[misc]

    def as_completed(self, watched: set[Future[Any]]) -> Iterator[Future[Any]]:
        """Yield the futures in ``watched`` as they finish, removing them; the caller may add
        futures it submits meanwhile. Unlike ``concurrent.futures`` this also wakes for futures
        cancelled in the queue, and costs O(1) per future; Ctrl-C aborts the build first."""
        ready = [f for f in watched if f.done()]
        try:
            while watched:
                if not ready:
                    with self._changed:
                        while not self._recent:
                            self._changed.wait(1.0)
                        ready, self._recent = self._recent, []
                future = ready.pop()
                if future in watched:
                    watched.discard(future)
                    yield future
        except BaseException:
            self.fail()
            raise


def _host_count() -> int:
    from ..client import get_connection

    try:
        return max(1, len(getattr(get_connection(), "hosts", [None])))
    except Exception:  # noqa: BLE001 - no server yet: the first call will say so
        return 1


def describe_and_report(sched: Scheduler, entities: pd.DataFrame, relationships: pd.DataFrame,
                        text_units: pd.DataFrame, *, finalize: Callable[..., Any],
                        cluster: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
                        chat: Any | None, summary_template: str | None, summary_kw: dict[str, Any],
                        report_template: str, report_kw: dict[str, Any], prog: Progress,
                        acc: Accounting, failures: list[str],
                        on_described: Callable[[pd.DataFrame], None] | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                   pd.DataFrame]:
    """Summaries, communities and reports, each report started as soon as its inputs exist.

    ``entities``/``relationships`` carry ``descriptions`` lists (standard method: summarised
    with ``summary_template``) or a final ``description`` (fast method: ``summary_template``
    None). ``finalize(entities, relationships, text_units)`` gives ids and degrees;
    ``cluster(entities, relationships)`` the communities — they need only the graph's shape, so
    they are computed while summaries run. ``on_described(entities)`` is called once every
    description is final (to embed them while reports are still being written).
    Returns entities, relationships, text_units, communities and community_reports.
    """
    summaries: dict[Future[str], tuple[str, Any]] = {}
    stage_s = None
    if summary_template is not None:
        stage_s = prog.stage("summarize_descriptions", 0)
        items = {"e": [Item(t, t, d) for t, d in zip(entities["title"], entities["descriptions"],
                                                     strict=True)],
                 "r": [Item((s, t), f"{s} -> {t}", d) for s, t, d in
                       zip(relationships["source"], relationships["target"],
                           relationships["descriptions"], strict=True)]}
        final: dict[str, dict[Any, str]] = {}
        for kind, its in items.items():
            final[kind], todo = plan(its, chat, summary_kw.get("threshold_tokens", 200))
            for it in todo:
                fut = sched.submit(_summary_job, it, chat, summary_template, summary_kw, stage_s)
                summaries[fut] = (kind, it.key)
        stage_s.total = len(summaries)
        entities["description"] = [final["e"].get(t, "") for t in entities["title"]]
        relationships["description"] = [final["r"].get((s, t), "") for s, t in
                                        zip(relationships["source"], relationships["target"],
                                            strict=True)]
    t0 = time.perf_counter()
    entities, relationships, text_units = finalize(entities, relationships, text_units)
    communities = cluster(entities, relationships)
    acc.wall("communities", time.perf_counter() - t0)

    described: dict[tuple[str, Any], str] = {}

    def all_described() -> None:
        nonlocal stage_s
        _apply(entities, relationships, described)
        if stage_s is not None:
            acc.wall("summarize_descriptions", stage_s.finish())
            stage_s = None
        if on_described is not None:
            on_described(entities)

    if not summaries:
        all_described()

    # Which pending summaries each community waits for.
    ent_key = dict(zip(entities["id"], entities["title"], strict=True))
    rel_key = dict(zip(relationships["id"], zip(relationships["source"],
                                                relationships["target"], strict=True),
                       strict=True))
    pending = set(summaries.values())
    waiting_on: dict[int, set[tuple[str, Any]]] = {}
    users: dict[tuple[str, Any], list[int]] = {}
    rows = {int(row["community"]): row for _, row in communities.iterrows()}
    for cid, row in rows.items():
        need = {("e", ent_key[i]) for i in row["entity_ids"] if ("e", ent_key[i]) in pending}
        need |= {("r", rel_key[i]) for i in row["relationship_ids"]
                 if ("r", rel_key[i]) in pending}
        waiting_on[cid] = need
        for k in need:
            users.setdefault(k, []).append(cid)
    e_pos = {t: i for i, t in enumerate(entities["title"])}
    r_pos = {k: i for i, k in enumerate(zip(relationships["source"], relationships["target"],
                                            strict=True))}
    stage_r = prog.stage("community_reports", len(communities))
    reports: dict[int, dict[str, Any]] = {}
    report_futs: dict[Future[dict[str, Any]], int] = {}
    blocked: set[int] = set()  # its summaries are done; it waits for its children's reports
    started: set[int] = set()
    open_futs: set[Future[Any]] = set(summaries)

    def community_slice(cid: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The community's own rows, with the descriptions summarised so far."""
        row = rows[cid]
        e = entities.iloc[sorted(e_pos[ent_key[i]] for i in row["entity_ids"])].copy()
        r = relationships.iloc[sorted(r_pos[rel_key[i]] for i in row["relationship_ids"])].copy()
        e["description"] = [described.get(("e", t), d) for t, d in
                            zip(e["title"], e["description"], strict=True)]
        r["description"] = [described.get(("r", (s, t)), d) for s, t, d in
                            zip(r["source"], r["target"], r["description"], strict=True)]
        return e, r

    def try_start(cid: int, force: bool = False) -> None:
        if cid in started or waiting_on[cid]:
            return
        e, r = community_slice(cid)
        kids = [int(k) for k in rows[cid]["children"] if int(k) in rows]
        if not force and any(k not in reports for k in kids) and needs_sub_reports(
                rows[cid], e, r, report_kw.get("max_input_tokens", 8000)):
            blocked.add(cid)
            return
        blocked.discard(cid)
        subs = [{"community": k, **reports[k]} for k in kids if k in reports]
        started.add(cid)
        fut = sched.submit(_report_job, rows[cid], e, r, text_units, chat, report_template,
                           report_kw, subs, failures, stage_r)
        report_futs[fut] = cid
        open_futs.add(fut)

    for cid in sorted(rows, key=lambda c: -int(rows[c]["level"])):  # leaves first
        try_start(cid)
    while open_futs or blocked:
        if not open_futs:  # cannot happen with a consistent hierarchy; never wait forever
            for cid in sorted(blocked):
                try_start(cid, force=True)
            continue
        for fut in sched.as_completed(open_futs):
            sched.check(fut)
            if fut in summaries:
                key = summaries.pop(fut)
                described[key] = fut.result()
                for cid in users.get(key, []):
                    waiting_on[cid].discard(key)
                    try_start(cid)
                if not summaries:
                    all_described()
            else:
                cid = report_futs[fut]
                reports[cid] = fut.result()
                parent = int(rows[cid]["parent"])
                if parent in blocked:
                    try_start(parent)
    acc.wall("community_reports", stage_r.finish())
    return entities, relationships, text_units, communities, report_table(communities, reports)


def _apply(entities: pd.DataFrame, relationships: pd.DataFrame,
           described: dict[tuple[str, Any], str]) -> None:
    entities["description"] = [described.get(("e", t), d) for t, d in
                               zip(entities["title"], entities["description"], strict=True)]
    relationships["description"] = [described.get(("r", (s, t)), d) for s, t, d in
                                    zip(relationships["source"], relationships["target"],
                                        relationships["description"], strict=True)]


def _summary_job(it: Item, chat: Any, template: str, kw: dict[str, Any],
                 progress: StageProgress | None) -> str:
    text = summarize_item(it, chat, template, max_length=kw.get("max_length", 500),
                          max_input_tokens=kw.get("max_input_tokens", 4000),
                          stage="summarize_descriptions", config=kw.get("config"))
    if progress:
        progress.advance()
    return text


def _report_job(row: pd.Series, e: pd.DataFrame, r: pd.DataFrame, units: pd.DataFrame,
                chat: Any, template: str, kw: dict[str, Any], subs: list[dict[str, Any]],
                failures: list[str], progress: StageProgress | None) -> dict[str, Any]:
    rep = write_report(row, e, r, units, chat, template, mode=kw.get("mode", "graph"),
                       max_input_tokens=kw.get("max_input_tokens", 8000),
                       max_length=kw.get("max_length", 2000), sub_reports=subs,
                       failures=failures, repairs=kw.get("repairs"), config=kw.get("config"))
    if progress:
        progress.advance()
    return rep
