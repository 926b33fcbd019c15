"""Broker factory: a FastStream ``NatsBroker`` with tracing and dead-lettering built in."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import nats.errors
from faststream import BaseMiddleware
from faststream._internal.basic_types import AsyncFuncAny
from faststream.exceptions import HandlerException
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.nats import (
    ConsumerConfig,
    JStream,
    NatsBroker,
    NatsRouter,
    NatsUserPassword,
    PullSub,
)
from faststream.nats.message import NatsMessage
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.msg import Msg
from opentelemetry import trace

from verdicts.contracts import DeadLettered
from verdicts.contracts.subjects import DEAD_LETTER_STREAM, StreamName, dead_letter_subject
from verdicts.platform import metrics
from verdicts.platform.backoff import Backoff
from verdicts.platform.outbox import MSG_ID_HEADER
from verdicts.platform.settings import PlatformSettings

log = logging.getLogger(__name__)

MAX_REDELIVERY_DELAY_S = 30.0
REDELIVERY_BACKOFF = Backoff(first_s=0.2, cap_s=MAX_REDELIVERY_DELAY_S)


def redelivery_delay(deliveries: int) -> float:
    """Jittered exponential backoff before the next delivery (the platform's one policy)."""
    return REDELIVERY_BACKOFF.delay(deliveries)


def dead_letter_middleware(broker: NatsBroker, max_deliver: int, service: str = "") -> type[BaseMiddleware]:
    """A failed JetStream message is redelivered with backoff; its last delivery is parked (unless
    PostgreSQL or NATS was away: that is waited out, see ``waited_out``).

    Parking publishes a ``DeadLettered`` record (the original body and the reason)
    on ``deadletter.<subject>`` and acknowledges the original, so the consumer
    keeps serving the messages behind it. A dead letter JetStream did not store
    leaves the original unacknowledged: it comes back after a backoff and is
    parked again (consumers have no server-side delivery limit, so nothing is
    dropped when DEADLETTER is full or away).

    Every message handled is counted (``verdicts_messages_handled_total`` by outcome, the
    handler's time, redeliveries) under ``service``.
    """

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: AsyncFuncAny, msg: StreamMessage[Any]) -> Any:
            raw = msg.raw_message
            subject = raw.subject if isinstance(raw, Msg) else "batch"
            from_stream = isinstance(raw, Msg) and bool(raw.reply) and raw.reply.startswith("$JS.")
            if from_stream and (raw.metadata.num_delivered or 1) > 1:
                metrics.REDELIVERIES.labels(service, subject).inc()
            started = time.perf_counter()
            outcome = "error"
            try:
                result, outcome = await self._handle(call_next, msg)
                return result
            except HandlerException as exc:
                outcome = HANDLER_OUTCOMES.get(exc.__class__.__name__, "skipped")
                raise
            finally:
                metrics.handled(service, subject, outcome, time.perf_counter() - started)

        async def _handle(self, call_next: AsyncFuncAny, msg: StreamMessage[Any]) -> tuple[Any, str]:
            try:
                return await call_next(msg), "ok"
            except HandlerException:
                raise
            except Exception as exc:
                raw = msg.raw_message
                if not isinstance(raw, Msg) or not raw.reply or not raw.reply.startswith("$JS."):
                    raise
                deliveries = raw.metadata.num_delivered or 1
                if deliveries < max_deliver or waited_out(exc):
                    log.warning(
                        "handler failed; will redeliver",
                        extra={
                            "subject": raw.subject,
                            "deliveries": deliveries,
                            "error": repr(exc),
                        },
                    )
                    await nack(msg, deliveries)
                    return None, "retry"
                try:
                    await park(broker, raw, reason=describe(exc), deliveries=deliveries, service=service)
                except Exception as refused:  # DEADLETTER full or NATS away: keep the message
                    log.error(
                        "dead letter not stored; message left unacknowledged",
                        extra={"subject": raw.subject, "error": repr(refused)},
                    )
                    await nack(msg, deliveries)
                    return None, "retry"
                await msg.ack()
                return None, "dead_lettered"

    return DeadLetterMiddleware


HANDLER_OUTCOMES = {"AckMessage": "ok", "NackMessage": "retry", "RejectMessage": "rejected"}
"""A handler's own verdict (FastStream's ``HandlerException``s) as a ``messages_handled`` outcome."""


async def nack(msg: StreamMessage[Any], deliveries: int) -> None:
    """Redeliver after the backoff. ``NatsMessage`` is the class from ``faststream.nats.message``:
    ``faststream.nats.NatsMessage`` is an Annotated alias for handler arguments, and isinstance()
    with it raised TypeError, so a failed message came back at once, never backed off."""
    if isinstance(msg, NatsMessage):
        await msg.nack(delay=redelivery_delay(deliveries))
    else:
        await msg.nack()


UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, timed out (TimeoutError is one)
    asyncpg.PostgresConnectionError,  # the connection went in the middle of a query
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, recovering
    asyncpg.exceptions.TooManyConnectionsError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
)
"""Failures that say PostgreSQL or NATS is away, not that the message is bad."""


def _connection_closed(exc: BaseException) -> bool:
    """asyncpg's InterfaceError for a connection PostgreSQL dropped ("cannot call
    Transaction.__aexit__(): the underlying connection is closed", whether the transaction's body
    failed first or not); other InterfaceErrors are misuse, a bug to park."""
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


def waited_out(exc: BaseException) -> bool:
    """A message whose handler found PostgreSQL or NATS away is redelivered with backoff until they
    are back, never parked: a restart of a few seconds used to use up its deliveries and dead-letter
    every message in flight (found by the pipeline chaos run). Only the error itself counts, not
    what it was raised while handling: a bad message's error raised in an ``except OSError`` block
    must still be parked, not retried forever."""
    return isinstance(exc, UNAVAILABLE) or _connection_closed(exc)


def describe(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:4000]


async def park(broker: NatsBroker, raw: Msg, *, reason: str, deliveries: int, service: str = "") -> None:
    meta = raw.metadata
    record = DeadLettered(
        subject=raw.subject,
        consumer=meta.consumer or "",
        reason=reason,
        deliveries=deliveries,
        original_msg_id=(raw.headers or {}).get(MSG_ID_HEADER),
        payload=raw.data.decode("utf-8", errors="replace"),
    )
    stream_seq = meta.sequence.stream if meta.sequence else 0
    await broker.publish(
        record,
        dead_letter_subject(raw.subject),
        headers={MSG_ID_HEADER: f"dlq:{meta.stream}:{stream_seq}", "Verdicts-Reason": reason[:200]},
        stream=DEAD_LETTER_STREAM.name,
    )
    metrics.DEAD_LETTERS.labels(service, raw.subject).inc()
    log.error(
        "message dead-lettered",
        extra={"subject": raw.subject, "reason": reason, "deliveries": deliveries},
    )


def without_credentials(url: str) -> str:
    """``url`` without a user name or password (what may be printed or logged)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def connection_options(settings: PlatformSettings, schema: str | None = None) -> tuple[str, dict[str, Any]]:
    """The server URL, credentials stripped, and who connects: ``schema``'s service as its own user
    (replies on its own inbox prefix ``_INBOX.<user>``, the only one its user may subscribe to), else
    the user in ``VERDICTS_NATS_URL``."""
    url = settings.nats_url or "nats://127.0.0.1:4222"
    login = settings.nats_login_for(schema) if schema else None
    if login is not None:
        security = NatsUserPassword(login.user, login.password.get_secret_value())
        return without_credentials(url), {"security": security, "inbox_prefix": f"_INBOX.{login.user}"}
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    security = NatsUserPassword(unquote(parts.username), unquote(parts.password or ""))
    return without_credentials(url), {"security": security}


def make_broker(settings: PlatformSettings, *, name: str, schema: str | None = None) -> NatsBroker:
    """A broker connected as ``schema``'s own NATS user when one is configured."""
    url, options = connection_options(settings, schema)
    broker = NatsBroker(
        url,
        name=f"verdicts-{name}",
        **options,
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        graceful_timeout=10,
        log_level=logging.DEBUG,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
    )
    broker.add_middleware(dead_letter_middleware(broker, settings.max_deliver, service=name))
    return broker


def durable_subscriber(
    router: NatsRouter | NatsBroker,
    subject: str,
    *,
    stream: StreamName,
    durable: str,
    settings: PlatformSettings,
    batch_size: int = 16,
    max_deliver: int | None = None,
    ack_wait_s: float | None = None,
    **kwargs: Any,
) -> Callable[..., Any]:
    """A durable pull consumer with bounded deliveries and explicit acks.

    ``max_deliver`` above the platform's says a handler retries on its own terms
    (raising ``NackMessage`` until its own last try); an unexpected exception is
    still parked after the platform's ``max_deliver``. The server itself never
    stops redelivering (``max_deliver=-1``): a message is acknowledged only once
    handled or parked, so one whose dead letter was refused is not lost.
    """
    del max_deliver  # the handler's own bound; the server's is unlimited (see above)
    return router.subscriber(  # type: ignore[no-any-return, call-overload]
        subject,
        stream=JStream(stream.name, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
        config=ConsumerConfig(
            max_deliver=-1,
            ack_wait=ack_wait_s or settings.ack_wait_s,
            max_ack_pending=1000,
        ),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # None: the connection's own inbox prefix (``_INBOX.<user>``, the only one its NATS user
        # may subscribe to) rather than FastStream's fixed ``_INBOX.``.
        inbox_prefix=None,
        **kwargs,
    )
