"""The weekly issue by email, against a real SMTP server the test starts (aiosmtpd) and the real
NATS and PostgreSQL: the form on a page, the confirmation mail and its link, the issue reaching only
confirmed subscribers with one-click unsubscribe, unsubscribing, bad input, a bounce, and a sender
killed half way that resumes without sending any mail twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from itsdangerous import TimestampSigner

from verdicts.contracts import Pricing, Tool, ToolAnnounced
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.embedded.smtp import EmbeddedSmtp
from verdicts.platform.service import build_app
from verdicts.platform.testing.plugin import eventually, served
from verdicts.render.app import create_app as render_app
from verdicts.render.domain import iso_week
from verdicts.render.subscription import LinkSigner

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOUNCE = "bounce@example.com"
LATER = "later@example.com"  # refused for now (451) twice, then taken
LINK = re.compile(r"https?://\S+/v1/subscribers/(?:confirm|unsubscribe)/[A-Za-z0-9_.-]+")


def tool(slug: str, name: str) -> Tool:
    return Tool(
        slug=slug,
        name=name,
        vendor="Vendor",
        category="Developer Tools",
        tagline=f"{name} does things",
        description=f"{name} is a tool for testing mail.",
        pricing=Pricing(model="free", entry="Free"),
        homepage="https://example.com",
    )


@pytest.fixture(scope="module")
def sink(tmp_path_factory):
    with EmbeddedSmtp(tmp_path_factory.mktemp("mail"), refuse={BOUNCE}, defer={LATER: 2}) as server:
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
async def site(settings, bus, sink, home, monkeypatch_module, tmp_path_factory):
    for key, value in sink.environment().items():
        monkeypatch_module.setenv(key, value)
    monkeypatch_module.setenv("VERDICTS_RENDER_SITE_DIR", str(tmp_path_factory.mktemp("site")))
    monkeypatch_module.setenv("VERDICTS_RENDER_INTERVAL_S", "0.3")
    monkeypatch_module.setenv("VERDICTS_RENDER_NEWSLETTER_CHECK_S", "3600")
    monkeypatch_module.setenv("VERDICTS_RENDER_SUBSCRIBE_BURST", "1000")
    app_settings = settings.model_copy(update={"home": home})
    async with (
        served(build_app([render_app(app_settings)], app_settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await bus(
            ToolAnnounced.create(tool=tool("mail-alpha", "Mail Alpha"), version=1, content_hash="a"),
            ToolAnnounced.create(tool=tool("mail-beta", "Mail Beta"), version=1, content_hash="b"),
        )
        await eventually(lambda: _published(client, "/tools/mail-alpha/"), within=30, interval=0.2)
        yield client


async def _published(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200


def mails_to(sink: EmbeddedSmtp, address: str, subject: str = "") -> list:
    return [m for m in sink.mails() if m["To"] == address and subject in str(m["Subject"])]


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message, kind: str) -> str:
    """The path of the mail's confirm or unsubscribe link (the site URL's host is not this server)."""
    found = [u for u in LINK.findall(text_of(message)) if f"/{kind}/" in u]
    assert found, f"no {kind} link in the mail"
    return urlsplit(found[0]).path


async def subscribe_with_form(site: httpx.AsyncClient, page: str, address: str) -> httpx.Response:
    """What a browser does with the box at the foot of ``page``: its own form, its own fields."""
    html = (await site.get(page)).text
    form = re.search(r'<form class="subscribe" method="post" action="([^"]+)">(.*?)</form>', html, re.S)
    assert form, "no subscribe form on the page"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)))
    assert 'name="email"' in form.group(2)
    return await site.post(
        form.group(1),
        data={**fields, "email": address},
        headers={"Origin": str(site.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"},
    )


async def confirm(site: httpx.AsyncClient, sink: EmbeddedSmtp, address: str) -> None:
    message = await eventually(lambda: mails_to(sink, address, "Confirm"), within=10)
    path = link_in(message[-1], "confirm")
    page = await site.get(path)
    assert page.status_code == 200
    assert f'action="{path}"' in page.text
    done = await site.post(path, data={})
    assert done.status_code == 303
    assert done.headers["location"] == "/newsletter/?status=confirmed"


async def send_issue(env: dict[str, str], week: str) -> tuple[int, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from verdicts.cli.main import main; main()", "newsletter", "send",
        "--week", week, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(child.communicate(), 120)
    return child.returncode or 0, out.decode()


@pytest.fixture(scope="module")
def sender_env(settings, service_database_urls, sink, home) -> dict[str, str]:
    """What `verdicts newsletter send` runs with: render's database role, the SMTP server, the home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICTS_") and k != "DATABASE_URL"}
    return (
        env
        | sink.environment()
        | {
            "VERDICTS_RENDER_DATABASE_URL": service_database_urls["render"],
            "VERDICTS_HOME": str(home),
            "VERDICTS_LOG_JSON": "false",
        }
    )


async def test_the_schedule_mails_last_week_once_after_its_send_time(site, service_database_urls, home):
    """render's own schedule (``tick``), at moments of next week: before the send hour nothing; after
    it, this week's issue (now last week's) is opened once; a week with nothing in it is skipped."""
    import asyncpg

    from verdicts.platform.settings import load_settings
    from verdicts.render.config import RenderSettings
    from verdicts.render.domain import week_bounds
    from verdicts.render.newsletter import Newsletter

    mail = Newsletter(load_settings(RenderSettings), "https://verdicts.example")
    mail.configure(home)
    this_week = iso_week(datetime.now(UTC))
    _, next_monday = week_bounds(this_week)
    pool = await asyncpg.create_pool(service_database_urls["render"], min_size=1, max_size=2)
    try:
        assert await mail.tick(pool, next_monday.replace(hour=8)) is None
        report = await mail.tick(pool, next_monday.replace(hour=10))
        assert report is not None
        assert report.week == this_week
        assert await mail.tick(pool, next_monday.replace(hour=11)) is None  # opened once
        empty_week_after = next_monday + (next_monday - week_bounds(this_week)[0]) + timedelta(hours=10)
        assert await mail.tick(pool, empty_week_after) is None
        async with pool.acquire() as conn:
            opened = await conn.fetch("SELECT week FROM render.issues_mailed ORDER BY week")
        assert [r["week"] for r in opened] == [this_week]
    finally:
        await pool.close()


async def test_a_reader_subscribes_on_a_page_confirms_and_receives_the_weekly_issue(
    site, sink, sender_env, db, database_url
):
    answer = await subscribe_with_form(site, "/tools/mail-alpha/", "Reader@Example.com")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/newsletter/?status=check-inbox&return_to=/tools/mail-alpha/"
    shown = await site.get(answer.headers["location"])
    assert shown.status_code == 200
    assert 'data-status="check-inbox"' in shown.text
    assert 'href="/tools/mail-alpha/"' in shown.text  # back where the reader was

    await confirm(site, sink, "Reader@example.com")
    # Another reader signs up and never confirms; a third confirms, then leaves.
    for address in ("pending@example.com", "leaver@example.com"):
        assert (await site.post("/v1/subscribers", json={"email": address})).status_code == 202
    await confirm(site, sink, "leaver@example.com")

    week = iso_week(datetime.now(UTC))
    code, out = await send_issue(sender_env, week)
    assert code == 0, out
    issues = [m for m in sink.mails() if str(m["Subject"]) == f"Weekly AI Tool Verdicts, {week}"]
    assert sorted(m["To"] for m in issues) == ["Reader@example.com", "leaver@example.com"]
    for issue in issues:
        assert issue.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in issue.iter_parts()] == ["text/plain", "text/html"]
        assert issue["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert issue["List-Unsubscribe"].startswith("<http")
        assert "/v1/subscribers/unsubscribe/" in issue["List-Unsubscribe"]
        assert "Mail Alpha" in text_of(issue)
        assert "Mail Beta" in text_of(issue)
        assert "/tools/mail-alpha/" in issue.get_body(preferencelist=("html",)).get_content()

    # One-click unsubscribe (RFC 8058): the mail client POSTs the header's URL; the address is deleted.
    leaver = next(m for m in issues if m["To"] == "leaver@example.com")
    one_click = urlsplit(leaver["List-Unsubscribe"].strip("<>")).path
    gone = await site.post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert gone.status_code == 200
    assert 'data-status="unsubscribed"' in gone.text
    assert (
        await db.fetchval("SELECT count(*) FROM render.subscribers WHERE email = 'leaver@example.com'") == 0
    )
    again = await site.post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200  # already gone: the same answer
    # The visible link shows a page with the button.
    page = await site.get(link_in(next(m for m in issues if m["To"] == "Reader@example.com"), "unsubscribe"))
    assert page.status_code == 200
    assert 'data-status="unsubscribe"' in page.text

    # Sending the week again sends nobody a second copy.
    before = len(sink.mails())
    code, out = await send_issue(sender_env, week)
    assert code == 0, out
    assert len(sink.mails()) == before

    admin = {"Authorization": f"Bearer {await grant(database_url, Scope.ADMIN, name='mail-admin')}"}
    counts = await site.get("/v1/admin/subscribers", headers=admin)
    assert counts.status_code == 200
    assert counts.json() == {"confirmed": 1, "pending": 1, "bounced": 0}
    assert "example.com" not in counts.text
    assert (await site.get("/v1/admin/subscribers")).status_code == 401


async def test_sign_ups_answer_alike_and_send_one_confirmation_an_hour(site, sink):
    answers = [await site.post("/v1/subscribers", json={"email": "twice@example.com"}) for _ in range(3)]
    assert {(a.status_code, a.text) for a in answers} == {(202, '{"status":"check-inbox"}')}
    await eventually(lambda: mails_to(sink, "twice@example.com", "Confirm"), within=10)
    await asyncio.sleep(0.5)
    assert len(mails_to(sink, "twice@example.com", "Confirm")) == 1
    confirmed = await site.post("/v1/subscribers", json={"email": "Reader@example.com"})
    assert (confirmed.status_code, confirmed.text) == (202, answers[0].text)  # no enumeration


@pytest.mark.parametrize(
    "bad",
    [
        "not-an-address",
        "reader@example.com\r\nBcc: victim@example.com",
        "reader@example.com\nSubject: hi",
        "a" * 300 + "@example.com",
        "x" * 5000,
        "",
    ],
)
async def test_bad_addresses_are_refused(site, sink, bad):
    before = len(sink.mails())
    answer = await site.post("/v1/subscribers", json={"email": bad})
    assert answer.status_code in (400, 413, 422)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "victim" not in answer.text
    form = await site.post(
        "/v1/subscribers/form", data={"email": bad[:320]}, headers={"Origin": str(site.base_url).rstrip("/")}
    )
    assert form.status_code in (303, 400)
    if form.status_code == 303:
        assert "status=invalid-address" in form.headers["location"]
    await asyncio.sleep(0.2)
    assert len(sink.mails()) == before


async def test_a_form_from_another_site_is_refused(site):
    answer = await site.post(
        "/v1/subscribers/form", data={"email": "x@example.com"}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "foreign-origin"


async def test_forged_tampered_and_expired_links_do_nothing(site, home, db, monkeypatch):
    row = await db.fetchrow("SELECT id, nonce FROM render.subscribers WHERE email = 'pending@example.com'")
    signer = LinkSigner((home / "render-mail-secret").read_text().strip())
    good = signer.sign("confirm", row["id"], row["nonce"])
    tampered = good[:-3] + ("xyz" if not good.endswith("xyz") else "abc")
    forged = LinkSigner("f" * 48).sign("confirm", row["id"], row["nonce"])
    wrong_nonce = signer.sign("confirm", row["id"], "not-the-nonce")
    for token in (tampered, forged, "garbage", "a" * 400):
        assert (await site.get(f"/v1/subscribers/confirm/{token}")).status_code == 404
        answer = await site.post(f"/v1/subscribers/confirm/{token}", data={})
        assert answer.headers["location"] == "/newsletter/?status=invalid-link"
        assert (await site.post(f"/v1/subscribers/unsubscribe/{token}", data={})).status_code == 404
    answer = await site.post(f"/v1/subscribers/confirm/{wrong_nonce}", data={})
    assert answer.headers["location"] == "/newsletter/?status=invalid-link"
    # A confirmation link does not unsubscribe, and an unsubscribe link does not confirm.
    assert (await site.post(f"/v1/subscribers/unsubscribe/{good}", data={})).status_code == 404
    unsubscribe = signer.sign("unsubscribe", row["id"], row["nonce"])
    assert (
        (await site.post(f"/v1/subscribers/confirm/{unsubscribe}", data={}))
        .headers["location"]
        .endswith("invalid-link")
    )
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 10 * 86_400)
        expired = signer.sign("confirm", row["id"], row["nonce"])
    assert (await site.get(f"/v1/subscribers/confirm/{expired}")).status_code == 410
    answer = await site.post(f"/v1/subscribers/confirm/{expired}", data={})
    assert answer.headers["location"] == "/newsletter/?status=expired-link"
    still = await db.fetchval("SELECT confirmed_at FROM render.subscribers WHERE id = $1", row["id"])
    assert still is None


async def test_a_permanent_failure_marks_one_address_and_the_batch_goes_on(site, sink, sender_env, db):
    await db.execute(
        "INSERT INTO render.subscribers (email, nonce, confirmed_at) VALUES ($1, 'n-bounce', now()), "
        "('after-bounce@example.com', 'n-after', now())",
        BOUNCE,
    )
    code, out = await send_issue(sender_env | {"VERDICTS_RENDER_NEWSLETTER_BATCH": "2"}, "2020-W10")
    assert code == 0, out
    states = dict(
        await db.fetch(
            "SELECT b.email, s.state FROM render.issue_sends s "
            "JOIN render.subscribers b ON b.id = s.subscriber_id "
            "WHERE s.week = '2020-W10'"
        )
    )
    assert states[BOUNCE] == "failed"
    assert states["after-bounce@example.com"] == "sent"
    assert await db.fetchval("SELECT bounced_at IS NOT NULL FROM render.subscribers WHERE email = $1", BOUNCE)
    assert mails_to(sink, "after-bounce@example.com", "2020-W10")
    code, out = await send_issue(sender_env, "2020-W11")  # a bounced address gets no later issue
    assert code == 0, out
    assert (
        await db.fetchval(
            "SELECT count(*) FROM render.issue_sends s JOIN render.subscribers b ON b.id = s.subscriber_id "
            "WHERE s.week = '2020-W11' AND b.email = $1",
            BOUNCE,
        )
        == 0
    )


async def test_a_sender_killed_half_way_resumes_without_sending_any_mail_twice(
    site, sender_env, db, tmp_path
):
    await db.execute(
        "INSERT INTO render.subscribers (email, nonce, confirmed_at) "
        "SELECT 'reader' || i || '@example.org', 'n' || i, now() FROM generate_series(1, 12) i"
    )
    expected = {
        r["email"]
        for r in await db.fetch(
            "SELECT email FROM render.subscribers WHERE confirmed_at IS NOT NULL AND bounced_at IS NULL"
        )
    }
    week = "2020-W20"
    with EmbeddedSmtp(tmp_path / "slow", delay_s=0.6) as slow:
        env = sender_env | slow.environment() | {"VERDICTS_RENDER_NEWSLETTER_BATCH": "5"}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from verdicts.cli.main import main; main()", "newsletter", "send",
            "--week", week, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        # Killed while the server holds its answer to the fourth mail (kept, not yet acknowledged).
        await eventually(lambda: len(slow.mails()) >= 4, within=60, interval=0.02)
        child.send_signal(signal.SIGKILL)
        await child.wait()
        assert len(slow.mails()) < len(expected), "the sender finished before it was killed"
        log = dict(
            await db.fetch(
                "SELECT state, count(*) FROM render.issue_sends WHERE week = $1 GROUP BY state", week
            )
        )
        assert log.get("sending") == 1
        assert log.get("pending", 0) > 0

        code, out = await send_issue(env, week)
        assert code == 0, out
        assert "1 in doubt" in out
        received = Counter(m["To"] for m in slow.mails())
        in_doubt = {
            r["email"]
            for r in await db.fetch(
                "SELECT b.email FROM render.issue_sends s "
                "JOIN render.subscribers b ON b.id = s.subscriber_id "
                "WHERE s.week = $1 AND s.state = 'sending'",
                week,
            )
        }
    assert set(received.values()) == {1}, f"mails sent twice: {[a for a, n in received.items() if n > 1]}"
    # The mail the sender was killed on is in doubt and never sent again. Killed while the server held
    # its answer (the usual case here), it was delivered: everyone has exactly one mail. Killed before
    # the server kept it, that one reader misses this issue: at most once, never twice.
    assert len(in_doubt) == 1
    assert set(received) | in_doubt == expected


async def test_a_temporary_failure_is_retried_with_backoff(site, sink, sender_env, db):
    await db.execute(
        "INSERT INTO render.subscribers (email, nonce, confirmed_at) VALUES ($1, 'n-later', now())", LATER
    )
    code, out = await send_issue(sender_env | {"VERDICTS_RENDER_NEWSLETTER_RETRY_S": "0.2"}, "2020-W12")
    assert code == 0, out
    row = await db.fetchrow(
        "SELECT s.state, s.attempts FROM render.issue_sends s JOIN render.subscribers b "
        "ON b.id = s.subscriber_id WHERE s.week = '2020-W12' AND b.email = $1",
        LATER,
    )
    assert (row["state"], row["attempts"]) == ("sent", 3)
    assert len(mails_to(sink, LATER, "2020-W12")) == 1
