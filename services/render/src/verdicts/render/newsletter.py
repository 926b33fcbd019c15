"""The weekly issue by email: SMTP out (``aiosmtplib``), confirmation mails, and the issue sender
with its send log, resumed on start, and its weekly schedule.

Exactly once per subscriber per issue, as far as SMTP allows: the log says 'sending' (committed)
before each mail and 'sent' after the server's 250. A mail is claimed only from 'pending', so two
senders never send the same one, and a sender killed between the two lines leaves 'sending', which
no sender takes again: the resume counts it as in doubt instead of risking a second copy. A
temporary failure (4xx, a dropped connection, a timeout) returns the mail to 'pending' with
exponential backoff, up to ``newsletter_attempts`` tries; a permanent one (5xx) fails that mail only,
and a 5xx for the address itself marks the subscriber bounced (no later issue goes to it). The batch
goes on either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg

from verdicts.platform.backoff import Backoff
from verdicts.platform.service import Runtime
from verdicts.render import newsletter_store as nstore
from verdicts.render.config import RenderSettings, mail_secret, secret_value
from verdicts.render.mail import IssueContent, Mails, issue_content
from verdicts.render.subscription import LinkSigner, due_week, mask, new_nonce, permanent

log = logging.getLogger(__name__)


class Mailer:
    """SMTP sessions with the configured server (host, port, STARTTLS or TLS, credentials)."""

    def __init__(self, settings: RenderSettings) -> None:
        self.settings = settings
        self.password = secret_value(
            settings.smtp_password, settings.smtp_password_file, "VERDICTS_RENDER_SMTP_PASSWORD"
        )

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    async def connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        if not s.smtp_host:
            raise aiosmtplib.SMTPConnectError("no SMTP server configured (VERDICTS_RENDER_SMTP_HOST)")
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=self.password if s.smtp_username else None,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            timeout=s.smtp_timeout_s,
        )
        await smtp.connect()
        return smtp

    async def send(self, message: EmailMessage) -> None:
        """One mail on its own connection (confirmations)."""
        smtp = await self.connect()
        try:
            await smtp.send_message(message)
        finally:
            await close(smtp)


async def close(smtp: aiosmtplib.SMTP | None) -> None:
    if smtp is None:
        return
    with contextlib.suppress(Exception):
        if smtp.is_connected:
            await asyncio.wait_for(smtp.quit(), 5)
    with contextlib.suppress(Exception):
        smtp.close()


def failure_of(exc: BaseException) -> tuple[int | None, bool, str]:
    """``(SMTP code or None, whether the server refused the address itself, a short reason)``;
    the reason names no address."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return first.code, True, f"{first.code} recipient refused"
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return exc.code, True, f"{exc.code} recipient refused"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code, False, f"{exc.code} {type(exc).__name__}"
    return None, False, type(exc).__name__


@dataclass(slots=True)
class Report:
    """What one run of the sender did, and the issue's log after it."""

    week: str
    added: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    log: dict[str, int] = field(default_factory=dict)

    @property
    def in_doubt(self) -> int:
        return self.log.get("sending", 0)


class Newsletter:
    """Subscribers' mail: built in ``create_app`` (no I/O), its secret resolved at start-up."""

    def __init__(self, settings: RenderSettings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.mailer = Mailer(settings)
        self.mails: Mails | None = None
        self.signer: LinkSigner | None = None
        self.backoff = Backoff(first_s=settings.newsletter_retry_s, cap_s=settings.newsletter_retry_cap_s)
        self._tasks: set[asyncio.Task[None]] = set()

    def use_secret(self, secret: str) -> None:
        self.signer = LinkSigner(secret)
        self.mails = Mails(self.base_url, self.settings.mail_from, self.signer, self.settings.confirm_ttl_s)

    def configure(self, home: Path) -> None:
        self.use_secret(mail_secret(self.settings, home))

    def _mails(self) -> Mails:
        if self.mails is None:
            raise RuntimeError("the newsletter's link secret is not set (configure() at start-up)")
        return self.mails

    # -- sign-up and confirmation ------------------------------------------------------------------

    async def sign_up(self, pool: asyncpg.Pool, address: str) -> None:
        """Take a (normalized) address; a confirmation mail goes out in the background when one is
        due. Whatever the address's state, the caller learns nothing more (no enumeration)."""
        async with pool.acquire() as conn:
            due = await nstore.sign_up(conn, address, new_nonce(), self.settings.confirm_every_s)
        if due is None:
            log.info("sign-up: no confirmation mail due", extra={"address": mask(address)})
            return
        task = asyncio.create_task(self._confirm(pool, due), name="render:confirmation-mail")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _confirm(self, pool: asyncpg.Pool, subscriber: nstore.Subscriber) -> None:
        message = self._mails().confirmation(subscriber.id, subscriber.nonce, subscriber.email)
        try:
            await self.mailer.send(message)
        except Exception as exc:
            _, _, reason = failure_of(exc)
            log.warning(
                "confirmation mail not sent", extra={"address": mask(subscriber.email), "error": reason}
            )
            with contextlib.suppress(Exception):
                async with pool.acquire() as conn:
                    await nstore.confirmation_failed(conn, subscriber.id)
            return
        log.info("confirmation mail sent", extra={"address": mask(subscriber.email)})

    async def drain(self) -> None:
        """Wait for the confirmation mails under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the weekly issue ---------------------------------------------------------------------------

    async def send_issue(self, pool: asyncpg.Pool, week: str, *, wait_retries: bool = True) -> Report:
        """Open the week's issue (adding confirmed subscribers not in its log yet) and send every
        pending mail of it; with ``wait_retries``, until none is pending (retries waited out)."""
        report = Report(week)
        async with pool.acquire() as conn, conn.transaction():
            report.added = await nstore.open_issue(conn, week)
        await self.resume(pool, week, report, wait_retries=wait_retries)
        return report

    async def resume(
        self, pool: asyncpg.Pool, week: str, report: Report | None = None, *, wait_retries: bool = True
    ) -> Report:
        """Send the week's pending mails (a stopped sender's work goes on here)."""
        report = report or Report(week)
        async with pool.acquire() as conn:
            content = await issue_content(conn, self.base_url, week)
        while True:
            async with pool.acquire() as conn:
                batch = await nstore.due(conn, week, self.settings.newsletter_batch)
            if batch:
                await self._batch(pool, content, batch, report)
                continue
            async with pool.acquire() as conn:
                next_at = await nstore.next_retry(conn, week)
                if next_at is None:
                    await nstore.finish_if_done(conn, week)
                    report.log = await nstore.issue_log(conn, week)
                    break
            if not wait_retries:
                async with pool.acquire() as conn:
                    report.log = await nstore.issue_log(conn, week)
                break
            await asyncio.sleep(max(0.05, min(60.0, (next_at - datetime.now(UTC)).total_seconds())))
        log.info(
            "weekly issue sent",
            extra={
                "week": week,
                "sent": report.sent,
                "failed": report.failed,
                "retried": report.retried,
                "in_doubt": report.in_doubt,
            },
        )
        return report

    async def _batch(
        self, pool: asyncpg.Pool, content: IssueContent, batch: list[nstore.Recipient], report: Report
    ) -> None:
        """One SMTP connection for the batch; each mail logged before and after."""
        mails = self._mails()
        smtp: aiosmtplib.SMTP | None = None
        try:
            for recipient in batch:
                async with pool.acquire() as conn:
                    attempt = await nstore.claim(conn, content.week, recipient.subscriber_id)
                if attempt is None:
                    continue
                message = mails.issue(content, recipient.subscriber_id, recipient.nonce, recipient.email)
                try:
                    if smtp is None:
                        smtp = await self.mailer.connect()
                    await smtp.send_message(message)
                except Exception as exc:
                    await close(smtp)
                    smtp = None
                    connection_lost = await self._failed(pool, content.week, recipient, attempt, exc, report)
                    if connection_lost:
                        return  # the rest of the batch stays pending: the server is away
                    continue
                async with pool.acquire() as conn:
                    await nstore.sent(conn, content.week, recipient.subscriber_id)
                report.sent += 1
        finally:
            await close(smtp)

    async def _failed(
        self,
        pool: asyncpg.Pool,
        week: str,
        recipient: nstore.Recipient,
        attempt: int,
        exc: Exception,
        report: Report,
    ) -> bool:
        """Log a failed mail; True when it was the connection (not this mail) that failed."""
        code, refused, reason = failure_of(exc)
        extra = {"week": week, "address": mask(recipient.email), "error": reason, "attempt": attempt}
        async with pool.acquire() as conn:
            if permanent(code):
                await nstore.failed(conn, week, recipient.subscriber_id, reason, bounced=refused)
                report.failed += 1
                log.warning("weekly mail refused for good", extra=extra)
            elif attempt >= self.settings.newsletter_attempts:
                await nstore.failed(conn, week, recipient.subscriber_id, reason, bounced=False)
                report.failed += 1
                log.warning("weekly mail given up after its last try", extra=extra)
            else:
                delay = self.backoff.delay(attempt)
                await nstore.retry_later(conn, week, recipient.subscriber_id, delay, reason)
                report.retried += 1
                log.info("weekly mail to be retried", extra=extra | {"delay_s": round(delay, 1)})
        return code is None

    async def resume_unfinished(self, pool: asyncpg.Pool, *, wait_retries: bool = True) -> list[Report]:
        async with pool.acquire() as conn:
            weeks = await nstore.unfinished_issues(conn)
        return [await self.resume(pool, week, wait_retries=wait_retries) for week in weeks]

    async def tick(self, pool: asyncpg.Pool, now: datetime) -> Report | None:
        """One look of the schedule: forget stale sign-ups, send the issue due and not yet opened."""
        async with pool.acquire() as conn:
            forgotten = await nstore.forget_unconfirmed(conn, self.settings.pending_ttl_s)
            if forgotten:
                log.info("unconfirmed addresses deleted", extra={"count": forgotten})
            week = due_week(now, self.settings.newsletter_weekday, self.settings.newsletter_hour)
            if week is None or await nstore.issue_opened(conn, week):
                return None
            if (await issue_content(conn, self.base_url, week)).empty:
                return None
        return await self.send_issue(pool, week, wait_retries=False)


async def run(runtime: Runtime, newsletter: Newsletter) -> None:
    """render's weekly schedule: resume what a stopped sender left, then look every
    ``newsletter_check_s`` for the issue due (and retries that came due)."""
    if not newsletter.mailer.configured:
        log.info("no SMTP server configured (VERDICTS_RENDER_SMTP_HOST): the weekly mail is off")
        return
    while True:
        try:
            await newsletter.resume_unfinished(runtime.pool, wait_retries=False)
            await newsletter.tick(runtime.pool, datetime.now(UTC))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("weekly mail pass failed; it is tried again")
        await asyncio.sleep(newsletter.settings.newsletter_check_s)
