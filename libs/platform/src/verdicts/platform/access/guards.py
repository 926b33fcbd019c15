"""The guards every route declares: ``PUBLIC`` or ``requires(scope)``; and the key ring they ask.

401 (no key, malformed, unknown or revoked; with ``WWW-Authenticate``) is told apart from 403 (a
known key without the scope). Keys are looked up in PostgreSQL and cached per process; a revocation
is NOTIFYed and drops the cached key in every process at once. The cache is used only while this
process is listening, so a lost listener costs a lookup per request, never a stale key.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from verdicts.platform.access import store
from verdicts.platform.access.keys import ApiKey, MalformedKey, Scope, digest, parse_key
from verdicts.platform.backoff import Backoff
from verdicts.platform.client_address import client_address, limit_key
from verdicts.platform.http import problem

if TYPE_CHECKING:
    from verdicts.platform.service import Runtime

log = logging.getLogger(__name__)

SCHEMA_OPT = "verdicts_schema"
"""The route ``opt`` naming its service's schema (set by ``service.build_app``)."""
REALM = 'Bearer realm="verdicts"'
READS = frozenset({"GET", "HEAD"})
MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
MAX_CACHED = 10_000


class KeyRing:
    """Known keys of this process: looked up in PostgreSQL, cached while revocations can be heard."""

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self._pool = pool
        self._dsn = dsn
        self._cache: dict[tuple[str, bytes], ApiKey] = {}
        self._listening = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="access:listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _forget(self, key_id: str) -> None:
        for cached in [k for k in self._cache if k[0] == key_id]:
            self._cache.pop(cached, None)

    async def _listen(self) -> None:
        backoff = Backoff(first_s=0.2, cap_s=5.0)
        attempt = 0
        while True:
            try:
                await self._listen_until_lost()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revocations not heard; keys looked up per request", extra={"error": str(exc)})
            attempt += 1
            await asyncio.sleep(backoff.delay(attempt))

    async def _listen_until_lost(self) -> None:
        lost = asyncio.Event()
        conn = await asyncpg.connect(self._dsn)
        try:
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(store.CHANNEL, lambda *args: self._forget(str(args[3])))
            self._cache.clear()  # anything revoked while deaf is forgotten
            self._listening = True
            await lost.wait()
        finally:
            self._listening = False
            self._cache.clear()
            if not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close()

    async def authenticate(self, authorization: str | None) -> ApiKey:
        """The live key in an ``Authorization: Bearer`` header, else a 401 problem."""
        if not authorization:
            raise unauthenticated("send an API key as 'Authorization: Bearer KEY'", invalid=False)
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthenticated("the Authorization header must be 'Bearer KEY'")
        try:
            key_id = parse_key(value)
        except MalformedKey:
            raise unauthenticated("the API key is malformed") from None
        lookup = (key_id, digest(value.strip()))
        key = self._cache.get(lookup) if self._listening else None
        if key is None:
            key = await store.find_key(self._pool, *lookup)
            if key is not None and self._listening and len(self._cache) < MAX_CACHED:
                self._cache[lookup] = key
        if key is None:
            raise unauthenticated("unknown API key")
        if key.revoked:
            raise unauthenticated("this API key was revoked")
        return key


def unauthenticated(detail: str, *, invalid: bool = True) -> Exception:
    challenge = f'{REALM}, error="invalid_token"' if invalid else REALM
    return problem(401, "unauthenticated", "Unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str, **extra: Any) -> Exception:
    return problem(403, "forbidden", "Forbidden", detail, **extra)


def rate_limited(wait_s: float, detail: str) -> Exception:
    return problem(
        429,
        "rate-limited",
        "Too many requests",
        detail,
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


def runtime_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    return connection.app.state.runtime  # type: ignore[no-any-return]


def client_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client address (``X-Forwarded-For`` only from a trusted proxy)."""
    peer = connection.client.host if connection.client else None
    trusted = runtime_of(connection).settings.trusted_networks
    return client_address(peer, connection.headers.get("x-forwarded-for"), trusted)


@dataclass(frozen=True, slots=True)
class Access:
    """A route's rule, declared as one of its guards; the auth matrix test reads it back."""

    scope: Scope | None

    @property
    def public(self) -> bool:
        return self.scope is None

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        runtime = runtime_of(connection)
        if self.scope is None:
            if connection.scope.get("method") not in READS:
                return  # public writes (votes) keep their own, stricter limits
            wait = runtime.public_limiter.hit(limit_key(client_of(connection)))
            if wait is not None:
                raise rate_limited(wait, "too many requests from this address")
            return
        key = await runtime.keys.authenticate(connection.headers.get("authorization"))
        if not key.allows(self.scope):
            raise forbidden(f"this key lacks the scope {self.scope.value}", required_scope=self.scope.value)
        if Scope.ADMIN not in key.scopes:
            limit = runtime.settings.key_requests_per_minute
            # Counted with the route's own service's pool (its database role may count usage).
            pool = runtime.pool_for(handler.opt.get(SCHEMA_OPT))
            until = await store.consume(pool, key.key_id, "requests", 1, limit, MINUTE)
            if until is not None:
                raise rate_limited(_seconds_until(until), f"this key is limited to {limit} requests a minute")
        connection.state.api_key = key


def _seconds_until(moment: dt.datetime) -> float:
    return (moment - dt.datetime.now(dt.UTC)).total_seconds()


PUBLIC = Access(None)
"""Anyone may call it; reads are limited per client address."""


def requires(scope: Scope) -> Access:
    return Access(scope)


def access_rule(guards: list[Callable[..., Any]] | tuple[Callable[..., Any], ...]) -> Access | None:
    """The rule among a route's resolved guards (None: the route declares none)."""
    rules = [g for g in guards if isinstance(g, Access)]
    return rules[0] if len(rules) == 1 else None


def caller(request: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The key a guard let in (ask for it as ``caller: Caller`` on a route with ``requires``)."""
    return request.state.api_key  # type: ignore[no-any-return]


async def spend(runtime: Runtime, key: ApiKey, kind: str, amount: int, limit: int) -> None:
    """Count ``amount`` of a per-key daily quota (``tools``, ``reruns``, ``inference_tokens``), shared
    by every replica; 429 with ``Retry-After`` when it would go over. Admin keys are not counted."""
    if Scope.ADMIN in key.scopes:
        return
    until = await store.consume(runtime.pool, key.key_id, kind, amount, limit, DAY)
    if until is not None:
        raise rate_limited(_seconds_until(until), f"this key's daily quota of {limit} {kind} is spent")


async def settle(runtime: Runtime, key: ApiKey, kind: str, reserved: int, actual: int) -> None:
    """A ``spend`` made at the most a request could cost, settled at what it did cost."""
    if Scope.ADMIN not in key.scopes and actual < reserved:
        await store.refund(runtime.pool, key.key_id, kind, reserved - actual, DAY)
