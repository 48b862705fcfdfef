"""One cell output: a live widget while it works, static HTML + text once it is done.

Why: JupyterLab saves outputs, not widget state, and a reopened notebook that is untrusted
(every downloaded one) renders only safe MIME types. A bare widget is saved as its repr —
``HBox(children=(IntProgress(value=0, …`` — or, trusted, as "Error displaying widget: model not
found". So every lmsnb widget is displayed through a :class:`LiveOutput`:

- ``show()`` displays the widget together with a static ``text/plain`` + ``text/html`` view in
  the same output: the live front end shows the widget, an untrusted or widget-less one
  (GitHub, nbconvert, mkdocs) shows the static view;
- ``finish(static)`` replaces the output by the static view for good — what a finished progress
  bar or answer leaves in the saved notebook (``update_display`` works from worker threads and
  after the cell has ended);
- ``keep(static)`` refreshes the static view of a widget that stays interactive (model manager,
  chat panel). JupyterLab would add a second view if a widget output were updated in place, so
  this swaps the output to static and back: the view is re-created from the same widget model.

Static HTML is what JupyterLab's sanitizer keeps: no ``<style>``/``<script>``, inline styles only.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from typing import Any

from IPython.display import display

__all__ = ["LiveOutput", "Static"]


@dataclass(frozen=True)
class Static:
    """A widget's static view: plain text (terminals, GitHub's diff) and sanitizer-safe HTML."""

    text: str
    html: str = ""

    def bundle(self) -> dict[str, str]:
        data = {"text/plain": self.text}
        data["text/html"] = self.html or (
            f'<pre style="white-space:pre-wrap">{html.escape(self.text)}</pre>')
        return data


class LiveOutput:
    """``out = LiveOutput(widget, Static("loading…")); out.show(); …; out.finish(Static(…))``."""

    def __init__(self, widget: Any, static: Static) -> None:
        self.widget = widget
        self.static = static
        self.finished = False
        self._handle: Any = None
        self._lock = threading.Lock()

    @property
    def shown(self) -> bool:
        return self._handle is not None

    def _live(self) -> dict[str, Any]:
        data = dict(self.widget._repr_mimebundle_() or {})
        data.update(self.static.bundle())
        return data

    def show(self) -> LiveOutput:
        """Display the widget (with its static view) in the current cell."""
        with self._lock:
            if self._handle is None and not self.finished:
                self._handle = display(self._live(), raw=True, display_id=True)
        return self

    def keep(self, static: Static) -> None:
        """Make ``static`` what a saved notebook shows, keeping the widget live."""
        with self._lock:
            if self.finished or static == self.static:
                return
            self.static = static
            if self._handle is not None:
                self._handle.update(static.bundle(), raw=True)
                self._handle.update(self._live(), raw=True)

    def finish(self, static: Static) -> None:
        """Replace the widget by ``static`` for good."""
        with self._lock:
            self.static = static
            self.finished = True
            if self._handle is not None:
                self._handle.update(static.bundle(), raw=True)
