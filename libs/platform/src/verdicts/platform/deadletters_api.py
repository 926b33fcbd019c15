"""``/v1/admin/deadletters``: dead letters listed, shown, replayed and dropped with an admin key.

Served by every process; it talks to NATS on ``VERDICTS_NATS_URL`` (the operator's user), like
``verdicts deadletters``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody, Parameter
from pydantic import BaseModel, ConfigDict

from verdicts.platform import deadletters
from verdicts.platform.access.guards import requires
from verdicts.platform.access.keys import Scope
from verdicts.platform.bus_errors import bus_problem
from verdicts.platform.http import problem
from verdicts.platform.openapi import problem_responses

NO_STORE = CacheControlHeader(no_store=True)


class DeadLetterView(BaseModel):
    id: int
    stored_at: dt.datetime | None
    subject: str
    consumer: str
    reason: str
    deliveries: int
    original_msg_id: str | None
    payload: str


class DeadLetterList(BaseModel):
    total: int
    items: list[DeadLetterView]


class ReplayRequest(BaseModel):
    """A replay takes no options: send nothing, or ``{}``."""

    model_config = ConfigDict(extra="forbid")


class Replayed(BaseModel):
    replayed: list[int]


def view(letter: deadletters.DeadLetter) -> DeadLetterView:
    r = letter.record
    return DeadLetterView(
        id=letter.id,
        stored_at=letter.stored_at,
        subject=r.subject,
        consumer=r.consumer,
        reason=r.reason,
        deliveries=r.deliveries,
        original_msg_id=r.original_msg_id,
        payload=r.payload,
    )


def _nats_url(request: Request[Any, Any, Any]) -> str:
    return str(request.app.state.runtime.settings.nats_url)


def _id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise unknown(text)
    return int(text)


def unknown(text: object) -> Exception:
    return problem(404, "unknown-dead-letter", "Unknown dead letter", f"no dead letter {text}")


class DeadLetterController(Controller):
    path = "/v1/admin/deadletters"
    tags = ["admin"]
    guards = [requires(Scope.ADMIN)]

    @get("/", cache_control=NO_STORE, responses=problem_responses(503))
    async def list_letters(
        self,
        request: Request[Any, Any, Any],
        after: int = Parameter(default=0, ge=0, description="Only ids above this"),
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> DeadLetterList:
        """Dead letters, oldest first: the original subject, body and why it was parked."""
        try:
            async with deadletters.jetstream(_nats_url(request)) as js:
                total = await deadletters.count(js)
                letters = await deadletters.list_dead_letters(js, after=after, limit=limit)
        except Exception as exc:
            raise bus_problem(exc, "dead letters could not be read") from None
        return DeadLetterList(total=total, items=[view(x) for x in letters])

    @get("/{letter:str}", cache_control=NO_STORE, responses=problem_responses(404, 503))
    async def show(self, request: Request[Any, Any, Any], letter: FromPath[str]) -> DeadLetterView:
        """One dead letter."""
        seq = _id(letter)
        try:
            async with deadletters.jetstream(_nats_url(request)) as js:
                return view(await deadletters.get(js, seq))
        except deadletters.UnknownDeadLetter:
            raise unknown(seq) from None
        except Exception as exc:
            raise bus_problem(exc, "dead letters could not be read") from None

    @post("/{letter:str}/replay", status_code=200, responses=problem_responses(404, 503))
    async def replay(
        self,
        request: Request[Any, Any, Any],
        letter: FromPath[str],
        data: JSONBody[ReplayRequest | None] = None,
    ) -> Replayed:
        """Publish the original again on its subject, then forget the dead letter."""
        seq = _id(letter)
        try:
            async with deadletters.jetstream(_nats_url(request)) as js:
                await deadletters.replay(js, seq)
        except deadletters.UnknownDeadLetter:
            raise unknown(seq) from None
        except Exception as exc:
            raise bus_problem(exc, f"dead letter {seq} is kept; replay it again later") from None
        return Replayed(replayed=[seq])

    @post("/replay", status_code=200, responses=problem_responses(503))
    async def replay_all(
        self, request: Request[Any, Any, Any], data: JSONBody[ReplayRequest | None] = None
    ) -> Replayed:
        """Replay every dead letter, oldest first (stops at the first refused publish)."""
        try:
            async with deadletters.jetstream(_nats_url(request)) as js:
                done = await deadletters.replay_all(js)
        except Exception as exc:
            raise bus_problem(exc, "the dead letters not replayed are kept") from None
        return Replayed(replayed=[x.id for x in done])

    @delete("/{letter:str}", responses=problem_responses(404, 503))
    async def drop(self, request: Request[Any, Any, Any], letter: FromPath[str]) -> None:
        """Forget a dead letter without replaying it."""
        seq = _id(letter)
        try:
            async with deadletters.jetstream(_nats_url(request)) as js:
                await deadletters.drop(js, seq)
        except deadletters.UnknownDeadLetter:
            raise unknown(seq) from None
        except Exception as exc:
            raise bus_problem(exc, f"dead letter {seq} is kept") from None
