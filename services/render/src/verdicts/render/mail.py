"""The mails render sends, built with the standard library's ``EmailMessage``: the confirmation and
the weekly issue, each as plain text and HTML (multipart/alternative), each with a visible
unsubscribe link and RFC 8058 one-click unsubscribe (``List-Unsubscribe`` + ``List-Unsubscribe-Post``).

Addresses reach headers only after ``subscription.normalize_address`` (no line breaks); the header
policy refuses any that slipped through. Texts are Jinja templates (``templates/mail``): HTML
autoescaped, plain text as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from verdicts.platform.db import Conn
from verdicts.render import store
from verdicts.render.domain import comparison_path, pct
from verdicts.render.pages import Site
from verdicts.render.subscription import LinkSigner

LIST_NAME = "Weekly AI Tool Verdicts"


@dataclass(frozen=True, slots=True)
class IssueContent:
    """What a week's mail says: the tools announced (with their comparisons) and the flips."""

    week: str
    issue_url: str
    tools: list[dict[str, Any]] = field(default_factory=list)
    flipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.tools and not self.flipped


async def issue_content(conn: Conn, base_url: str, week: str) -> IssueContent:
    """The week's issue from the read model (the same week ``Site.issue`` publishes)."""
    views, flips = await Site.week_contents(conn, week)
    tools = []
    for view in views:
        comparisons = []
        for a, b in await store.pairs_of(conn, view.slug):
            other = await store.tool_view(conn, b if a == view.slug else a)
            title = f"{view.tool.name} vs {other.tool.name if other else (b if a == view.slug else a)}"
            comparisons.append((title, f"{base_url}/{comparison_path(a, b)}"))
        tools.append(
            {
                "name": view.tool.name,
                "category": view.tool.category,
                "verdict": view.verdict,
                "ship_pct": view.panel.ship_pct if view.panel else None,
                "url": f"{base_url}/tools/{view.slug}/",
                "comparisons": comparisons,
            }
        )
    flipped = [
        {
            "name": f["name"],
            "url": f"{base_url}/tools/{f['slug']}/",
            "previous_pct": f.get("previous_pct"),
            "ship_pct": f.get("ship_pct"),
        }
        for f in flips
    ]
    return IssueContent(week, f"{base_url}/weekly/{week}/", tools, flipped)


class Mails:
    """Builds the mails; the links point at ``base_url`` (the site's public address)."""

    def __init__(self, base_url: str, sender: str, signer: LinkSigner, confirm_ttl_s: int) -> None:
        self.base_url = base_url.rstrip("/")
        host = urlsplit(self.base_url).hostname or "localhost"
        self.domain = host
        self.sender = sender or f"{LIST_NAME} <weekly@{host}>"
        self.signer = signer
        self.confirm_ttl_s = confirm_ttl_s
        self.env = Environment(
            loader=PackageLoader("verdicts.render", "templates/mail"),
            autoescape=select_autoescape(["html"], default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["pct"] = pct

    def confirm_url(self, subscriber_id: int, nonce: str) -> str:
        return f"{self.base_url}/v1/subscribers/confirm/{self.signer.sign('confirm', subscriber_id, nonce)}"

    def unsubscribe_url(self, subscriber_id: int, nonce: str) -> str:
        token = self.signer.sign("unsubscribe", subscriber_id, nonce)
        return f"{self.base_url}/v1/subscribers/unsubscribe/{token}"

    def confirmation(self, subscriber_id: int, nonce: str, to: str) -> EmailMessage:
        context = {
            "confirm_url": self.confirm_url(subscriber_id, nonce),
            "unsubscribe_url": self.unsubscribe_url(subscriber_id, nonce),
            "hours": self.confirm_ttl_s // 3600 or 1,
        }
        return self._message(to, f"Confirm your subscription to {LIST_NAME}", "confirm", context)

    def issue(self, content: IssueContent, subscriber_id: int, nonce: str, to: str) -> EmailMessage:
        context = {"c": content, "unsubscribe_url": self.unsubscribe_url(subscriber_id, nonce)}
        message = self._message(to, f"{LIST_NAME}, {content.week}", "issue", context)
        message["Precedence"] = "bulk"
        return message

    def _message(self, to: str, subject: str, template: str, context: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
        message["Message-ID"] = make_msgid("weekly", domain=self.domain)
        message["List-Id"] = f"{LIST_NAME} <weekly.{self.domain}>"
        message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.env.get_template(f"{template}.txt").render(**context))
        message.add_alternative(self.env.get_template(f"{template}.html").render(**context), subtype="html")
        return message
