"""The weekly mail's rules, pure: which addresses are taken, how they are shown in logs, the signed
links (confirm, unsubscribe), when the week's issue is due, and which SMTP replies are final.

Addresses are checked by ``email-validator`` (syntax only: no DNS look-up on a request) after a
check of our own for what must never reach a mail header: line breaks and other control characters.
Links carry a subscriber's id and the random nonce of that subscription, signed with
``itsdangerous`` (HMAC-SHA256, one salt per purpose, a timestamp for the confirmation's expiry):
never the address, so a link in a proxy's log gives the address away to nobody, and a link outlives
nothing (unsubscribing deletes the row, re-subscribing draws a new nonce).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from verdicts.render.domain import iso_week, week_bounds

MAX_ADDRESS_CHARS = 254
"""RFC 5321's limit on a forward path (256 with its angle brackets)."""
MAX_LINK_TOKEN_CHARS = 200
"""A real token is under 100 characters; anything longer is refused before any HMAC work."""
CONFIRM_SALT = "verdicts.render.newsletter.confirm.v1"
UNSUBSCRIBE_SALT = "verdicts.render.newsletter.unsubscribe.v1"
WEEK = re.compile(r"^\d{4}-W\d{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")

LinkPurpose = Literal["confirm", "unsubscribe"]


class BadAddress(ValueError):
    """Not an address we mail; ``reason`` never echoes the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadLink(ValueError):
    """A forged, tampered, garbled or (confirmation only) expired link."""

    def __init__(self, reason: Literal["invalid", "expired"]) -> None:
        super().__init__(reason)
        self.reason = reason


def normalize_address(text: str) -> str:
    """The address as we store and mail it (the domain lower-cased, IDNA as ASCII), or ``BadAddress``."""
    if _CONTROL.search(text):
        raise BadAddress("an address cannot contain line breaks or control characters")
    text = text.strip()
    if not text:
        raise BadAddress("an address is needed")
    if len(text) > MAX_ADDRESS_CHARS:
        raise BadAddress(f"an address has at most {MAX_ADDRESS_CHARS} characters")
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise BadAddress("not an email address (name@example.com)") from None
    address = checked.ascii_email or checked.normalized
    if len(address) > MAX_ADDRESS_CHARS or _CONTROL.search(address):
        raise BadAddress(f"an address has at most {MAX_ADDRESS_CHARS} characters")
    return address


def mask(address: str) -> str:
    """What logs may show of an address: ``j***@example.com`` (never the address in full)."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Signs and reads the links mails carry; ``secret`` comes from the settings (or the home)."""

    secret: str

    def _serializer(self, purpose: LinkPurpose) -> URLSafeTimedSerializer:
        if not self.secret:
            raise ValueError("the mail link secret must not be empty")
        salt = CONFIRM_SALT if purpose == "confirm" else UNSUBSCRIBE_SALT
        return URLSafeTimedSerializer(self.secret, salt=salt, signer_kwargs={"digest_method": hashlib.sha256})

    def sign(self, purpose: LinkPurpose, subscriber_id: int, nonce: str) -> str:
        return str(self._serializer(purpose).dumps([subscriber_id, nonce]))

    def read(self, purpose: LinkPurpose, token: str, max_age_s: int | None = None) -> tuple[int, str]:
        """``(subscriber_id, nonce)`` of a link this secret signed for ``purpose``, else ``BadLink``."""
        if not token or len(token) > MAX_LINK_TOKEN_CHARS:
            raise BadLink("invalid")
        try:
            value = self._serializer(purpose).loads(token, max_age=max_age_s)
        except SignatureExpired:
            raise BadLink("expired") from None
        except (BadData, UnicodeError, ValueError):
            raise BadLink("invalid") from None
        match value:
            case [int() as subscriber_id, str() as nonce] if not isinstance(subscriber_id, bool):
                return subscriber_id, nonce
        raise BadLink("invalid")


def check_week(week: str) -> str:
    """An ISO week "2026-W48" that exists, else ValueError."""
    if not WEEK.match(week):
        raise ValueError(f"not an ISO week (YYYY-Www): {week!r}")
    week_bounds(week)  # W53 of a 52-week year, W00: ValueError
    return week


def last_week(now: datetime) -> str:
    """The ISO week before ``now``'s (the last complete one)."""
    return iso_week(now - timedelta(days=7))


def due_week(now: datetime, weekday: int, hour: int) -> str | None:
    """The issue due at ``now``: last week's, once this week's send time (ISO ``weekday``, ``hour``
    UTC) has passed; before it, none (last week's was due the week before)."""
    start, _ = week_bounds(iso_week(now))
    send_at = start + timedelta(days=weekday - 1, hours=hour)
    return last_week(now) if now >= send_at else None


def permanent(code: int | None) -> bool:
    """An SMTP reply that will not change on a retry (5xx); anything else (4xx, a dropped
    connection, a timeout) is temporary."""
    return code is not None and 500 <= code < 600
