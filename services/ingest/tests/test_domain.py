"""ingest's rules with plain pytest: no server, no database, no bus."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from verdicts.ingest.domain import (
    Current,
    Outcome,
    Rejection,
    Revision,
    ToolSubmission,
    category_of,
    check_batch,
    check_own_vendor,
    check_own_vendors,
    content_hash,
    ignored,
    make_slug,
    match_category,
    revise,
    submission_of,
    to_tool,
    writes,
)
from verdicts.platform.testing import SAMPLE_TOOLS_FILE
from verdicts.platform.validation import field_errors

pytestmark = pytest.mark.unit

SAMPLE = SAMPLE_TOOLS_FILE


def base() -> dict:
    return {
        "name": "Claude 4 Sonnet",
        "vendor": "Anthropic",
        "category": "Developer Tools",
        "tagline": "A model",
        "description": "A long description.",
        "pricing": {"model": "freemium", "entry": "Free", "entry_price_usd": 0},
        "homepage": "https://www.anthropic.com/claude",
    }


@pytest.mark.parametrize(
    "spelling", ["Claude 4 Sonnet", "claude 4 sonnet", "  CLAUDE   4\tSonnet ", "Claude-4-Sonnet"]
)
def test_slug_is_the_same_however_the_name_is_spelled(spelling):
    assert make_slug(spelling) == "claude-4-sonnet"


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Café Crème AI", "cafe-creme-ai"), ("Ünïcödé Tool", "unicode-tool"), ("通义千问", "tong-yi-qian-wen")],
)
def test_slugs_are_unicode_safe(name, slug):
    assert make_slug(name) == slug


def test_a_name_with_no_letters_still_gets_a_stable_slug():
    assert make_slug("🤖🤖") == make_slug("🤖🤖")
    assert make_slug("🤖🤖").startswith("tool-")


def test_same_content_same_hash_and_normalised_text():
    a = to_tool(ToolSubmission.model_validate(base()), category="Developer Tools")
    spaced = base() | {"name": "  Claude 4   Sonnet ", "tagline": "A  model "}
    b = to_tool(ToolSubmission.model_validate(spaced), category="Developer Tools")
    assert content_hash(a) == content_hash(b)
    changed = to_tool(
        ToolSubmission.model_validate(base() | {"description": "Other."}), category="Developer Tools"
    )
    assert content_hash(changed) != content_hash(a)


def test_categories_match_case_insensitively():
    assert match_category("developer  TOOLS", ["Code Editors", "Developer Tools"]) == "Developer Tools"
    assert match_category("Toasters", ["Developer Tools"]) is None


def test_html_is_kept_as_text():
    tool = to_tool(
        ToolSubmission.model_validate(base() | {"tagline": "<script>alert(1)</script>"}),
        category="Developer Tools",
    )
    assert tool.tagline == "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"homepage": "javascript:alert(1)"}, "homepage"),
        ({"homepage": "data:text/html,hi"}, "homepage"),
        ({"homepage": "file:///etc/passwd"}, "homepage"),
        ({"name": "Evil\u202eTool"}, "name"),
        ({"description": "nul\x00byte"}, "description"),
        ({"tagline": "bell\x07"}, "tagline"),
        ({"tagline": "x" * 141}, "tagline"),
        ({"description": "x" * 4001}, "description"),
        ({"name": "   "}, "name"),
        ({"pricing": {"model": "paid", "entry_price_usd": -1}}, "pricing.entry_price_usd"),
        ({"pricing": {"model": "paid", "entry_price_usd": "ten"}}, "pricing.entry_price_usd"),
        ({"pricing": {"model": "paid", "entry_price_usd": "10"}}, "pricing.entry_price_usd"),
        ({"pricing": {"model": "gratis"}}, "pricing.model"),
        ({"tagLine": "typo"}, "tagLine"),
    ],
)
def test_bad_fields_are_named(patch, field):
    with pytest.raises(ValidationError) as err:
        ToolSubmission.model_validate(base() | patch)
    assert field in [e["field"] for e in field_errors(err.value)]


def test_the_sample_file_validates():
    for item in json.loads(SAMPLE.read_text()):
        ToolSubmission.model_validate(item)


@pytest.mark.parametrize("price", ["2.5", True, "NaN", [1]])
def test_a_price_is_a_json_number_even_when_validated_leniently(price):
    with pytest.raises(ValidationError) as err:
        ToolSubmission.model_validate(
            base() | {"pricing": {"model": "paid", "entry_price_usd": price}}, strict=False
        )
    assert [e["field"] for e in field_errors(err.value)] == ["pricing.entry_price_usd"]


def test_a_batch_over_the_limit_is_refused_whole():
    check_batch([{}] * 3, 3)
    with pytest.raises(Rejection) as err:
        check_batch([{}] * 4, 3)
    assert (err.value.code, err.value.extra, err.value.field) == ("batch-too-large", {"limit": 3}, "body")
    assert err.value.detail == "a batch holds at most 3 tools (got 4)"


@pytest.mark.parametrize("item", [[1, 2], "tool", 7, None])
def test_a_batch_item_that_is_not_an_object_is_rejected(item):
    with pytest.raises(Rejection) as err:
        submission_of(item)
    assert err.value.as_result() == {
        "status": "rejected",
        "code": "validation-failed",
        "detail": "a tool must be a JSON object",
        "errors": [{"field": "body", "message": "must be an object"}],
    }


def test_a_bad_batch_item_names_every_wrong_field():
    with pytest.raises(Rejection) as err:
        submission_of(base() | {"homepage": "javascript:alert(1)", "tagLine": "typo"})
    fields = {e["field"]: e["message"] for e in err.value.errors}
    assert fields["tagLine"] == "unknown field"
    assert "http(s) URL" in fields["homepage"]
    assert err.value.code == "validation-failed"
    assert err.value.detail.startswith(f"invalid field {err.value.field}: ")


def test_a_good_batch_item_is_a_submission():
    assert submission_of(base()).name == "Claude 4 Sonnet"


def test_an_unknown_category_is_rejected_listing_the_known_ones():
    known = ["Code Editors", "Developer Tools"]
    assert category_of(ToolSubmission.model_validate(base() | {"category": "developer tools"}), known) == (
        "Developer Tools"
    )
    with pytest.raises(Rejection) as err:
        category_of(ToolSubmission.model_validate(base() | {"category": "Toasters"}), known)
    assert err.value.code == "unknown-category"
    assert err.value.errors == [{"field": "category", "message": "unknown category", "known": known}]


def announced(**patch) -> tuple:
    tool = to_tool(ToolSubmission.model_validate(base() | patch), category="Developer Tools")
    return tool, content_hash(tool)


def anyone(vendor: str) -> bool:
    return True


def only(*vendors: str):
    return lambda vendor: vendor.casefold() in {v.casefold() for v in vendors}


def test_the_same_content_again_is_unchanged():
    tool, digest = announced()
    held = Current(vendor="Anthropic", vendor_key="anthropic", version=3, content_hash=digest)
    assert revise(held, tool, digest, only("Anthropic")) == Revision(Outcome.UNCHANGED, 3)


def test_new_content_from_the_same_vendor_is_the_next_version():
    tool, digest = announced(description="Other.", vendor="  ANTHROPIC ")
    held = Current(vendor="Anthropic", vendor_key="anthropic", version=3, content_hash="old")
    assert revise(held, tool, digest, only("Anthropic")) == Revision(Outcome.UPDATED, 4, 3)


def test_another_vendors_tool_is_refused_without_naming_the_vendor():
    tool, digest = announced(vendor="Imitator Inc")
    held = Current(vendor="Anthropic", vendor_key="anthropic", version=1, content_hash=digest)
    with pytest.raises(Rejection) as err:
        revise(held, tool, digest, only("Imitator Inc"))
    assert err.value.code == "not-your-tool"
    assert err.value.field == "name"
    assert "Anthropic" not in err.value.detail


def test_a_caller_who_may_write_both_vendors_gets_a_conflict_not_naming_the_holder():
    tool, digest = announced(vendor="Imitator Inc")
    held = Current(vendor="Anthropic", vendor_key="anthropic", version=1, content_hash=digest)
    with pytest.raises(Rejection) as err:
        revise(held, tool, digest, anyone)
    assert err.value.code == "slug-taken"
    assert err.value.field == "name"
    assert "Anthropic" not in err.value.detail


def test_a_caller_writes_only_its_own_vendors_tools():
    submission = ToolSubmission.model_validate(base())
    check_own_vendor(submission, only("anthropic"))
    with pytest.raises(Rejection) as err:
        check_own_vendor(submission, only("Someone Else"))
    assert (err.value.code, err.value.field) == ("not-your-vendor", "vendor")


def test_a_batch_naming_another_vendor_is_refused_whole_listing_the_items():
    mine = ToolSubmission.model_validate(base())
    theirs = ToolSubmission.model_validate(base() | {"vendor": "Other Co"})
    invalid = Rejection("validation-failed", "bad", [{"field": "body", "message": "bad"}])
    check_own_vendors([mine, invalid, mine], only("Anthropic"))
    with pytest.raises(Rejection) as err:
        check_own_vendors([mine, theirs, invalid, theirs], only("Anthropic"))
    assert (err.value.code, err.value.field) == ("not-your-vendor", "vendor")
    assert err.value.extra == {"items": [1, 3]}
    assert [e["index"] for e in err.value.errors] == [1, 3]


def test_only_tools_written_count_against_the_quota():
    assert [writes(o) for o in Outcome] == [True, True, False]


def test_fields_not_kept_are_said_so():
    assert ignored([]) == {}
    assert ignored(["model_family"]) == {
        "ignored": ["model_family"],
        "note": "model_family: kept only from trusted submitters",
    }
