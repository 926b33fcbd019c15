"""votes' background loops: the batched ballot writers (ship/skip and head-to-head), coalesced tallies
out, rankings refitted (and published when they change),
spent proof-of-work challenges pruned.

Ballots arrive a batch at a time (the platform's batched consumer), so one transaction writes a
whole batch. Each message is acked only after its batch committed; a crash in between redelivers
it, and the stream sequence makes it a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from opentelemetry import trace
from pydantic import ValidationError

from verdicts.contracts import BallotCast, HeadToHeadCast
from verdicts.contracts.subjects import VOTES_STREAM
from verdicts.platform import metrics
from verdicts.platform.batches import consume_in_batches
from verdicts.platform.broker import park
from verdicts.platform.db import Conn
from verdicts.platform.service import Runtime
from verdicts.platform.telemetry import current_traceparent, span_from
from verdicts.votes import store
from verdicts.votes.config import VotesSettings
from verdicts.votes.domain.ranking import rank_tools

log = logging.getLogger(__name__)

BALLOT_CONSUMER = "votes-ballots"
HEAD_TO_HEAD_CONSUMER = "votes-head-to-head"
NAME = "votes"

Parse = Callable[[Msg], Any]
Apply = Callable[[Conn, list[Any]], Awaitable[int]]


def _ballot(msg: Msg) -> store.Ballot:
    event = BallotCast.model_validate_json(msg.data)
    return store.Ballot(msg.metadata.sequence.stream, event.tool_slug, event.voter_id, event.choice.value)


def _head_to_head(msg: Msg) -> store.HeadToHead:
    event = HeadToHeadCast.model_validate_json(msg.data)
    if not event.a < event.b:
        raise ValueError(f"pair not in canonical order: {event.a!r}, {event.b!r}")
    return store.HeadToHead(msg.metadata.sequence.stream, event.a, event.b, event.voter_id, event.winner)


async def _apply_ballots(conn: Conn, ballots: list[Any]) -> int:
    return await store.apply_ballots(conn, ballots, current_traceparent())


async def write_ballots(runtime: Runtime, settings: VotesSettings) -> None:
    """Runs for the life of the service; survives NATS and PostgreSQL restarts."""

    async def write(messages: list[Msg]) -> None:
        await _write_batch(runtime, messages, BallotCast.SUBJECT, _ballot, _apply_ballots)

    await consume_in_batches(
        runtime,
        write,
        subject=BallotCast.SUBJECT,
        stream=VOTES_STREAM.name,
        durable=BALLOT_CONSUMER,
        batch_size=settings.batch_size,
    )


async def write_head_to_head(
    runtime: Runtime, settings: VotesSettings, changed: asyncio.Event | None = None
) -> None:
    """Head-to-head ballots, a batch per transaction like ship/skip ballots; each committed batch
    nudges the ranking refit (``changed``)."""

    async def write(messages: list[Msg]) -> None:
        outcomes = await _write_batch(
            runtime, messages, HeadToHeadCast.SUBJECT, _head_to_head, store.apply_head_to_head
        )
        if outcomes["ok"] and changed is not None:
            changed.set()

    await consume_in_batches(
        runtime,
        write,
        subject=HeadToHeadCast.SUBJECT,
        stream=VOTES_STREAM.name,
        durable=HEAD_TO_HEAD_CONSUMER,
        batch_size=settings.batch_size,
    )


async def _write_batch(
    runtime: Runtime, messages: list[Msg], subject: str, parse: Parse, apply: Apply
) -> dict[str, int]:
    """One span per batch, linked to each ballot's trace (the request that cast it)."""
    started = time.perf_counter()
    traceparents = [(m.headers or {}).get("traceparent") for m in messages]
    redelivered = sum(1 for m in messages if (m.metadata.num_delivered or 1) > 1)
    if redelivered:
        metrics.REDELIVERIES.labels(NAME, subject).inc(redelivered)
    with span_from(
        f"{subject} process",
        traceparents,
        child_of_first=False,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.batch.message_count": len(messages)},
    ):
        outcomes = await _write(runtime, messages, parse, apply)
    seconds = time.perf_counter() - started
    for outcome, count in outcomes.items():
        if count:
            metrics.handled(NAME, subject, outcome, seconds, count)
    return outcomes


async def _write(runtime: Runtime, messages: list[Msg], parse: Parse, apply: Apply) -> dict[str, int]:
    """The batch in one transaction; how many messages ended how (``messages_handled`` outcomes)."""
    outcomes = {"ok": 0, "retry": 0, "dead_lettered": 0}
    ballots: list[Any] = []
    good: list[Msg] = []
    for msg in messages:
        try:
            ballots.append(parse(msg))
            good.append(msg)
        except (ValidationError, ValueError) as exc:
            try:
                await park(
                    runtime.broker, msg, reason=f"malformed ballot: {exc}"[:400], deliveries=1, service=NAME
                )
            except Exception as refused:  # DEADLETTER full or away: the ballot comes back later
                log.error("malformed ballot not dead-lettered: %r", refused)
                await msg.nak(delay=5)
                outcomes["retry"] += 1
                continue
            await msg.ack()
            outcomes["dead_lettered"] += 1
    if not ballots:
        return outcomes
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await apply(conn, ballots)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # PostgreSQL away: the batch comes back after a short wait
        log.warning("ballot batch not written: %s: %s", exc.__class__.__name__, exc)
        await asyncio.gather(*(m.nak(delay=1) for m in good), return_exceptions=True)
        await asyncio.sleep(0.5)
        outcomes["retry"] += len(good)
        return outcomes
    await asyncio.gather(*(m.ack() for m in good), return_exceptions=True)
    outcomes["ok"] += len(good)
    return outcomes


async def publish_tallies(runtime: Runtime, settings: VotesSettings) -> None:
    """At most one `votes.tally.updated` per tool per interval, however many ballots arrived; a
    quiet tool's change goes out within a tick."""
    tick = min(0.1, settings.tally_interval_s)
    while True:
        await asyncio.sleep(tick)
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                await store.publish_changed_tallies(conn, settings.tally_interval_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("tally events not published: %s", exc.__class__.__name__)


async def refit_rankings(
    runtime: Runtime, settings: VotesSettings, changed: asyncio.Event | None = None
) -> None:
    """Bradley-Terry per category, off the event loop: soon after head-to-head ballots were written
    (``changed``, at most once per ranking_spacing_s), else every ranking_interval_s."""
    while True:
        if changed is not None:
            changed.clear()
        try:
            await refit_once(runtime, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ranking refit failed")
        if changed is None:
            await asyncio.sleep(settings.ranking_interval_s)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), settings.ranking_interval_s)
        await asyncio.sleep(settings.ranking_spacing_s)


async def refit_once(runtime: Runtime, settings: VotesSettings) -> int:
    """Refit every category; a ranking that changed goes out as `votes.ranking.updated` (through
    the outbox, in the transaction that stores it). Returns how many changed."""
    changed = 0
    for category, comparisons in (await store.comparisons_by_category(runtime.pool)).items():
        ranked = await asyncio.to_thread(rank_tools, comparisons, rounds=settings.bootstrap_rounds)
        provisional = len(comparisons) < settings.ranking_min_comparisons
        async with runtime.pool.acquire() as conn, conn.transaction():
            changed += await store.save_ranking(conn, category, len(comparisons), ranked, provisional)
    return changed


SPENT_GRACE_S = 300.0  # spent challenges are kept this long past their expiry: replicas' clocks differ


async def prune_spent_challenges(runtime: Runtime, interval_s: float = 60.0) -> None:
    """Forget proof-of-work challenges that have expired (they cannot be replayed any more)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await store.prune_spent_challenges(runtime.pool, SPENT_GRACE_S)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pruning spent challenges failed; retrying")
