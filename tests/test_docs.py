"""The documentation site builds strictly (warnings and broken links fail) and offline.

``mkdocs build --strict`` into a temporary folder, with every proxy pointed at a closed port so
that any plugin trying to fetch something at build time (fonts, inventories) fails the build.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings")
pytest.importorskip("mkdocs_jupyter")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mkdocs_config_is_offline() -> None:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "font: false" in text, "theme.font must be false (no Google Fonts at build or read time)"
    for plugin in ("social", "privacy", "git-revision-date", "git-committers"):
        assert f"- {plugin}" not in text, f"the {plugin} plugin fetches or needs network/git"
    assert "import:" not in text, "mkdocstrings inventories are downloaded at build time"


def test_docs_build_strict(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead,
           "https_proxy": dead, "NO_PROXY": "", "no_proxy": "", "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for page in ("index.html", "magics/index.html", "troubleshooting/index.html",
                 "schema/index.html", "api/graphrag/index.html",
                 "notebooks/01_getting_started/index.html"):
        assert (site / page).exists(), f"{page} missing from the site"
    magics = (site / "magics" / "index.html").read_text(encoding="utf-8")
    assert "--max-tokens" in magics and "graphrag_query" in magics
    api = (site / "api" / "graphrag" / "index.html").read_text(encoding="utf-8")
    assert "build_index" in api and "GraphIndex" in api


def _magic_flags() -> dict[str, set[str]]:
    """Every option of every lmsnb magic, from the magics' own argument definitions."""
    sys.path.insert(0, str(ROOT))
    from lmsnb import magics
    from lmsnb.graphrag import magic as graphrag_magic

    flags: dict[str, set[str]] = {}
    for cls in (magics.LmsMagics, graphrag_magic.GraphRAGMagics):
        for kind in ("line", "cell"):
            for name, attr in cls.magics[kind].items():
                fn = getattr(cls, attr)
                parser = getattr(fn, "parser", None)
                opts = set()
                if parser is not None:
                    for action in parser._actions:
                        opts.update(o for o in action.option_strings if o not in ("-h", "--help"))
                flags[name] = opts
    models = magics._models_parser()
    sub = next(a for a in models._actions if a.__class__.__name__ == "_SubParsersAction")
    opts = set(sub.choices)
    for p in sub.choices.values():
        for action in p._actions:
            opts.update(action.option_strings)
    flags["lms_models"] = opts
    return flags


def test_magics_page_documents_every_magic_and_flag() -> None:
    page = (ROOT / "docs" / "magics.md").read_text(encoding="utf-8")
    missing = []
    for name, opts in _magic_flags().items():
        if f"%{name}" not in page:
            missing.append(f"%{name}")
        missing += [f"%{name} {o}" for o in sorted(opts) if f"`{o}" not in page and f" {o}" not in page]
    assert not missing, "docs/magics.md lacks: " + ", ".join(missing)
