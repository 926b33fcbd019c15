"""``deploy/nats/nats-server.conf`` on the real server: each service's user only on its own subjects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError

from verdicts.contracts.subjects import INFERENCE_GENERATE, VOTES_BALLOT_CAST, VOTES_STREAM
from verdicts.platform.broker import connection_options, make_broker, without_credentials
from verdicts.platform.embedded.nats import SERVICE_USERS, EmbeddedNats
from verdicts.platform.settings import NatsLogin, PlatformSettings

pytestmark = pytest.mark.integration


class Connection:
    """A connection as one user, keeping the errors the server sent it."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []
        self.nc: Client

    async def open(self, url: str, **options: Any) -> Connection:
        async def on_error(exc: Exception) -> None:
            self.errors.append(exc)

        self.nc = await nats.connect(url, error_cb=on_error, allow_reconnect=False, **options)
        return self

    def violations(self) -> list[str]:
        return [str(e) for e in self.errors if "permissions violation" in str(e)]


@pytest.fixture
async def as_service(nats_server: EmbeddedNats, nats_url: str) -> AsyncIterator[Any]:
    opened: list[Connection] = []

    async def connect(schema: str) -> Connection:
        login = nats_server.service_logins()[schema]
        conn = await Connection().open(
            nats_server.public_url,
            user=login.user,
            password=login.password.get_secret_value(),
            inbox_prefix=f"_INBOX.{login.user}",
        )
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        await conn.nc.close()


async def test_an_anonymous_connection_is_refused(nats_server: EmbeddedNats) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(nats_server.public_url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_wrong_password_is_refused(nats_server: EmbeddedNats) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(
            nats_server.public_url,
            user="votes",
            password="guess",
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


async def test_render_cannot_cast_a_ballot(as_service: Any) -> None:
    render = await as_service("render")
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await render.nc.jetstream().publish(VOTES_BALLOT_CAST, b"{}", stream=VOTES_STREAM.name, timeout=1)
    assert any(VOTES_BALLOT_CAST in v for v in render.violations())


async def test_votes_cannot_ask_for_inference_but_review_panel_can(as_service: Any) -> None:
    inference = await as_service("inference")

    async def answer(msg: Any) -> None:
        await msg.respond(b"ok")

    await inference.nc.subscribe(INFERENCE_GENERATE, queue="inference", cb=answer)
    await inference.nc.flush()

    votes = await as_service("votes")
    with pytest.raises(nats.errors.TimeoutError):
        await votes.nc.request(INFERENCE_GENERATE, b"{}", timeout=1)
    assert any(INFERENCE_GENERATE in v for v in votes.violations())

    panel = await as_service("review_panel")
    reply = await panel.nc.request(INFERENCE_GENERATE, b"{}", timeout=5)
    assert reply.data == b"ok"  # inference may answer the request it got, and nothing else
    await inference.nc.publish(VOTES_BALLOT_CAST, b"{}")
    await inference.nc.flush()
    await asyncio.sleep(0.2)
    assert any(VOTES_BALLOT_CAST in v for v in inference.violations())


async def test_a_service_cannot_read_another_services_replies_or_ballots(as_service: Any) -> None:
    render = await as_service("render")
    await render.nc.subscribe("_INBOX.votes.>")
    await render.nc.subscribe(VOTES_BALLOT_CAST)
    await render.nc.flush()
    await asyncio.sleep(0.2)
    violations = render.violations()
    assert any("_inbox.votes.>" in v.lower() for v in violations)
    assert any(VOTES_BALLOT_CAST in v for v in violations)
    # Nor read the VOTES stream through a consumer of its own on ballots.
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await render.nc.jetstream(timeout=1).pull_subscribe(
            VOTES_BALLOT_CAST, durable="render-tallies", stream=VOTES_STREAM.name
        )


async def test_every_service_user_connects(nats_server: EmbeddedNats, as_service: Any) -> None:
    for schema in SERVICE_USERS:
        conn = await as_service(schema)
        assert conn.nc.is_connected


def test_a_service_broker_logs_in_as_its_own_user_and_urls_lose_credentials() -> None:
    login = NatsLogin(user="votes", password="p1")  # type: ignore[arg-type]
    settings = PlatformSettings(nats_url="nats://admin:s3cret@127.0.0.1:4222", nats_logins={"votes": login})
    url, options = connection_options(settings, "votes")
    assert url == "nats://127.0.0.1:4222"
    assert options["inbox_prefix"] == "_INBOX.votes"
    assert (options["security"].username, options["security"].password) == ("votes", "p1")
    url, options = connection_options(settings, "render")  # no own user: the shared URL's
    assert url == "nats://127.0.0.1:4222"
    assert (options["security"].username, options["security"].password) == ("admin", "s3cret")
    assert without_credentials("tls://u:p@nats.example:4222") == "tls://nats.example:4222"
    assert "p1" not in repr(settings)
    make_broker(settings, name="votes", schema="votes")  # builds without connecting


def test_service_logins_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    secret = tmp_path / "votes.password"
    secret.write_text("pfromfile\n")
    monkeypatch.setenv("VERDICTS_VOTES_NATS_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("VERDICTS_REVIEW_PANEL_NATS_PASSWORD", "pdirect")
    monkeypatch.setenv("VERDICTS_REVIEW_PANEL_NATS_USER", "panel-user")
    settings = PlatformSettings()
    votes, panel = settings.nats_login_for("votes"), settings.nats_login_for("review_panel")
    assert votes is not None
    assert (votes.user, votes.password.get_secret_value()) == ("votes", "pfromfile")
    assert panel is not None
    assert (panel.user, panel.password.get_secret_value()) == ("panel-user", "pdirect")
    assert settings.nats_login_for("render") is None
