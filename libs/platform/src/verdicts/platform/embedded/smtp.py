"""A local SMTP sink (PyPI ``aiosmtpd``): every mail it receives is kept as an ``.eml`` file, for a
developer to read what `verdicts up` sent, and for the tests to read what the services sent.

It accepts any sender and recipient, speaks plain SMTP on 127.0.0.1 (no TLS, no login), and runs on a
thread of its own (aiosmtpd's ``Controller``), so it serves while the caller's loop is busy. A
``delay_s`` holds each mail's answer after the mail is kept (a slow server, for tests that stop a
sender half way); ``refuse`` names recipients refused for good (550), ``defer`` recipients refused
for now (451) that many times before they are taken.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import os
import threading
import time
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from verdicts.platform.embedded.process import free_port


class MailFolder:
    """aiosmtpd's handler: each accepted mail written to ``folder`` as ``<time>-<n>.eml`` (0600)."""

    def __init__(
        self,
        folder: Path,
        delay_s: float = 0.0,
        refuse: Iterable[str] = (),
        defer: Mapping[str, int] | None = None,
    ) -> None:
        self.folder = folder
        self.delay_s = delay_s
        self.refuse = {r.lower() for r in refuse}
        self.defer = {k.lower(): v for k, v in (defer or {}).items()}
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        if self.defer.get(address.lower(), 0) > 0:
            self.defer[address.lower()] -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode()
        with self._lock:
            name = f"{time.time_ns()}-{next(self._count):06d}.eml"
        path = self.folder / name
        descriptor = os.open(path.with_suffix(".part"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(path.with_suffix(".part"), path)  # a reader sees whole mails only
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return "250 Message accepted for delivery"


class EmbeddedSmtp:
    """An SMTP sink on ``127.0.0.1:port`` writing mails under ``folder``."""

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        *,
        delay_s: float = 0.0,
        refuse: Iterable[str] = (),
        defer: Mapping[str, int] | None = None,
    ) -> None:
        self.folder = folder
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.handler = MailFolder(folder, delay_s, refuse, defer)
        self._controller: Controller | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, ready_timeout=10)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def environment(self) -> dict[str, str]:
        """What points render's mail at this sink."""
        return {
            "VERDICTS_RENDER_SMTP_HOST": self.host,
            "VERDICTS_RENDER_SMTP_PORT": str(self.port),
            "VERDICTS_RENDER_SMTP_SECURITY": "none",
        }

    def mails(self) -> list[EmailMessage]:
        """Every mail kept so far, oldest first."""
        return [read_mail(path) for path in sorted(self.folder.glob("*.eml"))]

    def __enter__(self) -> EmbeddedSmtp:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def read_mail(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message
