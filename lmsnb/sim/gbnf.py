"""Grammar-constrained output: the shortest text a GBNF grammar accepts.

Why: applications ask LM Studio for structured output with a llama.cpp grammar
(``{"type": "gbnf", "gbnfGrammar": ...}``) as well as with a JSON schema, and a grammar-constrained
model can only produce text the grammar accepts. The built-in behaviours answer with the
shortest such text (for the JSON-object grammars applications send: every key, empty strings,
zeros), so the client's parsing is exercised as with a real model.

Supports llama.cpp's GBNF: rules ``name ::= ...``, literals with escapes, character classes
(``[^"\\\\]``, ranges), groups, alternatives and the repetitions ``* + ? {m} {m,} {m,n}``;
``#`` comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

__all__ = ["GrammarError", "shortest_text"]


class GrammarError(ValueError):
    """The grammar cannot be parsed (or accepts no finite text)."""


@dataclass
class _Lit:
    text: str


@dataclass
class _Class:
    negated: bool
    items: list[tuple[str, str]]  # (first, last) ranges

    def pick(self) -> str:
        for c in "a0 ._-":  # readable first
            if self.accepts(c):
                return c
        if not self.negated:
            return self.items[0][0]
        for code in range(32, 0x2FF):
            if self.accepts(chr(code)):
                return chr(code)
        raise GrammarError("a character class accepts no character")

    def accepts(self, c: str) -> bool:
        inside = any(a <= c <= b for a, b in self.items)
        return inside != self.negated


@dataclass
class _Ref:
    name: str


@dataclass
class _Rep:
    item: _Node
    low: int


@dataclass
class _Alt:
    options: list[list[_Node]]


_Node = Union[_Lit, _Class, _Ref, _Rep, _Alt]  # noqa: UP007 (a runtime alias on Python 3.10)

_RULE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*::=", re.M)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "[": "[", "]": "]",
            "-": "-", "^": "^", "/": "/"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def error(self, what: str) -> GrammarError:
        return GrammarError(f"{what} at {self.s[self.i:self.i + 20]!r}")

    def skip(self) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            elif c.isspace():
                self.i += 1
            else:
                return

    def escape(self) -> str:
        c = self.s[self.i]
        if c in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[c]
            code = self.s[self.i + 1:self.i + 1 + n]
            if len(code) != n:
                raise self.error("bad escape")
            self.i += 1 + n
            return chr(int(code, 16))
        self.i += 1
        return _ESCAPES.get(c, c)

    def char(self, end: str) -> str:
        c = self.s[self.i]
        self.i += 1
        if c == "\\":
            return self.escape()
        if c == end:
            raise self.error("empty item")
        return c

    def alternatives(self, closing: str | None) -> _Alt:
        options: list[list[_Node]] = [[]]
        while True:
            self.skip()
            if self.i >= len(self.s):
                if closing:
                    raise self.error(f"missing {closing!r}")
                return _Alt(options)
            c = self.s[self.i]
            if closing and c == closing:
                self.i += 1
                return _Alt(options)
            if c == "|":
                self.i += 1
                options.append([])
                continue
            options[-1].append(self.postfix(self.item()))

    def item(self) -> _Node:
        c = self.s[self.i]
        if c == '"':
            self.i += 1
            out = []
            while self.i < len(self.s) and self.s[self.i] != '"':
                out.append(self.char('"'))
            if self.i >= len(self.s):
                raise self.error("unterminated literal")
            self.i += 1
            return _Lit("".join(out))
        if c == "[":
            self.i += 1
            negated = self.s.startswith("^", self.i)
            self.i += negated
            items = []
            while self.i < len(self.s) and self.s[self.i] != "]":
                first = self.char("]")
                last = first
                if self.s.startswith("-", self.i) and not self.s.startswith("-]", self.i):
                    self.i += 1
                    last = self.char("]")
                items.append((first, last))
            if self.i >= len(self.s):
                raise self.error("unterminated character class")
            self.i += 1
            return _Class(negated, items)
        if c == "(":
            self.i += 1
            return self.alternatives(")")
        m = re.compile(r"[A-Za-z][A-Za-z0-9_-]*").match(self.s, self.i)
        if m:
            self.i = m.end()
            return _Ref(m.group(0))
        raise self.error("unexpected character")

    def postfix(self, node: _Node) -> _Node:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in "*?":
                self.i += 1
                node = _Rep(node, 0)
            elif c == "+":
                self.i += 1
                node = _Rep(node, 1)
            elif c == "{":
                m = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}").match(self.s, self.i)
                if not m:
                    raise self.error("bad repetition")
                self.i = m.end()
                node = _Rep(node, int(m.group(1)))
            else:
                break
        return node


def _rules(grammar: str) -> dict[str, _Alt]:
    starts = list(_RULE_RE.finditer(grammar))
    if not starts:
        raise GrammarError("no rules (expected 'name ::= ...')")
    rules: dict[str, _Alt] = {}
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(grammar)
        rules[m.group(1)] = _Parser(grammar[m.end():end]).alternatives(None)
    return rules


def shortest_text(grammar: str, root: str = "root") -> str:
    """The shortest text ``grammar`` accepts (GrammarError if it cannot be parsed)."""
    rules = _rules(grammar)
    if root not in rules:
        raise GrammarError(f"no {root!r} rule")
    best: dict[str, str] = {}

    # Fixpoint: a rule's shortest text is known once every reference in one of its options is.
    def text(node: _Node) -> str | None:
        if isinstance(node, _Lit):
            return node.text
        if isinstance(node, _Class):
            return node.pick()
        if isinstance(node, _Ref):
            if node.name not in rules:
                raise GrammarError(f"undefined rule {node.name!r}")
            return best.get(node.name)
        if isinstance(node, _Rep):
            if node.low == 0:
                return ""
            one = text(node.item)
            return None if one is None else one * node.low
        found = [t for t in (seq(o) for o in node.options) if t is not None]
        return min(found, key=len) if found else None

    def seq(items: list[_Node]) -> str | None:
        parts = [text(n) for n in items]
        return None if any(p is None for p in parts) else "".join(parts)  # type: ignore[arg-type]

    changed = True
    while changed:
        changed = False
        for name, alt in rules.items():
            t = text(alt)
            if t is not None and (name not in best or len(t) < len(best[name])):
                best[name] = t
                changed = True
    if root not in best:
        raise GrammarError("the grammar accepts no finite text")
    return best[root]
