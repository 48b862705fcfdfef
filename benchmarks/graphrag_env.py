"""Microsoft GraphRAG in a virtual environment of its own, created on first use.

GraphRAG is the peer lmsnb is measured against, never a dependency: it lives in
``$LMSNB_BENCH_CACHE`` (default ``~/.cache/lmsnb-bench``), outside the repository, and is
installed from PyPI by pip the first time a benchmark needs it (a few minutes).

A GraphRAG project is a folder with ``settings.yaml`` and ``input/``; :func:`project` writes one
whose chat and embedding models are the simulator's OpenAI-compatible REST endpoints (LM Studio
serves the same), with GraphRAG's defaults otherwise (the settings of
``../shared/reference/graphrag-baseline.md``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

GRAPHRAG = "graphrag==3.3.*"
CACHE = Path(os.environ.get("LMSNB_BENCH_CACHE", Path.home() / ".cache" / "lmsnb-bench"))


def python() -> Path:
    """The venv's interpreter, creating the venv (and installing GraphRAG) if needed."""
    root = CACHE / "graphrag-3.3"
    exe = root / "bin" / "python"
    marker = root / ".installed"
    if not marker.exists():
        print(f"[bench] creating {root} with {GRAPHRAG} (first run only)", file=sys.stderr,
              flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        subprocess.run([str(exe), "-m", "pip", "install", "-q", GRAPHRAG], check=True)
        marker.write_text(GRAPHRAG + "\n")
    return exe


def version(exe: Path) -> str:
    out = subprocess.run([str(exe), "-c", "import importlib.metadata as m; "
                          "print(m.version('graphrag'))"], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


SETTINGS = """\
completion_models:
  default_completion_model:
    model_provider: lm_studio
    model: {chat}
    api_base: {base}
    api_key: lmstudio
    concurrent_requests: {concurrency}
embedding_models:
  default_embedding_model:
    model_provider: lm_studio
    model: {embed}
    api_base: {base}
    api_key: lmstudio
    concurrent_requests: {concurrency}
vector_store:
  vector_size: {dim}
"""


def project(folder: Path, text: str, base_url: str, *, chat: str, embed: str, dim: int,
            concurrency: int = 25) -> Path:
    """A GraphRAG project in ``folder`` indexing ``text`` through ``base_url`` (``…/v1``)."""
    exe = python()
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "settings.yaml").exists():
        subprocess.run([str(exe), "-m", "graphrag", "init", "--root", str(folder), "--model",
                        chat, "--embedding", embed, "--force"], check=True,
                       capture_output=True, text=True)
    settings = (folder / "settings.yaml").read_text()
    settings = _override(settings, SETTINGS.format(chat=chat, embed=embed, base=base_url,
                                                   dim=dim, concurrency=concurrency))
    (folder / "settings.yaml").write_text(settings)
    (folder / "input").mkdir(exist_ok=True)
    (folder / "input" / "corpus.txt").write_text(text, encoding="utf-8")
    return folder


def _override(generated: str, ours: str) -> str:
    """``generated`` YAML with ``ours`` merged on top (nested keys; lists replaced)."""
    import yaml

    base = yaml.safe_load(generated) or {}

    def merge(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = merge(a.get(k) or {}, v) if isinstance(v, dict) else v
        return a

    return yaml.safe_dump(merge(base, yaml.safe_load(ours)), sort_keys=False)


if __name__ == "__main__":
    exe = python()
    print(exe, version(exe))
