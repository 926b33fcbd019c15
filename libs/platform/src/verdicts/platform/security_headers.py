"""Security headers on every answer, pages and API alike.

A route that serves HTML with its own needs (render's pages: hashed inline scripts, badges meant for
other sites) sets its own ``Content-Security-Policy`` / ``Cross-Origin-Resource-Policy``; those are
kept. Everything else gets the strictest policy: API answers load nothing and frame nowhere.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
REFERENCE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""``/schema``: Swagger UI loads its own scripts and sets inline styles from them (no inline script)."""

ALWAYS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"strict-origin-when-cross-origin",
}


def security_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware (Litestar ``middleware=[security_headers]``)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        policy = REFERENCE_POLICY if scope["path"].startswith("/schema") else API_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in ALWAYS.items():
                    headers[name.decode()] = value.decode()
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = policy
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
