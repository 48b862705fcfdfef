"""Model output → safe HTML, with markdown-it-py (CommonMark) and a few well-kept plugins.

Model output is untrusted text, so raw HTML is off (``<script>`` in an answer is shown as text),
links keep an ``href`` only for http(s)/mailto, and images become links (an answer must not make
the notebook fetch anything). On top of CommonMark: GFM tables and strikethrough, footnotes
(``mdit-py-plugins``), and math left exactly as the model wrote it (``$…$``, ``$$…$$``,
``\\(…\\)``, ``\\[…\\]``) so MathJax can typeset it and ``_`` inside a formula is not emphasis.
Single newlines are line breaks, as in chat apps (a haiku keeps its three lines).

Streaming needs nothing special: CommonMark closes an unfinished code fence at the end of the
text, so a half-written answer renders its half-written code block as code on every flush.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.texmath import texmath_plugin

__all__ = ["render_markdown", "render_text", "render_code"]

_SAFE_URL = re.compile(r"^(https?://|mailto:)", re.I)
_CLOSE = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}


def _math(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """The formula as written, delimiters included (escaped), in a span MathJax can find."""
    tok = tokens[idx]
    opener = tok.markup or "$"
    source = f"{opener}{tok.content}{_CLOSE.get(opener, opener)}"
    tag = "div" if tok.block else "span"
    return f'<{tag} class="lmsnb-math">{html.escape(source)}</{tag}>' + ("\n" if tok.block else "")


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


def _image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """An image in an answer is shown as a link to it, never loaded."""
    tok = tokens[idx]
    alt = self.renderInlineAsText(tok.children or [], options, env) or "image"
    src = html.escape(str(tok.attrGet("src") or ""), quote=True)
    return (f'<a href="{src}" target="_blank" rel="noopener noreferrer nofollow">'
            f"🖼 {html.escape(alt)}</a>")


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(md, allow_space=False, allow_digits=False)  # "$5 and $10" is money
    texmath_plugin(md, delimiters="brackets")
    footnote_plugin(md)
    md.validateLink = lambda url: bool(_SAFE_URL.match(url.strip()))  # type: ignore[method-assign]
    for name in ("math_inline", "math_block", "math_block_eqno", "math_block_label",
                 "math_inline_double"):
        md.add_render_rule(name, _math)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("image", _image)
    return md


_MD = _build()


def render_markdown(text: str, *, doc_id: str | None = None) -> str:
    """Render (possibly partial) markdown to safe HTML.

    ``doc_id`` keeps footnote anchors of different answers on one page apart.
    """
    env = {"docId": doc_id} if doc_id else {}
    return _MD.render(text.replace("\r\n", "\n"), env)


def render_text(text: str) -> str:
    """Plain text, escaped, whitespace kept."""
    return f'<pre style="white-space: pre-wrap">{html.escape(text)}</pre>'


def render_code(text: str) -> str:
    """The answer as one code block (strips a surrounding ``` fence if the model added one)."""
    m = re.match(r"^\s*```[\w+#.-]*\n(.*?)(\n```\s*)?$", text, re.S)
    body = m.group(1) if m else text
    return f"<pre><code>{html.escape(body)}</code></pre>"
