"""Deterministic lexical embeddings and a BPE-like tokenizer, in pure numpy.

Why: the simulator (and lmsnb's offline fallbacks) need embeddings whose cosine similarity
reflects shared words, and token counts that look like a real BPE's, without downloading any
model or vocabulary. Hashing uses blake2b, so results are stable across processes (Python's
``hash()`` is salted per process).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

__all__ = ["embed_texts", "embed_text", "tokenize", "count_tokens", "split_tokens"]

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Tokens: words (with a leading space kept so pieces rejoin to the original text), numbers,
# single punctuation marks, and runs of whitespace.
_TOKEN_RE = re.compile(r" ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]|\s+")
_PIECE = 5  # words longer than _LONG letters are split into ~5-char pieces, like BPE subwords
_LONG = 7
_VOCAB = 100_000  # token ids live in [0, _VOCAB)

# Feature weights: whole words dominate, bigrams add phrase sense, trigrams give fuzzy matching.
_W_UNIGRAM = 1.0
_W_BIGRAM = 0.6
_W_TRIGRAM = 0.25
_W_STOPWORD = 0.15  # so "who is X?" matches X, not every sentence containing "is"
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or she "
    "that the their them they this to was were what when where which who why will with you "
    "your do does did how me my we our not no so if than then there these those".split()
)


def _hash64(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")


def _features(text: str) -> Iterable[tuple[str, float]]:
    words = _WORD_RE.findall(text.lower())
    for w in words:
        if w in _STOPWORDS:
            yield "u:" + w, _W_STOPWORD
            continue
        yield "u:" + w, _W_UNIGRAM
        padded = f"<{w}>"
        for i in range(len(padded) - 2):
            yield "c:" + padded[i : i + 3], _W_TRIGRAM
    for a, b in zip(words, words[1:], strict=False):
        yield f"b:{a} {b}", _W_BIGRAM


def embed_text(text: str, dim: int = 768) -> np.ndarray:
    """One L2-normalised float32 vector of length ``dim`` (zeros only for text with no words)."""
    vec = np.zeros(dim, dtype=np.float64)
    for feature, weight in _features(text):
        h = _hash64(feature)
        sign = 1.0 if (h >> 63) & 1 else -1.0
        vec[h % dim] += sign * weight
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        # No words at all: still return a unit vector, deterministic per text.
        h = _hash64("empty:" + text)
        vec[h % dim] = 1.0
        norm = 1.0
    return (vec / norm).astype(np.float32)


def embed_texts(texts: list[str], dim: int = 768) -> np.ndarray:
    """Embed many texts: an ``(n, dim)`` float32 array with L2-normalised rows."""
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = embed_text(text, dim)
    return out


def split_tokens(text: str) -> list[str]:
    """Split text into token strings whose concatenation is exactly ``text``.

    Used to cut streamed replies into token-sized fragments. Words longer than 7 letters are cut
    into ~5-char pieces, which gives about 1.3 tokens per English word.
    """
    pieces: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        if m.start() > pos:  # anything the regex skipped (should not happen) stays intact
            pieces.append(text[pos : m.start()])
        tok = m.group(0)
        pos = m.end()
        core = tok.lstrip(" ")
        if core.isalpha() and len(core) > _LONG:
            lead = tok[: len(tok) - len(core)]
            first = lead + core[:_PIECE]
            pieces.append(first)
            rest = core[_PIECE:]
            pieces.extend(rest[i : i + _PIECE] for i in range(0, len(rest), _PIECE))
        else:
            pieces.append(tok)
    if pos < len(text):
        pieces.append(text[pos:])
    return pieces


def tokenize(text: str) -> list[int]:
    """Deterministic token ids (stable hashes of the token strings) for ``text``."""
    return [_hash64("t:" + piece) % _VOCAB for piece in split_tokens(text)]


def count_tokens(text: str) -> int:
    """Number of tokens :func:`tokenize` would return."""
    return len(split_tokens(text))
