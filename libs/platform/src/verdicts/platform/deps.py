"""What handlers and routes may ask for, injected by FastStream and Litestar alike.

Bus handlers: ``pool: Annotated[asyncpg.Pool, own_pool(SCHEMA)]`` (FastStream ``Context``: the
service's own pool, logged in as its database role; ``DbPool`` is the process's first service's).
HTTP handlers: ``pool: PoolDep`` or ``runtime: RuntimeDep`` (Litestar ``Provide``, registered per
service by ``build_app``: its own pool and view); ``Injected[T]`` for a service's own dependency.
Live objects are passed as they are, never validated.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import asyncpg
from faststream import Context
from litestar.di import NamedDependency

from verdicts.platform.access.keys import ApiKey
from verdicts.platform.service import Runtime

T = TypeVar("T")

DbPool = Annotated[asyncpg.Pool, Context("pool")]


def own_pool(schema: str) -> Any:
    """The FastStream ``Context`` of ``schema``'s own pool (``verdicts up`` runs one per service)."""
    return Context(f"pools.{schema}")


Injected = NamedDependency[T]
PoolDep = NamedDependency[asyncpg.Pool]
RuntimeDep = NamedDependency[Runtime]
Caller = NamedDependency[ApiKey]
"""The API key a ``requires(scope)`` guard let in."""
