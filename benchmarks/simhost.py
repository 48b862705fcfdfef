"""One simulated LM Studio host in its own process, for benchmarks that need real processes.

    python benchmarks/simhost.py --slots 1 --speedup 10 [--dump counts.json]

Prints the host (``127.0.0.1:PORT``) on its first line, then answers commands on stdin, one per
line: ``counters`` prints the server's counts as one JSON line (requests and tokens per endpoint;
prediction outcomes and the most running at once per loaded LLM); ``quit`` stops it. SIGTERM
("the host dies") closes every connection at once, writes the same JSON to ``--dump`` and exits.

Speeds are LM Studio's on a laptop GPU — 1,000 prompt tokens/s, 40 tokens/s, 0.2 s to the first
token — multiplied by ``--speedup`` (the same for every system measured, so ratios hold).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmsnb.sim import Simulator, Timing, default_models  # noqa: E402

PROMPT_TPS, TPS, FIRST_TOKEN = 1000.0, 40.0, 0.2
LLM = "qwen2.5-7b-instruct"
EMBEDDER = "text-embedding-nomic-embed-text-v1.5"


def timing(speedup: float | None) -> Timing:
    """Realistic pace ×``speedup``; None: instant (to measure a client's own overhead)."""
    if not speedup:
        return Timing()
    return Timing(prompt_tokens_per_second=PROMPT_TPS * speedup, tokens_per_second=TPS * speedup,
                  first_token_latency=FIRST_TOKEN / speedup)


def busy_seconds(prompt_tokens: int, generated_tokens: int, predictions: int,
                 speedup: float | None) -> float:
    """How long the model computed for these predictions (what one slot spends on them)."""
    if not speedup:
        return 0.0
    return (prompt_tokens / (PROMPT_TPS * speedup) + generated_tokens / (TPS * speedup)
            + predictions * FIRST_TOKEN / speedup)


def counts(sim: Simulator) -> dict:
    out = {"endpoints": sim.counters.as_dict(), "predictions": {}}
    for inst in sim.catalogue.loaded("llm"):
        out["predictions"][inst.identifier] = vars(sim.counters.predictions(inst.identifier))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--slots", type=int, default=4, help="Max Concurrent Predictions (0: no limit)")
    p.add_argument("--speedup", type=float, default=10.0, help="0: instant answers")
    p.add_argument("--dump", type=Path, help="where SIGTERM writes the counts")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    models = default_models()
    for m in models:
        if m.type == "llm":  # loaded with room for GraphRAG's 8k-token report inputs
            m.max_concurrent_predictions = args.slots or 10_000
            m.context_length = m.max_context_length
    sim = Simulator(args.port, models=models, behaviour="graphrag",
                    timing=timing(args.speedup)).start()
    print(sim.host, flush=True)

    def die(*_: object) -> None:
        sim.stop()  # every connection closes at once, as when the machine goes away
        if args.dump:
            args.dump.write_text(json.dumps(counts(sim)))
        os._exit(0)

    signal.signal(signal.SIGTERM, die)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "counters":
            print(json.dumps(counts(sim)), flush=True)
        elif cmd == "quit":
            break
    sim.stop()


if __name__ == "__main__":
    main()
