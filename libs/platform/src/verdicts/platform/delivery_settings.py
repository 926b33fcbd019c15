"""Settings for what the bus keeps and for how long: stream limits, replicas, dead letters, outbox parking.

A mixin of ``PlatformSettings`` (same ``VERDICTS_`` prefix); kept apart so the rules about losing
nothing read in one place.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings

GIB = 1024**3


class StreamLimits(BaseModel):
    """One stream's own limits, overriding the defaults for write streams."""

    max_bytes: int | None = Field(default=None, ge=1)
    max_msgs: int | None = Field(default=None, ge=1)


class DeliverySettings(BaseSettings):
    stream_replicas: int = Field(
        default=1, ge=1, le=5, description="JetStream replicas per stream (1 locally, 3 in production)"
    )
    stream_max_bytes: int = Field(
        default=8 * GIB,
        ge=1024,
        description="Bytes a write stream (INGEST, PANEL, VOTES) holds; when full, new writes are "
        "refused (503 bus-full), never old ones deleted",
    )
    stream_max_msgs: int = Field(
        default=-1, ge=-1, description="Messages a write stream holds (-1: bounded by bytes only)"
    )
    stream_limits: dict[str, StreamLimits] = Field(
        default_factory=dict,
        description='Per stream, JSON: {"VOTES": {"max_msgs": 1000000, "max_bytes": 4294967296}}',
    )
    stream_history_s: float = Field(
        default=7 * 86_400.0,
        ge=0,
        description="A write stream's messages that every consumer has acknowledged are trimmed once "
        "older than this (unread ones never are)",
    )
    stream_trim_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between trims of acknowledged messages"
    )
    deadletter_max_bytes: int = Field(
        default=GIB,
        ge=1024,
        description="Bytes the DEADLETTER stream holds (no age limit; when full, failing messages stay "
        "unacknowledged on their own stream)",
    )
    outbox_max_attempts: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Failed publishes of one outbox row before it is parked (a full or unreachable bus "
        "is waited out, not counted)",
    )

    def limits_for(self, stream: str) -> tuple[int, int]:
        """``(max_bytes, max_msgs)`` of a write stream."""
        own = self.stream_limits.get(stream, StreamLimits())
        return (own.max_bytes or self.stream_max_bytes, own.max_msgs or self.stream_max_msgs)
