"""A progress bar driven by a callback (model loads, embedding batches, GraphRAG stages).

The SDK calls load-progress callbacks on the thread that waits for the load, with strictly
increasing floats ending at 1.0. Updates are throttled like the stream view; the last value is
always sent, so the bar visibly reaches 100 %. ``finish`` leaves one static line in the cell
(``loaded qwen2.5-7b-instruct (context 8,192)``, ``community_reports 2/2 — 4.9 s``), which is
what the saved notebook shows. Outside a kernel it prints a few lines instead.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any

from .output import LiveOutput, Static
from .stream import in_kernel

__all__ = ["LazyProgress", "ProgressBar", "static_bar"]

_COLORS = {"info": "#2196f3", "success": "#4caf50", "danger": "#f44336"}


def static_bar(value: float, text: str, *, style: str = "success", width: int = 320) -> Static:
    """A finished bar as sanitizer-safe HTML (inline styles only) plus its line of text."""
    pct = f"{max(0.0, min(1.0, value)) * 100:.0f}%"
    bar = (f'<div style="width:{width}px;height:8px;background-color:#e0e0e0;border-radius:4px;'
           f'flex-shrink:0"><div style="width:{pct};height:8px;border-radius:4px;'
           f'background-color:{_COLORS.get(style, _COLORS["info"])}"></div></div>')
    return Static(text, f'<div class="lmsnb-progress lmsnb-static" style="display:flex;'
                        f'align-items:center;gap:8px;margin:2px 0">{bar}'
                        f'<span class="lmsnb-progress-label">{html.escape(text)}</span></div>')


class ProgressBar:
    """``bar = ProgressBar("loading qwen"); bar(0.5); bar.finish("loaded qwen")``.

    ``bar(fraction)`` or ``bar(done, total)`` (then the line shows ``done/total``; a total of 0
    means "not known yet"). ``display_now=False`` leaves placing ``bar.widget`` to the caller.
    """

    def __init__(self, label: str, *, interval: float = 0.05, display_now: bool = True) -> None:
        self.label = label
        self.interval = interval
        self.value = 0.0
        self.done: float | None = None
        self.total: float | None = None
        self.t0 = time.monotonic()
        self._last = 0.0
        self._printed = -1
        self._widgets = in_kernel()
        self.widget: Any = None
        self.output: LiveOutput | None = None
        if self._widgets:
            import ipywidgets as w

            self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                       layout=w.Layout(width="320px"))
            self.bar.add_class("lmsnb-progress")
            self.text = w.HTML(value=self._text_html())
            self.widget = w.HBox([self.bar, self.text], layout=w.Layout(align_items="center"))
            if display_now:
                self.output = LiveOutput(self.widget, Static(self.line())).show()

    @property
    def seconds(self) -> float:
        """Seconds since the bar was created."""
        return time.monotonic() - self.t0

    def line(self) -> str:
        """The current line: ``label 42%`` or ``label 3/10``."""
        if self.done is None:
            return f"{self.label} {self.value:.0%}".strip()
        count = f"{self.done:g}/{self.total:g}" if self.total else f"{self.done:g}"
        return f"{self.label} {count}".strip()

    def _text_html(self, text: str | None = None) -> str:
        return f'<span class="lmsnb-progress-label">{html.escape(text or self.line())}</span>'

    def __call__(self, fraction: float, total: float | None = None) -> None:
        """Report progress as a fraction (or ``done, total`` counts)."""
        if total is not None:
            self.done, self.total = fraction, total
        value = (fraction / total if total else 0.0) if total is not None else fraction
        self.value = max(0.0, min(1.0, float(value)))
        now = time.monotonic()
        if self.value < 1.0 and now - self._last < self.interval:
            return
        self._last = now
        if self._widgets:
            self.bar.value = self.value
            self.text.value = self._text_html()
        else:
            step = int(self.value * 4)  # 0, 25, 50, 75, 100 %
            if step > self._printed:
                self._printed = step
                print(self.line(), file=sys.stderr)

    def reset(self, label: str | None = None) -> None:
        """Back to 0 (a bar that is reused, like the model manager's)."""
        self.label = label if label is not None else self.label
        self.value, self.done, self.total, self._last = 0.0, None, None, 0.0
        self.t0 = time.monotonic()
        if self._widgets:
            self.bar.value = 0.0
            self.bar.bar_style = "info"
            self.text.value = self._text_html()

    def finish(self, text: str | None = None, *, ok: bool = True) -> str:
        """Show the final line (default: the label and count, "— failed" on failure): green at
        100 % on success, red where it stopped on failure. Returns the line."""
        if ok:
            self.value = 1.0
            if self.done is not None and self.total:
                self.done = self.total
        final = text or (self.line() if ok else f"{self.line()} — failed")
        if self._widgets:
            self.bar.value = self.value
            self.bar.bar_style = "success" if ok else "danger"
            self.text.value = self._text_html(final)
            if self.output is not None:
                self.output.finish(static_bar(self.value, final,
                                              style="success" if ok else "danger"))
        else:
            print(final, file=sys.stderr)
        return final


class LazyProgress:
    """A progress callback whose bar appears with the first report of unfinished work (so a
    call that fails before any work, or has nothing to do — the SDK reports a bare 1.0 for a
    model that was already loaded — shows no bar), and which marks the bar failed if the
    ``with`` block raises.

    ``with LazyProgress("loading qwen") as progress: work(on_progress=progress)``, then
    ``progress.finish("loaded qwen")``. With ``enabled=False`` it does nothing.
    """

    def __init__(self, label: str, *, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self.bar: ProgressBar | None = None
        self.t0 = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.t0

    def __call__(self, fraction: float, total: float | None = None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if (fraction >= total) if total else (total is None and fraction >= 1.0):
                return  # done before it started: nothing to watch
            self.bar = ProgressBar(self.label)
        self.bar(fraction, total)

    def finish(self, text: str | None = None) -> None:
        if self.bar is not None:
            self.bar.finish(text)

    def __enter__(self) -> LazyProgress:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None and self.bar is not None:
            self.bar.finish(ok=False)
