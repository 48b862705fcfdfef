"""A progress bar driven by a callback (model loads, embedding batches).

The SDK calls load-progress callbacks on the thread that waits for the load, with strictly
increasing floats ending at 1.0. Updates are throttled like the stream view; the last value is
always sent, so the bar visibly reaches 100 %. Outside a kernel it prints a few lines instead.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any

from .stream import in_kernel

__all__ = ["LazyProgress", "ProgressBar"]


class ProgressBar:
    """``bar = ProgressBar("loading qwen"); bar(0.5); bar.finish("loaded")``."""

    def __init__(self, label: str, *, interval: float = 0.05, display_now: bool = True) -> None:
        self.label = label
        self.interval = interval
        self.value = 0.0
        self._last = 0.0
        self._printed = -1
        self._widgets = in_kernel()
        self.widget: Any = None
        if self._widgets:
            import ipywidgets as w

            self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                       layout=w.Layout(width="320px"))
            self.bar.add_class("lmsnb-progress")
            self.text = w.HTML(value=self._text_html())
            self.widget = w.HBox([self.bar, self.text])
            if display_now:
                from IPython.display import display

                display(self.widget)

    def _text_html(self, note: str = "") -> str:
        return (f'<span class="lmsnb-progress-label">{html.escape(self.label)} '
                f"{self.value:.0%}{html.escape(note)}</span>")

    def __call__(self, fraction: float, total: float | None = None) -> None:
        """Report progress as a fraction (or ``done, total`` counts)."""
        value = fraction / total if total else fraction
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
                print(f"{self.label}: {self.value:.0%}", file=sys.stderr)

    def finish(self, note: str = "", *, ok: bool = True) -> None:
        """Show the final state: green at 100 % on success, red on failure."""
        if ok:
            self.value = 1.0
        if self._widgets:
            self.bar.value = self.value
            self.bar.bar_style = "success" if ok else "danger"
            self.text.value = self._text_html(f" — {note}" if note else "")
        elif note:
            print(f"{self.label}: {note}", file=sys.stderr)


class LazyProgress:
    """A progress callback whose bar appears with the first report (so a call that fails before
    any work shows no bar), and which marks the bar failed if the ``with`` block raises.

    ``with LazyProgress("loading qwen") as progress: work(on_progress=progress)``, then
    ``progress.finish("loaded")``. With ``enabled=False`` it does nothing.
    """

    def __init__(self, label: str, *, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self.bar: ProgressBar | None = None

    def __call__(self, fraction: float, total: float | None = None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = ProgressBar(self.label)
        self.bar(fraction, total)

    def finish(self, note: str = "") -> None:
        if self.bar is not None:
            self.bar.finish(note)

    def __enter__(self) -> LazyProgress:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None and self.bar is not None:
            self.bar.finish("failed", ok=False)
