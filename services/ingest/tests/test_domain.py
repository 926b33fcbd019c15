from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from verdicts.ingest.domain import (
    ToolSubmission,
    content_hash,
    make_slug,
    match_category,
    to_tool,
)
from verdicts.platform.http import field_errors
from verdicts.platform.testing import SAMPLE_TOOLS_FILE

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
