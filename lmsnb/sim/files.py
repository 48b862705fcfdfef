"""Uploaded files (``files.uploadFileBase64``, what the SDK's ``prepare_image`` calls).

Why: a vision request names its images by the identifiers LM Studio handed out at upload, so the
simulator must keep the uploads, type them like LM Studio (JPEG, PNG and WebP are images), refuse
identifiers it never handed out, and forget a client's files when that client disconnects
("temporary" files, as lmstudio-js documents them).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import PurePath

from .protocol import SimError

__all__ = ["StoredFile", "FileStore", "file_type", "image_format", "image_size"]

_TEXT_PLAIN = {".txt"}
_WORD = {".doc", ".docx"}
_TEXT_OTHER = {".md", ".markdown", ".csv", ".tsv", ".json", ".jsonl", ".html", ".htm", ".xml",
               ".yaml", ".yml", ".toml", ".py", ".js", ".ts", ".rst", ".tex", ".log", ".ini"}


def image_format(data: bytes) -> str | None:
    """"png", "jpeg" or "webp" from the file's magic bytes (the formats LM Studio accepts)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG, JPEG or WebP header; None if it cannot be read."""
    fmt = image_format(data)
    try:
        if fmt == "png" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return w, h
        if fmt == "jpeg":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                marker = data[i + 1]
                length = struct.unpack(">H", data[i + 2:i + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                i += 2 + length
        if fmt == "webp":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    except (struct.error, IndexError):
        return None
    return None


def file_type(name: str, data: bytes) -> str:
    """LM Studio's ``FileType`` for an upload: images by content, documents by extension."""
    if image_format(data):
        return "image"
    ext = PurePath(name).suffix.lower()
    if ext in _TEXT_PLAIN:
        return "text/plain"
    if ext == ".pdf":
        return "application/pdf"
    if ext in _WORD:
        return "application/word"
    if ext in _TEXT_OTHER:
        return "text/other"
    return "unknown"


@dataclass
class StoredFile:
    """One upload: what ``uploadFileBase64`` returned, plus the bytes."""

    identifier: str
    name: str
    data: bytes
    file_type: str
    client: str  # the uploading client's identifier

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def image_format(self) -> str | None:
        return image_format(self.data)

    @property
    def image_size(self) -> tuple[int, int] | None:
        return image_size(self.data)

    def handle(self) -> dict[str, object]:
        """The wire reply of ``uploadFileBase64``."""
        return {"identifier": self.identifier, "fileType": self.file_type,
                "sizeBytes": self.size_bytes}


class FileStore:
    """Uploaded files by identifier (``"<ms> - <n>.<ext>"``, the shape LM Studio's names have)."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def add(self, name: str, content_base64: str, client: str = "") -> StoredFile:
        try:
            data = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise SimError(f'The content of "{name}" is not valid base64') from None
        ext = PurePath(name).suffix.lower() or ".bin"
        ident = f"{int(time.time() * 1000)} - {next(self._numbers)}{ext}"
        stored = StoredFile(ident, name, data, file_type(name, data), client)
        with self._lock:
            self._files[ident] = stored
        return stored

    def get(self, identifier: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(identifier)

    def forget_client(self, client: str) -> int:
        """Delete the files a client uploaded (it disconnected); returns how many."""
        with self._lock:
            gone = [k for k, f in self._files.items() if f.client == client]
            for k in gone:
                del self._files[k]
        return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)
