"""ingest's rules, pure: what a submitted tool must be, how it is normalised, slugged and hashed,
and what announcing it again means (accepted, updated, unchanged or rejected, and why).

No SQL, HTTP or NATS here: ``catalogue`` carries out these decisions in a transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from slugify import slugify

from verdicts.contracts import Pricing, PricingModel, Tool
from verdicts.platform.validation import field_errors

TAGLINE_MAX = 140
DESCRIPTION_MAX = 4000
SLUG_MAX = 80

# C0/C1 controls (tab and newlines allowed only in long text), NUL, and the bidi
# embedding/override/isolate characters used to disguise text (Trojan Source).
_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROLS_MULTILINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
_CONTROLS_SINGLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_SPACES = re.compile(r"\s+")


def _check_chars(value: str, pattern: re.Pattern[str]) -> str:
    found = pattern.search(value)
    if found:
        raise ValueError(f"contains a forbidden control or bidi character (U+{ord(found.group()):04X})")
    return value


def single_line(value: str) -> str:
    """NFC, no control characters, whitespace collapsed."""
    value = _check_chars(unicodedata.normalize("NFC", value), _CONTROLS_SINGLE_LINE)
    value = _SPACES.sub(" ", value).strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def multi_line(value: str) -> str:
    """NFC, no control characters but tab and newlines, ends trimmed."""
    value = _check_chars(unicodedata.normalize("NFC", value), _CONTROLS_MULTILINE)
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def http_url(value: str) -> str:
    """An absolute http(s) URL with a host (no javascript:, data: or file: links)."""
    value = single_line(value)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    if not parts.hostname or " " in value:
        raise ValueError("must be an http(s) URL with a host")
    return value


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return value


def _a_number(value: Any) -> Any:
    """A JSON number, never text or a boolean (whatever strictness the caller validates with)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    return value


SingleLine = Annotated[str, AfterValidator(single_line)]
Name = Annotated[str, Field(max_length=200), AfterValidator(single_line)]
Tagline = Annotated[str, Field(max_length=TAGLINE_MAX), AfterValidator(single_line)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX), AfterValidator(multi_line)]
Url = Annotated[str, Field(max_length=2048), AfterValidator(http_url)]
Tag = Annotated[str, Field(max_length=40), AfterValidator(single_line)]
Price = Annotated[
    float, BeforeValidator(_a_number), Field(strict=True, ge=0, le=1_000_000), AfterValidator(_finite)
]


class PricingSubmission(BaseModel):
    """How a tool is priced, as submitted."""

    model_config = ConfigDict(extra="forbid")

    model: PricingModel
    entry: Annotated[str, Field(max_length=100), AfterValidator(single_line)] | None = None
    entry_price_usd: Price | None = None
    unit: Annotated[str, Field(max_length=60), AfterValidator(single_line)] | None = None
    source_url: Url | None = None
    checked: date | None = None


class ToolSubmission(BaseModel):
    """What a partner or editor sends. Unknown fields are refused (they are usually typos)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    vendor: Name
    model_family: Annotated[str, Field(max_length=100), AfterValidator(single_line)] | None = None
    category: Annotated[str, Field(max_length=100), AfterValidator(single_line)]
    tagline: Tagline
    description: Description
    pricing: PricingSubmission
    homepage: Url
    released: date | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)


def make_slug(name: str) -> str:
    """Stable across case, spacing and accents; never empty, whatever the script."""
    slug = slugify(name, max_length=SLUG_MAX, word_boundary=True)
    if not slug:
        slug = slugify(name, allow_unicode=True, max_length=SLUG_MAX, word_boundary=True)
    if not slug:
        digest = hashlib.sha256(unicodedata.normalize("NFC", name).casefold().encode()).hexdigest()
        slug = f"tool-{digest[:12]}"
    return slug


def identity_key(text: str) -> str:
    """Case- and spacing-insensitive form used to tell the same vendor apart from another."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def untrusted_fields(submission: ToolSubmission, *, trust_model_family: bool) -> list[str]:
    """Fields a submitter sent that ingest will not keep from an untrusted submitter."""
    return [] if trust_model_family or submission.model_family is None else ["model_family"]


def to_tool(submission: ToolSubmission, *, category: str, trust_model_family: bool = False) -> Tool:
    """The canonical record (category spelled as the managed list spells it).

    ``model_family`` steers which model may review the tool (the panel's self-judging guard), so
    it is kept only from trusted submitters; anyone else's claim is dropped.
    """
    family = submission.model_family.casefold() if submission.model_family and trust_model_family else None
    tags = list(dict.fromkeys(t.casefold() for t in submission.tags))
    pricing = submission.pricing
    return Tool(
        slug=make_slug(submission.name),
        name=submission.name,
        vendor=submission.vendor,
        model_family=family,
        category=category,
        tagline=submission.tagline,
        description=submission.description,
        pricing=Pricing(
            model=pricing.model,
            entry=pricing.entry,
            entry_price_usd=None
            if pricing.entry_price_usd is None
            else Decimal(str(pricing.entry_price_usd)),
            unit=pricing.unit,
            source_url=pricing.source_url,
            checked=pricing.checked,
        ),
        homepage=submission.homepage,
        released=submission.released,
        tags=tuple(tags),
    )


def canonical_json(tool: Tool) -> str:
    """The record as JSON with sorted keys: what is stored, and what ``content_hash`` hashes."""
    return json.dumps(tool.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def hash_of(canonical: str) -> str:
    """The content hash of a record's ``canonical_json``."""
    return hashlib.sha256(canonical.encode()).hexdigest()


def content_hash(tool: Tool) -> str:
    """Same content, same hash: re-announcing it changes nothing."""
    return hash_of(canonical_json(tool))


def match_category(value: str, known: list[str]) -> str | None:
    """The managed category ``value`` names, however it is spelled; None when it names none."""
    key = identity_key(value)
    return next((name for name in known if identity_key(name) == key), None)


# What is wrong with a submission: errors are ``{"field": "pricing.model", "message": ...}``.


class Rejection(Exception):
    """A submission (or a whole batch) that will not be stored, with why; ``code`` is its kind."""

    def __init__(self, code: str, detail: str, errors: list[dict[str, Any]], **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.errors, self.extra = code, detail, errors, extra

    @property
    def field(self) -> str | None:
        """The first field named wrong, if any."""
        return self.errors[0]["field"] if self.errors else None

    def as_result(self) -> dict[str, Any]:
        """A batch item's result for this rejection."""
        return {"status": "rejected", "code": self.code, "detail": self.detail, "errors": self.errors}


def check_batch(items: list[Any], max_items: int) -> None:
    """A batch over ``max_items`` is refused whole, before any item is looked at."""
    if len(items) > max_items:
        raise Rejection(
            "batch-too-large",
            f"a batch holds at most {max_items} tools (got {len(items)})",
            [{"field": "body", "message": f"at most {max_items} items"}],
            limit=max_items,
        )


def submission_of(item: Any) -> ToolSubmission:
    """One batch item as a submission, or the rejection naming each field that is wrong."""
    if not isinstance(item, dict):
        raise Rejection(
            "validation-failed",
            "a tool must be a JSON object",
            [{"field": "body", "message": "must be an object"}],
        )
    try:
        return ToolSubmission.model_validate(item)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise Rejection(
            "validation-failed", f"invalid field {errors[0]['field']}: {errors[0]['message']}", errors
        ) from None


NOT_BOUND = "not a vendor this key is bound to"

MayWrite = Callable[[str], bool]
"""Whether the caller may write tools of a vendor (its API key is bound to that vendor)."""


def check_own_vendor(submission: ToolSubmission, may_write: MayWrite) -> None:
    """A caller writes only tools of the vendors its key is bound to."""
    if not may_write(submission.vendor):
        raise Rejection(
            "not-your-vendor",
            f"this key may not write tools of the vendor {submission.vendor!r}",
            [{"field": "vendor", "message": NOT_BOUND}],
        )


def check_own_vendors(submissions: list[ToolSubmission | Rejection], may_write: MayWrite) -> None:
    """A batch naming any vendor the caller may not write is refused whole, before anything is
    stored: which vendors a key may write is not a property of one item but of the request."""
    foreign = [
        index
        for index, item in enumerate(submissions)
        if isinstance(item, ToolSubmission) and not may_write(item.vendor)
    ]
    if foreign:
        raise Rejection(
            "not-your-vendor",
            f"items {', '.join(map(str, foreign))} name vendors this key may not write",
            [{"index": i, "field": "vendor", "message": NOT_BOUND} for i in foreign],
            items=foreign,
        )


def category_of(submission: ToolSubmission, known: list[str]) -> str:
    """The managed category the submission names (spelled as the list spells it), or a rejection."""
    category = match_category(submission.category, known)
    if category is None:
        raise Rejection(
            "unknown-category",
            f"unknown category {submission.category!r}",
            [{"field": "category", "message": "unknown category", "known": known}],
        )
    return category


class Outcome(StrEnum):
    """What announcing a tool did."""

    ACCEPTED = "accepted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Current:
    """The stored tool holding a slug, as far as a re-announcement needs to know."""

    vendor: str
    vendor_key: str
    version: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class Revision:
    """What a re-announcement of a known slug does: nothing, or a new version."""

    outcome: Outcome
    version: int
    previous_version: int = 0


def revise(current: Current, tool: Tool, digest: str, may_write: MayWrite) -> Revision:
    """A known slug announced again: the same vendor's tool is unchanged (same content) or gets
    the next version. Another vendor's tool holding the slug is refused: 403 when the caller may
    not write that vendor's tools, else (an admin) a conflict. Neither names the holder."""
    if current.vendor_key != identity_key(tool.vendor):
        if not may_write(current.vendor):
            raise Rejection(
                "not-your-tool",
                f"the slug {tool.slug!r} belongs to a tool of a vendor this key may not write",
                [{"field": "name", "message": "another vendor's tool already has this slug"}],
            )
        raise Rejection(
            "slug-taken",
            f"the slug {tool.slug!r} already belongs to another vendor's tool",
            [{"field": "name", "message": "another tool already has this slug"}],
        )
    if current.content_hash == digest:
        return Revision(Outcome.UNCHANGED, current.version)
    return Revision(Outcome.UPDATED, current.version + 1, current.version)


def writes(outcome: Outcome) -> bool:
    """Whether announcing stored something (what a key's daily tools quota counts)."""
    return outcome is not Outcome.UNCHANGED


def ignored(fields: list[str]) -> dict[str, Any]:
    """What an answer says about submitted fields that were not kept (nothing when none)."""
    if not fields:
        return {}
    return {"ignored": fields, "note": f"{', '.join(fields)}: kept only from trusted submitters"}
