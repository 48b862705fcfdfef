"""Images: ``files.uploadFileBase64`` (the SDK's ``prepare_image``) and vision models.

What real LM Studio does, from lmstudio-python's own image tests and LM Studio's docs and bug
tracker: uploads return a handle (identifier, file type, size); only vision models accept
images ("Model does not support images. Please use a model that does."); JPEG, PNG and WebP
are images. Unmodified SDK, sync and async.
"""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib

import httpx
import lmstudio as lms
import pytest
from sim_clients import BOTH

from lmsnb.sim.files import image_size

pytestmark = pytest.mark.filterwarnings("error::lmstudio.LMStudioUnknownMessageWarning")

VLM = "qwen2-vl-2b-instruct"
LLAMA_PATH = "hugging-quants/llama-3.2-1b-instruct"


def png(width: int, height: int) -> bytes:
    """A real (grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = png(64, 48)


def prepare(sdk, src, name=None) -> lms.FileHandle:
    if sdk.name == "sync":
        return sdk.call(lambda c: c.files.prepare_image(src, name))

    async def go(client):
        return await client.files.prepare_image(src, name)

    return sdk.call(go)


@BOTH
def test_prepare_image_returns_a_handle_like_lm_studio(sim, SDK, tmp_path):
    sdk = SDK(sim.host)
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    for src in (path, PNG, io.BytesIO(PNG), bytearray(PNG)):
        handle = prepare(sdk, src, None if src is path else "chart.png")
        assert handle.name == "chart.png" and handle.file_type == "image"
        assert handle.size_bytes == len(PNG) and handle.identifier.endswith(".png")
    # even the same data gets a new identifier
    assert prepare(sdk, PNG, "a.png").identifier != prepare(sdk, PNG, "a.png").identifier


@BOTH
def test_vision_model_sees_the_image(sim, SDK):
    sdk = SDK(sim.host)

    def go(client):
        handle = client.files.prepare_image(PNG, "chart.png")
        chat = lms.Chat()
        chat.add_user_message("What is in this chart?", images=[handle])
        first = client.llm.model(VLM).respond(chat)
        chat = lms.Chat()
        chat.add_user_message(("Again?", handle))
        return first, client.llm.model(VLM).respond(chat)

    async def go_async(client):
        handle = await client.files.prepare_image(PNG, "chart.png")
        chat = lms.Chat()
        chat.add_user_message("What is in this chart?", images=[handle])
        first = await (await client.llm.model(VLM)).respond(chat)
        chat = lms.Chat()
        chat.add_user_message(("Again?", handle))
        return first, await (await client.llm.model(VLM)).respond(chat)

    first, second = sdk.call(go if sdk.name == "sync" else go_async)
    assert first.content == "You said: What is in this chart? [image: chart.png, 64×48 PNG]"
    assert second.content == "You said: Again? [image: chart.png, 64×48 PNG]"


def test_behaviour_gets_the_image_bytes(sim):
    seen = []
    sim.set_behaviour(lambda req: seen.extend(req.images) or "ok")
    with lms.Client(sim.host) as client:
        handle = client.files.prepare_image(PNG, "chart.png")
        client.llm.model(VLM).respond(lms.Chat.from_history(
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, handle]}]}))
    assert [(i.name, i.data, i.image_size) for i in seen] == [("chart.png", PNG, (64, 48))]


@BOTH
def test_non_vision_model_refuses_images(sim, SDK):
    def go(client):
        chat = lms.Chat()
        chat.add_user_message("What color?", images=[client.files.prepare_image(PNG, "x.png")])
        return client.llm.model(LLAMA_PATH).respond(chat)

    async def go_async(client):
        chat = lms.Chat()
        chat.add_user_message("What color?", images=[await client.files.prepare_image(PNG, "x.png")])
        return await (await client.llm.model(LLAMA_PATH)).respond(chat)

    sdk = SDK(sim.host)
    with pytest.raises(lms.LMStudioServerError,
                       match="Model does not support images. Please use a model that does."):
        sdk.call(go if sdk.name == "sync" else go_async)


@BOTH
def test_never_uploaded_file_is_refused(sim, SDK):
    fake = lms.FileHandle(name="ghost.png", identifier="1700000000000 - 1.png", size_bytes=10,
                          file_type="image")
    chat = lms.Chat()
    chat.add_user_message("What is this?", images=[fake])
    with pytest.raises(lms.LMStudioServerError, match="File not found"):
        SDK(sim.host).respond(VLM, chat)


def test_files_of_a_disconnected_client_are_gone(sim):
    with lms.Client(sim.host) as first:
        handle = first.files.prepare_image(PNG, "temp.png")
        assert len(sim.engine.files) == 1
    deadline = time.monotonic() + 10  # the server sees the sockets close a moment later
    while len(sim.engine.files) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sim.engine.files) == 0  # temporary: deleted when its client disconnects
    chat = lms.Chat()
    chat.add_user_message("still there?", images=[handle])
    with lms.Client(sim.host) as second, pytest.raises(lms.LMStudioServerError, match="File not"):
        second.llm.model(VLM).respond(chat)


def test_file_types_and_what_a_model_accepts(sim):
    with lms.Client(sim.host) as client:
        text = client.files._prepare_file(b"raw data", "example-file.txt")
        assert (text.file_type, text.size_bytes, text.name) == ("text/plain", 8, "example-file.txt")
        gif = client.files.prepare_image(b"GIF89a" + b"\x00" * 20, "anim.gif")
        assert gif.file_type == "unknown"  # LM Studio takes JPEG, PNG and WebP as images
        chat = lms.Chat()
        chat.add_user_message("read it", images=[text])
        with pytest.raises(lms.LMStudioServerError, match="only images"):
            client.llm.model(VLM).respond(chat)
        # the template does not look files up (lmstudio-python applies one with made-up handles)
        history = chat._get_history_for_prediction()
        assert "read it" in client.llm._apply_prompt_template(VLM, history)


def test_image_headers_are_read():
    assert image_size(png(3, 2)) == (3, 2)
    jpeg = (b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
            + b"\xff\xc0" + struct.pack(">HBHH", 11, 8, 20, 30) + b"\x01\x01\x11\x00")
    assert image_size(jpeg) == (30, 20)
    webp = b"RIFF" + b"\x00" * 4 + b"WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little") + (
        49).to_bytes(3, "little")
    assert image_size(webp) == (100, 50)


def test_rest_images(sim):
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()

    def ask(model: str) -> httpx.Response:
        return httpx.post(f"{sim.url}/v1/chat/completions", timeout=10, json={
            "model": model, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": url}}]}]})

    r = ask(VLM)
    assert r.json()["choices"][0]["message"]["content"] == (
        "You said: Describe [image: image-1.png, 64×48 PNG]")
    r = ask("llama-3.2-1b-instruct")
    assert r.status_code == 400
    assert "Model does not support images" in r.json()["error"]["message"]
