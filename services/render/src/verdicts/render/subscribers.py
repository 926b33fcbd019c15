"""The weekly mail's HTTP side: sign-up (JSON, and the form every page ends with), the confirmation
link, unsubscribe (a page with a button, and RFC 8058 one-click POST), the status page the forms
come back to, and the admin's counts.

Every answer to a sign-up is the same whether the address is new, waiting for its confirmation or
confirmed (no enumeration); a confirmation mail goes out at most once per address per
``confirm_every_s``, and sign-ups are rate limited per client address. The form is taken only from
this site's pages (``Origin`` / ``Sec-Fetch-Site``, as votes' form). No route lists or shows an
address: the admin sees counts.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect
from pydantic import BaseModel, ConfigDict, Field

from verdicts.platform.access.guards import PUBLIC, client_of, rate_limited, requires
from verdicts.platform.access.keys import Scope
from verdicts.platform.client_address import limit_key
from verdicts.platform.deps import Injected, PoolDep, RuntimeDep
from verdicts.platform.http import json_body, problem
from verdicts.platform.openapi import problem_responses
from verdicts.platform.origins import same_origin
from verdicts.platform.ratelimit import RateLimiter
from verdicts.render import newsletter_store as nstore
from verdicts.render.api import HEADERS_BY_SUFFIX
from verdicts.render.newsletter import Newsletter
from verdicts.render.pages import Site
from verdicts.render.subscription import (
    MAX_ADDRESS_CHARS,
    BadAddress,
    BadLink,
    LinkSigner,
    normalize_address,
)

BODY_LIMIT = 4096
NO_STORE = CacheControlHeader(no_store=True)
RETURN_TO = r"^(/|/[A-Za-z0-9_.-][A-Za-z0-9/_.-]*)$"
Status = Literal[
    "check-inbox", "confirm", "confirmed", "unsubscribe", "unsubscribed", "invalid-address", "invalid-link",
    "expired-link",
]  # fmt: skip
HTML_ANSWER = {200: ResponseSpec(None, description="An HTML page (text/html)")}


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(
        min_length=1, max_length=MAX_ADDRESS_CHARS + 66, description="The address to subscribe"
    )


class FormSignUp(BaseModel):
    """The box every page ends with (an HTML form, no script needed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(default="", max_length=MAX_ADDRESS_CHARS + 66)
    return_to: str = Field(default="/", pattern=RETURN_TO, max_length=300)


class SignUpAnswer(BaseModel):
    status: Literal["check-inbox"] = Field(
        description="The same for a new, pending or confirmed address: a confirmation mail is on its way "
        "when one is due"
    )


class LinkForm(BaseModel):
    """The confirm and unsubscribe buttons, and RFC 8058's one-click POST (``List-Unsubscribe=One-Click``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    list_unsubscribe: str | None = Field(default=None, alias="List-Unsubscribe", max_length=50)


class SubscriberCounts(BaseModel):
    """How many addresses, by state (never the addresses)."""

    confirmed: int = Field(description="Receive the weekly issue")
    pending: int = Field(description="Waiting for their confirmation")
    bounced: int = Field(description="Refused for good by their mail server (no more issues)")


class Limits:
    def __init__(self, per_minute: float, burst: int) -> None:
        self.per_address = RateLimiter(per_minute / 60, burst)

    def check(self, request: Request[Any, Any, Any]) -> None:
        wait = self.per_address.hit(limit_key(client_of(request)))
        if wait is not None:
            raise rate_limited(wait, "too many sign-ups from this address")


def bad_address(exc: BadAddress) -> Exception:
    return problem(422, "bad-address", "Not an address we can mail", exc.reason, field="email")


def status_page(
    site: Site, status: Status, *, token: str = "", return_to: str = "/", code: int = 200
) -> Response[bytes]:
    html = site.env.get_template("newsletter.html").render(
        base_url=site.base_url, json_href="/index.json", status=status, token=token, return_to=return_to
    )
    return Response(
        html.encode(),
        status_code=code,
        media_type="text/html; charset=utf-8",
        headers={**HEADERS_BY_SUFFIX[".html"], "Cache-Control": "no-store"},
    )


def link_status(exc: BadLink) -> Status:
    return "expired-link" if exc.reason == "expired" else "invalid-link"


class SubscriberController(Controller):
    path = "/v1/subscribers"
    tags = ["newsletter"]

    @post(
        "/",
        guards=[PUBLIC, json_body],
        request_max_body_size=BODY_LIMIT,
        status_code=202,
        responses=problem_responses(400, 413, 415, 422, 429),
    )
    async def sign_up(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignUp],
        pool: PoolDep,
        newsletter: Injected[Newsletter],
        limits: Injected[Limits],
    ) -> Response[SignUpAnswer]:
        """Subscribe an address to the weekly issue: a confirmation mail with a signed link that
        expires (double opt-in); only confirmed addresses receive issues. The answer is the same
        whatever the address's state, and at most one confirmation mail goes out per address an hour."""
        limits.check(request)
        try:
            address = normalize_address(data.email)
        except BadAddress as exc:
            raise bad_address(exc) from None
        await newsletter.sign_up(pool, address)
        return Response(
            SignUpAnswer(status="check-inbox"), status_code=202, headers={"Cache-Control": "no-store"}
        )

    @post(
        "/form",
        guards=[PUBLIC],
        request_max_body_size=BODY_LIMIT,
        status_code=303,
        responses=problem_responses(400, 403, 413, 415, 422, 429),
    )
    async def sign_up_from_form(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[FormSignUp],
        runtime: RuntimeDep,
        newsletter: Injected[Newsletter],
        limits: Injected[Limits],
    ) -> Redirect:
        """The sign-up box of every page: from this site only (``Origin`` / ``Sec-Fetch-Site``); the
        answer redirects to a page that says what happens next (or that the address was not one)."""
        headers = request.headers
        if not same_origin(
            headers.get("origin"),
            headers.get("sec-fetch-site"),
            runtime.settings.site_url,
            headers.get("host"),
        ):
            raise problem(
                403, "foreign-origin", "Forbidden", "sign-ups are taken only from this site's pages"
            )
        limits.check(request)
        try:
            address = normalize_address(data.email)
        except BadAddress:
            return Redirect(
                f"/newsletter/?status=invalid-address&return_to={data.return_to}", status_code=303
            )
        await newsletter.sign_up(runtime.pool, address)
        return Redirect(f"/newsletter/?status=check-inbox&return_to={data.return_to}", status_code=303)

    @get(
        "/confirm/{token:str}",
        guards=[PUBLIC],
        responses={**HTML_ANSWER, 404: ResponseSpec(None, description="A forged or tampered link (HTML)"),
                   410: ResponseSpec(None, description="An expired link (HTML)")},
    )  # fmt: skip
    async def confirm_page(
        self, token: FromPath[str], newsletter: Injected[Newsletter], site: Injected[Site]
    ) -> Response[bytes]:
        """The confirmation link: a page with the button that confirms (a link scanner that only
        reads the page subscribes nobody)."""
        try:
            newsletter_signer(newsletter).read("confirm", token, newsletter.settings.confirm_ttl_s)
        except BadLink as exc:
            return status_page(site, link_status(exc), code=410 if exc.reason == "expired" else 404)
        return status_page(site, "confirm", token=token)

    @post(
        "/confirm/{token:str}",
        guards=[PUBLIC],
        request_max_body_size=BODY_LIMIT,
        status_code=303,
        responses=problem_responses(400, 413),
    )
    async def confirm(
        self,
        token: FromPath[str],
        data: URLEncodedBody[LinkForm],
        pool: PoolDep,
        newsletter: Injected[Newsletter],
    ) -> Redirect:
        """Confirm a subscription (the button of the confirmation page); redirects to its status."""
        try:
            subscriber_id, nonce = newsletter_signer(newsletter).read(
                "confirm", token, newsletter.settings.confirm_ttl_s
            )
        except BadLink as exc:
            return Redirect(f"/newsletter/?status={link_status(exc)}", status_code=303)
        async with pool.acquire() as conn:
            done = await nstore.confirm(conn, subscriber_id, nonce)
        return Redirect(f"/newsletter/?status={'confirmed' if done else 'invalid-link'}", status_code=303)

    @get(
        "/unsubscribe/{token:str}",
        guards=[PUBLIC],
        responses={**HTML_ANSWER, 404: ResponseSpec(None, description="A forged or tampered link (HTML)")},
    )
    async def unsubscribe_page(
        self, token: FromPath[str], newsletter: Injected[Newsletter], site: Injected[Site]
    ) -> Response[bytes]:
        """A mail's visible unsubscribe link: a page with the button that unsubscribes."""
        try:
            newsletter_signer(newsletter).read("unsubscribe", token)
        except BadLink as exc:
            return status_page(site, link_status(exc), code=404)
        return status_page(site, "unsubscribe", token=token)

    @post(
        "/unsubscribe/{token:str}",
        guards=[PUBLIC],
        request_max_body_size=BODY_LIMIT,
        status_code=200,
        responses={**HTML_ANSWER, 404: ResponseSpec(None, description="A forged or tampered link (HTML)"),
                   **problem_responses(400, 413)},
    )  # fmt: skip
    async def unsubscribe(
        self,
        token: FromPath[str],
        data: URLEncodedBody[LinkForm],
        pool: PoolDep,
        newsletter: Injected[Newsletter],
        site: Injected[Site],
    ) -> Response[bytes]:
        """Unsubscribe: the page's button, or a mail client's RFC 8058 one-click POST
        (``List-Unsubscribe=One-Click``, from any origin: the signed link is the permission). The
        address is deleted; an address already gone answers the same."""
        try:
            subscriber_id, nonce = newsletter_signer(newsletter).read("unsubscribe", token)
        except BadLink as exc:
            return status_page(site, link_status(exc), code=404)
        async with pool.acquire() as conn:
            await nstore.unsubscribe(conn, subscriber_id, nonce)
        return status_page(site, "unsubscribed")


def newsletter_signer(newsletter: Newsletter) -> LinkSigner:
    if newsletter.signer is None:
        raise problem(503, "not-ready", "Not ready", "the newsletter is starting")
    return newsletter.signer


class NewsletterPage(Controller):
    path = "/newsletter"
    tags = ["pages"]

    @get("/", guards=[PUBLIC], responses={**HTML_ANSWER, **problem_responses(400)}, cache_control=NO_STORE)
    async def status(
        self, site: Injected[Site], status: FromQuery[Status] = "check-inbox", return_to: FromQuery[str] = "/"
    ) -> Response[bytes]:
        """Where the sign-up box and the links come back to: what happened, and what happens next."""
        return status_page(site, status, return_to=return_to if _local(return_to) else "/")


def _local(path: str) -> bool:
    return len(path) <= 300 and re.match(RETURN_TO, path) is not None


class SubscriberAdminController(Controller):
    path = "/v1/admin/subscribers"
    tags = ["newsletter"]

    @get("/", guards=[requires(Scope.ADMIN)], cache_control=NO_STORE)
    async def counts(self, pool: PoolDep) -> SubscriberCounts:
        """How many addresses are confirmed, pending and bounced (never the addresses)."""
        async with pool.acquire() as conn:
            return SubscriberCounts.model_validate(await nstore.counts(conn))


def build_subscriber_router(site: Site, newsletter: Newsletter) -> Router:
    limits = Limits(newsletter.settings.subscribe_per_minute, newsletter.settings.subscribe_burst)
    return Router(
        path="/",
        route_handlers=[SubscriberController, NewsletterPage, SubscriberAdminController],
        dependencies={
            "newsletter": Provide(lambda: newsletter, sync_to_thread=False),
            "limits": Provide(lambda: limits, sync_to_thread=False),
            "site": Provide(lambda: site, sync_to_thread=False),
        },
    )
