"""votes' HTTP API: voter tokens (against a solved proof of work), ballots (202 once durably on
JetStream), the page's vote form (same origin and a CSRF token), tallies, head-to-head votes and
rankings. Every refusal is a problem+json answer and, for ballots, a discard record; a refusal counts
against a tool's public "discarded" figure only when the tool exists (and, for a bad voter token,
only when the token had a token's shape), so garbage requests cannot inflate any tool's figure.

Every per-address limit is keyed on the client address (``X-Forwarded-For`` only from a trusted
proxy), IPv6 per /64."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import asyncpg
from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect
from pydantic import BaseModel, ConfigDict, Field

from verdicts.contracts import BallotCast, Choice, HeadToHeadCast
from verdicts.platform.access.guards import PUBLIC, client_of, rate_limited
from verdicts.platform.bus_errors import bus_problem
from verdicts.platform.client_address import limit_key
from verdicts.platform.deps import Injected, PoolDep, RuntimeDep
from verdicts.platform.http import json_body, problem
from verdicts.platform.metrics import VOTES_ACCEPTED
from verdicts.platform.openapi import problem_responses
from verdicts.platform.origins import same_origin
from verdicts.platform.ratelimit import RateLimiter
from verdicts.platform.service import Runtime
from verdicts.votes import store
from verdicts.votes.config import VotesSettings
from verdicts.votes.discards import DiscardLog
from verdicts.votes.domain.ballots import ballot_id, canonical_pair, split_pair
from verdicts.votes.domain.proof_of_work import (
    MAX_PAYLOAD_CHARS,
    BadSolution,
    altcha_key,
    check_solution,
    new_challenge,
)
from verdicts.votes.domain.tokens import (
    InvalidVoterToken,
    csrf_key,
    csrf_matches,
    csrf_token,
    issue_token,
    looks_like_token,
    verify_token,
)

SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"
VOTER_COOKIE = "verdicts_voter"
COOKIE_MAX_AGE_S = 365 * 86400
BODY_LIMIT = 4096  # a ballot is under 300 bytes; nothing bigger is read
NO_STORE = CacheControlHeader(no_store=True)


class BallotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(pattern=SLUG)
    choice: Choice
    voter_token: str = Field(min_length=1, max_length=200)
    nonce: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class FormBallot(BaseModel):
    """A page's vote buttons (an HTML form): the voter token lives in a cookie, the CSRF token that
    goes with it in a hidden field (the page's script gets both: ``POST /v1/voters``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(pattern=SLUG)
    choice: Choice
    return_to: str = Field(default="/", pattern=r"^(/|/[A-Za-z0-9_.-][A-Za-z0-9/_.-]*)$", max_length=300)
    csrf: str = Field(default="", max_length=100, description="The CSRF token of the voter in the cookie")


class HeadToHeadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    winner: Literal["a", "b", "tie"] = Field(description="a and b as named in the path")
    voter_token: str = Field(min_length=1, max_length=200)
    nonce: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class FormHeadToHead(BaseModel):
    """A comparison page's "Which would you ship with?" buttons (an HTML form): the voter in the
    cookie, its CSRF token in ``csrf`` (filled by the page's script; see ``/v1/votes/form``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str = Field(pattern=SLUG)
    b: str = Field(pattern=SLUG)
    winner: Literal["a", "b", "tie"]
    return_to: str = Field(default="/", pattern=r"^(/|/[A-Za-z0-9_.-][A-Za-z0-9/_.-]*)$", max_length=300)
    csrf: str = Field(default="", max_length=100, description="The CSRF token of the voter in the cookie")


class AltchaChallenge(BaseModel):
    """An ALTCHA challenge: find ``number`` in [0, maxnumber] with SHA-256(salt + number) == challenge."""

    algorithm: Literal["SHA-256"]
    challenge: str
    maxnumber: int
    salt: str
    signature: str


class MintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    altcha: str = Field(
        min_length=1,
        max_length=MAX_PAYLOAD_CHARS,
        description="The solved challenge: base64 of JSON {algorithm, challenge, number, salt, signature}",
    )


class VoterToken(BaseModel):
    voter_token: str
    csrf: str = Field(description="Send it as the vote form's hidden field `csrf` (same voter as the cookie)")


class CsrfToken(BaseModel):
    csrf: str


class BallotAnswer(BaseModel):
    status: Literal["accepted", "duplicate"]
    ballot_id: str
    tool: str
    choice: Choice


class Interval95(BaseModel):
    low: float
    high: float
    confidence: float = 0.95
    method: Literal["wilson"] = "wilson"


class Integrity(BaseModel):
    counted: int
    discarded: dict[str, int]


class ToolVotes(BaseModel):
    tool: str
    ship: int
    skip: int
    community_ship_pct: float | None
    interval: Interval95
    provisional: bool
    integrity: Integrity


class HeadToHeadAnswer(BaseModel):
    status: Literal["accepted", "duplicate"]
    ballot_id: str
    a: str
    b: str
    winner: Literal["a", "b", "tie"]


class Ranking(BaseModel):
    category: str
    method: Literal["bradley-terry"] = "bradley-terry"
    computed_at: str | None
    comparisons: int
    provisional: bool = Field(description="Fewer comparisons than VERDICTS_VOTES_RANKING_MIN_COMPARISONS")
    items: list[dict[str, Any]]


class Votes:
    """Request-path state: the secret and the keys derived from it (set at start-up), the limiters,
    the known tools, discards."""

    def __init__(self, settings: VotesSettings, discards: DiscardLog) -> None:
        self.settings = settings
        self.secret = ""
        self.altcha_key = b""
        self.csrf_key = b""
        self.discards = discards
        self.per_voter = RateLimiter(settings.voter_rate_per_s, settings.voter_burst)
        self.per_address = RateLimiter(settings.address_rate_per_s, settings.address_burst)
        self.mints = RateLimiter(settings.mint_per_minute / 60, settings.mint_burst)
        self.tools: set[str] = set()

    def use_secret(self, secret: str) -> None:
        self.secret = secret
        self.altcha_key = altcha_key(secret)
        self.csrf_key = csrf_key(secret)

    async def known(self, pool: asyncpg.Pool, slug: str) -> bool:
        if slug not in self.tools:
            if await store.tool_category(pool, slug) is None:
                return False
            self.tools.add(slug)
        return True

    def limit_address(self, request: Request[Any, Any, Any], tool: str | None = None) -> None:
        wait = self.per_address.hit(limit_key(client_of(request)))
        if wait is not None:
            # Only a tool already seen here is charged: a flood naming made-up slugs charges none.
            self.discards.add(tool if tool in self.tools else None, None, "rate limited", "client address")
            raise rate_limited(wait, "too many requests from this address")

    def limit_minting(self, request: Request[Any, Any, Any]) -> None:
        wait = self.mints.hit(limit_key(client_of(request)))
        if wait is not None:
            raise rate_limited(wait, "too many voter tokens minted from this address")

    async def mint(self, pool: asyncpg.Pool, payload: str) -> tuple[str, str]:
        """A fresh ``(token, voter_id)`` for a solved, unexpired, unspent proof-of-work challenge."""
        try:
            solved = check_solution(payload, self.altcha_key)
        except BadSolution as exc:
            raise problem(
                422, "bad-altcha", "Proof of work not solved", f"altcha: {exc.reason}", field="altcha"
            ) from None
        if not await store.spend_challenge(pool, solved.challenge, solved.expires_at):
            raise problem(
                409,
                "altcha-spent",
                "Proof of work already used",
                "this challenge was already exchanged for a voter token; solve a new one",
                field="altcha",
            )
        return issue_token(self.secret)

    def challenge(self) -> AltchaChallenge:
        ttl = dt.timedelta(seconds=self.settings.altcha_expiry_s)
        fields = new_challenge(self.altcha_key, self.settings.altcha_max_number, ttl, dt.datetime.now(dt.UTC))
        return AltchaChallenge.model_validate(fields)

    def limit_voter(self, voter: str, tool: str | None) -> None:
        wait = self.per_voter.hit(voter)
        if wait is not None:
            if tool is not None:
                self.discards.add(tool, voter, "rate limited", "voter")
            raise rate_limited(wait, "this voter is voting too fast")

    async def voter(
        self, pool: asyncpg.Pool, token: str, tool: str | None, field: str = "voter_token"
    ) -> str:
        """The voter id in ``token``, else 401; the refusal is charged to ``tool`` only when the
        tool exists and the token had a token's shape (garbage charges no tool)."""
        try:
            return verify_token(token, self.secret)
        except InvalidVoterToken as exc:
            charged = tool if tool and looks_like_token(token) and await self.known(pool, tool) else None
            self.discards.add(charged, None, "bad token", exc.reason)
            raise problem(
                401, "bad-voter-token", "Bad voter token", f"{field}: {exc.reason}", field=field
            ) from None

    async def accept(
        self, runtime: Runtime, voter: str, tool: str, choice: Choice, nonce: str | None
    ) -> BallotAnswer:
        """The ballot onto JetStream (the ack is the promise); a replay answers "duplicate"."""
        if not await self.known(runtime.pool, tool):
            self.discards.add(None, voter, "unknown tool", tool)  # no tool's figure: there is no tool
            raise unknown_tool(tool)
        self.limit_voter(voter, tool)
        msg_id = ballot_id(voter, tool, nonce or uuid.uuid4().hex)
        event = BallotCast.create(
            event_id=msg_id, tool_slug=tool, choice=choice, voter_id=voter, nonce=nonce or ""
        )
        try:
            ack = await runtime.publish_acked(event)
        except Exception as exc:  # VOTES full, NATS away or slow: the client retries with the same nonce
            raise bus_problem(exc, "the ballot was not stored; retry with the same nonce") from None
        if ack.duplicate:
            self.discards.add(tool, voter, "duplicate", "replayed request")
        else:
            VOTES_ACCEPTED.inc()
        status: Literal["accepted", "duplicate"] = "duplicate" if ack.duplicate else "accepted"
        return BallotAnswer(status=status, ballot_id=msg_id, tool=tool, choice=choice)

    async def accept_head_to_head(
        self, runtime: Runtime, voter: str, a: str, b: str, winner: str, nonce: str | None
    ) -> HeadToHeadAnswer:
        """A head-to-head ballot onto JetStream (``a``/``b`` as the voter saw them); a replay
        answers "duplicate"."""
        if a == b:
            raise problem(422, "same-tool", "Same tool", "a tool cannot be compared with itself", field="b")
        for slug in (a, b):
            if not await self.known(runtime.pool, slug):
                raise unknown_tool(slug)
        self.limit_voter(voter, None)
        first, second, canonical = canonical_pair(a, b, winner)
        msg_id = ballot_id(voter, f"{first}-vs-{second}", nonce or uuid.uuid4().hex)
        event = HeadToHeadCast.create(
            event_id=msg_id, a=first, b=second, winner=canonical, voter_id=voter, nonce=nonce or ""
        )
        try:
            ack = await runtime.publish_acked(event)
        except Exception as exc:  # VOTES full, NATS away or slow: the client retries with the same nonce
            raise bus_problem(exc, "the ballot was not stored; retry with the same nonce") from None
        status: Literal["accepted", "duplicate"] = "duplicate" if ack.duplicate else "accepted"
        return HeadToHeadAnswer.model_validate(
            {"status": status, "ballot_id": msg_id, "a": a, "b": b, "winner": winner}
        )

    async def form_voter(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        csrf: str,
        tool: str | None,
        *,
        attested_without_token: bool = False,
    ) -> str:
        """The voter of a page's form POST: from this site only (``Origin`` / ``Sec-Fetch-Site``,
        else 403), the voter in the cookie (else 401), its CSRF token in the form (else 403).

        With ``attested_without_token`` an empty token is taken when the browser itself says the
        POST comes from this origin (``Sec-Fetch-Site: same-origin``, a header no page can set): a
        page read without JavaScript cannot carry its voter's token, and the browser's word is the
        same guarantee against another site's form."""
        headers = request.headers
        fetch_site = headers.get("sec-fetch-site")
        if not same_origin(headers.get("origin"), fetch_site, runtime.settings.site_url, headers.get("host")):
            self.discards.add(None, None, "foreign origin", headers.get("origin", "")[:200])
            raise problem(403, "foreign-origin", "Forbidden", "votes are taken only from this site's pages")
        voter = await self.voter(runtime.pool, request.cookies.get(VOTER_COOKIE, ""), tool, field="cookie")
        attested = attested_without_token and not csrf and (fetch_site or "").strip().lower() == "same-origin"
        if not attested and not csrf_matches(self.csrf_key, voter, csrf):
            self.discards.add(None, voter, "bad csrf token")
            raise problem(
                403,
                "bad-csrf-token",
                "Forbidden",
                "the form's csrf token does not match the voter",
                field="csrf",
            )
        return voter


def unknown_tool(slug: str) -> Exception:
    return problem(404, "unknown-tool", "Unknown tool", f"no tool {slug!r} is known to votes", field="tool")


def set_voter_cookie(response: Response[Any], token: str, site_url: str) -> None:
    """The voter token for the page's form: script cannot read it, other sites' POSTs do not carry
    it, and on an https site it never travels in clear."""
    response.set_cookie(
        VOTER_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=site_url.startswith("https://"),
        path="/",
    )


class VoterController(Controller):
    path = "/v1/voters"
    tags = ["votes"]

    @get("/challenge", guards=[PUBLIC], cache_control=NO_STORE)
    async def challenge(self, votes: Injected[Votes]) -> AltchaChallenge:
        """A proof-of-work challenge (ALTCHA): solve it, then exchange it for a voter token."""
        return votes.challenge()

    @post(
        "/",
        status_code=201,
        guards=[PUBLIC, json_body],
        request_max_body_size=BODY_LIMIT,
        responses=problem_responses(400, 409, 413, 415, 422, 429),
    )
    async def new_voter(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[MintRequest],
        votes: Injected[Votes],
        runtime: RuntimeDep,
    ) -> Response[VoterToken]:
        """An anonymous voter token for a solved challenge (each challenge once, a few per address a
        minute): keep it, send it with every vote. Also set as the page form's cookie, with the CSRF
        token the form sends."""
        votes.limit_minting(request)
        token, voter = await votes.mint(runtime.pool, data.altcha)
        answer = Response(
            VoterToken(voter_token=token, csrf=csrf_token(votes.csrf_key, voter)),
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )
        set_voter_cookie(answer, token, runtime.settings.site_url)
        return answer

    @get("/csrf", guards=[PUBLIC], cache_control=NO_STORE, responses=problem_responses(401))
    async def csrf(self, request: Request[Any, Any, Any], votes: Injected[Votes], pool: PoolDep) -> CsrfToken:
        """The CSRF token for the voter in the cookie (401 without one: mint a voter first)."""
        voter = await votes.voter(pool, request.cookies.get(VOTER_COOKIE, ""), None, field="cookie")
        return CsrfToken(csrf=csrf_token(votes.csrf_key, voter))


class BallotController(Controller):
    path = "/v1/votes"
    tags = ["votes"]

    @post(
        "/",
        guards=[PUBLIC, json_body],
        request_max_body_size=BODY_LIMIT,
        responses=problem_responses(400, 401, 404, 413, 415, 422, 429, 503),
    )
    async def cast(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[BallotRequest],
        votes: Injected[Votes],
        runtime: RuntimeDep,
    ) -> Response[BallotAnswer]:
        """202 once the ballot is on JetStream; a replayed request (same nonce) answers 200 "duplicate"."""
        votes.limit_address(request, data.tool)
        voter = await votes.voter(runtime.pool, data.voter_token, data.tool)
        answer = await votes.accept(runtime, voter, data.tool, data.choice, data.nonce)
        return Response(answer, status_code=200 if answer.status == "duplicate" else 202)

    @post(
        "/form",
        guards=[PUBLIC],
        request_max_body_size=BODY_LIMIT,
        status_code=303,
        responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
    )
    async def cast_from_form(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[FormBallot],
        votes: Injected[Votes],
        runtime: RuntimeDep,
    ) -> Redirect:
        """A page's vote buttons: from this site only (``Origin`` / ``Sec-Fetch-Site``), the voter in
        the cookie, its CSRF token in the field ``csrf``; the answer redirects back."""
        votes.limit_address(request, data.tool)
        voter = await votes.form_voter(request, runtime, data.csrf, data.tool)
        await votes.accept(runtime, voter, data.tool, data.choice, None)
        return Redirect(data.return_to, status_code=303)

    @post(
        "/head-to-head/form",
        guards=[PUBLIC],
        request_max_body_size=BODY_LIMIT,
        status_code=303,
        responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
    )
    async def head_to_head_from_form(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[FormHeadToHead],
        votes: Injected[Votes],
        runtime: RuntimeDep,
    ) -> Redirect:
        """A comparison page's "Which would you ship with?" buttons (winner a, b or tie): the rules
        of ``/v1/votes/form``, except that a browser's own ``Sec-Fetch-Site: same-origin`` stands in
        for an empty ``csrf`` (the page read without JavaScript); the answer redirects back."""
        votes.limit_address(request)
        voter = await votes.form_voter(request, runtime, data.csrf, None, attested_without_token=True)
        await votes.accept_head_to_head(runtime, voter, data.a, data.b, data.winner, None)
        return Redirect(data.return_to, status_code=303)


class TallyController(Controller):
    path = "/v1/tools"
    tags = ["votes"]

    @get("/{slug:str}/votes", guards=[PUBLIC], responses=problem_responses(404))
    async def tool_votes(self, slug: FromPath[str], pool: PoolDep) -> ToolVotes:
        """Community tally with its Wilson 95% interval, provisional flag and integrity counts."""
        found = await store.tool_votes(pool, slug)
        if found is None:
            raise unknown_tool(slug)
        tally, discarded = found
        low, high = tally.interval
        return ToolVotes(
            tool=slug,
            ship=tally.ship,
            skip=tally.skip,
            community_ship_pct=tally.community_ship_pct,
            interval=Interval95(low=low, high=high),
            provisional=tally.provisional,
            integrity=Integrity(counted=tally.total, discarded=discarded),
        )


class HeadToHeadController(Controller):
    path = "/v1"
    tags = ["votes"]

    @post(
        "/comparisons/{pair:str}/votes",
        guards=[PUBLIC, json_body],
        request_max_body_size=BODY_LIMIT,
        responses=problem_responses(400, 401, 404, 413, 415, 422, 429, 503),
    )
    async def head_to_head(
        self,
        request: Request[Any, Any, Any],
        pair: FromPath[str],
        data: JSONBody[HeadToHeadRequest],
        votes: Injected[Votes],
        runtime: RuntimeDep,
    ) -> Response[HeadToHeadAnswer]:
        """A head-to-head vote on "A-vs-B": winner a, b or tie (one per voter per pair, the latest
        counts). 202 once on JetStream; a replayed request (same nonce) answers 200 "duplicate"."""
        votes.limit_address(request)
        slugs = split_pair(pair)
        if slugs is None:
            raise problem(
                404, "bad-pair", "Not a comparison", "the path must be /v1/comparisons/A-vs-B/votes"
            )
        a, b = slugs
        if a == b:
            raise problem(
                422, "same-tool", "Same tool", "a tool cannot be compared with itself", field="pair"
            )
        voter = await votes.voter(runtime.pool, data.voter_token, None)
        answer = await votes.accept_head_to_head(runtime, voter, a, b, data.winner, data.nonce)
        return Response(answer, status_code=200 if answer.status == "duplicate" else 202)

    @get("/rankings/{category:str}", guards=[PUBLIC], responses=problem_responses(404))
    async def rankings(self, category: FromPath[str], pool: PoolDep) -> Ranking:
        """Bradley-Terry ranking of a category from head-to-head votes, with bootstrap 95% intervals."""
        found = await store.ranking(pool, category)
        if found is None:
            raise problem(404, "unknown-category", "Unknown category", f"no known tool is in {category!r}")
        computed_at, comparisons, provisional, items = found
        return Ranking(
            category=category,
            computed_at=computed_at.isoformat() if computed_at else None,
            comparisons=comparisons,
            provisional=provisional,
            items=items,
        )


def build_router(votes: Injected[Votes]) -> Router:
    return Router(
        path="/",
        route_handlers=[VoterController, BallotController, TallyController, HeadToHeadController],
        dependencies={"votes": Provide(lambda: votes, sync_to_thread=False)},
    )
