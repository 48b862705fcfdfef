"""Images for vision models, without a server: what a notebook holds → what LM Studio takes,
one-line refusals, thumbnails that stay small, saved sessions, and the ``--image`` flag."""

from __future__ import annotations

import base64
import io
import json
import re
import time

import matplotlib
import numpy as np
import pytest
from chat_fakes import FakePrediction
from PIL import Image as PILImage
from test_magics import ip  # noqa: F401 - the fixture
from test_widgets import WIDGET_VIEW, shown  # noqa: F401 - the fixture

from lmsnb import chat, images
from lmsnb.errors import ImageError
from lmsnb.images import Image, to_image, to_images
from lmsnb.widgets import stream

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def encoded(img: PILImage.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def noise(w: int, h: int, seed: int = 0) -> PILImage.Image:
    """A photo-like image: noise compresses badly, the worst case for thumbnail bytes."""
    rng = np.random.default_rng(seed)
    return PILImage.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture
def fig():
    figure, ax = plt.subplots(figsize=(4, 3))
    ax.plot([3, 1, 4, 1, 5])
    yield figure
    plt.close(figure)


# -- what a notebook holds → what LM Studio takes ---------------------------------------------


def test_png_jpeg_webp_files_are_sent_as_they_are(tmp_path) -> None:
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")):
        data = encoded(noise(40, 30), fmt)
        path = tmp_path / f"photo.{ext}"
        path.write_bytes(data)
        for src in (path, str(path), data, io.BytesIO(data), bytearray(data)):
            image = to_image(src)
            assert image.data == data  # not re-encoded: the model sees the file
            assert (image.format, image.width, image.height) == (fmt.lower(), 40, 30)
            assert image.mime_type == f"image/{fmt.lower()}"
        assert to_image(path).name == f"photo.{ext}"
        assert to_image(data).name == f"image.{'jpg' if fmt == 'JPEG' else ext}"


def test_other_formats_become_png(tmp_path) -> None:
    frames = [PILImage.new("P", (20, 10), i) for i in (1, 2)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    bmp = tmp_path / "scan.bmp"
    PILImage.new("RGB", (7, 5), "red").save(bmp)
    for path, size in ((gif, (20, 10)), (bmp, (7, 5))):
        image = to_image(path)
        assert image.format == "png" and image.data.startswith(b"\x89PNG")
        assert image.name == path.stem + ".png" and (image.width, image.height) == size
    red = PILImage.open(io.BytesIO(to_image(bmp).data)).convert("RGB")
    assert red.getpixel((3, 2)) == (255, 0, 0)


def test_pil_images_figures_and_axes(fig) -> None:
    pil = PILImage.new("CMYK", (30, 20))  # a mode PNG cannot hold is converted
    image = to_image(pil)
    assert (image.format, image.width, image.height, image.name) == ("png", 30, 20, "image.png")
    shot = to_image(fig)
    assert shot.format == "png" and shot.name == "figure.png"
    assert 200 < shot.width < 450 and 150 < shot.height < 350  # 4×3 in at 100 dpi, tight
    assert to_image(fig.axes[0]).data == shot.data  # an Axes means its figure
    assert to_image(pil, "chart").name == "chart.png"


def test_repr_png_objects_and_lists() -> None:
    from IPython.display import Image as IPyImage

    data = encoded(noise(12, 8), "PNG")
    assert to_image(IPyImage(data=data)).data == data
    img = to_image(data)
    assert to_image(img) is img
    assert to_images(None) == [] and to_images(data) == [img]
    assert to_images([data, (data)]) == [img, img]


# -- one line for each bad input ----------------------------------------------------------------


def refused(value, match: str) -> ImageError:
    with pytest.raises(ImageError, match=match) as info:
        to_image(value)
    assert "\n" not in str(info.value)
    return info.value


def test_missing_files_folders_and_web_addresses(tmp_path) -> None:
    err = refused(str(tmp_path / "nope.png"), r"No image file at .*nope\.png' \(it does not exist\)")
    assert "relative to" in err.hint
    refused(tmp_path, r"\(it is a folder\)")
    refused("https://example.org/cat.png", "web address; lmsnb does not download images")
    refused("x" * 5000, r"No image file at 'x{77}…'")  # a long text is cut in the message


def test_not_an_image_or_damaged(tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    err = refused(notes, r"'notes\.txt' is not an image")
    assert "PNG, JPEG or WebP" in err.hint
    whole = encoded(noise(64, 64), "PNG")
    refused(whole[:len(whole) // 2], r"Cannot read the image 'image': .*truncated")
    refused(open(notes), "gives text, not image bytes")  # noqa: SIM115 - closed by GC
    err = refused(np.zeros((4, 4, 3), dtype=np.uint8), "a ndarray is not an image")
    assert "PIL.Image.fromarray" in err.hint
    refused(42, "a int is not an image")


def test_too_large(tmp_path, monkeypatch) -> None:
    big = PILImage.new("1", (5121, 5121))  # one pixel too many each way; 1 bit a pixel
    err = refused(big, r"is 5121×5121 pixels; LM Studio takes at most 26\.2 megapixels")
    assert "thumbnail((2048, 2048))" in err.hint
    refused(encoded(big, "PNG"), "5121×5121 pixels")  # refused from the header, not decoded
    assert to_image(PILImage.new("1", (5120, 5120))).width == 5120  # the limit itself is fine
    path = tmp_path / "huge.png"
    path.write_bytes(encoded(noise(100, 100), "PNG"))
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    refused(path, r"'.*huge\.png' is too large to send \(30 kB; at most 1 kB\)")


def test_a_figure_with_nothing_drawn() -> None:
    empty = plt.figure()
    try:
        err = refused(empty, "The matplotlib Figure has nothing drawn on it")
        assert "plt.gcf()" in err.hint
        empty.suptitle("only a title")  # anything drawn counts
        assert to_image(empty).width > 0
    finally:
        plt.close(empty)


# -- thumbnails -----------------------------------------------------------------------------------


def test_thumbnails_are_small_whatever_the_image() -> None:
    photo = to_image(encoded(noise(3000, 2000), "JPEG", quality=95))
    data, mime = photo.thumbnail
    thumb = PILImage.open(io.BytesIO(data))
    assert max(thumb.size) == images.THUMB_EDGE and thumb.size[0] > thumb.size[1]
    assert len(data) <= images.THUMB_MAX_BYTES and mime == "image/jpeg"  # noise: JPEG
    tiny = to_image(encoded(PILImage.new("RGBA", (30, 10), (0, 0, 255, 128)), "PNG"))
    data, mime = tiny.thumbnail
    assert mime == "image/png" and PILImage.open(io.BytesIO(data)).size == (30, 10)  # no upscale
    rotated = encoded(noise(60, 20), "JPEG", exif=_exif_rotated())
    assert PILImage.open(io.BytesIO(to_image(rotated).thumbnail[0])).size == (20, 60)


def _exif_rotated() -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # orientation: the camera was held on its side
    return exif.tobytes()


def test_thumbnail_html_is_a_data_uri_with_an_escaped_label() -> None:
    image = to_image(encoded(noise(20, 10), "PNG"), 'a "b" <c>.png')
    tag = image.html()
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', tag).group(1)
    assert base64.b64decode(uri) == image.thumbnail[0]
    assert 'alt="a &quot;b&quot; &lt;c&gt;.png, 20×10 PNG"' in tag and "<c>" not in tag
    assert images.images_html([]) == ""
    assert images.images_html([image, image]).count("<img") == 2


def test_saved_form_round_trips_and_is_checked() -> None:
    image = to_image(encoded(noise(20, 10), "WEBP"), "x.webp")
    saved = json.loads(json.dumps(image.to_dict()))
    assert Image.from_dict(saved) == image
    with pytest.raises(ImageError, match="not valid base64"):
        Image.from_dict({**saved, "data": "%%%"})
    with pytest.raises(ImageError, match="is not an image"):
        Image.from_dict({**saved, "data": base64.b64encode(b"hello").decode()})
    with pytest.raises(ImageError, match="needs its 'data'"):
        Image.from_dict({"name": "x.png"})


# -- sessions -------------------------------------------------------------------------------------


def test_session_keeps_images_and_saves_them_whole(ip, fig, tmp_path) -> None:  # noqa: F811
    session = chat.Session(model="vlm")
    session.send("What is this?", images=fig)
    sent = ip.fake.calls[-1]["history"][-1]
    assert sent["content"] == "What is this?" and [i.name for i in sent["images"]] == ["figure.png"]
    session.send("And now?")
    assert ip.fake.calls[-1]["history"][0]["images"] == sent["images"]  # history re-sent
    path = session.save(tmp_path / "s.json")
    raw = json.loads(path.read_text())
    assert raw["history"][0]["images"][0]["data"] == base64.b64encode(
        sent["images"][0].data).decode()
    again = chat.Session.load(path)
    assert again.history == session.history
    frame = again.messages()
    assert list(frame.columns) == ["role", "content", "stopped", "images"]
    assert [len(i) for i in frame["images"]] == [1, 0, 0, 0]


def test_saved_session_with_bad_images_is_refused() -> None:
    msg = {"role": "user", "content": "x", "images": [{"name": "a.png", "data": "%%"}]}
    with pytest.raises(ImageError, match="not valid base64"):
        chat.Session.from_dict([msg])
    with pytest.raises(chat.ConfigError, match="images on a assistant message"):
        chat.Session.from_dict([{"role": "assistant", "content": "x", "images": []},
                                {"role": "assistant", "content": "y",
                                 "images": [to_image(encoded(noise(2, 2), "PNG")).to_dict()]}])
    with pytest.raises(chat.ConfigError, match="is not a list"):
        chat.Session.from_dict([{"role": "user", "content": "x", "images": "a.png"}])


def test_a_bad_image_changes_nothing(ip) -> None:  # noqa: F811
    session = chat.Session()
    session.send("hi")
    before = [dict(m) for m in session.history]
    with pytest.raises(ImageError):
        session.send("and this?", images=["missing.png"])
    assert session.history == before and len(ip.fake.calls) == 1


def test_history_table_shows_thumbnails_and_escapes_text(ip) -> None:  # noqa: F811
    session = chat.Session()
    session.send("<b>look</b> " + "x" * 100, images=[encoded(noise(20, 10), "PNG")])
    html = session.messages()._repr_html_()
    assert html.count('<img class="lmsnb-thumb"') == 1 and "data:image/png;base64," in html
    assert "&lt;b&gt;look&lt;/b&gt;" in html and "<b>look" not in html
    assert "x" * 100 not in html and "..." in html  # cut like pandas cuts long text
    assert "Image('image.png, 20×10 PNG')" in repr(session.messages())
    plain = session.messages()[["role", "content"]]
    assert type(plain).__name__ == "DataFrame"  # what is derived is a plain DataFrame


# -- the --image flag ------------------------------------------------------------------------------


def test_image_flag_paths_variables_and_lists(ip, fig, tmp_path, capsys) -> None:  # noqa: F811
    png = tmp_path / "plot.png"
    png.write_bytes(encoded(noise(16, 16), "PNG"))
    ip.user_ns.update(fig=fig, figs=[fig, str(png)], folder=str(tmp_path), name="plot")
    ip.run_cell_magic("lms_chat", f"--image {png} -i {{fig}}", "Compare them")
    assert capsys.readouterr().err == ""
    sent = ip.fake.calls[-1]["history"][-1]["images"]
    assert [i.name for i in sent] == ["plot.png", "figure.png"]
    ip.run_cell_magic("lms_chat", "--once --image {figs}", "both")
    assert [i.name for i in ip.fake.calls[-1]["history"][-1]["images"]] == ["figure.png",
                                                                            "plot.png"]
    ip.run_cell_magic("lms_chat", '--once --image "{figs[1]}" --image {folder}/{name}.png', "x")
    assert [i.name for i in ip.fake.calls[-1]["history"][-1]["images"]] == ["plot.png"] * 2
    assert capsys.readouterr().err == ""
    assert chat.get_session().history[0]["images"] == sent  # kept for the next turns


@pytest.mark.parametrize(("flags", "error"), [
    ("--image {nope}", r"--image \{nope\}: unknown variable \{nope\} — define nope"),
    ("--image {n.x}", r"--image \{n\.x\}: 'int' object has no attribute 'x'"),
    ("--image {n}", "a int is not an image"),
    ("--image missing.png", "No image file at 'missing.png'"),
    ("--image", "argument -i/--image: expected one argument"),
])
def test_image_flag_refusals_are_one_line_and_change_nothing(ip, capsys, flags,  # noqa: F811
                                                             error) -> None:
    ip.user_ns["n"] = 3
    ip.run_cell_magic("lms_chat", "", "first")
    before = [dict(m) for m in chat.get_session().history]
    capsys.readouterr()
    ip.run_cell_magic("lms_chat", flags, "look")
    err = capsys.readouterr().err
    assert re.search(error, err) and err.count("\n") == 1, err
    assert chat.get_session().history == before and len(ip.fake.calls) == 1


def test_other_flags_still_expand_variables(ip, capsys) -> None:  # noqa: F811
    """lms_chat expands its own line (so --image {fig} stays the object): {var} and $var in the
    other flags work as IPython's expansion did — and a value with spaces stays one word."""
    ip.user_ns.update(vlm="some-vlm", style="Answer in French, briefly.", n=7)
    ip.run_cell_magic("lms_chat", "-m {vlm} -s {style} -n $n -S {undefined}", "hi")
    assert capsys.readouterr().err == ""
    call = ip.fake.calls[-1]
    assert call["model"] == "some-vlm" and call["config"] == {"maxTokens": 7}
    assert call["history"][0] == {"role": "system", "content": "Answer in French, briefly."}
    assert "{undefined}" in chat.sessions()  # left as written, as IPython leaves it


def test_image_flag_in_help(ip, capsys) -> None:  # noqa: F811
    ip.run_cell_magic("lms_chat", "-h", "x")
    out = capsys.readouterr().out
    assert "-i IMAGE, --image IMAGE" in out and "--image {fig}" in out


# -- the stream view ------------------------------------------------------------------------------


class _Sent(FakePrediction):
    """A prediction that, like ``ChatStream``, carries the images sent with it."""

    def __init__(self, sent: list[Image]) -> None:
        super().__init__(["It ", "rises."], 0.0, "vlm")
        self.images = sent


def test_stream_view_shows_thumbnails_once_and_keeps_them(shown, fig) -> None:  # noqa: F811
    sent = [to_image(fig), to_image(encoded(noise(20, 10), "PNG"), "photo.png")]
    view = stream.StreamView()
    view.start(_Sent(sent))
    view.wait(timeout=5)
    assert view.sent.value.count("<img") == 2 and view.sent.layout.display is None
    assert "<img" not in view.body.value  # the 40 ms flushes never re-send the images
    deadline = time.monotonic() + 5
    while WIDGET_VIEW in shown[-1].data and time.monotonic() < deadline:
        time.sleep(0.01)
    final = shown[-1].data
    assert final["text/html"].count('<img class="lmsnb-thumb"') == 2
    assert final["text/html"].index("lmsnb-thumb") < final["text/html"].index("It rises.")
    assert final["text/plain"].startswith("[image: figure.png, ")
    assert "[image: photo.png, 20×10 PNG]\n\nIt rises." in final["text/plain"]
    assert len(final["text/html"]) < 2 * 64_000 + 5_000  # thumbnails, not the images
    plain = stream.StreamView()
    plain.start(FakePrediction(["ok"], 0.0, "m"))
    plain.wait(timeout=5)
    assert plain.sent.layout.display == "none" and "lmsnb-thumb" not in plain.static().html


def test_stream_view_outside_a_kernel_names_the_images(capsys) -> None:
    stream.render_stream(_Sent([to_image(encoded(noise(20, 10), "PNG"), "p.png")]))
    assert capsys.readouterr().out.startswith("[image: p.png, 20×10 PNG]\n\nIt rises.")
