"""Dead letters kept until handled: listed, shown, replayed (its effect once) and dropped, over
HTTP with an admin key and with `verdicts deadletters`, against the real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import nats
import pytest
from click.testing import CliRunner, Result
from litestar.testing import AsyncTestClient
from platform_probe import FAILING_LABELS, PROBE_SUBJECT, ProbeHappened, probe_service

from verdicts.cli.main import main as cli
from verdicts.contracts.subjects import DEAD_LETTER_STREAM
from verdicts.platform import deadletters
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.service import build_app
from verdicts.platform.streams import stream_config
from verdicts.platform.testing.plugin import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def client(settings):
    async with AsyncTestClient(build_app([probe_service(settings)], settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def admin(database_url, client) -> dict[str, str]:
    return {"Authorization": f"Bearer {await grant(database_url, Scope.ADMIN, name='dlq-admin')}"}


@pytest.fixture(scope="module")
async def js(nats_url):
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def handled(database_url: str, event_id: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM probe.handled WHERE event_id = $1", event_id))
    finally:
        await conn.close()


async def dead_letter_of(js, event_id: str) -> deadletters.DeadLetter:
    async def find() -> deadletters.DeadLetter | None:
        letters = await deadletters.list_dead_letters(js, limit=1000)
        return next((x for x in letters if event_id in x.record.payload), None)

    return await eventually(find, within=30, interval=0.2)


async def failing_event(js, label: str) -> tuple[ProbeHappened, deadletters.DeadLetter]:
    FAILING_LABELS.add(label)
    event = ProbeHappened.create(label=label)
    await js.publish(PROBE_SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id})
    return event, await dead_letter_of(js, event.event_id)


def test_dead_letters_never_age_out():
    config = stream_config(DEAD_LETTER_STREAM, duplicate_window_s=120)
    assert config.max_age == 0
    assert config.discard == "new"


async def test_a_replayed_dead_letter_is_processed_once_and_leaves_the_list(client, admin, js, database_url):
    event, letter = await failing_event(js, "replay-me")
    assert await handled(database_url, event.event_id) == 0

    listed = await client.get("/v1/admin/deadletters", headers=admin)
    assert listed.status_code == 200, listed.text
    assert letter.id in [x["id"] for x in listed.json()["items"]]
    shown = await client.get(f"/v1/admin/deadletters/{letter.id}", headers=admin)
    assert shown.json()["subject"] == PROBE_SUBJECT
    assert shown.json()["original_msg_id"] == event.event_id
    assert "asked to fail" in shown.json()["reason"]
    assert (await client.get("/v1/admin/deadletters")).status_code == 401

    FAILING_LABELS.discard("replay-me")  # the fault is fixed
    replayed = await client.post(f"/v1/admin/deadletters/{letter.id}/replay", headers=admin)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"replayed": [letter.id]}
    await eventually(lambda: handled(database_url, event.event_id), within=20, interval=0.1)

    gone = await client.get(f"/v1/admin/deadletters/{letter.id}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["code"] == "unknown-dead-letter"
    again = await client.post(f"/v1/admin/deadletters/{letter.id}/replay", headers=admin)
    assert again.status_code == 404
    # The same event arriving once more (a replay retried after a crash) changes nothing.
    await js.publish(
        PROBE_SUBJECT, event.model_dump_json().encode(), headers={"Nats-Msg-Id": "replayed-twice"}
    )
    marker = ProbeHappened.create(label="after-replay")
    await js.publish(PROBE_SUBJECT, marker.model_dump_json().encode())
    await eventually(lambda: handled(database_url, marker.event_id), within=20, interval=0.1)
    assert await handled(database_url, event.event_id) == 1


async def test_drop_over_http_and_unknown_ids(client, admin, js):
    _, letter = await failing_event(js, "drop-me")
    assert (await client.delete(f"/v1/admin/deadletters/{letter.id}", headers=admin)).status_code == 204
    assert (await client.delete(f"/v1/admin/deadletters/{letter.id}", headers=admin)).status_code == 404
    assert (await client.get("/v1/admin/deadletters/not-a-number", headers=admin)).status_code == 404
    listed = (await client.get("/v1/admin/deadletters", headers=admin)).json()
    assert letter.id not in [x["id"] for x in listed["items"]]


async def test_the_cli_lists_shows_drops_and_replays_all(
    client, js, nats_url, database_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("VERDICTS_NATS_URL", nats_url)
    monkeypatch.setenv("VERDICTS_HOME", str(tmp_path))
    kept, kept_letter = await failing_event(js, "cli-replay")
    _, dropped_letter = await failing_event(js, "cli-drop")
    runner = CliRunner()

    async def run(args: list[str]) -> Result:
        # In a thread: the commands run their own event loop.
        return await asyncio.to_thread(runner.invoke, cli, args)

    listed = await run(["deadletters", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"{kept_letter.id:>6}" in listed.output
    assert PROBE_SUBJECT in listed.output
    shown = await run(["deadletters", "show", str(kept_letter.id)])
    assert json.loads(shown.output)["original_msg_id"] == kept.event_id

    dropped = await run(["deadletters", "drop", str(dropped_letter.id)])
    assert dropped.exit_code == 0, dropped.output
    missing = await run(["deadletters", "show", str(dropped_letter.id)])
    assert missing.exit_code == 1

    FAILING_LABELS.discard("cli-replay")
    everything = await run(["deadletters", "replay", "--all"])
    assert everything.exit_code == 0, everything.output
    await eventually(lambda: handled(database_url, kept.event_id), within=20, interval=0.1)
    assert await deadletters.count(js) == 0
    assert (await run(["deadletters", "replay"])).exit_code == 2
