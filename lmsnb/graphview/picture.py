"""The graph as a picture that a saved notebook keeps: PNG (and SVG) from the same scene.

Why a separate output: widgets are not saved in a form a reopened notebook can show (JupyterLab
keeps no widget state by default and shows "model not found"), JupyterLab's sanitizer strips
SVG inside HTML, and it refuses ``image/svg+xml`` in untrusted notebooks. ``image/png`` is shown
everywhere: untrusted JupyterLab, GitHub, nbconvert and the docs site. So after the cell that
displayed a view finishes, the kernel adds the picture as its own ``display_data`` output;
in the live page the view hides that output again (it finds its key in the PNG), so people see
one graph while the notebook file carries both.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .data import clip
from .draw import GREY, HIGHLIGHT

WIDTH, HEIGHT = 960, 600
CAPTION = 24  # px at the bottom for the caption line
PNG_KEY = "lmsnb-graph"  # tEXt keyword; the browser looks for f"{PNG_KEY}\0{key}"
EDGE = "#9aa0a6"
TOP_FIRST = 8  # this many most important nodes are labelled before the community titles
LEGEND_W = 250  # px on the right for the legend


@dataclass
class Scene:
    """Pixel geometry of one picture: what both the PNG and the SVG draw."""

    width: int
    height: int
    edges: list[tuple] = field(default_factory=list)  # x1, y1, x2, y2, width, colour, alpha
    nodes: list[tuple] = field(default_factory=list)  # x, y, r, fill, stroke, sw, shape, alpha
    labels: list[tuple] = field(default_factory=list)  # x, y, text, size, bold, anchor, colour
    legend: list[tuple] = field(default_factory=list)  # colour, text, hollow
    labelled: list[str] = field(default_factory=list)  # ids of the labelled nodes
    caption: str = ""


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in px as the PNG draws it (DejaVu Sans, with its white outline)."""
    try:
        return _font(round(size * 4), bold).getlength(text) / 4 + 4
    except ImportError:  # no Pillow: an estimate for GraphRAG's mostly upper-case titles
        return 0.66 * size * len(text) + 4


def _overlaps(box: tuple, taken: list[tuple]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in taken)


def scene(graph: Mapping, highlighted: Mapping | None = None, legend: Mapping | None = None,
          caption: str = "", width: int = WIDTH, height: int = HEIGHT,
          max_labels: int = 60) -> Scene:
    """Fit the laid-out graph into the picture (the legend gets a column on the right) and
    choose labels that do not overlap each other or labelled nodes: highlighted nodes, the most
    important few, the community titles, then the rest by importance — each to the right of
    its node, else left, below or above."""
    sc = Scene(width, height, caption=caption)
    nodes, edges = graph.get("nodes", []), graph.get("edges", [])
    labels = graph.get("labels", [])
    if legend:
        sc.legend = legend_rows(legend)
    if not nodes:
        sc.labels.append((width / 2, height / 2, "empty graph: no entities to draw", 16, False,
                          "middle", "#57606a"))
        return sc
    pad = 24
    right = width - (LEGEND_W if sc.legend else 0)
    xs0 = min(n["x"] - n["size"] / 2 for n in nodes)
    xs1 = max(n["x"] + n["size"] / 2 for n in nodes)
    ys0 = min([n["y"] - n["size"] / 2 for n in nodes] + [lab["y"] - 14 for lab in labels])
    ys1 = max(n["y"] + n["size"] / 2 for n in nodes)
    avail_w, avail_h = right - 2 * pad, height - 2 * pad - CAPTION
    s = min(avail_w / max(xs1 - xs0, 1), avail_h / max(ys1 - ys0, 1), 1.25)
    ox = pad + (avail_w - (xs1 - xs0) * s) / 2 - xs0 * s
    oy = pad + (avail_h - (ys1 - ys0) * s) / 2 - ys0 * s

    def at(x: float, y: float) -> tuple[float, float]:
        return x * s + ox, y * s + oy

    hl = highlighted or {}
    hl_nodes, hl_edges = set(hl.get("nodes", [])), set(hl.get("edges", []))
    fade = bool(hl_nodes or hl_edges)
    if fade and sc.legend:
        sc.legend.insert(len(sc.legend) - 1, (HIGHLIGHT, "red ring: highlighted", True))
    where = {n["id"]: at(n["x"], n["y"]) for n in nodes}
    for e in edges[:20000]:
        (x1, y1), (x2, y2) = where[e["source"]], where[e["target"]]
        on = e["id"] in hl_edges
        sc.edges.append((x1, y1, x2, y2, max(e["width"] * s, 0.6) * (1.6 if on else 1),
                         HIGHLIGHT if on else EDGE, 0.9 if on else (0.12 if fade else 0.4)))
    sc.edges.sort(key=lambda e: e[5] == HIGHLIGHT)  # highlighted lines on top
    for n in sorted(nodes, key=lambda n: (n["id"] in hl_nodes, -n.get("rank", 0))):
        x, y = where[n["id"]]
        r = max(n["size"] / 2 * s, 2.0)
        on = n["id"] in hl_nodes
        alpha = 1.0 if on or not fade else 0.3
        if n.get("kind") == "mention":
            sc.nodes.append((x, y, r, "#ffffff", HIGHLIGHT if on else GREY, 3 if on else 1.5,
                             "circle", alpha))
        elif n.get("kind") == "community":
            sc.nodes.append((x, y, r, n["color"], HIGHLIGHT if on else "#444444",
                             3 if on else 1.5, "square", alpha))
        else:
            sc.nodes.append((x, y, r, n["color"], HIGHLIGHT if on else "#ffffff",
                             3 if on else 0.8, "circle", alpha))
    taken: list[tuple] = []
    by_rank = sorted(nodes, key=lambda n: (n["id"] not in hl_nodes, n.get("rank", 0)))
    first = sum(1 for n in nodes if n["id"] in hl_nodes) + TOP_FIRST
    cands = [(n, False) for n in by_rank[:first]]
    cands += [(lab, True) for lab in sorted(labels, key=lambda lab: lab.get("rank", 0))]
    cands += [(n, False) for n in by_rank[first:]]
    for item, is_title in cands:
        if len(sc.labels) >= max_labels:
            break
        text = item.get("label") or ""
        if not text:
            continue
        x, y = at(item["x"], item["y"])
        size = 13.0 if is_title else float(item.get("lfs", 11))
        w, h = text_width(text, size, is_title), size * 1.25 + 2
        r = 0.0 if is_title else max(item["size"] / 2 * s, 2.0)
        if is_title:
            places = [(x, y)]
        elif item.get("kind") == "community":
            places = [(x, y + r + 2 + h / 2)]
        else:  # centres of the label box: right, left, below, above
            places = [(x + r + 3 + w / 2, y), (x - r - 3 - w / 2, y),
                      (x, y + r + 2 + h / 2), (x, y - r - 2 - h / 2)]
        for cx, cy in places:
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if box[0] >= 0 and box[2] <= right and box[1] >= 0 and \
                    box[3] <= height - CAPTION and not _overlaps(box, taken):
                break
        else:
            continue
        taken.append(box)
        if r:
            taken.append((x - r, y - r, x + r, y + r))
        sc.labelled.append(item["id"])
        colour = "#333333" if is_title else "#1d1d1d"
        sc.labels.append((cx, cy, text, size, is_title, "middle", colour))
    return sc


def legend_rows(legend: Mapping) -> list[tuple]:
    """(colour, text, hollow) rows of a legend dict from ``draw.legend``."""
    rows = [(c, f"{clip(name, 30)} ({n:,})", False) for c, name, n in legend.get("items", [])]
    more = legend.get("more", 0)
    if more > 0:
        what = "communities" if legend.get("by") == "community" else "types"
        rows.append(("#ffffff", f"… {more:,} more {what}", False))
    if legend.get("gray"):
        what = "no community" if legend.get("by") == "community" else "no type"
        rows.append((GREY, f"gray: {what} ({legend['gray']:,})", False))
    if legend.get("mentions"):
        rows.append((GREY, f"hollow: only in relationships ({legend['mentions']:,})", True))
    rows.append(("#ffffff", f"size: {legend.get('size', 'degree')}", False))
    return rows


# --------------------------------------------------------------------------------- SVG


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def to_svg(sc: Scene) -> str:
    """A standalone SVG document of the scene."""

    def esc(text: str) -> str:  # titles may hold characters XML does not allow
        return html.escape(_NOT_XML.sub("", text))

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{sc.width}' height='{sc.height}' "
           f"viewBox='0 0 {sc.width} {sc.height}' font-family='DejaVu Sans, sans-serif'>",
           f"<rect width='{sc.width}' height='{sc.height}' fill='#ffffff'/>"]
    for x1, y1, x2, y2, w, c, a in sc.edges:
        out.append(f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
                   f"stroke='{c}' stroke-opacity='{a}' stroke-width='{w:.2f}'/>")
    for x, y, r, fill, stroke, sw, shape, a in sc.nodes:
        common = f"fill='{fill}' stroke='{stroke}' stroke-width='{sw}' opacity='{a}'"
        if shape == "square":
            out.append(f"<rect x='{x - r:.1f}' y='{y - r:.1f}' width='{2 * r:.1f}' "
                       f"height='{2 * r:.1f}' rx='{r / 5:.1f}' {common}/>")
        else:
            out.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r:.1f}' {common}/>")
    for x, y, text, size, bold, anchor, c in sc.labels:
        weight = " font-weight='bold'" if bold else ""
        out.append(f"<text x='{x:.1f}' y='{y + size * 0.35:.1f}' font-size='{size}'{weight} "
                   f"text-anchor='{anchor}' fill='{c}' stroke='#ffffff' stroke-width='3' "
                   f"paint-order='stroke'>{esc(text)}</text>")
    x0 = sc.width - LEGEND_W + 8
    for k, (c, text, hollow) in enumerate(sc.legend):
        yy = 20 + 17 * k
        fill = "#ffffff" if hollow else c
        stroke = c if hollow else "#888888"
        out.append(f"<circle cx='{x0 + 6}' cy='{yy}' r='5' fill='{fill}' stroke='{stroke}'/>"
                   f"<text x='{x0 + 16}' y='{yy + 4}' font-size='11' fill='#333333'>"
                   f"{esc(text)}</text>")
    if sc.caption:
        out.append(f"<text x='10' y='{sc.height - 8}' font-size='12' fill='#57606a'>"
                   f"{esc(sc.caption)}</text>")
    out.append("</svg>")
    return "\n".join(out)


# --------------------------------------------------------------------------------- PNG

@functools.cache
def _font(size: int, bold: bool = False) -> Any:
    from PIL import ImageFont

    names = ["DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"]
    try:  # matplotlib ships DejaVu; many machines have it without system fonts
        import importlib.util

        spec = importlib.util.find_spec("matplotlib")
        if spec and spec.submodule_search_locations:
            base = spec.submodule_search_locations[0]
            names.append(f"{base}/mpl-data/fonts/ttf/{names[0]}")
    except (ImportError, ValueError):
        pass
    for name in names:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _rgba(colour: str, alpha: float) -> tuple[int, int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), int(round(255 * alpha))


def to_png(sc: Scene, key: str = "", scale: int = 2) -> bytes:
    """The scene as PNG bytes, drawn at ``scale`` times the size and reduced (anti-aliasing).
    ``key`` goes into a tEXt chunk so the live view can recognise its own picture."""
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    k = scale
    img = Image.new("RGB", (sc.width * k, sc.height * k), "#ffffff")
    d = ImageDraw.Draw(img, "RGBA")
    for x1, y1, x2, y2, w, c, a in sc.edges:
        d.line([(x1 * k, y1 * k), (x2 * k, y2 * k)], fill=_rgba(c, a),
               width=max(1, round(w * k)))
    for x, y, r, fill, stroke, sw, shape, a in sc.nodes:
        box = [(x - r) * k, (y - r) * k, (x + r) * k, (y + r) * k]
        width = max(1, round(sw * k))
        if shape == "square":
            d.rounded_rectangle(box, radius=r * k / 5, fill=_rgba(fill, a),
                                outline=_rgba(stroke, a), width=width)
        else:
            d.ellipse(box, fill=_rgba(fill, a), outline=_rgba(stroke, a), width=width)
    for x, y, text, size, bold, anchor, c in sc.labels:
        d.text((x * k, y * k), text, font=_font(round(size * k), bold), fill=_rgba(c, 1),
               anchor="mm" if anchor == "middle" else "lm", stroke_width=2 * k,
               stroke_fill=(255, 255, 255, 255))
    x0 = sc.width - LEGEND_W + 8
    for i, (c, text, hollow) in enumerate(sc.legend):
        yy = (20 + 17 * i) * k
        d.ellipse([(x0 + 1) * k, yy - 5 * k, (x0 + 11) * k, yy + 5 * k],
                  fill=_rgba("#ffffff" if hollow else c, 1),
                  outline=_rgba(c if hollow else "#888888", 1), width=k)
        d.text(((x0 + 16) * k, yy), text, font=_font(11 * k), fill=(51, 51, 51, 255),
               anchor="lm")
    if sc.caption:
        d.text((10 * k, (sc.height - 12) * k), sc.caption, font=_font(12 * k),
               fill=(87, 96, 106, 255), anchor="lm")
    img = img.reduce(k)  # each output pixel the mean of k x k: anti-aliased, and cheap
    # a palette of 128 colours looks the same here and is 5x smaller in the notebook file
    img = img.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    info = PngInfo()
    if key:
        info.add_text(PNG_KEY, key)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


# ------------------------------------------------------------- the output a notebook keeps

class Picture:
    """A view's picture as its own output: ``image/png`` (shown everywhere, also untrusted)
    plus ``text/plain``. Where Pillow is missing it falls back to ``image/svg+xml``, which
    trusted notebooks, GitHub and nbconvert show."""

    def __init__(self, sc: Scene, key: str, text: str) -> None:
        try:
            self.png: bytes | None = to_png(sc, key)
        except ImportError:
            self.png = None
        self.scene, self.text = sc, text

    def _repr_mimebundle_(self, **_: Any) -> tuple[dict, dict]:
        if self.png is not None:
            return ({"image/png": base64.b64encode(self.png).decode("ascii"),
                     "text/plain": self.text},
                    {"image/png": {"width": WIDTH, "height": HEIGHT}})
        return {"image/svg+xml": to_svg(self.scene), "text/plain": self.text}, {}


_pending: list[Any] = []


def show_after_cell(view: Any) -> None:
    """Display ``view.picture()`` as its own output once the running cell has finished (the
    last state the cell left the view in; the live view hides it). No-op outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or not hasattr(ip, "events"):
        return
    if not _pending:
        ip.events.register("post_run_cell", _flush)
    if all(v is not view for v in _pending):
        _pending.append(view)


def _flush(*_: Any) -> None:
    from IPython import get_ipython
    from IPython.display import display

    ip = get_ipython()
    if ip is not None:
        ip.events.unregister("post_run_cell", _flush)
    views = list(_pending)
    _pending.clear()
    for view in views:
        try:
            display(view.picture())
        except Exception as exc:  # noqa: BLE001 - the live view is already there
            print(f"[lmsnb] the graph's static picture could not be drawn: {exc}")
