"""`verdicts deadletters` and `verdicts outbox`: what the bus and the outboxes could not deliver."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

T = TypeVar("T")


def _urls() -> dict[str, str]:
    from verdicts.cli.main import settings_or_exit
    from verdicts.cli.status import discover

    return discover(settings_or_exit().home)


def _nats_url() -> str:
    url = _urls().get("VERDICTS_NATS_URL", "")
    if not url:
        click.echo("verdicts: VERDICTS_NATS_URL unset and no running `verdicts up`", err=True)
        sys.exit(2)
    return url


def _with_jetstream(action: Callable[[Any], Awaitable[T]]) -> T:
    from verdicts.platform import deadletters

    async def run() -> T:
        async with deadletters.jetstream(_nats_url()) as js:
            return await action(js)

    try:
        return asyncio.run(run())
    except deadletters.UnknownDeadLetter as exc:
        click.echo(f"verdicts: no dead letter {exc.args[0]}", err=True)
        sys.exit(1)
    except Exception as exc:
        click.echo(f"verdicts: NATS refused: {exc.__class__.__name__}: {exc}", err=True)
        sys.exit(2)


def _line(letter: Any) -> str:
    r = letter.record
    stored = letter.stored_at.isoformat(timespec="seconds") if letter.stored_at else "?"
    return f"{letter.id:>6}  {stored}  {r.subject}  ({r.consumer}, {r.deliveries}x)  {r.reason[:120]}"


@click.group("deadletters")
def deadletters() -> None:
    """Messages that used up their deliveries: kept until replayed or dropped."""


@deadletters.command("list")
@click.option("--after", default=0, show_default=True, type=click.IntRange(0), help="Only ids above this.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def list_(after: int, limit: int) -> None:
    """Dead letters, oldest first: id, when, subject, consumer, reason."""
    from verdicts.platform import deadletters as dl

    async def action(js: Any) -> tuple[int, list[Any]]:
        return await dl.count(js), await dl.list_dead_letters(js, after=after, limit=limit)

    total, letters = _with_jetstream(action)
    for letter in letters:
        click.echo(_line(letter))
    click.echo(f"{total} dead letter(s)")


@deadletters.command("show")
@click.argument("letter_id", type=click.IntRange(1))
def show(letter_id: int) -> None:
    """One dead letter as JSON, its original body included."""
    from verdicts.platform import deadletters as dl

    letter = _with_jetstream(lambda js: dl.get(js, letter_id))
    stored = letter.stored_at.isoformat() if letter.stored_at else None
    click.echo(json.dumps({"id": letter.id, "stored_at": stored, **letter.record.model_dump()}, indent=2))


@deadletters.command("replay")
@click.argument("letter_id", required=False, type=click.IntRange(1))
@click.option("--all", "everything", is_flag=True, help="Replay every dead letter, oldest first.")
def replay(letter_id: int | None, everything: bool) -> None:
    """Publish a dead letter's original again on its subject, then forget it."""
    from verdicts.platform import deadletters as dl

    if (letter_id is None) == (not everything):
        click.echo("verdicts: give one ID or --all", err=True)
        sys.exit(2)
    if everything:
        done = _with_jetstream(dl.replay_all)
        click.echo(f"replayed {len(done)} dead letter(s)")
        return
    assert letter_id is not None
    letter = _with_jetstream(lambda js: dl.replay(js, letter_id))
    click.echo(f"replayed {letter.id} on {letter.record.subject}")


@deadletters.command("drop")
@click.argument("letter_id", type=click.IntRange(1))
def drop(letter_id: int) -> None:
    """Forget a dead letter without replaying it."""
    from verdicts.platform import deadletters as dl

    _with_jetstream(lambda js: dl.drop(js, letter_id))
    click.echo(f"dropped {letter_id}")


@click.group("outbox")
def outbox() -> None:
    """Service outboxes: events written with their change, waiting to be published."""


@outbox.command("retry")
@click.option("--schema", "schemas", multiple=True, help="Only this service schema (repeatable).")
def retry(schemas: tuple[str, ...]) -> None:
    """Release parked outbox rows: the relay tries them again."""
    import asyncpg

    from verdicts.cli.registry import SERVICE_MODULES, schema_of
    from verdicts.platform.outbox import release_parked

    urls = _urls()
    chosen = list(schemas) or [schema_of(name) for name in SERVICE_MODULES]

    async def release(schema: str) -> int | None:
        """With the schema's own role (``VERDICTS_<SCHEMA>_DATABASE_URL``), else ``DATABASE_URL``."""
        url = urls.get(f"VERDICTS_{schema.upper()}_DATABASE_URL") or urls.get("DATABASE_URL", "")
        if not url:
            return None
        conn = await asyncpg.connect(url, timeout=5)
        try:
            if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.outbox"):
                return None
            return await release_parked(conn, schema)
        finally:
            await conn.close()

    async def run() -> dict[str, int | None]:
        return {schema: await release(schema) for schema in chosen}

    try:
        released = asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as exc:
        click.echo(f"verdicts: PostgreSQL refused: {exc.__class__.__name__}", err=True)
        sys.exit(2)
    for schema, count in released.items():
        click.echo(f"{schema}: released {count}" if count is not None else f"{schema}: no outbox or no URL")
