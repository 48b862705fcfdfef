"""Chat panel: model picker, history, input box, Send and Stop — a chat inside one cell output.

Answers stream through the same ``StreamView`` as ``%%lms_chat`` (worker thread, throttled),
so the kernel stays idle and Stop reaches it. The history above shows finished turns.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .. import chat, models
from ..errors import LmsnbError
from .markdown import render_markdown
from .stream import StreamView

__all__ = ["ChatPanel"]


class ChatPanel:
    """``ChatPanel(session="default")`` — uses (and shares) the named ``lmsnb.chat`` session."""

    def __init__(self, session: str = "default") -> None:
        self.session = chat.get_session(session)
        self.model = w.Dropdown(description="model", layout=w.Layout(width="360px"))
        self.history = w.HTML()
        self.history.add_class("lmsnb-panel-history")
        self.input = w.Textarea(placeholder="Ask something…", layout=w.Layout(width="100%",
                                                                                height="70px"))
        self.send_button = w.Button(description="Send", icon="paper-plane",
                                    button_style="primary")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.reset_button = w.Button(description="New chat", icon="eraser")
        self.live = w.VBox()
        self.send_button.on_click(lambda _b: self.send())
        self.stop_button.on_click(lambda _b: self.stop())
        self.reset_button.on_click(lambda _b: self.reset())
        self.widget = w.VBox([self.model, self.history, self.live, self.input,
                              w.HBox([self.send_button, self.stop_button, self.reset_button])])
        self.widget.add_class("lmsnb-chat-panel")
        self.view: StreamView | None = None
        self._load_models()
        self._render_history()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _load_models(self) -> None:
        try:
            df = models.loaded("llm")
        except LmsnbError as exc:
            self.history.value = f"<span class='lmsnb-error'>{html.escape(str(exc))}</span>"
            return
        self.model.options = list(df["identifier"])
        if self.session.model in self.model.options:
            self.model.value = self.session.model

    def _render_history(self) -> None:
        parts = []
        for msg in self.session.history:
            role = msg.get("role")
            body = render_markdown(str(msg.get("content", "")))
            mark = " <i>(stopped)</i>" if msg.get("stopped") else ""
            parts.append(f"<div class='lmsnb-msg lmsnb-{html.escape(str(role))}'>"
                         f"<b>{html.escape(str(role))}</b>{mark}{body}</div>")
        self.history.value = "".join(parts)

    def send(self, text: str | None = None) -> None:
        """Send the input box (or ``text``) and stream the answer into the panel."""
        prompt = (text if text is not None else self.input.value).strip()
        if not prompt or (self.view is not None and not self.view.finished):
            return
        self.input.value = ""
        try:
            events = self.session.stream(prompt, model=self.model.value or None)
        except LmsnbError as exc:
            self.history.value += f"<div class='lmsnb-error'>{html.escape(str(exc))}</div>"
            return
        self._render_history()
        self.view = StreamView(display_now=False)
        self.view.stop_button.layout.display = "none"  # the panel has its own Stop
        self.live.children = [self.view.widget]
        self.stop_button.disabled = False
        self.send_button.disabled = True
        self.view.start(events)
        _watch(self.view, self._finished)

    def _finished(self) -> None:
        self.stop_button.disabled = True
        self.send_button.disabled = False
        self.live.children = []
        self._render_history()

    def stop(self) -> None:
        if self.view is not None:
            self.view.stop()

    def reset(self) -> None:
        self.session.reset()
        self._render_history()


def _watch(view: StreamView, callback: Any) -> None:
    """Run ``callback`` once ``view`` finishes (without blocking the kernel)."""
    import threading

    def wait() -> None:
        view._finished.wait()
        callback()

    threading.Thread(target=wait, daemon=True, name="lmsnb-panel").start()
