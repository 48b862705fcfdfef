"""LLM work and pipeline overhead of lmsnb's standard index on dulce, against GraphRAG's baseline.

GraphRAG numbers come from ../shared/reference/graphrag-baseline.md (graphrag 3.3.0, same corpus,
a deterministic stub LLM of the same shape as lmsnb.sim.graphrag_stub). Corpus tokens are counted
with lmsnb's documented estimate (GraphRAG used o200k: 4,782 tokens for dulce).

    .venv/bin/python benchmarks/bench_index.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmsnb.graphrag import build_index  # noqa: E402
from lmsnb.graphrag.llm import Completion, LocalEmbedder  # noqa: E402
from lmsnb.graphrag.tokens import estimate_tokens  # noqa: E402
from lmsnb.sim.graphrag_stub import respond_messages  # noqa: E402

DULCE = ROOT.parent / "shared" / "fixtures" / "dulce" / "dulce.txt"
GRAPHRAG = {"prompt_tokens_per_corpus_token": 9.87, "completion_tokens_per_corpus_token": 2.29,
            "calls_per_chunk": 6.0, "calls_total": 30, "corpus_tokens_o200k": 4782,
            "wall_seconds_mock_llm": 18.81}


class InstantStub:
    key = "bench-stub"

    def complete(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        return Completion(respond_messages(messages, json_schema))

    def count_tokens(self, text):
        return estimate_tokens(text)


def main() -> None:
    text = DULCE.read_text(encoding="utf-8")
    corpus = estimate_tokens(text)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        idx = build_index(text, llm=InstantStub(), embedding_model=LocalEmbedder(256),
                          cache_dir=Path(tmp) / "cache", progress=False, concurrency=1)
        wall = time.perf_counter() - t0
    s = idx.stats.set_index("stage")
    llm = s.drop(index=[i for i in ("total", "embeddings", "chunking", "communities") if i in s.index])
    calls, prompt, completion = (int(llm["calls"].sum()), int(llm["prompt_tokens"].sum()),
                                 int(llm["completion_tokens"].sum()))
    chunks = len(idx.text_units)

    def line(name: str, ours: float, theirs: float) -> None:
        print(f"{name}: {ours:.2f} (graphrag {theirs}, ratio {ours / theirs:.2f})")

    print(f"corpus: dulce.txt, {corpus} tokens (estimate; o200k {GRAPHRAG['corpus_tokens_o200k']}),"
          f" {chunks} chunks")
    print(f"graph: {len(idx.entities)} entities, {len(idx.relationships)} relationships, "
          f"{len(idx.communities)} communities")
    print(idx.stats.to_string(index=False))
    line("prompt_tokens_per_corpus_token", prompt / corpus, GRAPHRAG["prompt_tokens_per_corpus_token"])
    line("completion_tokens_per_corpus_token", completion / corpus,
         GRAPHRAG["completion_tokens_per_corpus_token"])
    line("llm_calls_per_chunk", calls / chunks, GRAPHRAG["calls_per_chunk"])
    line("llm_calls_total", calls, GRAPHRAG["calls_total"])
    print(f"non_llm_seconds_with_instant_model: {wall:.2f} (graphrag {GRAPHRAG['wall_seconds_mock_llm']}"
          f" with its mock LLM, ratio {wall / GRAPHRAG['wall_seconds_mock_llm']:.3f}; "
          "different machines)")


if __name__ == "__main__":
    main()
