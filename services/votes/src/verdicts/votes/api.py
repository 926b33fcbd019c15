"""votes' HTTP API: voter tokens, ballots (202 once durably on JetStream), tallies, head-to-head
votes and rankings. Every refusal is a problem+json answer and, for ballots, a discard record."""

from __future__ import annotations

import math
import uuid
from typing import Any, Literal

import asyncpg
from litestar import Controller, Request, Response, Router, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect
from pydantic import BaseModel, ConfigDict, Field

from verdicts.contracts import BallotCast, Choice
from verdicts.platform.deps import Injected, PoolDep, RuntimeDep
from verdicts.platform.http import json_body, problem
from verdicts.platform.service import Runtime
from verdicts.votes import store
from verdicts.votes.config import VotesSettings
from verdicts.votes.discards import DiscardLog
from verdicts.votes.domain.ballots import ballot_id, canonical_pair, split_pair
from verdicts.platform.ratelimit import RateLimiter
from verdicts.votes.domain.tokens import InvalidVoterToken, issue_token, verify_token

SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"
VOTER_COOKIE = "verdicts_voter"
BODY_LIMIT = 4096  # a ballot is under 300 bytes; nothing bigger is read


class BallotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(pattern=SLUG)
    choice: Choice
    voter_token: str = Field(min_length=1, max_length=200)
    nonce: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class FormBallot(BaseModel):
    """A page's vote buttons (an HTML form, no JavaScript): the voter token lives in a cookie."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(pattern=SLUG)
    choice: Choice
    return_to: str = Field(default="/", pattern=r"^(/|/[A-Za-z0-9_.-][A-Za-z0-9/_.-]*)$", max_length=300)


class HeadToHeadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    winner: Literal["a", "b", "tie"]
    voter_token: str = Field(min_length=1, max_length=200)


class VoterToken(BaseModel):
    voter_token: str


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
    status: Literal["recorded"]
    a: str
    b: str
    winner: Literal["a", "b", "tie"]


class Ranking(BaseModel):
    category: str
    method: Literal["bradley-terry"] = "bradley-terry"
    computed_at: str | None
    comparisons: int
    items: list[dict[str, Any]]


class Votes:
    """Request-path state: the secret (read at start-up), the limiters, the known tools, discards."""

    def __init__(self, settings: VotesSettings, discards: DiscardLog) -> None:
        self.settings = settings
        self.secret = ""
        self.discards = discards
        self.per_voter = RateLimiter(settings.voter_rate_per_s, settings.voter_burst)
        self.per_address = RateLimiter(settings.address_rate_per_s, settings.address_burst)
        self.tools: set[str] = set()

    async def known(self, pool: asyncpg.Pool, slug: str) -> bool:
        if slug not in self.tools:
            if await store.tool_category(pool, slug) is None:
                return False
            self.tools.add(slug)
        return True

    def limit_address(self, request: Request[Any, Any, Any], tool: str | None = None) -> None:
        address = request.client.host if request.client else "unknown"
        wait = self.per_address.hit(address)
        if wait is not None:
            self.discards.add(tool, None, "rate limited", "client address")
            raise too_many(wait, "too many requests from this address")

    def limit_voter(self, voter: str, tool: str | None) -> None:
        wait = self.per_voter.hit(voter)
        if wait is not None:
            if tool is not None:
                self.discards.add(tool, voter, "rate limited", "voter")
            raise too_many(wait, "this voter is voting too fast")

    def voter(self, token: str, tool: str | None) -> str:
        try:
            return verify_token(token, self.secret)
        except InvalidVoterToken as exc:
            self.discards.add(tool, None, "bad token", exc.reason)
            raise problem(
                401, "bad-voter-token", "Bad voter token", f"voter_token: {exc.reason}", field="voter_token"
            ) from None

    async def accept(
        self, runtime: Runtime, voter: str, tool: str, choice: Choice, nonce: str | None
    ) -> BallotAnswer:
        """The ballot onto JetStream (the ack is the promise); a replay answers "duplicate"."""
        if not await self.known(runtime.pool, tool):
            self.discards.add(tool, voter, "unknown tool")
            raise unknown_tool(tool)
        self.limit_voter(voter, tool)
        msg_id = ballot_id(voter, tool, nonce or uuid.uuid4().hex)
        event = BallotCast.create(
            event_id=msg_id, tool_slug=tool, choice=choice, voter_id=voter, nonce=nonce or ""
        )
        try:
            ack = await runtime.publish_acked(event)
        except Exception:  # NATS away or slow: the client retries with the same nonce
            raise problem(
                503,
                "bus-unavailable",
                "Try again",
                "the ballot could not be stored; retry with the same nonce",
                headers={"Retry-After": "1"},
            ) from None
        if ack.duplicate:
            self.discards.add(tool, voter, "duplicate", "replayed request")
        status: Literal["accepted", "duplicate"] = "duplicate" if ack.duplicate else "accepted"
        return BallotAnswer(status=status, ballot_id=msg_id, tool=tool, choice=choice)


def too_many(wait_s: float, detail: str) -> Exception:
    return problem(
        429,
        "rate-limited",
        "Too many requests",
        detail,
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


def unknown_tool(slug: str) -> Exception:
    return problem(404, "unknown-tool", "Unknown tool", f"no tool {slug!r} is known to votes", field="tool")


class VoterController(Controller):
    path = "/v1/voters"
    tags = ["votes"]

    @post("/", status_code=201)
    async def new_voter(self, request: Request[Any, Any, Any], votes: Injected[Votes]) -> VoterToken:
        """An anonymous voter token: keep it, send it with every vote."""
        votes.limit_address(request)
        token, _ = issue_token(votes.secret)
        return VoterToken(voter_token=token)


class BallotController(Controller):
    path = "/v1/votes"
    tags = ["votes"]

    @post("/", guards=[json_body], request_max_body_size=BODY_LIMIT)
    async def cast(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[BallotRequest],
        votes: Injected[Votes],
        runtime: RuntimeDep,
    ) -> Response[BallotAnswer]:
        """202 once the ballot is on JetStream; a replayed request (same nonce) answers 200 "duplicate"."""
        votes.limit_address(request, data.tool)
        voter = votes.voter(data.voter_token, data.tool)
        answer = await votes.accept(runtime, voter, data.tool, data.choice, data.nonce)
        return Response(answer, status_code=200 if answer.status == "duplicate" else 202)

    @post("/form", request_max_body_size=BODY_LIMIT, status_code=303)
    async def cast_from_form(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[FormBallot],
        votes: Injected[Votes],
        runtime: RuntimeDep,
    ) -> Redirect:
        """A page's vote buttons: the voter token lives in a cookie; the answer redirects back."""
        votes.limit_address(request, data.tool)
        token = request.cookies.get(VOTER_COOKIE, "")
        try:
            voter = verify_token(token, votes.secret)
        except InvalidVoterToken:
            token, voter = issue_token(votes.secret)
        await votes.accept(runtime, voter, data.tool, data.choice, None)
        back = Redirect(data.return_to, status_code=303)
        back.set_cookie(VOTER_COOKIE, token, max_age=365 * 86400, httponly=True, samesite="lax", path="/")
        return back


class TallyController(Controller):
    path = "/v1/tools"
    tags = ["votes"]

    @get("/{slug:str}/votes")
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

    @post("/comparisons/{pair:str}/votes", guards=[json_body], request_max_body_size=BODY_LIMIT)
    async def head_to_head(
        self,
        request: Request[Any, Any, Any],
        pair: FromPath[str],
        data: JSONBody[HeadToHeadRequest],
        votes: Injected[Votes],
        pool: PoolDep,
    ) -> HeadToHeadAnswer:
        """A head-to-head vote on "A-vs-B": winner a, b or tie (one per voter per pair, changeable)."""
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
        voter = votes.voter(data.voter_token, None)
        for slug in (a, b):
            if not await votes.known(pool, slug):
                raise unknown_tool(slug)
        votes.limit_voter(voter, None)
        first, second, winner = canonical_pair(a, b, data.winner)
        async with pool.acquire() as conn:
            await store.record_head_to_head(conn, first, second, voter, winner)
        return HeadToHeadAnswer(status="recorded", a=a, b=b, winner=data.winner)

    @get("/rankings/{category:str}")
    async def rankings(self, category: FromPath[str], pool: PoolDep) -> Ranking:
        """Bradley-Terry ranking of a category from head-to-head votes, with bootstrap 95% intervals."""
        found = await store.ranking(pool, category)
        if found is None:
            raise problem(404, "unknown-category", "Unknown category", f"no known tool is in {category!r}")
        computed_at, comparisons, items = found
        return Ranking(
            category=category,
            computed_at=computed_at.isoformat() if computed_at else None,
            comparisons=comparisons,
            items=items,
        )


def build_router(votes: Injected[Votes]) -> Router:
    return Router(
        path="/",
        route_handlers=[VoterController, BallotController, TallyController, HeadToHeadController],
        dependencies={"votes": Provide(lambda: votes, sync_to_thread=False)},
    )
