"""Validation errors as our API names them: ``[{"field": "pricing.entry_price_usd", "message": ...}]``.

No web framework here, so domain modules can name bad fields the same way the HTTP layer does.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

UNKNOWN_FIELD = "unknown field"
_PYDANTIC_MESSAGES = {"Extra inputs are not permitted": UNKNOWN_FIELD}
WHOLE_BODY = "body"


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic's errors by dotted field name; an unknown field is called just that."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(
            str(p) for p in error["loc"] if not isinstance(p, str) or not p.startswith("function-")
        )
        field = f"{prefix}{path}" if path else prefix.rstrip(".") or WHOLE_BODY
        message = UNKNOWN_FIELD if error["type"] == "extra_forbidden" else error["msg"]
        errors.append({"field": field, "message": message})
    return errors


def litestar_errors(extra: Any, detail: str) -> list[dict[str, Any]]:
    """Litestar's ``[{"key", "message"}]`` in our shape; its whole body (``data``) is ``body``."""
    errors = [
        {
            "field": WHOLE_BODY if item.get("key") in (None, "", "data") else item["key"],
            "message": _PYDANTIC_MESSAGES.get(item.get("message", ""), item.get("message", "invalid")),
        }
        for item in (extra if isinstance(extra, list) else [])
        if isinstance(item, dict)
    ]
    return errors or [{"field": WHOLE_BODY, "message": detail or "invalid request"}]
