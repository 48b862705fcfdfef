"""Chat panel: model picker, history, input box, Send and Stop — a chat inside one cell output.

Answers stream through the same ``StreamView`` as ``%%lms_chat`` (worker thread, throttled),
so the kernel stays idle and Stop reaches it. The history above shows finished turns; a
stopped answer keeps its partial text, marked "■ stopped". Enter in the input box sends.
History and the streaming answer share one scroll area of fixed height that stays at the
newest message, so a long chat does not push the notebook down. After each turn the output's
static view (the conversation) is brought up to date for the saved notebook. "Image" attaches
pictures to the next message (for vision models); they show as thumbnails in the history.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

from .. import chat, models
from ..errors import LmsnbError
from ..images import images_html, to_image, to_images
from .markdown import render_markdown
from .output import LiveOutput, Static
from .stream import CSS as STREAM_CSS
from .stream import STOPPED, StreamView, stopped_mark

__all__ = ["ChatPanel", "PromptBox"]

HEIGHT = "480px"  # the scroll area; the panel never grows past it
# Inline styles carry the look of a message (a saved, sanitised notebook drops <style>);
# the CSS below only refines it in the live widget.
_MSG = "margin:6px 0;padding:6px 10px;border-radius:6px;line-height:1.5;overflow-wrap:anywhere"
_ROLE_STYLE = {"user": "background-color:rgba(128,128,128,0.12)",
               "assistant": "border-left:3px solid #1976d2",
               "system": "font-style:italic;color:#777"}
CSS = """<style>
.lmsnb-panel-history .lmsnb-msg{font-size:var(--jp-content-font-size1,14px)}
.lmsnb-panel-history .lmsnb-role{font-size:12px;font-weight:600;color:var(--jp-ui-font-color2,#666)}
.lmsnb-panel-history .lmsnb-msg p:first-of-type{margin-top:2px}
.lmsnb-panel-history .lmsnb-msg p:last-child{margin-bottom:0}
.lmsnb-panel-history pre{background:var(--jp-layout-color2,#f5f5f5);padding:6px 8px;
 border-radius:4px;overflow-x:auto}
.lmsnb-panel-live .lmsnb-stream-view{margin:6px 0;padding:2px 10px;
 border-left:3px solid var(--jp-brand-color1,#1976d2)}
.lmsnb-panel-empty{color:var(--jp-ui-font-color2,#777);font-size:13px}
</style>"""


class PromptBox(anywidget.AnyWidget):
    """The input line: Enter (or Send) submits the text the browser shows.

    ipywidgets' ``Text`` syncs its value through a throttle (one update in flight per widget)
    that its Enter message does not wait for, so a prompt typed quickly — or on a busy kernel —
    reached the kernel cut short, and the rest stayed in the box (seen in JupyterLab). Here
    the submit message carries the text itself, and the browser clears the box at once.
    """

    _esm = """
export default { render({ model, el }) {
  el.classList.add("jupyter-widgets", "widget-inline-hbox", "widget-text");
  const input = document.createElement("input");
  input.type = "text";
  input.className = "widget-input";
  const show = () => {
    input.placeholder = model.get("placeholder");
    if (input.value !== model.get("value")) input.value = model.get("value");
  };
  const submit = () => {
    const text = input.value;
    input.value = "";
    model.set("value", "");
    model.save_changes();
    model.send({ event: "submit", text });
  };
  input.addEventListener("input", () => { model.set("value", input.value); model.save_changes(); });
  input.addEventListener("keydown", (e) => {
    e.stopPropagation();  // keys typed here are not notebook shortcuts
    if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); submit(); }
  });
  const onMsg = (msg) => { if (msg && msg.do === "submit") submit(); };
  model.on("change:value", show);
  model.on("change:placeholder", show);
  model.on("msg:custom", onMsg);
  show();
  el.appendChild(input);
  return () => {
    model.off("change:value", show);
    model.off("change:placeholder", show);
    model.off("msg:custom", onMsg);
  };
} };
"""
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)

    def submit(self) -> None:
        """Have the browser submit its box (what the Send button does)."""
        self.send({"do": "submit"})


class ChatPanel:
    """``ChatPanel(session="default")`` — uses (and shares) the named ``lmsnb.chat`` session."""

    def __init__(self, session: str = "default") -> None:
        self.session_name = session
        self.session = chat.get_session(session)
        self.model = w.Dropdown(description="model", layout=w.Layout(width="420px"))
        self.model.add_class("lmsnb-panel-model")
        self.refresh_button = w.Button(icon="refresh", tooltip="refresh the model list",
                                       layout=w.Layout(width="40px"))
        self.refresh_button.add_class("lmsnb-panel-refresh")
        self.history = w.HTML()
        self.history.add_class("lmsnb-panel-history")
        self.input = PromptBox(placeholder="Ask something… (Enter sends)",
                               layout=w.Layout(flex="1 1 auto", width="auto"))
        self.input.add_class("lmsnb-panel-input")
        self.send_button = w.Button(description="Send", icon="paper-plane",
                                    button_style="primary")
        self.send_button.add_class("lmsnb-panel-send")
        self.attach = w.FileUpload(accept="image/png,image/jpeg,image/webp,image/*",
                                   multiple=True, description="Image", icon="image",
                                   tooltip="attach images to the next message (vision models)",
                                   layout=w.Layout(width="auto"))
        self.attach.add_class("lmsnb-panel-attach")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True,
                                    button_style="warning")
        self.stop_button.add_class("lmsnb-panel-stop")
        self.reset_button = w.Button(description="New chat", icon="eraser")
        self.reset_button.add_class("lmsnb-panel-reset")
        self.live = w.VBox()
        self.live.add_class("lmsnb-panel-live")
        # column-reverse around one inner box: the scroll position stays at the newest message
        self.scroll = w.VBox([w.VBox([self.history, self.live],
                                     layout=w.Layout(flex="0 0 auto"))],
                             layout=w.Layout(max_height=HEIGHT, overflow="auto",
                                             flex_flow="column-reverse"))
        self.scroll.add_class("lmsnb-panel-scroll")
        self.send_button.on_click(lambda _b: self.input.submit())  # the browser's text
        self.stop_button.on_click(lambda _b: self.stop())
        self.reset_button.on_click(lambda _b: self.reset())
        self.refresh_button.on_click(lambda _b: self._load_models())
        self.input.on_msg(self._on_input_msg)  # Enter sends {"event": "submit", "text": ...}
        row = w.Layout(align_items="center", width="100%")
        self.widget = w.VBox([
            w.HBox([self.model, self.refresh_button], layout=row),
            self.scroll,
            w.HBox([self.input, self.attach, self.send_button, self.stop_button,
                    self.reset_button], layout=row),
        ], layout=w.Layout(max_width="900px"))
        self.widget.add_class("lmsnb-chat-panel")
        self.view: StreamView | None = None
        self.output = LiveOutput(self.widget, Static(""), interactive=True)
        self._load_models()
        self._render_history()

    def _ipython_display_(self) -> None:
        if self.output.shown:
            from IPython.display import display

            display(self.widget)
        else:
            self.output.static = self.static()
            self.output.show()

    def static(self) -> Static:
        """The conversation as static HTML + text: what a saved notebook shows of the panel."""
        title = f"lmsnb chat panel, session {self.session_name!r} (run the cell to chat)"
        lines = [title]
        for msg in self.session.history:
            mark = f" [{STOPPED}]" if msg.get("stopped") else ""
            seen = "".join(f" [image: {i.describe()}]" for i in to_images(msg.get("images")))
            lines.append(f"{msg.get('role')}{mark}: {msg.get('content', '')}{seen}")
        box = (f"max-height:{HEIGHT};overflow-y:auto;display:flex;"
               "flex-direction:column-reverse")
        return Static("\n\n".join(lines),
                      f'<div class="lmsnb-chat-panel lmsnb-static">'
                      f'<div style="color:#777;font-size:12px">{html.escape(title)}</div>'
                      f'<div style="{box}"><div>{self._messages_html()}</div></div></div>')

    def _on_input_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") == "submit":
            self.send(str(content.get("text", "")))

    def _load_models(self) -> None:
        """Loaded LLMs first, then downloaded ones (LM Studio loads those on first use)."""
        try:
            loaded = list(models.loaded("llm")["identifier"])
            down = [k for k in models.downloaded("llm")["key"] if k not in loaded]
        except LmsnbError as exc:
            self.history.value = f"<span class='lmsnb-error'>{html.escape(str(exc))}</span>"
            return
        keep = self.model.value
        options = loaded + down
        if list(self.model.options) != options:
            self.model.options = options
        for choice in (keep, self.session.model, options[0] if options else None):
            if choice and choice in options:
                self.model.value = choice
                break

    def _messages_html(self) -> str:
        parts = []
        for i, msg in enumerate(self.session.history):
            role = str(msg.get("role"))
            body = render_markdown(str(msg.get("content", "")), doc_id=f"m{i}")
            body += images_html(to_images(msg.get("images")))
            mark = f" {stopped_mark()}" if msg.get("stopped") else ""
            cls = "lmsnb-msg lmsnb-" + html.escape(role) + (" lmsnb-stopped" if mark else "")
            style = f"{_MSG};{_ROLE_STYLE.get(role, '')}"
            parts.append(f'<div class="{cls}" style="{style}"><div class="lmsnb-role" '
                         f'style="font-size:12px;font-weight:600">{html.escape(role)}{mark}'
                         f"</div>{body}</div>")
        if not parts:
            parts.append("<div class='lmsnb-panel-empty'>No messages yet.</div>")
        return "".join(parts)

    def _render_history(self) -> None:
        """Show the history, and make it what the saved notebook shows of the panel."""
        self.history.value = CSS + STREAM_CSS + self._messages_html()
        self.output.keep(self.static())

    def send(self, text: str | None = None) -> None:
        """Send the input box (or ``text``) and stream the answer into the panel."""
        prompt = (text if text is not None else self.input.value).strip()
        if not prompt or (self.view is not None and not self.view.finished):
            return
        try:
            images = [to_image(bytes(f["content"]), f["name"]) for f in self.attach.value]
            events = self.session.stream(prompt, images=images, model=self.model.value or None)
        except LmsnbError as exc:  # the text and the images stay, to fix and send again
            self.history.value += f"<div class='lmsnb-error'>{html.escape(str(exc))}</div>"
            return
        self.input.value = ""
        self.attach.value = ()
        self._render_history()
        self.view = StreamView(display_now=False, show_images=False)  # shown in the history
        self.view.stop_button.layout.display = "none"  # the panel has its own Stop
        self.live.children = [self.view.widget]
        self.stop_button.disabled = False
        self.send_button.disabled = True
        self.view.start(events)
        _watch(self.view, self._finished)

    def _finished(self) -> None:
        view = self.view
        self.stop_button.disabled = True
        self.send_button.disabled = False
        self._render_history()
        if view is not None and view.error is not None:
            self.history.value += (f"<div class='lmsnb-error'>"
                                   f"{html.escape(str(view.error))}</div>")
        self.live.children = []
        self._load_models()  # a JIT-loaded model is now loaded; another cell may have loaded one

    def stop(self) -> None:
        if self.view is not None:
            self.view.stop()

    def reset(self) -> None:
        self.session.reset()
        self._render_history()


def _watch(view: StreamView, callback: Any) -> None:
    """Run ``callback`` once ``view`` finishes (without blocking the kernel)."""

    def wait() -> None:
        view._finished.wait()
        callback()

    threading.Thread(target=wait, daemon=True, name="lmsnb-panel").start()
