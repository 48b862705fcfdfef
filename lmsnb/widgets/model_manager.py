"""Model manager widget: pick a model, load (with progress) / unload, TTL, context, GPU offload.

Loads run in a worker thread so the kernel stays free (and the rest of the notebook stays
usable) while the bar fills. The loaded-models table refreshes after every action and, while
the widget is open, polls the server every few seconds — so a model loaded from another cell,
or unloaded by its TTL, shows up without pressing refresh. After each change the output's
static view (status line and loaded table) is brought up to date, so a saved notebook shows
what was loaded rather than the widget's repr.
"""

from __future__ import annotations

import html
import re
import threading
import time
import weakref
from typing import Any

import ipywidgets as w

from .. import human, models
from ..errors import ConfigError, LmsnbError
from .output import LiveOutput, Static
from .progress import ProgressBar
from .stream import in_kernel

__all__ = ["ModelManager"]

_newest: weakref.ref[ModelManager] | None = None  # the manager that polls

# inline styles: the same table is the static view of a saved (sanitised) notebook
_CELL = "border:1px solid #ddd;padding:2px 8px;white-space:nowrap;text-align:{}"
_TH = _CELL.format("left") + ";background-color:#f3f3f3;font-weight:600"
_MUTED = "color:#777;font-size:12px"


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
        self.context = w.Text(placeholder="default", layout=w.Layout(width="100px"))
        self.context.add_class("lmsnb-mm-context")
        self.gpu = w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, readout_format=".0%",
                                 description="GPU offload",
                                 style={"description_width": "initial"},
                                 layout=w.Layout(width="300px"))
        self.new_instance = w.Checkbox(value=False, description="new instance", indent=False,
                                       layout=w.Layout(width="auto"))
        self.load_button = w.Button(description="Load", icon="download", button_style="primary")
        self.load_button.add_class("lmsnb-mm-load")
        self.progress = ProgressBar("", display_now=False)
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
            w.HBox([_label(""), self.load_button, self.progress.widget],
                   layout=w.Layout(**row)),
            w.HBox([_label("loaded"), self.instances, self.unload_button],
                   layout=w.Layout(**row)),
            self.status, self.table,
        ])
        self.widget.add_class("lmsnb-model-manager")
        self.context.tooltip = "context length in tokens; blank = the model's default"
        self.output = LiveOutput(self.widget, Static(""), interactive=True)
        self._busy = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._snapshot: Any = None
        self._loaded: Any = None
        self.poll = poll
        self._poller: threading.Thread | None = None
        self.refresh()
        self._start_polling()

    def _ipython_display_(self) -> None:
        if self.output.shown:
            from IPython.display import display

            display(self.widget)
        else:
            self.output.static = self.static()
            self.output.show()

    def static(self) -> Static:
        """Status line and loaded table: what a saved notebook shows of the manager."""
        title = "lmsnb model manager (run the cell to use it)"
        status = _strip_tags(self.status.value)
        lines = [title] + ([status] if status else [])
        if self._loaded is not None:
            lines += [f"{r.identifier}: {r.type}, context {human.number(r.context_length)}"
                      f"{f', TTL {human.duration(r.ttl)}' if _known(r.ttl) else ''}"
                      for r in self._loaded.itertuples()] or ["no model loaded"]
        return Static("\n".join(lines),
                      f'<div class="lmsnb-model-manager lmsnb-static"><div style="{_MUTED}">'
                      f"{html.escape(title)}</div>{self.status.value}{self.table.value}</div>")

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
            snapshot = (tuple(down["key"]), tuple(down["instances"]), _signature(loaded))
            if snapshot == self._snapshot:
                return
            self._snapshot = snapshot
            self._loaded = loaded
            keep = self.picker.value
            self.picker.options = [
                (f"{k}  ·  {t}{f'  ·  {_size(s)}' if _size(s) else ''}"
                 f"{f'  ·  loaded ×{n}' if n > 1 else '  ·  loaded' if n else ''}", k)
                for k, t, s, n in zip(down["key"], down["type"], down["size_gb"],
                                      down["instances"], strict=True)]
            keys = list(down["key"])
            # a Dropdown whose options change shows a blank choice: keep or pick one
            self.picker.value = keep if keep in keys else (keys[0] if keys else None)
            keep_inst = self.instances.value
            idents = list(loaded["identifier"])
            self.instances.options = idents
            self.instances.value = keep_inst if keep_inst in idents else (
                idents[0] if idents else None)
            self.unload_button.disabled = not idents
            self.table.value = _table_html(loaded)
        self.output.keep(self.static())

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
                    if _signature(models.loaded()) != me._loaded_signature():
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
        style = "color:#b00020" if error else ""
        self.status.value = (f'<div class="lmsnb-mm-status-line" style="{style}">'
                             f"{html.escape(text)}</div>")

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

    def _context(self) -> int | None:
        text = self.context.value.strip().replace(",", "").replace("_", "")
        if not text:
            return None
        if not text.isdigit() or int(text) <= 0:
            raise ConfigError(f"context {self.context.value.strip()!r} is not a number of "
                              "tokens", hint="e.g. 8192, or leave it blank for the default")
        return int(text)

    def _load(self) -> None:
        key = self.picker.value
        if not key:
            self._say("pick a model first", error=True)
            return
        context = self._context()  # a typo fails before anything is loaded
        ttl = self.ttl.value.strip() or None
        self.progress.reset(f"loading {key}")
        self._say(f"loading {key}…")
        try:
            info = models.load(key, new_instance=self.new_instance.value, ttl=ttl,
                               context_length=context, gpu=self.gpu.value, progress=False,
                               on_progress=self.progress)
        except BaseException:
            self.progress.finish(ok=False)
            raise
        line = models.loaded_line(key, info)
        self.progress.finish(line)
        self._say(line)
        self._snapshot = None
        self.refresh()
        ident = info.get("identifier")
        if ident in self.instances.options:
            self.instances.value = ident

    def _unload(self) -> None:
        ident = self.instances.value
        if not ident:
            self._say("no loaded instance to unload", error=True)
            return
        self._say(f"unloading {ident}…")
        models.unload(ident)
        self.progress.reset("")
        self._say(f"unloaded {ident}")


def _signature(loaded: Any) -> Any:
    return tuple(map(tuple, loaded[["identifier", "type", "context_length", "ttl"]]
                     .astype(str).values))


def _known(value: Any) -> bool:
    import pandas as pd

    return not pd.isna(value)


def _size(gb: Any) -> str:
    try:
        return human.size(float(gb) * 1e9)
    except (TypeError, ValueError):
        return ""


def _strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


def _table_html(loaded: Any) -> str:
    """The loaded instances; the model key only where the instance is named otherwise."""
    head = "".join(f'<th style="{_TH}">{h}</th>'
                   for h in ("loaded instance", "type", "context", "TTL", "size"))
    left, right = _CELL.format("left"), _CELL.format("right")
    rows = []
    for r in loaded.itertuples():
        name = html.escape(str(r.identifier))
        if r.identifier != r.key:
            name += f' <span style="{_MUTED}">({html.escape(str(r.key))})</span>'
        ttl = human.duration(r.ttl) if _known(r.ttl) else ""
        rows.append(f'<tr><td style="{left}">{name}</td><td style="{left}">'
                    f'{html.escape(str(r.type))}</td><td style="{right}">'
                    f'{human.number(r.context_length)}</td><td style="{right}">{ttl}</td>'
                    f'<td style="{right}">{_size(r.size_gb)}</td></tr>')
    if not rows:
        rows = [f'<tr><td colspan="5" style="{left}"><i>no model loaded</i></td></tr>']
    return (f'<table class="lmsnb-loaded" style="border-collapse:collapse;font-size:13px;'
            f'margin-top:4px"><tr>{head}</tr>{"".join(rows)}</table>')
