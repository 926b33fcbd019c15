"""The auth matrix, generated from the app's own route table.

Every route by (no key, malformed, unknown, revoked, each scope, another vendor's key) → the answer its
declared rule promises. A route added without a rule fails here, as does a guard that lets the wrong
key through or refuses the right one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from verdicts.cli.registry import load_all
from verdicts.platform.access.guards import Access, access_rule
from verdicts.platform.access.issuing import grant, revoke
from verdicts.platform.access.keys import Scope, parse_key
from verdicts.platform.service import build_app
from verdicts.platform.testing import sample_tools

pytestmark = pytest.mark.integration

VENDOR = "Acme Matrix"
OTHER_VENDOR = "Other Matrix"
UNKNOWN_KEY = "vdk_zzzzzzzzzz_" + "Q" * 43
# The access layer's own refusals; a public route may still refuse for its own reasons (a voter route
# without a voter cookie answers 401 bad-voter-token, a form from another site 403 foreign-origin).
ACCESS_REFUSALS = {"unauthenticated", "forbidden"}
PATH_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    rule: Access | None

    @property
    def path(self) -> str:
        return PATH_PARAMETER.sub(lambda m: SAMPLE_PARAMETERS.get(m.group(1), "sample"), self.template)


SAMPLE_PARAMETERS = {
    "pair": "matrix-tool-vs-other-tool",
    "category": "developer-tools",
    "slug": "matrix-tool",
}


def routes(app: Litestar) -> Iterator[Route]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in sorted(getattr(handler, "http_methods", ())):
                if method in {"OPTIONS", "HEAD"}:
                    continue
                yield Route(method, route.path, access_rule(handler.resolve_guards()))


def tool_body() -> dict[str, Any]:
    return {**sample_tools()[0], "name": "Matrix Tool", "vendor": VENDOR}


def body_for(route: Route) -> Any:
    """A body that gets past the guard: a real tool of VENDOR for the tool writes, else ``{}``."""
    if route.template == "/v1/tools":
        return tool_body()
    if route.template == "/v1/tools/batch":
        return [tool_body()]
    return {}


@pytest.fixture(scope="module")
async def app(settings, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    matrix_settings = settings.model_copy(update={"home": home, "public_burst": 100_000})
    return build_app(load_all(matrix_settings), matrix_settings)


@pytest.fixture(scope="module")
async def client(app):
    async with AsyncTestClient(app, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def credentials(database_url, client) -> dict[str, str | None]:
    revoked = await grant(database_url, Scope.ADMIN, name="revoked")
    await revoke(database_url, parse_key(revoked))
    keys: dict[str, str | None] = {
        "none": None,
        "malformed": "Bearer not-a-key",
        "unknown": f"Bearer {UNKNOWN_KEY}",
        "revoked": f"Bearer {revoked}",
        "other-vendor": f"Bearer {await grant(database_url, Scope.TOOLS_WRITE, vendors=(OTHER_VENDOR,))}",
    }
    for scope in Scope:
        vendors = (VENDOR,) if scope is Scope.TOOLS_WRITE else ()
        keys[scope.value] = f"Bearer {await grant(database_url, scope, vendors=vendors, name=scope.value)}"
    return keys


def expected(rule: Access, credential: str) -> str:
    """``"open"`` (anything but 401/403), ``"401"`` or ``"403"``."""
    if rule.public:
        return "open"
    if credential in {"none", "malformed", "unknown", "revoked"}:
        return "401"
    assert rule.scope is not None
    # "other-vendor" holds tools:write, but for another vendor than the tool in the body: 403 everywhere.
    if credential in {rule.scope.value, Scope.ADMIN.value}:
        return "open"
    return "403"


def refused_by_access(answer: Any) -> bool:
    if answer.status_code not in {401, 403}:
        return False
    if answer.status_code == 401 and "www-authenticate" in answer.headers:
        return True
    try:
        code = answer.json().get("code")
    except ValueError:
        return True
    return code in ACCESS_REFUSALS or code is None


async def test_every_route_declares_exactly_one_rule(app):
    missing = [f"{r.method} {r.template}" for r in routes(app) if r.rule is None]
    assert missing == [], f"routes without an access rule (PUBLIC or requires(scope)): {missing}"


async def test_the_route_table_has_the_partner_routes(app):
    table = {(r.method, r.template): r.rule for r in routes(app)}
    assert table[("POST", "/v1/tools")] == Access(Scope.TOOLS_WRITE)
    assert table[("POST", "/v1/chat/completions")] == Access(Scope.INFERENCE)
    assert table[("GET", "/v1/models")] == Access(Scope.INFERENCE)
    assert table[("GET", "/v1/tools")] == Access(None)


async def test_each_route_answers_each_credential_as_its_rule_says(app, client, credentials):
    wrong: list[str] = []
    for route in routes(app):
        if route.rule is None or route.template.startswith("/schema/assets"):
            continue
        for name, header in credentials.items():
            headers = {"Authorization": header} if header else {}
            kwargs: dict[str, Any] = {"headers": headers}
            if route.method in {"POST", "PUT", "PATCH"}:
                kwargs["json"] = body_for(route)
            answer = await client.request(route.method, route.path, **kwargs)
            want = expected(route.rule, name)
            got = str(answer.status_code)
            ok = not refused_by_access(answer) if want == "open" else got == want
            if want == "401" and "www-authenticate" not in answer.headers:
                ok = False
            if not ok:
                wrong.append(f"{route.method} {route.path} with {name}: want {want}, got {got}")
            if header and header.removeprefix("Bearer ") in answer.text:
                wrong.append(f"{route.method} {route.path} with {name}: the key is echoed in the body")
    assert wrong == []
