"""The stream view: a growing, sanitised markdown answer under a Stop button and live stats.

Why it looks like this (measured, see ``reference/widget-stack.md``):

- A worker thread consumes the event iterator and flushes the accumulated text into one
  ``widgets.HTML`` at most every ``interval`` seconds (40 ms), plus a final flush — never one
  update per token (bursts lag and can stall the browser; ``Output.append_stdout`` is O(n²)).
  Each flush re-renders the whole markdown, so the gap also grows with the render time (a long
  answer is never re-rendered more than a fifth of the time): the kernel stays responsive.
- A busy kernel does not process widget clicks. So ``start()`` returns at once and the kernel
  stays idle while the worker streams; the Stop button then reaches the kernel and calls
  ``cancel()`` on the stream, which stops the server and keeps the partial answer.
  ``wait()`` blocks instead (``render_stream`` does); there a kernel interrupt
  (``KeyboardInterrupt``) cancels the same way. ``wait_pending()`` is the barrier the magics run
  before each cell so "Run All" still runs cells in order.
- Stop and the live status sit above the answer, so the button does not move away from a
  pointer while the answer grows under it; the finished answer keeps its stats line there.
- When the stream ends the widget is replaced by static HTML + text (``LiveOutput``), which the
  saved notebook keeps; a stopped answer is marked "■ stopped", like in the chat panel.
- Images sent with the prompt (``events.images``) show as thumbnails above the answer, in a
  widget of their own so the 40 ms flushes never re-send them.
- Outside a kernel (terminal, pytest) the text is printed as it arrives.
"""

from __future__ import annotations

import contextvars
import html
import secrets
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from ..events import Done, Event, FirstToken, Fragment, PromptProgress, ToolCall
from ..images import Image, images_html
from .markdown import render_code, render_markdown, render_text
from .output import LiveOutput, Static

__all__ = ["StreamView", "render_stream", "start_stream", "wait_pending", "pending", "in_kernel",
           "STOPPED"]

STOPPED = "■ stopped"  # how a stopped answer is marked, here and in the chat panel
RENDER_SHARE = 0.2  # re-render the markdown at most this share of the time
FORMATS = ("markdown", "text", "code")
CSS = """<style>
.lmsnb-stream{font-size:var(--jp-content-font-size1,14px);line-height:1.5}
.lmsnb-stream pre{background:var(--jp-layout-color2,#f5f5f5);padding:6px 8px;border-radius:4px;overflow-x:auto}
.lmsnb-stream table{border-collapse:collapse}.lmsnb-stream td,.lmsnb-stream th{border:1px solid #ccc;padding:2px 6px}
.lmsnb-footer{color:var(--jp-ui-font-color2,#777);font-size:12px;margin:2px 0 4px}
.lmsnb-error{color:#b00020}.lmsnb-tool{border-left:3px solid #8fbcbb;padding-left:6px;margin:4px 0;font-size:13px}
.lmsnb-reasoning{color:var(--jp-ui-font-color2,#777);font-style:italic}
</style>"""

_pending: list[StreamView] = []
_pending_lock = threading.Lock()


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where widgets can render)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def render_body(text: str, fmt: str, *, doc_id: str | None = None) -> str:
    if fmt == "text":
        return render_text(text)
    if fmt == "code":
        return render_code(text)
    return render_markdown(text, doc_id=doc_id)


def stopped_mark() -> str:
    """The "■ stopped" badge (inline style: it must survive the sanitizer of a saved notebook)."""
    return (f'<span class="lmsnb-stopped-mark" style="font-size:12px;color:#b26a00;'
            f'font-weight:600">{STOPPED}</span>')


class StreamView:
    """Renders one event stream. ``start(events)`` (background) or ``run(events)`` (blocking)."""

    def __init__(self, *, title: str | None = None, fmt: str = "markdown",
                 interval: float = 0.04, display_now: bool = True,
                 show_images: bool = True) -> None:
        if fmt not in FORMATS:
            from ..errors import ConfigError

            raise ConfigError(f"Unknown output format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
        self.title = title
        self.fmt = fmt
        self.interval = interval
        self.text = ""
        self.reasoning = ""
        self.tools: list[ToolCall] = []
        self.images: list[Image] = []  # sent with the prompt (``events.images``)
        self.show_images = show_images
        self.status = "waiting for the model…"
        self.done: Done | None = None
        self.error: BaseException | None = None
        self.flushes = 0
        self._events: Any = None
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._widgets = in_kernel()
        self._display_now = display_now
        self._render_seconds = 0.0
        self._doc_id = secrets.token_hex(3)  # footnote anchors of this answer only
        self.output: LiveOutput | None = None
        self.widget: Any = None
        if self._widgets:
            self._build()

    # -- widget ----------------------------------------------------------------------------

    def _build(self) -> None:
        import ipywidgets as w

        self.body = w.HTML(value=self._html())
        self.body.add_class("lmsnb-stream-body")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="warning",
                                    layout=w.Layout(width="auto"))
        self.stop_button.add_class("lmsnb-stop")
        self.stop_button.on_click(lambda _b: self.stop())
        self.footer = w.HTML(value=self._footer_html())
        self.footer.add_class("lmsnb-footer-widget")
        self.sent = w.HTML(layout=w.Layout(display="none"))
        self.sent.add_class("lmsnb-sent")
        # Stop and the live status above the answer: the button stays where the eye found it
        # while the answer grows below, and nothing jumps when the static answer replaces it.
        controls = w.HBox([self.stop_button, self.footer],
                          layout=w.Layout(align_items="center"))
        controls.add_class("lmsnb-stream-controls")
        self.widget = w.VBox([self.sent, controls, self.body])
        self.widget.add_class("lmsnb-stream-view")

    def _html(self) -> str:
        parts = [CSS, '<div class="lmsnb-stream">']
        if self.reasoning:
            parts.append(f'<details class="lmsnb-reasoning"><summary>reasoning</summary>'
                         f"{render_text(self.reasoning)}</details>")
        for call in self.tools:
            parts.append(_tool_html(call))
        t0 = time.perf_counter()
        body = render_body(self.text, self.fmt, doc_id=self._doc_id)
        self._render_seconds = time.perf_counter() - t0
        parts.append(f'<div class="lmsnb-answer">{body}</div>')
        if self.stopped:
            parts.append(f"<div>{stopped_mark()}</div>")
        if self.error is not None:
            parts.append(f'<div class="lmsnb-error">{html.escape(str(self.error))}</div>')
        parts.append("</div>")
        return "".join(parts)

    @property
    def stopped(self) -> bool:
        return self.done is not None and self.done.stopped

    def _footer_html(self) -> str:
        cls = "lmsnb-footer lmsnb-done" if self.done is not None else "lmsnb-footer"
        return f'<div class="{cls}">{html.escape(self.status)}</div>'

    def _flush(self) -> None:
        self.flushes += 1
        if self._widgets:
            self.body.value = self._html()
            self.footer.value = self._footer_html()

    def _header_html(self) -> str:
        """The title and the images sent with the prompt: above Stop and the stats."""
        title = f"<h4>{html.escape(self.title)}</h4>" if self.title else ""
        return title + (images_html(self.images) if self.show_images else "")

    def _sent_text(self) -> str:
        if not (self.show_images and self.images):
            return ""
        return "".join(f"[image: {image.describe()}]\n" for image in self.images) + "\n"

    def _show(self) -> None:
        if self._widgets and self._header_html():
            self.sent.value = self._header_html()
            self.sent.layout.display = None
        if self._widgets and self._display_now and self.output is None:
            what = f"{self.title}: " if self.title else ""
            self.output = LiveOutput(self.widget, Static(f"[{what}answer streaming…]")).show()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget if self._widgets else self.text)

    # -- consuming -------------------------------------------------------------------------

    def _consume(self, events: Iterable[Event]) -> None:
        last = 0.0
        printing = not self._widgets
        try:
            for event in events:
                if isinstance(event, Fragment):
                    if event.reasoning:
                        self.reasoning += event.text
                    else:
                        self.text += event.text
                        if printing:
                            sys.stdout.write(event.text)
                            sys.stdout.flush()
                elif isinstance(event, PromptProgress):
                    self.status = f"processing prompt {event.progress:.0%}"
                elif isinstance(event, FirstToken):
                    self.status = f"first token after {event.seconds:.2f} s…"
                elif isinstance(event, ToolCall):
                    self.tools.append(event)
                    if printing:
                        print(f"\n[tool] {_tool_text(event)}")
                elif isinstance(event, Done):
                    self.done = event
                    if not self.text and event.text:
                        self.text = event.text
                    self.status = event.stats.summary()
                    continue
                now = time.monotonic()
                if now - last >= max(self.interval, self._render_seconds / RENDER_SHARE):
                    last = now
                    self._flush()
        except BaseException as exc:  # noqa: BLE001 - shown in the view, re-raised by wait()
            self.error = exc
            self.status = "failed"
        finally:
            if self.done is None and self.error is None:
                self.status = "ended without a result"
            if self._widgets:
                self.stop_button.disabled = True
                if self.stopped:
                    self.stop_button.description = "Stopped"
            self._flush()
            if printing and self.error is None:
                print(f"\n[{STOPPED} · {self.status}]" if self.stopped else f"\n[{self.status}]")
            elif printing and self.text:  # end the partial line; the error follows on stderr
                print()
            self._finished.set()
            with _pending_lock:
                if self in _pending:
                    _pending.remove(self)
            if self._thread is not None:  # background stream: keep the answer in the notebook
                self.finalize_display()

    def start(self, events: Iterable[Event]) -> StreamView:
        """Stream in a background thread and return at once (the Stop button stays live)."""
        self._events = events
        self.images = list(getattr(events, "images", ()))
        if not getattr(events, "cancellable", hasattr(events, "cancel")) and self._widgets:
            self.stop_button.layout.display = "none"
        self._show()
        if not self._widgets:  # nothing to keep live outside a kernel
            sys.stdout.write(self._sent_text())
            self._consume(events)
            return self
        with _pending_lock:
            _pending.append(self)
        ctx = contextvars.copy_context()  # keep the cell's parent header on the messages
        self._thread = threading.Thread(target=ctx.run, args=(self._consume, events),
                                        daemon=True, name="lmsnb-stream")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Cancel the prediction (server stops; the partial answer is kept, marked stopped)."""
        cancel = getattr(self._events, "cancel", None)
        if cancel is not None and not self._finished.is_set():
            self.status = "stopping…"
            if self._widgets:
                self.stop_button.disabled = True
                self.footer.value = self._footer_html()
            cancel()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> Done:
        """Block until the stream ends; a KeyboardInterrupt stops the prediction, keeps the text."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interrupted = False
        while not self._finished.is_set():
            try:
                self._finished.wait(0.05)
            except KeyboardInterrupt:
                if interrupted:  # second interrupt: stop waiting for the server
                    raise
                interrupted = True
                self.stop()
                deadline = time.monotonic() + 10.0
            if deadline is not None and time.monotonic() > deadline:
                from ..errors import RequestTimeout

                raise RequestTimeout("The stream did not finish in time",
                                     hint="the server may be stuck; check LM Studio")
        if self.error is not None:
            raise self.error
        if self.done is None:
            from ..errors import PredictionError

            raise PredictionError("The stream ended without a result", hint="try again")
        return self.done

    def run(self, events: Iterable[Event]) -> Done:
        """Stream and block until done (interrupt to stop)."""
        return self.start(events).wait()

    def static(self) -> Static:
        """The finished answer as static HTML + text (what the saved notebook keeps)."""
        status = f"{STOPPED} · {self.status}" if self.stopped else self.status
        plain = (self._sent_text() + self.text + (f"\n\n{self.error}" if self.error else "")
                 + f"\n[{status}]")
        return Static(plain, f'<div class="lmsnb-stream-view lmsnb-static">{self._header_html()}'
                             f"{self._footer_html()}{self._html()}</div>")  # as it was live

    def finalize_display(self) -> None:
        """Replace the live widget by static HTML + text, which the saved notebook keeps."""
        if self.output is not None and self._finished.is_set():
            self.output.finish(self.static())


def _tool_text(call: ToolCall) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
    outcome = f"error: {call.error}" if call.error else repr(call.result)
    return f"{call.name}({args}) → {outcome}"


def _tool_html(call: ToolCall) -> str:
    return f'<div class="lmsnb-tool">🔧 <code>{html.escape(_tool_text(call)[:2000])}</code></div>'


def start_stream(events: Iterable[Event], *, title: str | None = None,
                 fmt: str = "markdown") -> StreamView:
    """Show a stream view and return at once; the answer streams in the background."""
    return StreamView(title=title, fmt=fmt).start(events)


def render_stream(events: Iterable[Event], *, title: str | None = None,
                  fmt: str = "markdown") -> Done:
    """Render any event iterator into the cell (throttled, sanitised, stats footer, Stop).

    Blocks until the final ``Done`` and returns it; interrupting the kernel stops the prediction
    (if the iterator has ``cancel()``) and returns the partial answer marked stopped. The live
    widget is replaced by static HTML at the end so the answer survives in the saved notebook.
    """
    view = StreamView(title=title, fmt=fmt)
    try:
        return view.run(events)
    finally:
        view.finalize_display()


def pending() -> list[StreamView]:
    """Streams still running in the background."""
    with _pending_lock:
        return list(_pending)


def wait_pending() -> None:
    """Block until background streams finish (interrupt → stop them). Errors stay in their views."""
    for view in pending():
        try:
            view.wait()
        except KeyboardInterrupt:
            for other in pending():
                other.stop()
            for other in pending():
                try:
                    other.wait(timeout=10)
                except Exception:  # noqa: BLE001, S110 - already shown in the view
                    pass
            return
        except Exception:  # noqa: BLE001, S110 - the view shows its own error
            pass
