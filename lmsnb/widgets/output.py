"""Cell output that is a live widget while it works and static HTML + text once it is done.

Why: JupyterLab saves outputs, not widget state, and a reopened notebook that is untrusted
(every downloaded one) renders only safe MIME types. A bare widget is saved as its repr —
``HBox(children=(IntProgress(value=0, …`` — or, trusted, as "Error displaying widget: model not
found". So every lmsnb widget is displayed through a :class:`LiveOutput`:

- ``show()`` displays the widget together with a static ``text/plain`` + ``text/html`` view in
  the same output: the live front end shows the widget, an untrusted or widget-less one
  (GitHub, nbconvert, mkdocs) shows the static view;
- ``finish(static)`` replaces the output by the static view for good — what a finished progress
  bar or answer leaves in the saved notebook (``update_display`` works from worker threads and
  after the cell has ended).

A widget that stays interactive (model manager, chat panel) never finishes, and re-sending its
output would re-create its view (JupyterLab adds a second view when a widget output is updated
in place). So ``interactive=True`` shows the static view as a second output right below — the
*record* — which the live widget hides with a style of its own, and ``keep(static)`` updates
only the record. Wherever the widget is not rendered (reopened, GitHub), nothing hides the record.

Static HTML is what JupyterLab's sanitizer keeps: no ``<style>``/``<script>``, inline styles only.
"""

from __future__ import annotations

import html
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from IPython.display import display

__all__ = ["LiveOutput", "Static"]


@dataclass(frozen=True)
class Static:
    """A widget's static view: plain text (terminals, diffs) and sanitizer-safe HTML."""

    text: str
    html: str = ""

    def bundle(self) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": self.html or (
            f'<pre style="white-space:pre-wrap">{html.escape(self.text)}</pre>')}


class LiveOutput:
    """``out = LiveOutput(widget, Static("loading…")).show(); …; out.finish(Static(…))``."""

    def __init__(self, widget: Any, static: Static, *, interactive: bool = False) -> None:
        self.static = static
        self.interactive = interactive
        self.finished = False
        self._id = secrets.token_hex(4)
        self._handle: Any = None
        self._record: Any = None
        self._lock = threading.Lock()
        if interactive:
            import ipywidgets as w

            hide = w.HTML(f"<style>.lmsnb-record-{self._id}{{display:none}}"
                          f".jp-OutputArea-child:has(.lmsnb-record-{self._id}){{display:none}}"
                          "</style>", layout=w.Layout(display="none"))
            widget = w.VBox([hide, widget], layout=w.Layout(width="100%"))
        self.widget = widget

    @property
    def shown(self) -> bool:
        return self._handle is not None

    def _record_bundle(self) -> dict[str, str]:
        data = self.static.bundle()
        data["text/html"] = f'<div class="lmsnb-record-{self._id}">{data["text/html"]}</div>'
        return data

    def show(self) -> LiveOutput:
        """Display the widget (and its static view) in the current cell."""
        with self._lock:
            if self._handle is None and not self.finished:
                data = dict(self.widget._repr_mimebundle_() or {})
                if self.interactive:  # the record below carries the static view
                    data["text/plain"] = ""
                    self._handle = display(data, raw=True, display_id=True)
                    self._record = display(self._record_bundle(), raw=True, display_id=True)
                else:
                    data.update(self.static.bundle())
                    self._handle = display(data, raw=True, display_id=True)
        return self

    def keep(self, static: Static) -> None:
        """Make ``static`` what a saved notebook shows of a widget that stays live."""
        with self._lock:
            if self.finished or static == self.static:
                return
            self.static = static
            if self._record is not None:
                self._record.update(self._record_bundle(), raw=True)

    def finish(self, static: Static) -> None:
        """Replace the widget by ``static`` for good."""
        with self._lock:
            self.static = static
            self.finished = True
            if self._handle is not None:
                self._handle.update(static.bundle(), raw=True)
            if self._record is not None:
                self._record.update({"text/plain": ""}, raw=True)
