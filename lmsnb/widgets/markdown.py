"""A small, safe markdown → HTML renderer for model output.

Model output is untrusted text. Everything is HTML-escaped *before* any markup is added, so raw
HTML in an answer is shown as text, never run; links are kept only for http(s)/mailto URLs. It
renders the subset LLMs actually write (headings, lists, code fences, tables, quotes, emphasis,
links) and copes with a half-finished answer (an unclosed code fence renders as code), which is
what a streaming view sees on every flush. No dependency, so it works wherever lmsnb installs.
"""

from __future__ import annotations

import html
import re

__all__ = ["render_markdown", "render_text", "render_code"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HR = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_UL = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_OL = re.compile(r"^(\s*)(\d{1,9})[.)]\s+(.*)$")
_QUOTE = re.compile(r"^ {0,3}>\s?(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"\[([^\]\n]+)\]\(\s*([^)\s]+)(?:\s+&quot;[^)]*&quot;)?\s*\)")
_SAFE_URL = re.compile(r"^(https?://|mailto:)", re.I)
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])(\*|_)(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")


def _inline(text: str) -> str:
    """Escape, then add inline markup. Code spans are cut out first so nothing inside them is styled."""
    out: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_style(text[pos : m.start()]))
        out.append(f"<code>{html.escape(m.group(2).strip())}</code>")
        pos = m.end()
    out.append(_style(text[pos:]))
    return "".join(out)


def _link(m: re.Match[str]) -> str:
    label, url = m.group(1), m.group(2)
    # url is already escaped (quotes are &quot;), so it cannot break out of the attribute.
    if not _SAFE_URL.match(html.unescape(url).strip()):
        return label
    return f'<a href="{url}" target="_blank" rel="noopener noreferrer nofollow">{label}</a>'


def _style(text: str) -> str:
    s = html.escape(text, quote=True)
    s = _LINK.sub(_link, s)
    s = _BOLD.sub(r"<strong>\2</strong>", s)
    s = _ITALIC.sub(r"<em>\2</em>", s)
    s = _STRIKE.sub(r"<del>\1</del>", s)
    return s


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def render_markdown(text: str) -> str:
    """Render (possibly partial) markdown to safe HTML."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush_para() -> None:
        if para:
            out.append("<p>" + "<br>".join(_inline(p) for p in para) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush_para()
            marker, lang = fence.group(1), re.sub(r"[^\w-]", "", fence.group(2))
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            i += 1  # skip the closing fence (or run off the end of a partial answer)
            cls = f' class="language-{lang}"' if lang else ""
            code = chr(10).join(body).rstrip("\n")
            out.append(f"<pre><code{cls}>{html.escape(code)}</code></pre>")
            continue
        if not line.strip():
            flush_para()
            i += 1
            continue
        if m := _HEADING.match(line):
            flush_para()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            i += 1
            continue
        if _HR.match(line):
            flush_para()
            out.append("<hr>")
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]) and "-" in lines[i + 1]:
            flush_para()
            head = _cells(line)
            rows: list[list[str]] = []
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_cells(lines[i]))
                i += 1
            th = "".join(f"<th>{_inline(c)}</th>" for c in head)
            trs = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows
            )
            out.append(f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")
            continue
        if _QUOTE.match(line):
            flush_para()
            quoted: list[str] = []
            while i < len(lines) and (m := _QUOTE.match(lines[i])):
                quoted.append(m.group(1))
                i += 1
            out.append(f"<blockquote>{render_markdown(chr(10).join(quoted))}</blockquote>")
            continue
        if _UL.match(line) or _OL.match(line):
            flush_para()
            i = _list(lines, i, out)
            continue
        para.append(line.strip())
        i += 1
    flush_para()
    return "\n".join(out)


def _list(lines: list[str], i: int, out: list[str]) -> int:
    """Render a list starting at line i (one level of nesting by indentation); return next index."""
    ordered = bool(_OL.match(lines[i]))
    tag = "ol" if ordered else "ul"
    base = len(lines[i]) - len(lines[i].lstrip())
    items: list[str] = []
    while i < len(lines):
        line = lines[i]
        m = _OL.match(line) or _UL.match(line)
        indent = len(line) - len(line.lstrip())
        if m and indent > base:
            nested: list[str] = []
            i = _list(lines, i, nested)
            if items:
                items[-1] += nested[0]
            else:
                items.append(nested[0])
            continue
        if m and indent == base and bool(_OL.match(line)) != ordered:
            break  # a list of the other kind starts
        if not m or indent < base:
            if line.strip() and not m and items and indent > base:
                items[-1] += "<br>" + _inline(line.strip())  # continuation line
                i += 1
                continue
            break
        items.append(_inline(m.groups()[-1]))
        i += 1
    out.append(f"<{tag}>" + "".join(f"<li>{it}</li>" for it in items) + f"</{tag}>")
    return i


def render_text(text: str) -> str:
    """Plain text, escaped, whitespace kept."""
    return f'<pre style="white-space: pre-wrap">{html.escape(text)}</pre>'


def render_code(text: str) -> str:
    """The answer as one code block (strips a surrounding ``` fence if the model added one)."""
    m = re.match(r"^\s*```[\w+#.-]*\n(.*?)(\n```\s*)?$", text, re.S)
    body = m.group(1) if m else text
    return f"<pre><code>{html.escape(body)}</code></pre>"
