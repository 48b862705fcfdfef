"""MkDocs hook: publish the repository's notebooks/*.ipynb as pages (rendered by mkdocs-jupyter).

The tutorials live once, in ``notebooks/`` (where Binder and ``run.sh`` open them); this hook adds
them to the site as ``notebooks/<name>.ipynb`` (URL ``notebooks/<name>/``) before mkdocs-jupyter
wraps notebook files. Link to them from a page as ``notebooks/01_getting_started.ipynb``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


@event_priority(100)  # before mkdocs-jupyter's on_files wraps notebook files
def on_files(files: Files, config) -> Files:
    for nb in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
        files.append(File(f"notebooks/{nb.name}", str(ROOT), config["site_dir"],
                          config["use_directory_urls"]))
    return files
