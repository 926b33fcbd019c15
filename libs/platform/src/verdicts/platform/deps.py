"""What handlers and routes may ask for, injected by FastStream and Litestar alike.

Bus handlers: ``pool: DbPool`` (FastStream ``Context``). HTTP handlers: ``pool: PoolDep`` or
``runtime: RuntimeDep`` (Litestar ``Provide``, registered by ``build_app``); ``Injected[T]`` for a
service's own dependency. Live objects are passed as they are, never validated.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import asyncpg
from faststream import Context
from litestar.di import NamedDependency

from verdicts.platform.access.keys import ApiKey
from verdicts.platform.service import Runtime

T = TypeVar("T")

DbPool = Annotated[asyncpg.Pool, Context("pool")]
Injected = NamedDependency[T]
PoolDep = NamedDependency[asyncpg.Pool]
RuntimeDep = NamedDependency[Runtime]
Caller = NamedDependency[ApiKey]
"""The API key a ``requires(scope)`` guard let in."""
