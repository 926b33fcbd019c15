"""Serving the ASGI app in this process: granian (default) or uvicorn (``VERDICTS_HTTP_SERVER``).

granian runs embedded, on this process's event loop, so a service stays one process (no worker
process to orphan when it is killed). What uvicorn did for us is kept by hand here:

- SIGINT/SIGTERM stop it gracefully: in-flight requests finish (cancelled after
  ``GRACEFUL_SHUTDOWN_S``), then the lifespan shutdown runs (the broker drains);
- a lifespan start-up failure returns False (granian's embedded server raises ``FatalError``);
- a port someone already listens on is refused (granian binds with ``SO_REUSEPORT``, which would
  otherwise let a second process share the port silently);
- no access log; granian's own lines go through our logging configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType

from verdicts.platform.settings import PlatformSettings

GRACEFUL_SHUTDOWN_S = 10.0
_log = logging.getLogger("verdicts.serve")
# granian's request tasks run this coroutine (granian/_futures.py); only they are cancelled
# when the graceful shutdown runs out of time, never the broker's own tasks.
_REQUEST_CORO = "_future_watcher_wrapper.<locals>.future_watcher"


def serve(app: object, settings: PlatformSettings) -> bool:
    """Serve until SIGINT/SIGTERM; False when the app failed to start."""
    if settings.http_server == "uvicorn":
        return _serve_uvicorn(app, settings)
    with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
        return runner.run(_serve_granian(app, settings))


def _loop_factory(settings: PlatformSettings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop (libuv) where chosen and installed; asyncio's own loop otherwise."""
    if settings.event_loop == "uvloop":
        with contextlib.suppress(ImportError):
            import uvloop

            return uvloop.new_event_loop
    return None


def _serve_uvicorn(app: object, settings: PlatformSettings) -> bool:
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app,  # type: ignore[arg-type]
            host=settings.host,
            port=settings.port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S),
        )
    )
    server.run()
    return bool(server.started)


class _DropExperimentalNote(logging.Filter):
    """granian warns on every start that its embedded server is experimental: known, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Embedded server is experimental!"


def _port_is_free(host: str, port: int) -> bool:
    """False when something already listens there (what uvicorn's plain bind would refuse)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen()
        except OSError as exc:
            _log.error("cannot listen on %s:%s: %s", host, port, exc)
            return False
    return True


@contextlib.contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM call ``stop`` on the loop; the previous handlers come back afterwards."""

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


async def _cancel_requests_after(delay: float) -> None:
    await asyncio.sleep(delay)
    requests = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == _REQUEST_CORO and not task.done()
    ]
    if requests:
        _log.warning(
            "cancelling %d request(s) still running %.0f s after the stop signal", len(requests), delay
        )
    for task in requests:
        task.cancel()


async def _serve_granian(app: object, settings: PlatformSettings) -> bool:
    from granian.constants import Interfaces
    from granian.errors import FatalError
    from granian.log import LogLevels
    from granian.server.embed import Server

    if not _port_is_free(settings.host, settings.port):
        return False
    server = Server(
        app,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,  # with lifespan
        backlog=2048,  # uvicorn's; granian's embedded default (128) also caps requests in flight
        log_level=LogLevels(settings.log_level.lower()),
        # incremental: set levels only; a full dictConfig would replace our handlers.
        log_dictconfig={
            "version": 1,
            "incremental": True,
            "formatters": {},
            "handlers": {},
            "loggers": {"granian.access": {"level": "WARNING"}},
        },
        log_access=False,
    )
    logging.getLogger("_granian").addFilter(_DropExperimentalNote())
    loop = asyncio.get_running_loop()
    deadline: list[asyncio.Task[None]] = []

    def stop() -> None:
        if not deadline:
            deadline.append(loop.create_task(_cancel_requests_after(GRACEFUL_SHUTDOWN_S)))
        server.stop()  # type: ignore[no-untyped-call]

    try:
        with _stop_on_signals(loop, stop):
            await server.serve()
    except FatalError:
        return False  # granian logged why (the lifespan start-up's exception)
    finally:
        for task in deadline:
            task.cancel()
    return not server.interrupt_children
