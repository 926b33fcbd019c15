"""The weekly mail's rules without servers: addresses (header injection, length), masking, signed
links (forged, tampered, expired, the other purpose), the schedule, SMTP replies, and the mails built."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from verdicts.render.mail import IssueContent, Mails
from verdicts.render.newsletter import failure_of
from verdicts.render.subscription import (
    BadAddress,
    BadLink,
    LinkSigner,
    check_week,
    due_week,
    mask,
    normalize_address,
    permanent,
)

pytestmark = pytest.mark.unit

SECRET = "s" * 40


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("reader@example.com", "reader@example.com"),
        ("  Reader@Example.COM ", "Reader@example.com"),
        ("a.b+weekly@sub.example.org", "a.b+weekly@sub.example.org"),
    ],
)
def test_addresses_are_normalized(given, stored):
    assert normalize_address(given) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-an-address",
        "reader@",
        "@example.com",
        "reader@example.com\r\nBcc: victim@example.com",
        "reader@example.com\nBcc: victim@example.com",
        "reader\r@example.com",
        "reader@example.com\x00",
        "reader@exa\u2028mple.com",
        "a" * 250 + "@example.com",
        "reader@" + "a" * 250 + ".com",
        "reader@example.com, other@example.com",
        "Reader <reader@example.com>",
    ],
)
def test_bad_addresses_are_refused_without_echoing_them(bad):
    with pytest.raises(BadAddress) as refused:
        normalize_address(bad)
    assert "victim" not in refused.value.reason
    assert "reader" not in refused.value.reason


def test_logs_see_a_masked_address():
    assert mask("jane.doe@example.com") == "j***@example.com"
    assert "jane" not in mask("jane@example.com")


def test_links_round_trip_and_refuse_forged_tampered_expired_and_cross_purpose_tokens():
    signer = LinkSigner(SECRET)
    token = signer.sign("confirm", 42, "nonce-1")
    assert signer.read("confirm", token, 3600) == (42, "nonce-1")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "garbage", "", "x" * 500, LinkSigner("o" * 40).sign("confirm", 42, "nonce-1")):
        with pytest.raises(BadLink) as refused:
            signer.read("confirm", bad, 3600)
        assert refused.value.reason == "invalid"
    with pytest.raises(BadLink) as refused:
        signer.read("unsubscribe", token)  # a confirmation link does not unsubscribe
    assert refused.value.reason == "invalid"
    with pytest.raises(BadLink) as refused:
        signer.read("confirm", token, max_age_s=-1)
    assert refused.value.reason == "expired"


def test_the_issue_is_due_after_its_send_time_and_weeks_are_checked():
    monday_early = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 2026-W50, Monday
    assert due_week(monday_early, 1, 9) is None
    assert due_week(monday_early.replace(hour=9), 1, 9) == "2026-W49"
    assert due_week(datetime(2026, 12, 10, tzinfo=UTC), 1, 9) == "2026-W49"
    assert check_week("2026-W49") == "2026-W49"
    for bad in ("2026-49", "2026-W54", "2026-W00", "W49", "2026-W4"):
        with pytest.raises(ValueError, match=r"."):
            check_week(bad)


def test_5xx_is_permanent_and_the_rest_temporary():
    import aiosmtplib

    assert permanent(550)
    assert permanent(554)
    assert not permanent(451)
    assert not permanent(None)
    assert not permanent(250)
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@example.com")]
    )
    code, bounced, reason = failure_of(refused)
    assert (code, bounced) == (550, True)
    assert "x@example.com" not in reason
    assert failure_of(aiosmtplib.SMTPServerDisconnected("gone"))[0] is None


def test_every_mail_is_multipart_with_one_click_unsubscribe():
    mails = Mails("https://verdicts.example", "", LinkSigner(SECRET), 172_800)
    content = IssueContent(
        "2026-W49",
        "https://verdicts.example/weekly/2026-W49/",
        tools=[
            {
                "name": "<b>Alpha</b>",
                "category": "Developer Tools",
                "verdict": "ship",
                "ship_pct": 75.0,
                "url": "https://verdicts.example/tools/alpha/",
                "comparisons": [("Alpha vs Beta", "https://verdicts.example/compare/alpha-vs-beta/")],
            }
        ],
    )
    for message in (
        mails.issue(content, 7, "n7", "reader@example.com"),
        mails.confirmation(7, "n7", "reader@example.com"),
    ):
        parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
        assert parsed.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
        unsubscribe = parsed["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://verdicts.example/v1/subscribers/unsubscribe/")
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = unsubscribe.strip("<>")
        for part in parsed.iter_parts():
            assert link in part.get_content()  # the visible link too
        assert parsed["From"] == "Weekly AI Tool Verdicts <weekly@verdicts.example>"
    issue = email.message_from_bytes(
        bytes(mails.issue(content, 7, "n7", "r@example.com")), policy=email.policy.default
    )
    text, html = (p.get_content() for p in issue.iter_parts())
    assert "<b>Alpha</b>" in text
    assert "&lt;b&gt;Alpha&lt;/b&gt;" in html
    assert "<b>Alpha" not in html
    assert "75%" in text
    assert "alpha-vs-beta" in html


def test_a_header_injection_that_slipped_past_the_check_is_refused_by_the_message():
    mails = Mails("https://verdicts.example", "", LinkSigner(SECRET), 3600)
    with pytest.raises(ValueError, match=r"."):
        bytes(mails.confirmation(1, "n", "a@example.com\r\nBcc: victim@example.com"))


def test_the_link_secret_is_kept_in_the_home_or_given(tmp_path):
    import stat

    from pydantic import SecretStr

    from verdicts.platform.settings import SettingsError
    from verdicts.render.config import RenderSettings, mail_secret

    kept = mail_secret(RenderSettings(), tmp_path)
    assert mail_secret(RenderSettings(), tmp_path) == kept
    assert stat.S_IMODE((tmp_path / "render-mail-secret").stat().st_mode) == 0o600
    assert mail_secret(RenderSettings(mail_secret=SecretStr("g" * 40)), tmp_path) == "g" * 40
    mounted = tmp_path / "mounted"
    mounted.write_text("m" * 40 + "\n")
    assert mail_secret(RenderSettings(mail_secret_file=mounted), tmp_path) == "m" * 40
    with pytest.raises(SettingsError, match="at least 32"):
        mail_secret(RenderSettings(mail_secret=SecretStr("short")), tmp_path)
    unwritable = mounted / "home"  # under a file: nothing can be kept there
    ephemeral = mail_secret(RenderSettings(), unwritable)  # in memory, with a warning
    assert len(ephemeral) > 32
    assert ephemeral != mail_secret(RenderSettings(), unwritable)
