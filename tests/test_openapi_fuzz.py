"""schemathesis against the served OpenAPI document of the whole app: no 5xx, and every answer
matches the schema the document gives for it. Bounded: a few examples per operation, derandomized so
a run on another machine tries the same inputs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from verdicts.cli.registry import load_all
from verdicts.platform.access.issuing import grant
from verdicts.platform.access.keys import Scope
from verdicts.platform.embedded.process import free_port
from verdicts.platform.service import build_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 12
# The chat route with a valid key would spend real model time per example; its bad input is covered by
# inference's own tests, and here it is fuzzed without a key (every answer a documented 401).
NEEDS_A_MODEL = "/v1/chat/completions"


@pytest.fixture(scope="module")
def live_api(settings, tmp_path_factory) -> Iterator[str]:
    """The whole app served by uvicorn on its own thread and loop (schemathesis calls are blocking)."""
    api_settings = settings.model_copy(
        update={"home": tmp_path_factory.mktemp("home"), "public_burst": 1_000_000}
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(load_all(api_settings), api_settings), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the app did not start"
        assert time.monotonic() < deadline, "the app did not start within 60 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
async def admin_headers(database_url, live_api) -> dict[str, str]:
    return {"Authorization": f"Bearer {await grant(database_url, Scope.ADMIN, name='schemathesis')}"}


def fuzzer(operation: Any, headers: dict[str, str]) -> Callable[[], None]:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

    return fuzz  # type: ignore[no-any-return]


def test_no_server_errors_and_answers_match_the_document(live_api, admin_headers):
    """Each operation fuzzed in turn (schemathesis' pytest plugin predates pytest 9, so the loop is ours)."""
    api_schema = schemathesis.openapi.from_url(f"{live_api}/schema/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:
        try:
            fuzzer(operation, {} if operation.path == NEEDS_A_MODEL else admin_headers)()
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert failures == [], "\n\n".join(failures)


def test_every_post_route_has_a_request_schema(live_api):
    document = httpx.get(f"{live_api}/schema/openapi.json").json()
    posts = {path: item["post"] for path, item in document["paths"].items() if "post" in item}
    assert posts, "no POST routes in the document"
    missing = [path for path, operation in posts.items() if "requestBody" not in operation]
    assert missing == [], f"POST routes without a request schema: {missing}"
    untyped = [
        path
        for path, operation in posts.items()
        if "requestBody" in operation
        and not any(media.get("schema") for media in operation["requestBody"]["content"].values())
    ]
    assert untyped == []
