"""votes' HTTP routes: voter tokens, ballots (202 once durably on JetStream), tallies, head-to-head
votes and rankings. Every refusal is a problem+json answer and, for ballots, a discard record."""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from typing import Any, Literal

import nats
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect
from nats.js.api import PubAck
from nats.js.client import JetStreamContext
from pydantic import BaseModel, ConfigDict, Field

from verdicts.contracts import BallotCast, Choice
from verdicts.contracts.subjects import VOTES_STREAM
from verdicts.platform.http import problem, read_json, validated
from verdicts.platform.outbox import MSG_ID_HEADER
from verdicts.platform.service import Runtime
from verdicts.votes import store
from verdicts.votes.config import VotesSettings
from verdicts.votes.discards import DiscardLog
from verdicts.votes.ratelimit import RateLimiter
from verdicts.votes.tokens import InvalidVoterToken, issue_token, verify_token

SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"


class BallotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(pattern=SLUG)
    choice: Choice
    voter_token: str = Field(min_length=1, max_length=200)
    nonce: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


VOTER_COOKIE = "verdicts_voter"


class FormBallot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(pattern=SLUG)
    choice: Choice
    return_to: str = Field(default="/", pattern=r"^(/|/[A-Za-z0-9_.-][A-Za-z0-9/_.-]*)$", max_length=300)


class HeadToHeadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    winner: Literal["a", "b", "tie"]
    voter_token: str = Field(min_length=1, max_length=200)


def ballot_id(voter: str, tool: str, nonce: str) -> str:
    """The ballot's ``Nats-Msg-Id``: a retried request (same nonce) is one ballot."""
    return "ballot:" + hashlib.sha256(f"{voter}\x1f{tool}\x1f{nonce}".encode()).hexdigest()[:40]


class Votes:
    """Request-path state: the secret, the limiters, the known tools, the discard log."""

    def __init__(self, settings: VotesSettings, secret: str, discards: DiscardLog) -> None:
        self.settings = settings
        self.secret = secret
        self.discards = discards
        self.per_voter = RateLimiter(settings.voter_rate_per_s, settings.voter_burst)
        self.per_address = RateLimiter(settings.address_rate_per_s, settings.address_burst)
        self.tools: dict[str, str] = {}
        self.js: JetStreamContext | None = None

    async def connect(self, runtime: Runtime) -> None:
        """The ballot publisher: plain nats-py, the hot path (FastStream's publish costs ~2x)."""
        connection = await nats.connect(
            runtime.settings.nats_url,
            name="verdicts-votes-api",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        self.js = connection.jetstream()
        try:
            await asyncio.Event().wait()  # for the life of the service
        finally:
            self.js = None
            await connection.close()

    async def publisher_ready(self, runtime: Runtime) -> str:
        return "ok" if self.js is not None else "connecting to NATS"

    async def publish(self, event: BallotCast) -> PubAck | None:
        if self.js is None:
            return None
        try:
            return await self.js.publish(
                BallotCast.SUBJECT,
                event.model_dump_json().encode(),
                headers={MSG_ID_HEADER: event.event_id},
                stream=VOTES_STREAM.name,
                timeout=5,
            )
        except Exception:  # NATS away or slow: the client retries with the same nonce
            return None

    async def known(self, runtime: Runtime, slug: str) -> bool:
        if slug not in self.tools:
            category = await store.tool_category(runtime.pool, slug)
            if category is None:
                return False
            self.tools[slug] = category
        return True

    def limit_address(self, request: Request[Any, Any, Any], tool: str | None = None) -> None:
        address = request.client.host if request.client else "unknown"
        wait = self.per_address.hit(address)
        if wait is not None:
            self.discards.add(tool, None, "rate limited", "client address")
            raise _too_many(wait, "too many requests from this address")

    def voter(self, token: str, tool: str | None) -> str:
        try:
            return verify_token(token, self.secret)
        except InvalidVoterToken as exc:
            self.discards.add(tool, None, "bad token", exc.reason)
            raise problem(
                401, "bad-voter-token", "Bad voter token", f"voter_token: {exc.reason}", field="voter_token"
            ) from None

    async def body(self, request: Request[Any, Any, Any], model: type[BaseModel]) -> Any:
        raw = await read_json(request, max_bytes=self.settings.max_body_bytes)
        return validated(model, raw, "Invalid ballot")


def _too_many(wait_s: float, detail: str) -> Exception:
    return problem(
        429,
        "rate-limited",
        "Too many requests",
        detail,
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


def _unknown_tool(slug: str) -> Exception:
    return problem(404, "unknown-tool", "Unknown tool", f"no tool {slug!r} is known to votes", field="tool")


def build_routes(votes: Votes) -> list[HTTPRouteHandler]:
    @post("/v1/voters", status_code=201)
    async def new_voter(request: Request[Any, Any, Any]) -> dict[str, str]:
        """An anonymous voter token: keep it, send it with every vote."""
        votes.limit_address(request)
        token, _ = issue_token(votes.secret)
        return {"voter_token": token}

    async def accept(
        runtime: Runtime, voter: str, tool: str, choice: Choice, nonce: str | None
    ) -> Response[Any]:
        if not await votes.known(runtime, tool):
            votes.discards.add(tool, voter, "unknown tool")
            raise _unknown_tool(tool)
        wait = votes.per_voter.hit(voter)
        if wait is not None:
            votes.discards.add(tool, voter, "rate limited", "voter")
            raise _too_many(wait, "this voter is voting too fast")
        msg_id = ballot_id(voter, tool, nonce or uuid.uuid4().hex)
        event = BallotCast.create(
            event_id=msg_id, tool_slug=tool, choice=choice, voter_id=voter, nonce=nonce or ""
        )
        ack = await votes.publish(event)
        if ack is None:
            raise problem(
                503,
                "bus-unavailable",
                "Try again",
                "the ballot could not be stored; retry with the same nonce",
                headers={"Retry-After": "1"},
            )
        answer = {"ballot_id": msg_id, "tool": tool, "choice": choice.value}
        if ack.duplicate:
            votes.discards.add(tool, voter, "duplicate", "replayed request")
            return Response({"status": "duplicate", **answer}, status_code=200)
        return Response({"status": "accepted", **answer}, status_code=202)

    @post("/v1/votes", request_max_body_size=None)
    async def cast(request: Request[Any, Any, Any]) -> Response[Any]:
        """202 once the ballot is on JetStream; a replayed request answers 200 "duplicate".

        A page's vote buttons (an HTML form, no JavaScript) post form fields instead: the voter
        token then lives in a cookie, and the answer redirects back to the page."""
        runtime: Runtime = request.app.state.runtime
        votes.limit_address(request)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return await cast_from_form(request, runtime)
        ballot: BallotRequest = await votes.body(request, BallotRequest)
        voter = votes.voter(ballot.voter_token, ballot.tool)
        return await accept(runtime, voter, ballot.tool, ballot.choice, ballot.nonce)

    async def cast_from_form(request: Request[Any, Any, Any], runtime: Runtime) -> Response[Any]:
        form = await request.form()
        fields = {k: form.get(k) for k in ("tool", "choice", "return_to") if form.get(k) is not None}
        ballot = validated(FormBallot, fields, "Invalid ballot")
        token = request.cookies.get(VOTER_COOKIE, "")
        try:
            voter = verify_token(token, votes.secret)
        except InvalidVoterToken:
            token, voter = issue_token(votes.secret)
        await accept(runtime, voter, ballot.tool, ballot.choice, None)
        back = Redirect(ballot.return_to, status_code=303)
        back.set_cookie(VOTER_COOKIE, token, max_age=365 * 86400, httponly=True, samesite="lax", path="/")
        return back

    @get("/v1/tools/{slug:str}/votes")
    async def tool_votes(request: Request[Any, Any, Any], slug: FromPath[str]) -> dict[str, Any]:
        found = await store.tool_votes(request.app.state.runtime.pool, slug)
        if found is None:
            raise _unknown_tool(slug)
        tally, integrity = found
        low, high = tally.interval
        return {
            "tool": slug,
            "ship": tally.ship,
            "skip": tally.skip,
            "community_ship_pct": tally.community_ship_pct,
            "interval": {"low": low, "high": high, "confidence": 0.95, "method": "wilson"},
            "provisional": tally.provisional,
            "integrity": {"counted": tally.total, "discarded": integrity},
        }

    @post("/v1/comparisons/{pair:str}/votes", request_max_body_size=None)
    async def head_to_head(request: Request[Any, Any, Any], pair: FromPath[str]) -> dict[str, Any]:
        """A head-to-head vote on "A-vs-B": winner a, b or tie (one per voter per pair, changeable)."""
        runtime: Runtime = request.app.state.runtime
        votes.limit_address(request)
        a, sep, b = pair.partition("-vs-")
        if not sep or not a or not b:
            raise problem(
                404, "bad-pair", "Not a comparison", "the path must be /v1/comparisons/A-vs-B/votes"
            )
        if a == b:
            raise problem(
                422, "same-tool", "Same tool", "a tool cannot be compared with itself", field="pair"
            )
        vote: HeadToHeadRequest = await votes.body(request, HeadToHeadRequest)
        voter = votes.voter(vote.voter_token, None)
        for slug in (a, b):
            if not await votes.known(runtime, slug):
                raise _unknown_tool(slug)
        wait = votes.per_voter.hit(voter)
        if wait is not None:
            raise _too_many(wait, "this voter is voting too fast")
        async with runtime.pool.acquire() as conn:
            await store.record_head_to_head(conn, a, b, voter, vote.winner)
        return {"status": "recorded", "a": a, "b": b, "winner": vote.winner}

    @get("/v1/rankings/{category:str}")
    async def rankings(request: Request[Any, Any, Any], category: FromPath[str]) -> dict[str, Any]:
        """Bradley-Terry ranking of a category from head-to-head votes, with bootstrap 95% intervals."""
        found = await store.ranking(request.app.state.runtime.pool, category)
        if found is None:
            raise problem(404, "unknown-category", "Unknown category", f"no known tool is in {category!r}")
        computed_at, comparisons, items = found
        return {
            "category": category,
            "method": "bradley-terry",
            "computed_at": computed_at.isoformat() if computed_at else None,
            "comparisons": comparisons,
            "items": items,
        }

    return [new_voter, cast, tool_votes, head_to_head, rankings]
