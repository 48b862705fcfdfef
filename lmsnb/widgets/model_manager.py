"""Model manager widget: pick a model, load (with progress) / unload, TTL, context, GPU offload.

Loads run in a worker thread so the kernel stays free (and the rest of the notebook stays
usable) while the bar fills. The loaded-models table refreshes after every action and, while
the widget is open, polls the server every few seconds — so a model loaded from another cell,
or unloaded by its TTL, shows up without pressing refresh.
"""

from __future__ import annotations

import html
import threading
import time
import weakref
from typing import Any

import ipywidgets as w

from .. import models
from ..errors import LmsnbError
from .stream import in_kernel

__all__ = ["ModelManager"]

_newest: weakref.ref[ModelManager] | None = None  # the manager that polls

CSS = """<style>
.lmsnb-loaded{border-collapse:collapse;font-size:var(--jp-ui-font-size1,13px);margin-top:4px}
.lmsnb-loaded th,.lmsnb-loaded td{border:1px solid var(--jp-border-color2,#ddd);padding:2px 8px;
 text-align:left;white-space:nowrap}
.lmsnb-loaded th{background:var(--jp-layout-color2,#f3f3f3);font-weight:600}
.lmsnb-loaded td.num{text-align:right}
.lmsnb-mm-status{font-size:var(--jp-ui-font-size1,13px)}
</style>"""


def _label(text: str, width: str = "64px") -> w.HTML:
    return w.HTML(f"<span style='color:var(--jp-ui-font-color1)'>{html.escape(text)}</span>",
                  layout=w.Layout(width=width))


class ModelManager:
    """``ModelManager()`` displays itself; ``.widget`` is the VBox.

    ``poll`` is the auto-refresh interval in seconds (``None`` turns it off).
    """

    def __init__(self, *, poll: float | None = 3.0) -> None:
        row = {"align_items": "center", "flex_flow": "row wrap"}
        self.picker = w.Dropdown(layout=w.Layout(width="440px"))
        self.picker.add_class("lmsnb-mm-picker")
        self.refresh_button = w.Button(description="", icon="refresh", tooltip="refresh",
                                       layout=w.Layout(width="40px"))
        self.refresh_button.add_class("lmsnb-mm-refresh")
        self.ttl = w.Text(placeholder="e.g. 600, 10m, 1h (blank: none)",
                          layout=w.Layout(width="230px"))
        self.ttl.add_class("lmsnb-mm-ttl")
        self.context = w.IntText(value=0, layout=w.Layout(width="100px"))
        self.context.add_class("lmsnb-mm-context")
        self.gpu = w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, readout_format=".0%",
                                 description="GPU offload",
                                 style={"description_width": "initial"},
                                 layout=w.Layout(width="300px"))
        self.new_instance = w.Checkbox(value=False, description="new instance", indent=False,
                                       layout=w.Layout(width="auto"))
        self.load_button = w.Button(description="Load", icon="download", button_style="primary")
        self.load_button.add_class("lmsnb-mm-load")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                        layout=w.Layout(width="300px"))
        self.progress.add_class("lmsnb-progress")
        self.percent = w.HTML(self._percent_html(), layout=w.Layout(width="60px"))
        self.instances = w.Dropdown(layout=w.Layout(width="300px"))
        self.instances.add_class("lmsnb-mm-instances")
        self.unload_button = w.Button(description="Unload", icon="eject")
        self.unload_button.add_class("lmsnb-mm-unload")
        self.status = w.HTML()
        self.status.add_class("lmsnb-mm-status")
        self.table = w.HTML()
        self.table.add_class("lmsnb-mm-table")
        self.load_button.on_click(lambda _b: self._spawn(self._load))
        self.unload_button.on_click(lambda _b: self._spawn(self._unload))
        self.refresh_button.on_click(lambda _b: self._manual_refresh())
        self.widget = w.VBox([
            w.HBox([_label("model"), self.picker, self.refresh_button], layout=w.Layout(**row)),
            w.HBox([_label("TTL"), self.ttl, _label("context", "56px"), self.context,
                    self.gpu, self.new_instance], layout=w.Layout(**row)),
            w.HBox([_label(""), self.load_button, self.progress, self.percent],
                   layout=w.Layout(**row)),
            w.HBox([_label("loaded"), self.instances, self.unload_button],
                   layout=w.Layout(**row)),
            self.status, self.table,
        ])
        self.widget.add_class("lmsnb-model-manager")
        self.context.tooltip = "0 = the model's default"
        self._busy = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._snapshot: Any = None
        self._last_progress = 0.0
        self.poll = poll
        self._poller: threading.Thread | None = None
        self.refresh()
        self._start_polling()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- state -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read downloaded and loaded models from the server."""
        with self._refresh_lock:
            try:
                down = models.downloaded()
                loaded = models.loaded()
            except LmsnbError as exc:
                self._say(str(exc), error=True)
                self._snapshot = None  # stops the poller; the refresh button restarts it
                return
            snapshot = (tuple(down["key"]), tuple(down["loaded"]),
                        tuple(map(tuple, loaded[["identifier", "type", "context_length"]]
                                  .astype(str).values)))
            if snapshot == self._snapshot:
                return
            self._snapshot = snapshot
            keep = self.picker.value
            self.picker.options = [
                (f"{k}  ·  {t}{f'  ·  {_size(s)}' if _size(s) else ''}"
                 f"{f'  ·  loaded ×{n}' if n > 1 else '  ·  loaded' if n else ''}", k)
                for k, t, s, n in zip(down["key"], down["type"], down["size_gb"], down["loaded"],
                                      strict=True)]
            keys = list(down["key"])
            # a Dropdown whose options change shows a blank choice: keep or pick one
            self.picker.value = keep if keep in keys else (keys[0] if keys else None)
            keep_inst = self.instances.value
            idents = list(loaded["identifier"])
            self.instances.options = idents
            self.instances.value = keep_inst if keep_inst in idents else (
                idents[0] if idents else None)
            self.unload_button.disabled = not idents
            rows = "".join(
                f"<tr><td>{html.escape(str(r.identifier))}</td><td>{html.escape(str(r.key))}</td>"
                f"<td>{html.escape(str(r.type))}</td><td class='num'>{_num(r.context_length)}</td>"
                f"<td class='num'>{_size(r.size_gb)}</td></tr>" for r in loaded.itertuples())
            if not rows:
                rows = "<tr><td colspan='5'><i>no model loaded</i></td></tr>"
            self.table.value = (f"{CSS}<table class='lmsnb-loaded'><tr><th>loaded instance</th>"
                                "<th>model</th><th>type</th><th>context</th><th>size</th></tr>"
                                f"{rows}</table>")

    def _manual_refresh(self) -> None:
        self._snapshot = None
        self.refresh()
        self._start_polling()

    def _loaded_signature(self) -> Any:
        return self._snapshot[2] if self._snapshot is not None else None

    def _start_polling(self) -> None:
        """Poll the loaded list (cheap) while this is the newest manager in a live kernel.

        Re-running the cell makes a new manager; the old one stops polling then (its widgets
        are no longer shown). Outside a kernel nothing is displayed, so nothing polls.
        """
        global _newest
        if not self.poll or not in_kernel():
            return
        _newest = weakref.ref(self)
        if self._poller is not None and self._poller.is_alive():
            return
        ref = weakref.ref(self)
        interval = self.poll

        def loop() -> None:
            while True:
                time.sleep(interval)
                me = ref()
                if me is None or me.widget.comm is None or _newest is None or _newest() is not me:
                    return  # collected, closed, or replaced by a newer manager
                if me._busy.locked():  # an action refreshes at its end
                    continue
                try:
                    loaded = models.loaded()
                    sig = tuple(map(tuple, loaded[["identifier", "type", "context_length"]]
                                    .astype(str).values))
                    if sig != me._loaded_signature():
                        me._snapshot = None
                        me.refresh()
                except Exception:  # noqa: BLE001 - polling must never raise into the kernel
                    me._say("lost the server — press refresh to try again", error=True)
                    return
                if me._snapshot is None:  # refresh failed: stop until refresh is pressed
                    return
                del me

        self._poller = threading.Thread(target=loop, daemon=True, name="lmsnb-model-poll")
        self._poller.start()

    def _say(self, text: str, *, error: bool = False) -> None:
        color = "var(--jp-error-color1,#b00020)" if error else "var(--jp-ui-font-color1)"
        self.status.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _spawn(self, fn: Any) -> None:
        if not self._busy.acquire(blocking=False):
            self._say("busy — wait for the current action")
            return
        self.load_button.disabled = self.unload_button.disabled = True

        def run() -> None:
            try:
                fn()
            except LmsnbError as exc:
                self._say(str(exc), error=True)
            except Exception as exc:  # noqa: BLE001 - shown in the widget, not lost in a thread
                self._say(f"{type(exc).__name__}: {exc}", error=True)
            finally:
                self._busy.release()
                self.load_button.disabled = False
                self._snapshot = None
                self.refresh()

        threading.Thread(target=run, daemon=True, name="lmsnb-model-manager").start()

    # -- actions ---------------------------------------------------------------------------

    @staticmethod
    def _percent_html(value: float = 0.0, note: str = "") -> str:
        return (f"<span class='lmsnb-progress-label'>{value:.0%}"
                f"{html.escape(note)}</span>")

    def _set_progress(self, value: float) -> None:
        self.progress.value = value
        self.percent.value = self._percent_html(value)

    def _progress(self, value: float) -> None:
        # the SDK calls this often; send at most ~20 updates a second (the last one always)
        now = time.monotonic()
        if value < 1.0 and now - self._last_progress < 0.05:
            return
        self._last_progress = now
        self._set_progress(value)

    def _load(self) -> None:
        key = self.picker.value
        if not key:
            self._say("pick a model first", error=True)
            return
        self._set_progress(0.0)
        self.progress.bar_style = "info"
        ttl = self.ttl.value.strip() or None
        self._say(f"loading {key}…")
        try:
            info = models.load(key, new_instance=self.new_instance.value, ttl=ttl,
                               context_length=self.context.value or None,
                               gpu=self.gpu.value, progress=False, on_progress=self._progress)
        except BaseException:
            self.progress.bar_style = "danger"
            raise
        self._set_progress(1.0)
        self.progress.bar_style = "success"
        ident = info.get("identifier")
        self._say(f"loaded {ident} (context {_num(info.get('context_length'))}"
                  f"{f', TTL {ttl}' if ttl else ''})")
        self._snapshot = None
        self.refresh()
        if ident in self.instances.options:
            self.instances.value = ident

    def _unload(self) -> None:
        ident = self.instances.value
        if not ident:
            self._say("no loaded instance to unload", error=True)
            return
        self._say(f"unloading {ident}…")
        models.unload(ident)
        self._set_progress(0.0)
        self.progress.bar_style = "info"
        self._say(f"unloaded {ident}")


def _num(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "–"


def _size(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if v != v or v <= 0 else f"{v:.1f} GB"
