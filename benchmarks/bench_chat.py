"""Chat streaming and batch embedding through lmsnb vs the bare SDK, in one run, on the simulator.

    python benchmarks/bench_chat.py [--runs 5] [--texts 10000]

Prints two ratios (lower is better), each against a baseline measured in the same run with the
same simulated latency. The simulator runs in its own process, as LM Studio does, so the
client side (the SDK and lmsnb) does not share a GIL with the server:

- streamed chat wall time, lmsnb ÷ bare SDK ``respond_stream`` (target ≤ 1.05). lmsnb is
  measured twice: the API stream alone, and the API stream rendered by the stream view
  (throttled markdown into an ipywidgets HTML, as ``%%lms_chat`` does);
- embedding N texts, ``lmsnb.embed(texts)`` ÷ the seed's ``[model.embed(t) for t in texts]``
  (target ≤ 0.25).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lmstudio  # noqa: E402

import lmsnb  # noqa: E402
from lmsnb import chat  # noqa: E402
from lmsnb.embed import embed  # noqa: E402
from lmsnb.widgets import stream as stream_view  # noqa: E402

LLM = "qwen2.5-7b-instruct"
EMB = "text-embedding-nomic-embed-text-v1.5"
WORDS = 600


@contextlib.contextmanager
def simulator_process(tps: float, embed_latency: float):
    """``python -m lmsnb.sim`` in a subprocess; yields its host."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmsnb.sim", "--port", "0", "--behaviour", "lorem",
         "--tokens-per-second", str(tps), "--first-token-latency", "0.05",
         "--embed-seconds", str(embed_latency)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _sdk_chat(client: lmstudio.Client, prompt: str) -> float:
    t0 = time.perf_counter()
    history = lmstudio.Chat()
    history.add_user_message(prompt)
    st = client.llm.model(LLM).respond_stream(history, config={"maxTokens": WORDS})
    for _ in st:
        pass
    st.result()
    return time.perf_counter() - t0


def _lmsnb_chat(prompt: str) -> float:
    t0 = time.perf_counter()
    chat.ask(prompt, model=LLM, config={"maxTokens": WORDS})
    return time.perf_counter() - t0


def _lmsnb_render(prompt: str) -> float:
    t0 = time.perf_counter()
    view = stream_view.StreamView(display_now=False)
    view.run(chat.stream(prompt, model=LLM, config={"maxTokens": WORDS}))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--words", type=int, default=600, help="tokens per answer")
    ap.add_argument("--tps", type=float, default=600.0, help="simulated tokens/s")
    ap.add_argument("--texts", type=int, default=10_000)
    ap.add_argument("--embed-latency", type=float, default=0.001, help="s per text (server)")
    args = ap.parse_args()

    global WORDS
    WORDS = args.words
    with simulator_process(args.tps, args.embed_latency) as host:
        conn = lmsnb.connect(host)
        stream_view.in_kernel = lambda: True  # render into real widgets (no frontend attached)
        with lmstudio.Client(host) as client:
            prompt = "Tell me a story"
            _sdk_chat(client, prompt)  # warm both paths
            _lmsnb_chat(prompt)
            sdk, api, ui = [], [], []
            for _ in range(args.runs):  # interleaved so drift hits all three alike
                sdk.append(_sdk_chat(client, prompt))
                api.append(_lmsnb_chat(prompt))
                ui.append(_lmsnb_render(prompt))
            m_sdk, m_api, m_ui = (statistics.median(x) for x in (sdk, api, ui))
            print(f"chat: {args.words} tokens at {args.tps:.0f} tok/s simulated, "
                  f"median of {args.runs} runs")
            print(f"  bare SDK respond_stream      {m_sdk:7.3f} s")
            print(f"  lmsnb chat.ask (stream)      {m_api:7.3f} s   ratio {m_api / m_sdk:.3f}")
            print(f"  lmsnb stream view (widgets)  {m_ui:7.3f} s   ratio {m_ui / m_sdk:.3f}"
                  f"   (target <= 1.05)")

            texts = [f"document {i}: {' '.join(['lorem'] * (i % 7 + 3))}"
                     for i in range(args.texts)]
            model = client.embedding.model(EMB)
            model.embed("warm up")
            embed(["warm up"], EMB, progress=False)
            t0 = time.perf_counter()
            seed = [model.embed(t) for t in texts]
            t_seed = time.perf_counter() - t0
            t0 = time.perf_counter()
            arr = embed(texts, EMB, progress=False)
            t_ours = time.perf_counter() - t0
            assert arr.shape == (len(seed), len(seed[0]))
            print(f"embed: {args.texts} texts, {args.embed_latency * 1000:.1f} ms per text "
                  f"simulated")
            print(f"  seed loop [model.embed(t)]   {t_seed:7.2f} s")
            print(f"  lmsnb.embed(texts)           {t_ours:7.2f} s   ratio {t_ours / t_seed:.3f}"
                  f"   (target <= 0.25)")
        conn.close()


if __name__ == "__main__":
    main()
