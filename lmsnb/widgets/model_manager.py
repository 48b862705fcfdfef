"""Model manager widget: pick a model, load (with progress) / unload, TTL, context, GPU offload.

Loads run in a worker thread so the kernel stays free (and the rest of the notebook stays
usable) while the bar fills; the loaded-models table refreshes after every action.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from .. import models
from ..errors import LmsnbError

__all__ = ["ModelManager"]


class ModelManager:
    """``ModelManager()`` displays itself; ``.widget`` is the VBox."""

    def __init__(self) -> None:
        self.picker = w.Dropdown(description="model", layout=w.Layout(width="420px"))
        self.ttl = w.Text(placeholder="TTL s (blank = none)", layout=w.Layout(width="150px"))
        self.context = w.IntText(value=0, description="context", layout=w.Layout(width="180px"),
                                 tooltip="0 = the model's default")
        self.gpu = w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="GPU",
                                 readout_format=".0%", layout=w.Layout(width="260px"))
        self.new_instance = w.Checkbox(value=False, description="new instance", indent=False)
        self.load_button = w.Button(description="Load", icon="download", button_style="primary")
        self.unload_button = w.Button(description="Unload", icon="eject")
        self.refresh_button = w.Button(description="", icon="refresh",
                                       layout=w.Layout(width="40px"))
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                        layout=w.Layout(width="420px"))
        self.progress.add_class("lmsnb-progress")
        self.status = w.HTML()
        self.table = w.HTML()
        self.load_button.on_click(lambda _b: self._spawn(self._load))
        self.unload_button.on_click(lambda _b: self._spawn(self._unload))
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([
            w.HBox([self.picker, self.refresh_button]),
            w.HBox([self.ttl, self.context, self.gpu, self.new_instance]),
            w.HBox([self.load_button, self.unload_button]),
            self.progress, self.status, self.table,
        ])
        self.widget.add_class("lmsnb-model-manager")
        self._busy = threading.Lock()
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> None:
        """Re-read downloaded and loaded models from the server."""
        try:
            down = models.downloaded()
            loaded = models.loaded()
        except LmsnbError as exc:
            self._say(str(exc), error=True)
            return
        keep = self.picker.value
        self.picker.options = [(f"{k}  ({t}{', loaded' if n else ''})", k)
                               for k, t, n in zip(down["key"], down["type"], down["loaded"],
                                                  strict=True)]
        if keep in set(down["key"]):
            self.picker.value = keep
        rows = "".join(
            f"<tr><td>{html.escape(str(r.identifier))}</td><td>{html.escape(str(r.type))}</td>"
            f"<td>{r.context_length}</td></tr>" for r in loaded.itertuples())
        self.table.value = ("<table class='lmsnb-loaded'><tr><th>loaded</th><th>type</th>"
                            f"<th>context</th></tr>{rows or '<tr><td>none</td></tr>'}</table>")

    def _say(self, text: str, *, error: bool = False) -> None:
        color = "#b00020" if error else "inherit"
        self.status.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _spawn(self, fn: Any) -> None:
        if not self._busy.acquire(blocking=False):
            self._say("busy — wait for the current action")
            return

        def run() -> None:
            try:
                fn()
            except LmsnbError as exc:
                self._say(str(exc), error=True)
            finally:
                self._busy.release()
                self.refresh()

        threading.Thread(target=run, daemon=True, name="lmsnb-model-manager").start()

    def _progress(self, value: float) -> None:
        self.progress.value = value

    def _load(self) -> None:
        key = self.picker.value
        if not key:
            self._say("pick a model first", error=True)
            return
        self.progress.value = 0.0
        self.progress.bar_style = "info"
        self._say(f"loading {key}…")
        try:
            info = models.load(key, new_instance=self.new_instance.value,
                               ttl=self.ttl.value.strip() or None,
                               context_length=self.context.value or None,
                               gpu=self.gpu.value, progress=False, on_progress=self._progress)
        except LmsnbError:
            self.progress.bar_style = "danger"
            raise
        self.progress.value = 1.0
        self.progress.bar_style = "success"
        self._say(f"loaded {info.get('identifier')} (context {info.get('context_length')})")

    def _unload(self) -> None:
        key = self.picker.value
        if not key:
            return
        models.unload(key)
        self.progress.value = 0.0
        self._say(f"unloaded {key}")
