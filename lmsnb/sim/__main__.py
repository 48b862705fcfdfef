"""``python -m lmsnb.sim``: serve the LM Studio simulator until Ctrl-C.

Prints the host (``127.0.0.1:PORT``) on the first line of stdout so scripts can read it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .behaviours import BEHAVIOURS
from .catalogue import default_models
from .config import CatalogueError, apply_models, parse_model_flag, read_catalogue
from .server import Simulator
from .timing import Timing

EPILOG = """\
models:
  Without --catalogue the simulator has its default models (see docs/simulator.md). Mirror
  your own LM Studio with a catalogue file (JSON or TOML), and/or --model flags:

    python -m lmsnb.sim --catalogue my-models.toml
    python -m lmsnb.sim --model qwen2.5-7b-instruct,context_length=32768
    python -m lmsnb.sim --model my-vlm,vision=true,loaded=true,max_concurrent_predictions=2

  my-models.toml:
    [[models]]
    key = "qwen2.5-7b-instruct"
    path = "lmstudio-community/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    context_length = 8192
    loaded = true

    [[models]]
    key = "text-embedding-nomic-embed-text-v1.5"
    type = "embedding"
    loaded = true

  Model fields: key, type (llm|embedding), path, display_name, context_length (loaded with),
  max_context_length, loaded, vision, max_concurrent_predictions, format (gguf, safetensors
  = MLX, ...), size_bytes, params_string, architecture, dim (embedding size), behaviour.
  --model KEY,... changes the model with that key, or adds one.
"""


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {port}")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lmsnb.sim", epilog=EPILOG,
        description="Serve the LM Studio simulator (LM Studio's websocket API and its REST "
                    "endpoints, one port) until Ctrl-C. The first line on stdout is the host.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=_port, default=1234, help="port to serve on (0: any free port)")
    p.add_argument("--bind", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--behaviour", "--behavior", default="echo", choices=sorted(BEHAVIOURS),
                   help="what the simulated LLMs say (default echo)")
    p.add_argument("--catalogue", "--catalog", metavar="FILE",
                   help="models (and presets) from a JSON or TOML file, instead of the defaults")
    p.add_argument("--model", metavar="KEY[,FIELD=VALUE...]", action="append", default=[],
                   help="add a model, or change fields of one (repeatable)")
    p.add_argument("--max-concurrent-predictions", type=_positive, metavar="N",
                   help="predictions one loaded LLM runs at once, the rest queue (default: "
                        "LM Studio's, 4 for GGUF and 1 for MLX models)")
    p.add_argument("--no-auto-evict", action="store_true",
                   help="keep earlier JIT-loaded models when another is loaded on demand")
    p.add_argument("--load-seconds", type=float, default=0.0, help="simulated model load time")
    p.add_argument("--tokens-per-second", type=float, default=None, help="generation speed")
    p.add_argument("--prompt-tokens-per-second", type=float, default=None,
                   help="prompt processing speed")
    p.add_argument("--first-token-latency", type=float, default=0.0,
                   help="extra seconds before the first token")
    p.add_argument("--embed-seconds", type=float, default=0.0,
                   help="simulated seconds per embedded text")
    return p


def make_simulator(args: argparse.Namespace) -> Simulator:
    """The Simulator the command line describes (CatalogueError if the models are unusable)."""
    config = read_catalogue(args.catalogue) if args.catalogue else None
    base = config.models if config and config.models else default_models()
    models = apply_models(base, [parse_model_flag(m) for m in args.model])
    timing = Timing(
        load_seconds=args.load_seconds,
        prompt_tokens_per_second=args.prompt_tokens_per_second,
        tokens_per_second=args.tokens_per_second,
        embed_seconds_per_text=args.embed_seconds,
        first_token_latency=args.first_token_latency,
    )
    evict = not args.no_auto_evict
    if config and config.jit_auto_evict is not None and not args.no_auto_evict:
        evict = config.jit_auto_evict
    return Simulator(
        args.port, args.bind, models=models, behaviour=args.behaviour, timing=timing,
        max_concurrent_predictions=(args.max_concurrent_predictions
                                    or (config.max_concurrent_predictions if config else None)),
        jit_auto_evict=evict, presets=config.presets if config else None)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sim = make_simulator(args)
    except CatalogueError as exc:
        print(f"lmsnb.sim: {exc}", file=sys.stderr)
        return 2
    try:
        sim.start()
    except OSError as exc:
        print(f"lmsnb.sim: cannot serve on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(sim.host, flush=True)
    loaded = ", ".join(i.identifier for i in sim.catalogue.loaded()) or "none"
    print(f"LM Studio simulator serving on {sim.host} (REST: {sim.url}/v1) — loaded: {loaded} "
          "— Ctrl-C to stop", file=sys.stderr, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        print("lmsnb.sim stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
