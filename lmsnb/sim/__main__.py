"""``python -m lmsnb.sim``: serve the LM Studio simulator until Ctrl-C.

Prints the host (``127.0.0.1:PORT``) on the first line of stdout so scripts can read it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .behaviours import BEHAVIOURS
from .server import Simulator
from .timing import Timing


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lmsnb.sim", description=__doc__)
    p.add_argument("--port", type=_port, default=1234, help="port to serve on (0: any free port)")
    p.add_argument("--bind", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--behaviour", "--behavior", default="echo", choices=sorted(BEHAVIOURS),
                   help="what the simulated LLMs say (default echo)")
    p.add_argument("--load-seconds", type=float, default=0.0, help="simulated model load time")
    p.add_argument("--tokens-per-second", type=float, default=None, help="generation speed")
    p.add_argument("--prompt-tokens-per-second", type=float, default=None,
                   help="prompt processing speed")
    p.add_argument("--first-token-latency", type=float, default=0.0,
                   help="extra seconds before the first token")
    p.add_argument("--embed-seconds", type=float, default=0.0,
                   help="simulated seconds per embedded text")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    timing = Timing(
        load_seconds=args.load_seconds,
        prompt_tokens_per_second=args.prompt_tokens_per_second,
        tokens_per_second=args.tokens_per_second,
        embed_seconds_per_text=args.embed_seconds,
        first_token_latency=args.first_token_latency,
    )
    sim = Simulator(args.port, args.bind, behaviour=args.behaviour, timing=timing)
    try:
        sim.start()
    except OSError as exc:
        print(f"lmsnb.sim: cannot serve on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(sim.host, flush=True)
    print(f"LM Studio simulator serving on {sim.host} (REST: {sim.url}/v1) — Ctrl-C to stop",
          file=sys.stderr, flush=True)
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
