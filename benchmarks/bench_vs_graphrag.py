"""lmsnb against Microsoft GraphRAG on the same simulated LM Studio, in one run.

    python benchmarks/bench_vs_graphrag.py                      # everything (long: ~1 h)
    python benchmarks/bench_vs_graphrag.py --corpus dulce --slots 1,4 --parts builds

Each build gets a fresh simulator process (``simhost.py``: LM Studio's protocol and its
OpenAI-compatible REST endpoints, the ``graphrag`` behaviour, ``--slots`` predictions at once,
laptop speeds × ``--speedup``) and a fresh client process with an empty cache. GraphRAG 3.3
(PyPI, in its own venv under ``~/.cache/lmsnb-bench``, see ``graphrag_env.py``) talks to the REST
endpoints with its default settings (25 concurrent requests); lmsnb to the websocket API with
its defaults (``concurrency="auto"``). What each build cost is read from the server's counters,
so both are measured the same way.

Parts (``--parts``, comma-separated):
- ``builds``: per corpus and slot setting, calls, prompt and completion tokens, wall time and
  peak memory of both, their ratios, lmsnb's wall time against the model-busy bound (the time
  the server's slots needed: busy seconds ÷ slots), and entity/relationship counts (a guard:
  cheaper must not mean extracting less).
- ``overhead``: an instant model (25 slots): what each client spends by itself.
- ``hosts``: lmsnb on 3 hosts (separate processes, 1 slot each) against 1 such host.
- ``kill``: 3 hosts, one dies mid-build: the build completes; what each server did is compared
  with what lmsnb reports (no call lost, none generated twice).
- ``scale``: the non-LLM work per chunk and index memory at 1× and 10× A Christmas Carol
  (instant model, in process), to extrapolate to 100×.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import simhost  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"
LLM, EMBEDDER, DIM = simhost.LLM, simhost.EMBEDDER, 768


def corpus_text(name: str) -> str:
    if name == "dulce":
        return (FIXTURES / "dulce" / "dulce.txt").read_text(encoding="utf-8")
    if name == "carol":
        import pandas as pd

        docs = pd.read_parquet(FIXTURES / "graphrag-christmas-carol" / "documents.parquet")
        return str(docs["text"].iloc[0])
    raise SystemExit(f"unknown corpus {name!r} (dulce, carol)")


# -- simulator processes -----------------------------------------------------------------------


class SimProcess:
    """``simhost.py`` in a subprocess; ``counters()`` asks it what it did."""

    def __init__(self, slots: int, speedup: float | None, dump: Path | None = None) -> None:
        cmd = [sys.executable, str(HERE / "simhost.py"), "--slots", str(slots),
               "--speedup", str(speedup or 0)]
        if dump:
            cmd += ["--dump", str(dump)]
        self.dump = dump
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        self.host = self.proc.stdout.readline().strip()
        self._lock = threading.Lock()

    def counters(self) -> dict[str, Any]:
        with self._lock:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write("counters\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def kill(self) -> dict[str, Any]:
        """The host dies (SIGTERM: connections drop at once); returns its last counts."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        assert self.dump is not None
        return json.loads(self.dump.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(30)


@dataclass
class Served:
    """What one server did for one client (from its own counters)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finished: int = 0
    cancelled: int = 0
    max_running: int = 0
    embed_requests: int = 0

    @classmethod
    def of(cls, counts: dict[str, Any]) -> Served:
        ep = counts["endpoints"]
        s = cls()
        for key in ("llm.predict", "rest.chat.completions"):
            e = ep.get(key) or {}
            s.calls += e.get("requests", 0)
            s.prompt_tokens += e.get("prompt_tokens", 0)
            s.completion_tokens += e.get("generated_tokens", 0)
        for p in counts["predictions"].values():
            s.finished += p.get("finished", 0)
            s.cancelled += p.get("cancelled", 0)
            s.max_running = max(s.max_running, p.get("max_running", 0))
        s.embed_requests = sum((ep.get(k) or {}).get("requests", 0)
                               for k in ("embedding.embedString", "rest.embeddings"))
        return s

    def busy(self, speedup: float | None) -> float:
        return simhost.busy_seconds(self.prompt_tokens, self.completion_tokens, self.calls,
                                    speedup)


@dataclass
class Run:
    system: str
    wall: float  # the build itself (GraphRAG: its stats.json total_runtime)
    process_wall: float  # the whole client process
    peak_rss_mb: float
    served: Served
    entities: int
    relationships: int
    extra: dict[str, Any] = field(default_factory=dict)


def run_client(cmd: list[str], env: dict[str, str] | None = None,
               cwd: Path | None = None) -> tuple[float, float, str]:
    """Run a client process; (wall seconds, peak RSS MB, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    t_out = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
    t_err = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()))  # type: ignore[union-attr]
    t_out.start()
    t_err.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    t_out.join()
    t_err.join()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{''.join(err_chunks)[-3000:]}")
    return wall, usage.ru_maxrss / 1024, "".join(out_chunks)


# -- the two systems -----------------------------------------------------------------------------


def run_lmsnb(hosts: list[str], corpus: str, workdir: Path, speedup: float | None
              ) -> tuple[float, float, dict]:
    """An lmsnb standard build in a fresh process; (process wall, peak MB, its report)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_lmsnb-build", corpus,
           "--_hosts", ",".join(hosts), "--_workdir", str(workdir), "--speedup", str(speedup or 0)]
    wall, rss, out = run_client(cmd, env={"PYTHONPATH": str(ROOT)})
    return wall, rss, json.loads(out.strip().splitlines()[-1])


SPEEDUP: float | None = None  # the model speed of this client process (--speedup)


def lmsnb_build(corpus: str, hosts: str, workdir: Path) -> None:
    """(In the client process.) Build, then print one JSON line about it."""
    import lmsnb
    from lmsnb.graphrag import build_index

    lmsnb.connect(hosts)
    t0 = time.perf_counter()
    idx = build_index(corpus_text(corpus), llm=LLM, embedding_model=EMBEDDER,
                      cache_dir=workdir / "cache", progress=False)
    wall = time.perf_counter() - t0
    tot = idx.stats.set_index("stage").loc["total"]
    longest: dict[str, float] = {}  # per stage, the longest call's model time (from the cache)
    for f in (workdir / "cache" / "chat").rglob("*.json"):
        c = json.loads(f.read_text())
        t = simhost.busy_seconds(c["prompt_tokens"], c["completion_tokens"], 1, SPEEDUP)
        longest[c["stage"]] = max(longest.get(c["stage"], 0.0), t)
    print(json.dumps({"longest": longest, "wall": wall, "calls": int(tot["calls"]), "retries": int(tot["retries"]),
                      "cached": int(tot["cached_calls"]),
                      "prompt_tokens": int(tot["prompt_tokens"]),
                      "completion_tokens": int(tot["completion_tokens"]),
                      "entities": len(idx.entities), "relationships": len(idx.relationships),
                      "communities": len(idx.communities), "hosts": idx.meta.get("hosts", []),
                      "stats": idx.stats.to_dict("records")}))


def run_graphrag(host: str, corpus: str, workdir: Path) -> Run | None:
    import graphrag_env
    import pandas as pd

    folder = graphrag_env.project(workdir / "graphrag", corpus_text(corpus),
                                  f"http://{host}/v1", chat=LLM, embed=EMBEDDER, dim=DIM)
    exe = graphrag_env.python()
    wall, rss, _ = run_client([str(exe), "-m", "graphrag", "index", "--root", str(folder),
                               "--method", "standard"], env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    out = folder / "output"
    stats = json.loads((out / "stats.json").read_text())
    ents = pd.read_parquet(out / "entities.parquet")
    rels = pd.read_parquet(out / "relationships.parquet")
    return Run("graphrag", float(stats.get("total_runtime", wall)), wall, rss, Served(),
               len(ents), len(rels))


def build_pair(corpus: str, slots: int, speedup: float | None, with_graphrag: bool
               ) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    systems = ["lmsnb"] + (["graphrag"] if with_graphrag else [])
    for system in systems:
        sim = SimProcess(slots, speedup)
        try:
            with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as tmp:
                if system == "lmsnb":
                    pwall, rss, rep = run_lmsnb([sim.host], corpus, Path(tmp), speedup)
                    run = Run("lmsnb", rep["wall"], pwall, rss, Served(), rep["entities"],
                              rep["relationships"], rep)
                else:
                    run = run_graphrag(sim.host, corpus, Path(tmp))
            run.served = Served.of(sim.counters())
            runs[system] = run
        finally:
            sim.stop()
    return runs


# -- report -----------------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


def print_builds(rows: list[tuple[str, int, dict[str, Run]]], speedup: float | None) -> None:
    print("\n## Builds (lmsnb / GraphRAG (ratio); ideal = max(busy ÷ slots, chain); "
          "bound = lmsnb wall ÷ ideal)\n")
    print("| corpus | slots | calls | prompt tok | completion tok | wall s | ratio | "
          "busy/slots s | chain s | bound | peak MB | entities | relationships |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for corpus, slots, runs in rows:
        lm, gr = runs["lmsnb"], runs.get("graphrag")
        busy = lm.served.busy(speedup) / slots
        chain = sum(lm.extra.get("longest", {}).values())

        def pair(f: Any, lm: Run = lm, gr: Run | None = gr) -> str:
            a = f(lm)
            return f"{a:,.0f}" if gr is None else f"{a:,.0f} / {f(gr):,.0f} ({ratio(a, f(gr))})"

        print(f"| {corpus} | {slots} | {pair(lambda r: r.served.calls)} | "
              f"{pair(lambda r: r.served.prompt_tokens)} | "
              f"{pair(lambda r: r.served.completion_tokens)} | "
              f"{lm.wall:.1f}" + (f" / {gr.wall:.1f}" if gr else "") + " | "
              f"{ratio(lm.wall, gr.wall) if gr else '–'} | {busy:.1f} | {chain:.1f} | "
              f"{ratio(lm.wall, max(busy, chain))} | "
              f"{lm.peak_rss_mb:.0f}" + (f" / {gr.peak_rss_mb:.0f}" if gr else "") + " | "
              f"{lm.entities}" + (f" / {gr.entities}" if gr else "") + " | "
              f"{lm.relationships}" + (f" / {gr.relationships}" if gr else "") + " |")
        llm = [r for r in lm.extra["stats"] if r["stage"] not in ("embeddings", "total")]
        sent = sum(r["calls"] - r["cached_calls"] for r in llm)
        if sent != lm.served.calls:
            print(f"|   ⚠ lmsnb reported {sent} LLM calls "
                  f"({sum(r['retries'] for r in llm)} retries), the server saw {lm.served.calls} |")


def hosts_part(corpus: str, speedup: float, single: Run | None) -> None:
    print(f"\n## Several hosts ({corpus}, 1 slot each, separate processes)\n")
    results = {}
    for n in (1, 3):
        if n == 1 and single is not None:
            results[1] = single.wall
            continue
        sims = [SimProcess(1, speedup) for _ in range(n)]
        try:
            with tempfile.TemporaryDirectory(prefix="bench-hosts-") as tmp:
                _, _, rep = run_lmsnb([s.host for s in sims], corpus, Path(tmp), speedup)
            results[n] = rep["wall"]
            served = [Served.of(s.counters()) for s in sims]
        finally:
            for s in sims:
                s.stop()
        if n == 3:
            print("| host | server calls | lmsnb calls |\n|---|---|---|")
            by_host = {h["host"]: h for h in rep["hosts"]}
            for s, sv in zip(sims, served, strict=True):
                print(f"| {s.host} | {sv.calls} | {by_host.get(s.host, {}).get('calls', 0)} |")
    print(f"\n1 host: {results[1]:.1f} s · 3 hosts: {results[3]:.1f} s · "
          f"speed-up {results[1] / results[3]:.2f}× (target ≥ 2.7×)")


def kill_part(corpus: str, speedup: float) -> None:
    print(f"\n## A host dies mid-build ({corpus}, 3 hosts, 1 slot each)\n")
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        dump = Path(tmp) / "dead.json"
        sims = [SimProcess(1, speedup), SimProcess(1, speedup, dump=dump), SimProcess(1, speedup)]
        victim = sims[1]
        result: dict[str, Any] = {}

        def build() -> None:
            result["rep"] = run_lmsnb([s.host for s in sims], corpus, Path(tmp), speedup)[2]

        t = threading.Thread(target=build)
        t.start()
        while t.is_alive() and Served.of(victim.counters()).finished < 3:
            time.sleep(0.5)
        dead = Served.of(victim.kill())
        t.join()
        live = [Served.of(s.counters()) for s in (sims[0], sims[2])]
        for s in (sims[0], sims[2]):
            s.stop()
    rep = result["rep"]
    llm = [r for r in rep["stats"] if r["stage"] not in ("embeddings", "total")]
    sent = sum(r["calls"] - r["cached_calls"] for r in llm)
    again = sum(r["retries"] for r in llm)
    finished = dead.finished + sum(s.finished for s in live)
    requests = dead.calls + sum(s.calls for s in live)
    print(f"the victim received {dead.calls} calls and finished {dead.finished} before it died; "
          f"lmsnb says it sent it {next((h['calls'] for h in rep['hosts'] if h['host'] == victim.host), 0)} "
          f"and lost {next((h['lost'] for h in rep['hosts'] if h['host'] == victim.host), 0)}")
    print(f"servers: {requests} calls received, {finished} finished · lmsnb: {sent} calls sent, "
          f"{again} of them again after the host died, {sent - again} answers used")
    print(f"lost: {max(0, sent - again - finished)} · generated twice: "
          f"{max(0, finished - (sent - again))} · entities {rep['entities']}, "
          f"relationships {rep['relationships']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="dulce,carol")
    p.add_argument("--slots", default="1,4,25")
    p.add_argument("--speedup", type=float, default=4.0,
                   help="× laptop speed (1,000 prompt tok/s, 40 tok/s, 0.2 s first token)")
    p.add_argument("--parts", default="builds,overhead,hosts,kill,scale")
    p.add_argument("--no-graphrag", action="store_true", help="lmsnb only")
    p.add_argument("--_lmsnb-build", dest="lmsnb_build", help=argparse.SUPPRESS)
    p.add_argument("--_hosts", dest="hosts", help=argparse.SUPPRESS)
    p.add_argument("--_workdir", dest="workdir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    global SPEEDUP
    SPEEDUP = args.speedup or None
    if args.lmsnb_build:
        lmsnb_build(args.lmsnb_build, args.hosts, args.workdir)
        return
    parts = set(args.parts.split(","))
    corpora = args.corpus.split(",")
    slots = [int(s) for s in args.slots.split(",")]
    print(f"# lmsnb vs Microsoft GraphRAG — {dt.date.today()} — {platform.node()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"simulated speed: {simhost.PROMPT_TPS * args.speedup:,.0f} prompt tok/s, "
          f"{simhost.TPS * args.speedup:,.0f} tok/s, {simhost.FIRST_TOKEN / args.speedup:.3f} s "
          f"to first token (laptop × {args.speedup:g})")
    if not args.no_graphrag:
        import graphrag_env

        print(f"graphrag {graphrag_env.version(graphrag_env.python())}")
    rows: list[tuple[str, int, dict[str, Run]]] = []
    if "builds" in parts:
        for corpus in corpora:
            for n in slots:
                rows.append((corpus, n, build_pair(corpus, n, args.speedup, not args.no_graphrag)))
        print_builds(rows, args.speedup)
    if "overhead" in parts:
        over = [(c, 25, build_pair(c, 25, None, not args.no_graphrag)) for c in corpora]
        print("\n## Overhead: an instant model (25 slots)\n")
        for corpus, _, runs in over:
            lm, gr = runs["lmsnb"], runs.get("graphrag")
            line = f"{corpus}: lmsnb {lm.wall:.1f} s, {lm.peak_rss_mb:.0f} MB"
            if gr:
                line += (f" · GraphRAG {gr.wall:.1f} s, {gr.peak_rss_mb:.0f} MB · ratio "
                         f"{ratio(lm.wall, gr.wall)} time, {ratio(lm.peak_rss_mb, gr.peak_rss_mb)} memory")
            print(line)
    if "hosts" in parts:
        single = next((r["lmsnb"] for c, n, r in rows if c == corpora[-1] and n == 1), None)
        hosts_part(corpora[-1], args.speedup, single)
    if "kill" in parts:
        kill_part(corpora[-1], args.speedup)
    if "scale" in parts:
        import bench_scale

        bench_scale.main()


if __name__ == "__main__":
    main()
