"""Images for vision models: what a notebook holds → the file LM Studio takes, and a thumbnail.

Why one place converts, up front: notebooks hold matplotlib Figures, PIL images, paths and raw
bytes, while LM Studio takes JPEG, PNG and WebP files (the SDK's ``prepare_image``). Converting
before anything is sent means every bad input fails with one line and loses nothing, a session
sends the same bytes on every turn, and transcripts can show a small thumbnail — a data URI that a
saved, untrusted notebook still shows — without putting the whole image into the notebook.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import io
import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePath
from typing import Any

from . import human
from .errors import ImageError

__all__ = ["Image", "to_image", "to_images", "images_html", "MAX_PIXELS", "MAX_BYTES"]

# LM Studio refuses images of more than 5120 × 5120 pixels (lmstudio-bug-tracker#2003) and
# shrinks what it takes to 2048 px or less anyway.
MAX_PIXELS = 5120 * 5120
MAX_BYTES = 50_000_000  # a file this big is a mistake (a raw scan, a video frame dump)
THUMB_EDGE = 256  # thumbnails fit in THUMB_EDGE × THUMB_EDGE …
THUMB_MAX_BYTES = 48_000  # … and in this many bytes (about 64 kB in the notebook)
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}  # what LM Studio takes
_TYPES_HINT = "pass a file path, bytes, a PIL image or a matplotlib Figure"
_SHRINK_HINT = "shrink it first, e.g. img.thumbnail((2048, 2048)) with PIL"


@dataclass(frozen=True)
class Image:
    """One image as it is sent: ``data`` (PNG, JPEG or WebP bytes), ``name``, format and size.

    Make one with :func:`to_image`. ``thumbnail`` is a small PNG/JPEG for transcripts;
    ``to_dict()`` / ``from_dict()`` keep the whole image (base64) for saved sessions.
    """

    data: bytes = field(repr=False)
    name: str
    format: str  # "png" | "jpeg" | "webp"
    width: int
    height: int

    @property
    def mime_type(self) -> str:
        return MIME[self.format]

    @cached_property
    def digest(self) -> str:
        """sha256 of the bytes: the same image is uploaded once per connection."""
        return hashlib.sha256(self.data).hexdigest()

    def __repr__(self) -> str:
        return f"Image({self.describe()!r})"

    def describe(self) -> str:
        """``plot.png, 640×480 PNG`` — how messages and plain-text transcripts name it."""
        return f"{self.name}, {self.width}×{self.height} {self.format.upper()}"

    @cached_property
    def thumbnail(self) -> tuple[bytes, str]:
        """(bytes, MIME type): at most ``THUMB_EDGE`` px a side and ``THUMB_MAX_BYTES`` bytes."""
        return _thumbnail(self.data)

    def html(self) -> str:
        """The thumbnail as an ``<img>`` with a data URI (kept by JupyterLab's sanitizer)."""
        data, mime = self.thumbnail
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        label = html.escape(self.describe(), quote=True)
        return (f'<img class="lmsnb-thumb" src="{uri}" alt="{label}" title="{label}" '
                f'style="max-height:160px;max-width:240px;border:1px solid #ccc;'
                f'border-radius:4px;margin:2px 6px 2px 0;vertical-align:top">')

    def _repr_html_(self) -> str:
        return self.html()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the name, format, size and the whole image as base64."""
        return {"name": self.name, "format": self.format, "width": self.width,
                "height": self.height, "data": base64.b64encode(self.data).decode("ascii")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Image:
        """Read what ``to_dict`` wrote (the bytes are checked again, not trusted)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("data"), str):
            raise ImageError("A saved image needs its 'data' (base64)",
                             hint="save sessions with session.save() / %lms_history --save")
        name = str(data.get("name") or "image")
        try:
            raw = base64.b64decode(data["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ImageError(f"The saved image {name!r} is not valid base64") from None
        return _from_bytes(raw, name)


def images_html(images: Iterable[Image]) -> str:
    """A row of thumbnails (inline styles only: a saved notebook's sanitizer drops <style>)."""
    tags = "".join(image.html() for image in images)
    return f'<div class="lmsnb-images" style="margin:4px 0">{tags}</div>' if tags else ""


def to_images(value: Any) -> list[Image]:
    """One image or a list/tuple of them → ``Image`` objects (``None`` → ``[]``)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [to_image(v) for v in value]
    return [to_image(value)]


def to_image(value: Any, name: str | None = None) -> Image:
    """A path (``str``/``Path``), bytes, a file object, a PIL image, a matplotlib Figure (or
    Axes), or anything with ``_repr_png_`` → an :class:`Image` LM Studio takes.

    Raises ``ImageError`` (one line) for a missing or unreadable file, something that is not an
    image, an image larger than LM Studio takes, or a Figure with nothing drawn on it.
    """
    if isinstance(value, Image):
        return value
    if isinstance(value, str | os.PathLike):
        return _from_path(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _from_bytes(bytes(value), name or "image")
    figure = _figure(value)
    if figure is not None:
        return _from_figure(figure, name)
    pil = _pil(value)
    if pil is not None:
        return _from_pil(pil, name)
    if hasattr(value, "read"):
        data = value.read()
        if not isinstance(data, bytes):
            raise ImageError(f"{_what(value)} gives text, not image bytes",
                             hint="open the file in binary mode: open(path, 'rb')")
        return _from_bytes(data, name or PurePath(str(getattr(value, "name", "image"))).name)
    for method, ext in (("_repr_png_", "png"), ("_repr_jpeg_", "jpg")):
        render = getattr(value, method, None)
        data = render() if callable(render) else None
        if isinstance(data, tuple):  # (data, metadata)
            data = data[0]
        if isinstance(data, str):  # Jupyter's formatters accept base64 text too
            try:
                data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                data = None
        if isinstance(data, bytes):
            return _from_bytes(data, name or f"image.{ext}")
    hint = _TYPES_HINT
    if type(value).__name__ == "ndarray":
        hint += " (an array: PIL.Image.fromarray(a))"
    raise ImageError(f"{_what(value)} is not an image", hint=hint)


def _what(value: Any) -> str:
    return f"a {type(value).__name__}"


def _from_path(path: str | os.PathLike[str]) -> Image:
    full = os.fspath(path)
    text = full if len(full) <= 80 else full[:77] + "…"  # for messages
    if full.startswith(("http://", "https://")):
        raise ImageError(f"{text} is a web address; lmsnb does not download images",
                         hint="download it and pass the file's path")
    p = Path(full).expanduser()
    try:
        size = p.stat().st_size if p.is_file() else None
        where = "is a folder" if p.is_dir() else "does not exist"
    except OSError:  # a name the file system cannot even look up (too long, …)
        size, where = None, "cannot exist"
    if size is None:
        raise ImageError(f"No image file at {text!r} (it {where})",
                         hint=f"paths are relative to the notebook's folder, {Path.cwd()}")
    if size > MAX_BYTES:
        raise ImageError(f"{text!r} is too large to send ({human.size(size)}; at most "
                         f"{human.size(MAX_BYTES)})", hint=_SHRINK_HINT)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"Cannot read {text!r}: {exc.strerror or exc}") from None
    return _from_bytes(data, p.name)


def _open(data: bytes, name: str) -> Any:
    """PIL's lazy open (header only), with LM Studio's size limit checked before decoding."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if len(data) > MAX_BYTES:
        raise ImageError(f"{name!r} is too large to send ({human.size(len(data))}; at most "
                         f"{human.size(MAX_BYTES)})", hint=_SHRINK_HINT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            img = PILImage.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(f"{name!r} is not an image (or not one PIL can read)",
                         hint="send a PNG, JPEG or WebP file") from None
    except PILImage.DecompressionBombError:
        raise ImageError(f"{name!r} has far more pixels than LM Studio takes",
                         hint=_SHRINK_HINT) from None
    _check_pixels(img.size, name)
    return img


def _check_pixels(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise ImageError(f"{name!r} is {w}×{h} pixels; LM Studio takes at most "
                         f"{MAX_PIXELS / 1e6:.1f} megapixels (5120×5120)", hint=_SHRINK_HINT)
    if w < 1 or h < 1:
        raise ImageError(f"{name!r} has no pixels ({w}×{h})")


def _from_bytes(data: bytes, name: str) -> Image:
    """Check and, if needed, convert: PNG/JPEG/WebP stay as they are, other formats → PNG."""
    img = _open(data, name)
    with img:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()  # a truncated or corrupt file fails here, not at the model
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"Cannot read the image {name!r}: {exc}",
                             hint="the file may be damaged; open it in an image viewer") from None
        fmt = (img.format or "").lower()
        if fmt in MIME:
            return Image(data, _named(name, fmt), fmt, img.width, img.height)
        return Image(_png(img), _named(name, "png", replace=True), "png", img.width, img.height)


def _named(name: str, fmt: str, *, replace: bool = False) -> str:
    """A file name whose extension fits the format (LM Studio names uploads by it)."""
    p = PurePath(name or "image")
    ext = {"jpeg": ".jpg"}.get(fmt, f".{fmt}")
    if not p.suffix:
        return p.name + ext
    return p.with_suffix(ext).name if replace else p.name


def _png(img: Any) -> bytes:
    if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _pil(value: Any) -> Any:
    """``value`` if it is a PIL image (no PIL imported yet: it cannot be one)."""
    pil = sys.modules.get("PIL.Image")
    return value if pil is not None and isinstance(value, pil.Image) else None


def _from_pil(img: Any, name: str | None) -> Image:
    source = PurePath(str(getattr(img, "filename", "") or "image")).name
    label = name or source
    _check_pixels(img.size, label)
    try:
        data = _png(img)
    except (OSError, ValueError) as exc:
        raise ImageError(f"Cannot convert the PIL image {label!r} to PNG: {exc}") from None
    return Image(data, _named(label, "png", replace=True), "png", img.width, img.height)


def _figure(value: Any) -> Any:
    """The matplotlib Figure of a Figure, SubFigure or Axes (None for anything else)."""
    if not type(value).__module__.startswith("matplotlib."):
        return None
    if hasattr(value, "savefig"):
        return value
    fig = getattr(value, "figure", None)
    while fig is not None and not hasattr(fig, "savefig"):  # a SubFigure's parent
        fig = getattr(fig, "figure", None)
    return fig


def _from_figure(fig: Any, name: str | None) -> Image:
    if all(child is fig.patch for child in fig.get_children()):
        raise ImageError("The matplotlib Figure has nothing drawn on it",
                         hint="pass the Figure you plotted on (fig in fig, ax = plt.subplots()); "
                              "plt.gcf() in a later cell is a new, empty figure")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")  # as the notebook shows it
    return _from_bytes(buf.getvalue(), name or "figure.png")


def _thumbnail(data: bytes) -> tuple[bytes, str]:
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMB_EDGE, THUMB_EDGE))  # JPEG: decode at a fraction of the size
        small = ImageOps.exif_transpose(img)  # photos: the way the camera was held
        small.thumbnail((THUMB_EDGE, THUMB_EDGE))
    if small.mode == "P" and "transparency" in small.info:
        small = small.convert("RGBA")
    png = _png(small)
    if len(png) <= THUMB_MAX_BYTES:
        return png, "image/png"
    rgb = small.convert("RGBA")
    flat = PILImage.new("RGB", rgb.size, "white")
    flat.paste(rgb, mask=rgb.getchannel("A"))
    for quality in (85, 70, 50, 30):
        buf = io.BytesIO()
        flat.save(buf, format="JPEG", quality=quality)
        if buf.tell() <= THUMB_MAX_BYTES:
            break
    return buf.getvalue(), "image/jpeg"
