"""`verdicts newsletter send [--week YYYY-Www]`: mail a weekly issue by hand (render's schedule does it
each week). It resumes the week's send log: a mail already sent is never sent again, one a stopped
sender was in the middle of is counted as in doubt and not sent again."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click


@click.group("newsletter")
def newsletter() -> None:
    """The weekly issue by email."""


def _environment() -> None:
    """The running `verdicts up`'s addresses (database, SMTP sink) where the environment gives none."""
    from verdicts.cli.main import settings_or_exit
    from verdicts.cli.status import discover
    from verdicts.platform.settings import platform_settings

    for key, value in discover(settings_or_exit().home).items():
        if key.startswith("VERDICTS_") or key == "DATABASE_URL":
            os.environ.setdefault(key, value)
    platform_settings.cache_clear()


@newsletter.command("send")
@click.option("--week", default=None, help="The ISO week, e.g. 2026-W49 (default: last week).")
@click.option(
    "--wait-retries/--no-wait-retries",
    default=True,
    show_default=True,
    help="Wait out the backoff of mails that failed for now, until none is pending.",
)
def send(week: str | None, wait_retries: bool) -> None:
    """Send the week's issue to every confirmed subscriber who has not had it."""
    from verdicts.cli.main import fail, settings_or_exit
    from verdicts.platform.db import create_pool, migrate
    from verdicts.platform.settings import SettingsError, load_settings
    from verdicts.render import store
    from verdicts.render.config import RenderSettings
    from verdicts.render.newsletter import Newsletter
    from verdicts.render.subscription import check_week, last_week

    try:
        week = check_week(week) if week else last_week(datetime.now(UTC))
    except ValueError as exc:
        fail(str(exc))
        raise
    _environment()
    settings = settings_or_exit()
    dsn = settings.database_url_for(store.SCHEMA)
    if not dsn:
        fail("no database: set VERDICTS_RENDER_DATABASE_URL or DATABASE_URL, or start `verdicts up`")
    try:
        render_settings = load_settings(RenderSettings)
    except SettingsError as exc:
        fail(str(exc))
        raise
    if not render_settings.smtp_host:
        fail("no SMTP server: set VERDICTS_RENDER_SMTP_HOST (`verdicts up` runs a local sink)")
    base_url = settings.site_url or f"http://{settings.host}:{settings.port}"
    mail = Newsletter(render_settings, base_url)
    mail.configure(settings.home)

    async def run() -> None:
        pool = await create_pool(dsn, max_size=2)
        try:
            await migrate(pool, store.SCHEMA, Path(store.__file__).parent / "migrations")
            report = await mail.send_issue(pool, week, wait_retries=wait_retries)
        finally:
            await pool.close()
        log = report.log
        click.echo(
            f"{week}: {report.sent} sent now, {log.get('sent', 0)} sent in all, {log.get('failed', 0)} "
            f"failed, {log.get('pending', 0)} pending, {report.in_doubt} in doubt (a stopped sender was "
            "sending them: not sent again)"
        )

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(130)
