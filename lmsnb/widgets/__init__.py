"""ipywidgets views of lmsnb's events: stream view, progress bar, model manager, chat panel.

Widgets only render events and call the Python API; they never touch the SDK.
"""

from __future__ import annotations

from .markdown import render_markdown
from .progress import ProgressBar
from .stream import StreamView, render_stream, start_stream, wait_pending

__all__ = ["ProgressBar", "StreamView", "render_markdown", "render_stream", "start_stream",
           "wait_pending", "ModelManager", "ChatPanel"]


def __getattr__(name: str) -> object:
    if name == "ModelManager":
        from .model_manager import ModelManager

        return ModelManager
    if name == "ChatPanel":
        from .chat_panel import ChatPanel

        return ChatPanel
    raise AttributeError(name)
