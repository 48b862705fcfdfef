"""Every prediction of this kernel, as a DataFrame (the seed's "ModelMonitor", built in).

``lmsnb.client`` reports the stats of each prediction here (chat, tools and GraphRAG calls); ``lmsnb.monitor()`` returns a ``Monitor``
whose ``.df`` has one row per prediction, ``.summary()`` aggregates per model, and ``.plot()``
draws tokens/s over time with matplotlib when it is installed (otherwise a styled table).
Recording is idempotent per stats object, so the client may record too without double counts.
"""

from __future__ import annotations

import sys
import threading
import types
from datetime import datetime
from typing import Any

import pandas as pd

from .client import on_prediction
from .events import PredictionStats

__all__ = ["Monitor", "monitor", "record", "clear"]

_lock = threading.Lock()
_records: dict[int, PredictionStats] = {}

COLUMNS = [
    "started_at", "kind", "session", "model", "prompt_tokens", "predicted_tokens",
    "tokens_per_second", "time_to_first_token", "total_seconds", "stop_reason",
]
ROUNDING = {"tokens_per_second": 1, "time_to_first_token": 2, "total_seconds": 2,
            "mean_tokens_per_second": 1, "mean_time_to_first_token": 2}


def record(stats: PredictionStats) -> None:
    """Remember one prediction's stats (the same object twice counts once)."""
    with _lock:
        _records[id(stats)] = stats  # the dict holds the object, so its id stays unique


on_prediction(record)  # every prediction through lmsnb.client, GraphRAG's included


def clear() -> None:
    """Forget all recorded predictions."""
    with _lock:
        _records.clear()


class Monitor:
    """A snapshot of all predictions; ``df``, ``summary()`` and ``plot()`` views of it."""

    def __init__(self, stats: list[PredictionStats]) -> None:
        rows = [s.as_dict() for s in stats]
        df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
        if len(df):
            df = df.sort_values("started_at", ignore_index=True)
            # local wall-clock time to the second, and floats to what a person reads
            df["started_at"] = pd.to_datetime(
                [datetime.fromtimestamp(t).replace(microsecond=0) for t in df["started_at"]])
            df = df.round(ROUNDING)
        self.df = df

    def __len__(self) -> int:
        return len(self.df)

    def summary(self) -> pd.DataFrame:
        """Aggregate per model: predictions, tokens, mean tok/s, mean time to first token, time."""
        if not len(self.df):
            return pd.DataFrame(
                columns=["predictions", "prompt_tokens", "predicted_tokens",
                         "mean_tokens_per_second", "mean_time_to_first_token", "total_seconds",
                         "stopped"]
            )
        g = self.df.groupby("model")
        return pd.DataFrame({
            "predictions": g.size(),
            "prompt_tokens": g["prompt_tokens"].sum(),
            "predicted_tokens": g["predicted_tokens"].sum(),
            "mean_tokens_per_second": g["tokens_per_second"].mean(),
            "mean_time_to_first_token": g["time_to_first_token"].mean(),
            "total_seconds": g["total_seconds"].sum(),
            "stopped": g["stop_reason"].apply(lambda s: int((s == "userStopped").sum())),
        }).round(ROUNDING)

    def plot(self) -> Any:
        """Tokens/s per prediction over time (matplotlib), or a styled table without it."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            return self.styled()
        fig, ax = plt.subplots(figsize=(7, 3))
        for model, part in self.df.groupby("model"):
            ax.plot(part["started_at"], part["tokens_per_second"], marker="o", label=model)
        ax.set_ylabel("tokens/s")
        ax.set_title("lmsnb predictions")
        ax.legend(fontsize="small")
        fig.autofmt_xdate()
        return fig

    def styled(self) -> Any:
        """The per-model summary as a pandas Styler with bars for tokens/s (no matplotlib needed)."""
        summ = self.summary()
        styler = summ.style.format(precision=2)
        if len(summ):
            styler = styler.bar(subset=["mean_tokens_per_second"], color="#8fbcbb")
        return styler

    def _repr_html_(self) -> str:
        head = f"<b>lmsnb monitor</b>: {len(self.df)} predictions"
        return head + self.summary().to_html() + self.df.tail(20).to_html(index=False)

    def __repr__(self) -> str:
        return f"Monitor({len(self.df)} predictions)\n{self.summary().to_string()}"


def monitor() -> Monitor:
    """All predictions of this kernel so far."""
    with _lock:
        stats = list(_records.values())
    return Monitor(stats)


class _CallableModule(types.ModuleType):
    """``lmsnb.monitor()`` works even after ``import lmsnb.monitor`` bound the module name."""

    def __call__(self) -> Monitor:
        return monitor()


sys.modules[__name__].__class__ = _CallableModule
