"""The weekly mail's SQL (asyncpg), no decisions: subscribers, the issues mailed and their send log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from verdicts.platform.db import Conn
from verdicts.render.store import SCHEMA


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    nonce: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Recipient:
    subscriber_id: int
    email: str
    nonce: str


async def sign_up(conn: Conn, email: str, nonce: str, resend_after_s: int) -> Subscriber | None:
    """Add a pending address (or find it); the subscriber when a confirmation mail is due now (pending,
    none sent within ``resend_after_s``), marked as sent; ``None`` otherwise."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.subscribers (email, nonce) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        email,
        nonce,
    )
    row = await conn.fetchrow(
        f"UPDATE {SCHEMA}.subscribers SET confirm_sent_at = now() "
        "WHERE lower(email) = lower($1) AND confirmed_at IS NULL "
        "AND (confirm_sent_at IS NULL OR confirm_sent_at <= now() - make_interval(secs => $2)) "
        "RETURNING id, email, nonce",
        email,
        float(resend_after_s),
    )
    return Subscriber(row["id"], row["email"], row["nonce"], False) if row else None


async def confirmation_failed(conn: Conn, subscriber_id: int) -> None:
    """The confirmation mail did not go: the next sign-up may send it again at once."""
    await conn.execute(
        f"UPDATE {SCHEMA}.subscribers SET confirm_sent_at = NULL WHERE id = $1 AND confirmed_at IS NULL",
        subscriber_id,
    )


async def find(conn: Conn, subscriber_id: int, nonce: str) -> Subscriber | None:
    row = await conn.fetchrow(
        f"SELECT id, email, nonce, confirmed_at IS NOT NULL AS confirmed FROM {SCHEMA}.subscribers "
        "WHERE id = $1 AND nonce = $2",
        subscriber_id,
        nonce,
    )
    return Subscriber(row["id"], row["email"], row["nonce"], row["confirmed"]) if row else None


async def confirm(conn: Conn, subscriber_id: int, nonce: str) -> bool:
    """Confirm the subscription; False when no such subscription is (still) there."""
    row = await conn.fetchval(
        f"UPDATE {SCHEMA}.subscribers SET confirmed_at = coalesce(confirmed_at, now()) "
        "WHERE id = $1 AND nonce = $2 RETURNING id",
        subscriber_id,
        nonce,
    )
    return row is not None


async def unsubscribe(conn: Conn, subscriber_id: int, nonce: str) -> bool:
    """Delete the address (and its send log); False when it was gone already."""
    row = await conn.fetchval(
        f"DELETE FROM {SCHEMA}.subscribers WHERE id = $1 AND nonce = $2 RETURNING id", subscriber_id, nonce
    )
    return row is not None


async def forget_unconfirmed(conn: Conn, older_than_s: int) -> int:
    """Delete the addresses never confirmed within ``older_than_s``; how many."""
    result = await conn.execute(
        f"DELETE FROM {SCHEMA}.subscribers WHERE confirmed_at IS NULL "
        "AND created_at < now() - make_interval(secs => $1)",
        float(older_than_s),
    )
    return int(result.split()[-1])


async def counts(conn: Conn) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE confirmed_at IS NOT NULL AND bounced_at IS NULL) AS confirmed, "
        "count(*) FILTER (WHERE confirmed_at IS NULL) AS pending, "
        f"count(*) FILTER (WHERE bounced_at IS NOT NULL) AS bounced FROM {SCHEMA}.subscribers"
    )
    assert row is not None
    return {k: int(row[k]) for k in ("confirmed", "pending", "bounced")}


async def issue_opened(conn: Conn, week: str) -> bool:
    return bool(await conn.fetchval(f"SELECT 1 FROM {SCHEMA}.issues_mailed WHERE week = $1", week))


async def open_issue(conn: Conn, week: str) -> int:
    """Open the week's issue (once) and add to its send log every confirmed subscriber not in it yet
    and not bounced; how many were added."""
    await conn.execute(f"INSERT INTO {SCHEMA}.issues_mailed (week) VALUES ($1) ON CONFLICT DO NOTHING", week)
    result = await conn.execute(
        f"INSERT INTO {SCHEMA}.issue_sends (week, subscriber_id) "
        f"SELECT $1, id FROM {SCHEMA}.subscribers WHERE confirmed_at IS NOT NULL AND bounced_at IS NULL "
        "ORDER BY id ON CONFLICT DO NOTHING",
        week,
    )
    await conn.execute(f"UPDATE {SCHEMA}.issues_mailed SET finished_at = NULL WHERE week = $1", week)
    return int(result.split()[-1])


async def unfinished_issues(conn: Conn) -> list[str]:
    rows = await conn.fetch(
        f"SELECT week FROM {SCHEMA}.issues_mailed WHERE finished_at IS NULL ORDER BY week"
    )
    return [r["week"] for r in rows]


async def due(conn: Conn, week: str, limit: int) -> list[Recipient]:
    """Pending mails of the week whose time has come, oldest subscriber first."""
    rows = await conn.fetch(
        f"SELECT s.subscriber_id, b.email, b.nonce FROM {SCHEMA}.issue_sends s "
        f"JOIN {SCHEMA}.subscribers b ON b.id = s.subscriber_id "
        "WHERE s.week = $1 AND s.state = 'pending' AND s.next_attempt_at <= now() "
        "ORDER BY s.subscriber_id LIMIT $2",
        week,
        limit,
    )
    return [Recipient(r["subscriber_id"], r["email"], r["nonce"]) for r in rows]


async def next_retry(conn: Conn, week: str) -> datetime | None:
    """When the week's next pending mail is due (``None``: none is pending)."""
    value: datetime | None = await conn.fetchval(
        f"SELECT min(next_attempt_at) FROM {SCHEMA}.issue_sends WHERE week = $1 AND state = 'pending'",
        week,
    )
    return value


async def claim(conn: Conn, week: str, subscriber_id: int) -> int | None:
    """The log line written before a mail: 'sending', its attempt number (``None``: another sender
    took it, or the subscriber left)."""
    value: int | None = await conn.fetchval(
        f"UPDATE {SCHEMA}.issue_sends SET state = 'sending', attempts = attempts + 1, started_at = now() "
        "WHERE week = $1 AND subscriber_id = $2 AND state = 'pending' RETURNING attempts",
        week,
        subscriber_id,
    )
    return value


async def sent(conn: Conn, week: str, subscriber_id: int) -> None:
    """The log line written after a mail the server accepted."""
    await conn.execute(
        f"UPDATE {SCHEMA}.issue_sends SET state = 'sent', finished_at = now(), error = NULL "
        "WHERE week = $1 AND subscriber_id = $2",
        week,
        subscriber_id,
    )


async def retry_later(conn: Conn, week: str, subscriber_id: int, delay_s: float, error: str) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.issue_sends SET state = 'pending', error = $3, "
        "next_attempt_at = now() + make_interval(secs => $4) WHERE week = $1 AND subscriber_id = $2",
        week,
        subscriber_id,
        error,
        delay_s,
    )


async def failed(conn: Conn, week: str, subscriber_id: int, error: str, *, bounced: bool) -> None:
    """A mail given up on; ``bounced``: the server refused the address itself (no more issues)."""
    await conn.execute(
        f"UPDATE {SCHEMA}.issue_sends SET state = 'failed', finished_at = now(), error = $3 "
        "WHERE week = $1 AND subscriber_id = $2",
        week,
        subscriber_id,
        error,
    )
    if bounced:
        await conn.execute(
            f"UPDATE {SCHEMA}.subscribers SET bounced_at = now(), bounce = $2 WHERE id = $1",
            subscriber_id,
            error,
        )


async def finish_if_done(conn: Conn, week: str) -> bool:
    """Mark the issue finished when no mail of it is pending; whether it is."""
    result = await conn.execute(
        f"UPDATE {SCHEMA}.issues_mailed SET finished_at = coalesce(finished_at, now()) WHERE week = $1 "
        f"AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.issue_sends WHERE week = $1 AND state = 'pending')",
        week,
    )
    return result.endswith(" 1")


async def issue_log(conn: Conn, week: str) -> dict[str, int]:
    """How many mails of the week are in each state (``sending`` after a stop: in doubt)."""
    rows = await conn.fetch(
        f"SELECT state, count(*) AS n FROM {SCHEMA}.issue_sends WHERE week = $1 GROUP BY state", week
    )
    found = {r["state"]: int(r["n"]) for r in rows}
    return {state: found.get(state, 0) for state in ("pending", "sending", "sent", "failed")}
