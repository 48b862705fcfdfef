"""LM Studio wire framing: envelopes, the ERR shape, config stacks and chat history.

Why: the SDK kills a namespace websocket on any frame it cannot route, so every frame the
simulator sends is built here, from the six envelope types the SDK accepts (reference §4).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "SimError",
    "rpc_result",
    "rpc_error",
    "channel_send",
    "channel_close",
    "channel_error",
    "communication_warning",
    "model_not_found",
    "path_not_found",
    "domain_mismatch",
    "flatten_config",
    "flatten_history",
    "unwrap",
]


class SimError(Exception):
    """An error the simulator reports to the client in LM Studio's ERR shape."""

    def __init__(
        self,
        title: str,
        *,
        cause: str | None = None,
        suggestion: str | None = None,
        code: str | None = None,
        data: dict[str, Any] | None = None,
        http_status: int = 400,
    ) -> None:
        super().__init__(title)
        self.title = title
        self.cause = cause
        self.suggestion = suggestion
        self.code = code
        self.data = data or {}
        self.http_status = http_status

    def to_wire(self) -> dict[str, Any]:
        """The ``SerializedLMSExtendedError`` dict."""
        err: dict[str, Any] = {"title": self.title, "rootTitle": self.title}
        if self.cause is not None:
            err["cause"] = self.cause
        if self.suggestion is not None:
            err["suggestion"] = self.suggestion
        if self.code is not None:
            err["displayData"] = {"code": self.code, **self.data}
        return err


# -- envelopes (server -> client) -------------------------------------------------------------
def rpc_result(call_id: int, result: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "rpcResult", "callId": call_id}
    if result is not None:  # void endpoints omit "result", like the real app
        msg["result"] = result
    return msg


def rpc_error(call_id: int, error: SimError) -> dict[str, Any]:
    return {"type": "rpcError", "callId": call_id, "error": error.to_wire()}


def channel_send(channel_id: int, message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "channelSend", "channelId": channel_id, "message": message}


def channel_close(channel_id: int) -> dict[str, Any]:
    return {"type": "channelClose", "channelId": channel_id}


def channel_error(channel_id: int, error: SimError) -> dict[str, Any]:
    return {"type": "channelError", "channelId": channel_id, "error": error.to_wire()}


def communication_warning(text: str) -> dict[str, Any]:
    return {"type": "communicationWarning", "warning": text}


# -- errors with the app's displayData codes --------------------------------------------------
def model_not_found(query: str | None, domain: str, loaded: list[str]) -> SimError:
    """Maps to ``LMStudioModelNotFoundError`` in the SDK."""
    q: dict[str, Any] = {"domain": domain}
    if query is not None:
        q["identifier"] = query
    return SimError(
        f'No loaded {domain} model matches "{query}"' if query else f"No {domain} model is loaded",
        code="generic.noModelMatchingQuery",
        data={"query": q, "loadedModelsSample": loaded[:5], "totalLoadedModels": len(loaded)},
        suggestion="Load the model first, or check the model key (the simulator's catalogue).",
        http_status=404,
    )


def path_not_found(path: str, available: list[str]) -> SimError:
    return SimError(
        f'Cannot find a model with the path "{path}"',
        code="generic.pathNotFound",
        data={"path": path, "availablePathsSample": available[:5], "totalModels": len(available)},
        http_status=404,
    )


def domain_mismatch(path: str, actual: str, expected: str) -> SimError:
    return SimError(
        f'Model "{path}" is an {actual} model, not an {expected} model',
        code="generic.domainMismatch",
        data={"path": path, "actualDomain": actual, "expectedDomain": expected},
    )


# -- config stacks and history ----------------------------------------------------------------
def unwrap(value: Any) -> Any:
    """Unwrap a checkbox field ``{"checked": b, "value": v}`` (unchecked means not set: None)."""
    if isinstance(value, dict) and set(value) == {"checked", "value"}:
        return value["value"] if value["checked"] else None
    return value


def stack_fields(stack: dict[str, Any] | None) -> list[dict[str, Any]]:
    """All ``{"key", "value"}`` fields of a KvConfigStack, later layers overriding earlier."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in (stack or {}).get("layers", []):
        for f in (layer.get("config") or {}).get("fields", []):
            if isinstance(f, dict) and "key" in f:
                merged[f["key"]] = f
    return list(merged.values())


def flatten_config(stack: dict[str, Any] | None) -> dict[str, Any]:
    """KvConfigStack → ``{wire key: unwrapped value}`` (unchecked checkboxes dropped)."""
    out = {}
    for f in stack_fields(stack):
        value = unwrap(f.get("value"))
        if value is not None:
            out[f["key"]] = value
    return out


def flatten_history(history: dict[str, Any] | list[Any] | None) -> list[dict[str, Any]]:
    """Wire chat history → ``[{"role", "content": str}]``.

    Assistant tool requests add ``"tool_calls": [{"id", "name", "arguments"}]``; tool results
    become ``{"role": "tool", "content": <result text>, "tool_call_id": id}``; file parts
    (uploaded images) add ``"files": [identifier, ...]``.
    """
    messages = history.get("messages", []) if isinstance(history, dict) else history or []
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role", "user")
        content = msg.get("content", "")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        files: list[str] = []
        call_id = None
        for part in content:
            kind = part.get("type")
            if kind == "text":
                texts.append(part.get("text", ""))
            elif kind == "file":
                files.append(str(part.get("identifier", "")))
            elif kind == "toolCallRequest":
                req = part.get("toolCallRequest", {})
                calls.append(
                    {"id": req.get("id"), "name": req.get("name"), "arguments": req.get("arguments") or {}}
                )
            elif kind == "toolCallResult":
                texts.append(str(part.get("content", "")))
                call_id = part.get("toolCallId")
        entry: dict[str, Any] = {"role": role, "content": "".join(texts)}
        if calls:
            entry["tool_calls"] = calls
        if files:
            entry["files"] = files
        if call_id is not None:
            entry["tool_call_id"] = call_id
        out.append(entry)
    return out


def dumps(msg: dict[str, Any]) -> str:
    """Compact JSON text (frames are always text, never binary)."""
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
