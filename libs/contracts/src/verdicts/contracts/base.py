"""The event envelope every bus message shares."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return str(uuid.uuid4())


class Contract(BaseModel):
    """Base of every payload: unknown fields are ignored so additive changes stay v1."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Event(Contract):
    """An event: ``event_id`` doubles as ``Nats-Msg-Id`` so a re-sent event is stored once."""

    SUBJECT: ClassVar[str]
    TYPE: ClassVar[str]

    event_id: str = Field(default_factory=new_event_id, min_length=1, max_length=200)
    type: str
    occurred_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """Build an event with its ``type`` filled in from the class."""
        return cls(type=cls.TYPE, **fields)
