"""The tool record as it travels on the bus (ingest owns its validation rules)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from verdicts.contracts.base import Contract


class PricingModel(StrEnum):
    FREE = "free"
    FREEMIUM = "freemium"
    PAID = "paid"
    USAGE = "usage"


class Pricing(Contract):
    model: PricingModel
    entry: str | None = Field(default=None, description="The entry text shown on the card")
    entry_price_usd: Decimal | None = Field(default=None, ge=0)
    unit: str | None = None
    source_url: str | None = None
    checked: date | None = None


class Tool(Contract):
    slug: str
    name: str
    vendor: str
    model_family: str | None = Field(
        default=None, description="Stops a model from reviewing its own vendor's tool"
    )
    category: str
    tagline: str
    description: str
    pricing: Pricing
    homepage: str
    released: date | None = None
    tags: tuple[str, ...] = ()
