"""Where LM Studio is: host strings in any common form, reachability, and discovery.

The SDK wants ``host:port`` with no scheme and does not scan port 1234; people paste
``http://box:1234/v1`` from LM Studio's Developer tab. Everything is normalised here.
"""

from __future__ import annotations

import os
import re

import httpx
import lmstudio

from ..errors import ConfigError

HOST_ENV = "LMSNB_HOST"
DEFAULT_HOST = "localhost:1234"
START_HINT = ("start LM Studio's server (Developer tab → Start Server, or `lms server start`), "
              "or run the simulator: `python -m lmsnb.sim`")


def normalize_host(host: str) -> str:
    """``http://box:1234/v1`` / ``ws://box:1234`` / ``box`` → ``box:1234`` (what the SDK wants)."""
    text = host.strip()
    text = re.sub(r"^(https?|wss?)://", "", text, flags=re.I)
    text = text.split("/", 1)[0].strip()
    bad = ConfigError(f"{host!r} is not a host",
                      hint="use e.g. 'localhost:1234', '192.168.1.20:1234' or '[::1]:1234'")
    if not text or any(ch.isspace() for ch in text):
        raise bad
    if text.startswith("["):  # IPv6 literal
        end = text.find("]")
        if end < 2 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            raise bad
        name, port = text[:end + 1], text[end + 2:] if text[end + 1:] else None
    elif text.count(":") == 0:
        name, port = text, None
    elif text.count(":") == 1:
        name, port = text.split(":")
    else:  # '::::', or an IPv6 address without brackets
        raise bad
    if not name:
        raise bad
    if port is None:
        return f"{name}:1234"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{host!r} has no valid port ({port!r})",
                          hint="a port is a number 1–65535, e.g. 'localhost:1234'")
    return f"{name}:{int(port)}"


def is_reachable(host: str) -> bool:
    """True when ``host`` answers LM Studio's greeting (LM Studio or ``lmsnb.sim``)."""
    try:
        return bool(lmstudio.Client.is_valid_api_host(host))
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError):
        return False


def resolve_host(host: str | None = None) -> str:
    """Explicit host → ``$LMSNB_HOST`` → the SDK's port discovery → ``localhost:1234``."""
    if host:
        return normalize_host(host)
    env = os.environ.get(HOST_ENV, "").strip()
    if env:
        return normalize_host(env)
    if is_reachable(DEFAULT_HOST):
        return DEFAULT_HOST
    try:
        found = lmstudio.Client.find_default_local_api_host()
    except (httpx.HTTPError, ValueError, OSError):
        found = None
    return found or DEFAULT_HOST


def split_hosts(text: str) -> list[str]:
    """``"gpu1:1234, gpu2:1234"`` → normalised hosts, duplicates dropped.

    Commas separate hosts; so do spaces when every part has a port or scheme
    (``"gpu1:1234 gpu2:1234"``), so that ``"my box"`` stays one (bad) host, not two.
    """
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    out: list[str] = []
    for part in parts:
        words = part.split()
        out.extend(words if len(words) > 1 and all(":" in w for w in words) else [part])
    return list(dict.fromkeys(normalize_host(p) for p in out))
