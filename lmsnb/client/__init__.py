"""The connection to LM Studio — the only package in lmsnb that imports the ``lmstudio`` SDK.

Modules, one concept each:
- ``hosts``: host strings in any form, reachability, discovery;
- ``errors``: SDK exceptions → one ``LmsnbError`` line; the SDK's silence timeout;
- ``connection``: ``Connection`` (one server, a client it recreates) and the kernel's connection;
- ``models``: listing, loading, tokenizing;
- ``predictions``: the event stream of one chat call, cancel, listeners;
- ``embeddings``: many embedding requests in flight.
"""

from __future__ import annotations

from .connection import Connection, connect, get_connection
from .errors import get_timeout, set_timeout, translate
from .hosts import DEFAULT_HOST, HOST_ENV, START_HINT, is_reachable, normalize_host, resolve_host
from .pool import HostPool
from .predictions import Prediction, on_prediction

__all__ = [
    "DEFAULT_HOST",
    "HOST_ENV",
    "START_HINT",
    "Connection",
    "HostPool",
    "Prediction",
    "connect",
    "get_connection",
    "get_timeout",
    "is_reachable",
    "normalize_host",
    "on_prediction",
    "resolve_host",
    "set_timeout",
    "translate",
]
