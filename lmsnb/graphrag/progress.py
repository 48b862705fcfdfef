"""Live progress per stage, token/time accounting, and the thread pool the stages share.

Progress is deliberately thin: inside a Jupyter kernel one bar per stage (lmsnb's ProgressBar,
which leaves "community_reports 2/2 — 4.9 s" as static output when the stage ends, so a saved
notebook keeps it), one text line per stage (and every ~10 % of a long stage) elsewhere, nothing
with ``progress=False``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")
R = TypeVar("R")

STAT_COLUMNS = ["stage", "calls", "cached_calls", "retries", "prompt_tokens",
                "completion_tokens", "seconds"]


@dataclass
class _Row:
    calls: int = 0
    cached_calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    embed_texts: int = 0
    queued_seconds: float = 0.0


class Accounting:
    """Thread-safe per-stage totals; :meth:`table` is the ``idx.stats`` DataFrame.

    ``calls`` counts every request the stage made: answered from the cache (``cached_calls``)
    or sent to a model — each attempt, so ``calls - cached_calls`` is what the server saw;
    ``retries`` is how many of those were repeats (a stalled call, a host that died midway).
    Tokens and ``model_seconds`` count only calls paid for in this run. ``seconds`` is the
    stage's wall-clock time; ``model_seconds`` adds up how long each model call took, so with
    calls in parallel it is larger than ``seconds`` (their ratio is the parallelism achieved).
    :meth:`hosts` has the same per LM Studio host.
    """

    def __init__(self) -> None:
        self._rows: dict[str, _Row] = {}
        self._hosts: dict[str, _Row] = {}
        self._wall: dict[str, float] = {}
        self._lock = threading.Lock()

    def _row(self, stage: str) -> _Row:
        return self._rows.setdefault(stage, _Row())

    def add(self, stage: str, completion: Any, failed: int = 0) -> None:
        """One answered request; ``failed`` earlier attempts of it raised and were retried."""
        with self._lock:
            r = self._row(stage)
            if completion.cached:
                r.calls += 1
                r.cached_calls += 1
                return
            sent = max(1, int(getattr(completion, "attempts", 1) or 1)) + failed
            r.calls += sent
            r.retries += sent - 1
            host = getattr(completion, "host", "")
            rows = [r] + ([self._hosts.setdefault(host, _Row())] if host else [])
            for row in rows:
                row.prompt_tokens += completion.prompt_tokens
                row.completion_tokens += completion.completion_tokens
                row.seconds += completion.seconds
                row.queued_seconds += getattr(completion, "queued_seconds", 0.0)
            if host:
                rows[1].calls += 1
            for lost in getattr(completion, "lost_on", ()):  # sent there; the host went down
                h = self._hosts.setdefault(lost, _Row())
                h.calls += 1
                h.retries += 1

    def add_failed(self, stage: str, attempts: int) -> None:
        """A request that failed for good after ``attempts`` tries (all reached the server)."""
        with self._lock:
            r = self._row(stage)
            r.calls += attempts
            r.retries += max(0, attempts - 1)

    def add_embed(self, stage: str, *, n_texts: int, n_cached: int, tokens: int, seconds: float,
                  requests: int) -> None:
        with self._lock:
            r = self._row(stage)
            r.calls += 1
            r.cached_calls += 0 if requests else 1
            r.prompt_tokens += tokens
            r.seconds += seconds
            r.embed_texts += n_texts

    def wall(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._wall[stage] = self._wall.get(stage, 0.0) + seconds
            self._row(stage)

    def table(self) -> pd.DataFrame:
        rows = []
        for stage, r in self._rows.items():
            rows.append({"stage": stage, "calls": r.calls, "cached_calls": r.cached_calls,
                         "retries": r.retries,
                         "prompt_tokens": r.prompt_tokens,
                         "completion_tokens": r.completion_tokens,
                         "seconds": round(self._wall.get(stage, r.seconds), 3),
                         "model_seconds": round(r.seconds, 3)})
        df = pd.DataFrame(rows, columns=STAT_COLUMNS + ["model_seconds"])
        if len(df):
            total = df.drop(columns="stage").sum(numeric_only=True)
            df = pd.concat([df, pd.DataFrame([{"stage": "total", **total.to_dict()}])],
                           ignore_index=True)
            for c in ("calls", "cached_calls", "retries", "prompt_tokens", "completion_tokens"):
                df[c] = df[c].astype("int64")
        return df

    def host_calls(self) -> dict[str, int]:
        """Calls each LM Studio host answered so far (for progress lines)."""
        with self._lock:
            return {h: r.calls - r.retries for h, r in sorted(self._hosts.items())}

    def hosts(self) -> list[dict[str, Any]]:
        """One record per LM Studio host (``idx.meta["hosts"]``): ``calls`` sent to it, ``lost``
        of those when it went down (each ran again elsewhere), tokens and seconds it answered."""
        with self._lock:
            return [{"host": h, "calls": r.calls, "lost": r.retries,
                     "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                     "model_seconds": round(r.seconds, 3),
                     "queued_seconds": round(r.queued_seconds, 3)}
                    for h, r in sorted(self._hosts.items())]


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and hasattr(ip, "kernel")
    except Exception:
        return False


class Progress:
    """Reports ``stage(name, total)`` progress to a widget, to text lines, or nowhere."""

    def __init__(self, mode: bool | str | Callable[[str, int, int], None] = True) -> None:
        self.callback = mode if callable(mode) else None
        self.enabled = bool(mode)
        self.widgets = self.enabled and self.callback is None and mode != "text" and _in_kernel()
        self._bars: dict[str, Any] = {}
        #: ``() -> {host: calls answered}``: with several hosts, each stage line says who did what
        self.hosts: Callable[[], dict[str, int]] | None = None

    def _by_host(self) -> str:
        counts = self.hosts() if self.hosts is not None else {}
        if len(counts) < 2:
            return ""
        return " (" + " · ".join(f"{h} {n}" for h, n in counts.items()) + ")"

    def stage(self, name: str, total: int) -> StageProgress:
        return StageProgress(self, name, total)

    def _emit(self, name: str, done: int, total: int, final: bool, seconds: float) -> None:
        if not self.enabled:
            return
        if self.callback is not None:
            self.callback(name, done, total)
            return
        if self.widgets:
            try:
                self._widget(name, done, total, final, seconds)
                return
            except Exception:
                self.widgets = False
        hosts = self._by_host()
        if final:
            print(f"[lmsnb.graphrag] {name}: {done}/{total} done in {seconds:.1f} s{hosts}",
                  file=sys.stderr, flush=True)
        else:
            print(f"[lmsnb.graphrag] {name}: {done}/{total}{hosts}", file=sys.stderr, flush=True)

    def _widget(self, name: str, done: int, total: int, final: bool, seconds: float) -> None:
        from ..widgets.progress import ProgressBar

        bar = self._bars.get(name)
        if bar is None:
            bar = self._bars[name] = ProgressBar(name)
        bar(done, total)
        if final:
            bar.finish(f"{name} {done}/{total} — {seconds:.1f} s{self._by_host()}")
            del self._bars[name]


class StageProgress:
    def __init__(self, parent: Progress, name: str, total: int) -> None:
        self.parent, self.name, self.total = parent, name, total
        self.done = 0
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()
        if parent.widgets or parent.callback:
            parent._emit(name, 0, total, False, 0.0)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = time.perf_counter()
            step = max(1, self.total // 10)
            if self.parent.widgets or self.parent.callback:
                due = now - self._last > 0.1
            else:
                due = self.total >= 20 and self.done % step == 0 and self.done < self.total
            if due:
                self._last = now
                self.parent._emit(self.name, self.done, self.total, False, now - self.t0)

    def finish(self) -> float:
        seconds = time.perf_counter() - self.t0
        self.parent._emit(self.name, self.done, self.total, True, seconds)
        return seconds


def run_parallel(fn: Callable[[T], R], items: Iterable[T], concurrency: int,
                 progress: StageProgress | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on a thread pool, in input order.

    On the first failure the queued work is cancelled, running calls finish (their results are
    already cached), and the exception is re-raised: a re-run resumes from the cache.
    """
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        out = []
        for x in items:
            out.append(fn(x))
            if progress:
                progress.advance()
        return out
    results: list[Any] = [None] * len(items)

    def job(i: int) -> None:
        results[i] = fn(items[i])
        if progress:
            progress.advance()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lmsnb-graphrag") as pool:
        futures = [pool.submit(job, i) for i in range(len(items))]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
    return results
