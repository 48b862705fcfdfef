"""The stream view: a growing, sanitised markdown answer with a stats footer and a Stop button.

Why it looks like this (measured, see ``reference/widget-stack.md``):

- A worker thread consumes the event iterator and flushes the accumulated text into one
  ``widgets.HTML`` at most every ``interval`` seconds (40 ms), plus a final flush — never one
  update per token (bursts lag and can stall the browser; ``Output.append_stdout`` is O(n²)).
- A busy kernel does not process widget clicks. So ``start()`` returns at once and the kernel
  stays idle while the worker streams; the Stop button then reaches the kernel and calls
  ``cancel()`` on the stream, which stops the server and keeps the partial answer.
  ``wait()`` blocks instead (``render_stream`` does); there a kernel interrupt
  (``KeyboardInterrupt``) cancels the same way. ``wait_pending()`` is the barrier the magics run
  before each cell so "Run All" still runs cells in order.
- Outside a kernel (terminal, pytest) the text is printed as it arrives.
"""

from __future__ import annotations

import contextvars
import html
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from ..events import Done, Event, FirstToken, Fragment, PromptProgress, ToolCall
from .markdown import render_code, render_markdown, render_text

__all__ = ["StreamView", "render_stream", "start_stream", "wait_pending", "pending", "in_kernel"]

FORMATS = ("markdown", "text", "code")
CSS = """<style>
.lmsnb-stream{font-size:var(--jp-content-font-size1,14px);line-height:1.5}
.lmsnb-stream pre{background:var(--jp-layout-color2,#f5f5f5);padding:6px 8px;border-radius:4px;overflow-x:auto}
.lmsnb-stream table{border-collapse:collapse}.lmsnb-stream td,.lmsnb-stream th{border:1px solid #ccc;padding:2px 6px}
.lmsnb-footer{color:var(--jp-ui-font-color2,#777);font-size:12px;margin-top:4px}
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


def render_body(text: str, fmt: str) -> str:
    if fmt == "text":
        return render_text(text)
    if fmt == "code":
        return render_code(text)
    return render_markdown(text)


class StreamView:
    """Renders one event stream. ``start(events)`` (background) or ``run(events)`` (blocking)."""

    def __init__(self, *, title: str | None = None, fmt: str = "markdown",
                 interval: float = 0.04, display_now: bool = True) -> None:
        if fmt not in FORMATS:
            from ..errors import ConfigError

            raise ConfigError(f"Unknown output format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
        self.title = title
        self.fmt = fmt
        self.interval = interval
        self.text = ""
        self.reasoning = ""
        self.tools: list[ToolCall] = []
        self.status = "waiting for the model…"
        self.done: Done | None = None
        self.error: BaseException | None = None
        self.flushes = 0
        self._events: Any = None
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._widgets = in_kernel()
        self._display_now = display_now
        self._handle: Any = None
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
        self.widget = w.VBox([self.body, w.HBox([self.stop_button, self.footer])])
        self.widget.add_class("lmsnb-stream-view")

    def _html(self) -> str:
        parts = [CSS, '<div class="lmsnb-stream">']
        if self.title:
            parts.append(f"<h4>{html.escape(self.title)}</h4>")
        if self.reasoning:
            parts.append(f'<details class="lmsnb-reasoning"><summary>reasoning</summary>'
                         f"{render_text(self.reasoning)}</details>")
        for call in self.tools:
            parts.append(_tool_html(call))
        parts.append(f'<div class="lmsnb-answer">{render_body(self.text, self.fmt)}</div>')
        if self.error is not None:
            parts.append(f'<div class="lmsnb-error">{html.escape(str(self.error))}</div>')
        parts.append("</div>")
        return "".join(parts)

    def _footer_html(self) -> str:
        cls = "lmsnb-footer lmsnb-done" if self.done is not None else "lmsnb-footer"
        return f'<div class="{cls}">{html.escape(self.status)}</div>'

    def _flush(self) -> None:
        self.flushes += 1
        if self._widgets:
            self.body.value = self._html()
            self.footer.value = self._footer_html()

    def _show(self) -> None:
        if self._widgets and self._display_now and self._handle is None:
            from IPython.display import display

            self._handle = display(self.widget, display_id=True)

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
                if now - last >= self.interval:
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
                if self.done is not None and self.done.stopped:
                    self.stop_button.description = "Stopped"
            self._flush()
            if printing and self.error is None:
                print(f"\n[{self.status}]")
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
        if not getattr(events, "cancellable", hasattr(events, "cancel")) and self._widgets:
            self.stop_button.layout.display = "none"
        self._show()
        if not self._widgets:  # nothing to keep live outside a kernel
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

    def finalize_display(self) -> None:
        """Replace the live widget by static HTML + text, which the saved notebook keeps.

        JupyterLab does not save widget state, so without this a reopened notebook would show
        no answer. ``update_display`` works from the streaming thread after the cell ended
        (checked in JupyterLab 4 and nbclient).
        """
        if self._handle is None or not self._finished.is_set():
            return
        plain = self.text + (f"\n\n{self.error}" if self.error else "") + f"\n[{self.status}]"
        static = (f'<div class="lmsnb-stream-view lmsnb-static">{self._html()}'
                  f"{_footer_static(self.status)}</div>")
        self._handle.update({"text/html": static,
                             "text/plain": plain}, raw=True)


def _footer_static(status: str) -> str:
    return f'<div class="lmsnb-footer lmsnb-done">{html.escape(status)}</div>'


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
