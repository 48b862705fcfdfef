"""Token counting without downloading tokenizer files.

GraphRAG counts with tiktoken's ``o200k_base``, whose BPE file tiktoken fetches from the internet
at run time; lmsnb never downloads data. Two counters instead:

* :func:`estimate_tokens` — a documented estimate: words, numbers and punctuation marks count
  one token each, and words longer than 7 letters one more per 5 letters (BPE splits long words).
  On English prose this lands within about ±10 % of o200k (1.3 tokens per word).
* :class:`TokenCounter` — uses the model's own tokenizer through LM Studio when a model can count
  (``ChatModel.count_tokens``), calibrating the estimate once per document so chunk boundaries
  can still be cut locally without one RPC per word.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

_PIECE_RE = re.compile(r"[A-Za-z]+|[0-9]{1,3}|[^\sA-Za-z0-9]")


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (see module docstring for the rule)."""
    n = 0
    for m in _PIECE_RE.finditer(text):
        piece = m.group(0)
        n += 1 + (math.ceil((len(piece) - 7) / 5) if piece.isalpha() and len(piece) > 7 else 0)
    return n


class TokenCounter:
    """Counts tokens with ``exact`` (e.g. the model's tokenizer) or the estimate.

    ``ratio`` is how many real tokens one estimated token is, learned from the texts counted
    exactly; chunking multiplies the estimate by it so chunks come out close to the requested
    size in the model's own tokens.
    """

    def __init__(self, exact: Callable[[str], int] | None = None) -> None:
        self.exact = exact
        self.ratio = 1.0
        self.source = "estimate"

    def __call__(self, text: str) -> int:
        if self.exact is not None:
            try:
                return int(self.exact(text))
            except Exception:  # the server went away: fall back, do not fail the build
                self.exact = None
        return max(0, round(estimate_tokens(text) * self.ratio))

    def calibrate(self, sample: str) -> float:
        """Learn ``ratio`` from one exact count of ``sample`` (one RPC); returns the ratio."""
        if self.exact is None or not sample.strip():
            return self.ratio
        est = estimate_tokens(sample)
        real = self(sample)
        if est and real:
            self.ratio = real / est
            self.source = "model tokenizer"
        return self.ratio
