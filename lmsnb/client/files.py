"""Images → LM Studio file handles (``files.uploadFileBase64``, the SDK's ``prepare_image``).

LM Studio keeps an upload while the client that sent it stays connected, so each image is
uploaded once per client: a session that re-sends its history every turn does not upload its
images again, and a recreated client (after a dropped websocket) uploads them afresh.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import lmstudio

from ..images import Image

_handles: weakref.WeakKeyDictionary[Any, dict[str, lmstudio.FileHandle]] = (
    weakref.WeakKeyDictionary())
_lock = threading.Lock()


def upload(client: lmstudio.Client, image: Image) -> lmstudio.FileHandle:
    """The file handle of ``image`` on ``client``'s server (uploaded on first use)."""
    with _lock:
        known = _handles.setdefault(client, {})
        handle = known.get(image.digest)
    if handle is None:
        handle = client.files.prepare_image(image.data, image.name)
        with _lock:
            known[image.digest] = handle
    return handle
