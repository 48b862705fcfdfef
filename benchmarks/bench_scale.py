"""How far one notebook goes: lmsnb's own work per chunk and index memory at 1× and 10× a novel.

    python benchmarks/bench_scale.py [--sizes 1,10]

The corpus is *A Christmas Carol* repeated N times, each copy with its own cast (every
capitalised word gets a per-copy suffix), so the graph grows with the text as it would with N
different novels. The model is instant and in process (the simulator's GraphRAG replies), so
what is measured is lmsnb alone: seconds of non-LLM work per chunk (the replies' own cost
subtracted; CPU seconds, so a busy machine does not inflate it), peak memory of the process and the size of the index (tables + vectors).
Each size runs in a fresh process. 100× is extrapolated from the two measured sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT.parent / "shared" / "fixtures"


def corpus(copies: int) -> list[str]:
    import pandas as pd

    text = str(pd.read_parquet(FIXTURES / "graphrag-christmas-carol" / "documents.parquet")
               ["text"].iloc[0])
    out = []
    for k in range(copies):
        suffix = "" if k == 0 else "".join(chr(ord("a") + int(d)) for d in str(k))
        out.append(re.sub(r"\b([A-Z][a-z]+)", lambda m, s=suffix: m.group(1) + s, text))
    return out


def measure(copies: int) -> dict:
    """(In a fresh process.) Build with an instant in-process model; what it cost lmsnb."""
    import resource

    from lmsnb.graphrag import build_index
    from lmsnb.graphrag.llm import Completion, LocalEmbedder
    from lmsnb.graphrag.tokens import estimate_tokens
    from lmsnb.sim.graphrag_stub import respond_messages

    spent = [0.0]

    class Instant:
        key = "instant"

        def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
            t0 = time.thread_time()
            text = respond_messages(messages, json_schema)
            spent[0] += time.thread_time() - t0
            return Completion(text)

        def count_tokens(self, text):
            return estimate_tokens(text)

    docs = corpus(copies)
    with tempfile.TemporaryDirectory() as tmp:
        t0, cpu0 = time.perf_counter(), time.process_time()
        idx = build_index(docs, llm=Instant(), embedding_model=LocalEmbedder(768),
                          cache_dir=Path(tmp), progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    tables = sum(int(df.memory_usage(deep=True).sum()) for df in
                 (idx.documents, idx.text_units, idx.entities, idx.relationships,
                  idx.communities, idx.community_reports))
    vectors = sum(int(df.memory_usage(deep=True).sum()) for df in idx.embeddings.values())
    vectors += sum(len(df) * 768 * 4 for df in idx.embeddings.values())
    return {"copies": copies, "chunks": len(idx.text_units), "entities": len(idx.entities),
            "relationships": len(idx.relationships), "communities": len(idx.communities),
            "calls": int(idx.stats.set_index("stage").loc["total", "calls"]),
            "wall": wall, "cpu": cpu, "model_cpu": spent[0],
            "per_chunk_ms": 1000 * (cpu - spent[0]) / len(idx.text_units),
            "index_mb": (tables + vectors) / 2**20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(sizes: tuple[int, ...] = (1, 10)) -> None:
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--_measure", str(n)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("\n## Scale: lmsnb's own work with an instant model (A Christmas Carol × N)\n")
    print("| N | chunks | entities | relationships | communities | calls | lmsnb CPU s | "
          "ms per chunk | index MB | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['copies']} | {r['chunks']:,} | {r['entities']:,} | {r['relationships']:,} | "
              f"{r['communities']:,} | {r['calls']:,} | {r['cpu'] - r['model_cpu']:.1f} | "
              f"{r['per_chunk_ms']:.1f} | {r['index_mb']:.1f} | {r['peak_rss_mb']:.0f} |")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        step = b["copies"] / a["copies"]
        # per-chunk work as a power law of size (flat if lmsnb scales linearly), memory linear
        p = math.log(b["per_chunk_ms"] / a["per_chunk_ms"]) / math.log(step)
        per_chunk = b["per_chunk_ms"] * (100 / b["copies"]) ** p
        chunks = b["chunks"] * 100 / b["copies"]

        def linear(key: str) -> float:
            slope = (b[key] - a[key]) / (b["copies"] - a["copies"])
            return b[key] + slope * (100 - b["copies"])

        print(f"\n100× (extrapolated): ~{chunks:,.0f} chunks; per-chunk work grows as "
              f"size^{p:.2f} → ~{per_chunk:.0f} ms per chunk, ~{chunks * per_chunk / 6e4:.0f} min "
              f"of lmsnb work in all; index ~{linear('index_mb'):,.0f} MB, process "
              f"~{linear('peak_rss_mb'):,.0f} MB")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1,10")
    p.add_argument("--_measure", type=int, dest="measure")
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
    else:
        main(tuple(int(s) for s in args.sizes.split(",")))
