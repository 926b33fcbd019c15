"""The proof of work, the form's origin check and its CSRF token: pure functions, no servers."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from altcha.v1 import solve_challenge

from verdicts.platform.origins import origin_of, same_origin
from verdicts.votes.domain.proof_of_work import (
    MAX_PAYLOAD_CHARS,
    BadSolution,
    altcha_key,
    check_solution,
    new_challenge,
)
from verdicts.votes.domain.tokens import csrf_key, csrf_matches, csrf_token, issue_token, looks_like_token

pytestmark = pytest.mark.unit

SECRET = "test-secret-for-voter-tokens-0123456789abcdef"
KEY = altcha_key(SECRET)
MAX_NUMBER = 500
REASONS = {"malformed payload", "does not solve a challenge", "expired", "unsupported algorithm"}


def challenge(key: bytes = KEY, now: dt.datetime | None = None, ttl_s: int = 600) -> dict[str, Any]:
    return new_challenge(key, MAX_NUMBER, dt.timedelta(seconds=ttl_s), now or dt.datetime.now(dt.UTC))


def answer(fields: dict[str, Any]) -> int:
    solved = solve_challenge(fields["challenge"], fields["salt"], fields["algorithm"], fields["maxnumber"])
    assert solved is not None
    return int(solved.number)


def encode(fields: Any) -> str:
    return base64.b64encode(json.dumps(fields).encode()).decode()


def payload(fields: dict[str, Any], **changes: Any) -> str:
    sent = {name: fields[name] for name in ("algorithm", "challenge", "salt", "signature")}
    return encode(sent | {"number": answer(fields)} | changes)


def refused(text: str, key: bytes = KEY) -> str:
    with pytest.raises(BadSolution) as caught:
        check_solution(text, key)
    reason = caught.value.reason
    assert reason in REASONS  # a fixed phrase: never the input echoed back
    assert reason == str(caught.value)
    return reason


def test_a_solved_challenge_round_trips() -> None:
    now = dt.datetime.now(dt.UTC)
    fields = challenge(now=now, ttl_s=300)
    assert set(fields) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    assert fields["algorithm"] == "SHA-256"
    assert fields["maxnumber"] == MAX_NUMBER
    solved = check_solution(payload(fields), KEY)
    assert solved.challenge == fields["challenge"]
    assert abs(solved.expires_at - (now + dt.timedelta(seconds=300))) < dt.timedelta(seconds=1)
    assert solved.expires_at.tzinfo is not None


def test_every_challenge_is_new() -> None:
    assert len({challenge()["challenge"] for _ in range(20)}) == 20


def test_the_key_is_derived_per_secret_and_needs_one() -> None:
    assert altcha_key(SECRET) == KEY
    assert altcha_key(SECRET + "x") != KEY
    assert altcha_key(SECRET) != csrf_key(SECRET)  # one secret, keys for separate purposes
    with pytest.raises(ValueError, match="must not be empty"):
        altcha_key("")


def test_a_wrong_number_does_not_solve() -> None:
    fields = challenge()
    wrong = (answer(fields) + 1) % (MAX_NUMBER + 1)
    assert refused(payload(fields, number=wrong)) == "does not solve a challenge"


@pytest.mark.parametrize("field", ["signature", "salt", "challenge"])
def test_a_tampered_field_does_not_solve(field: str) -> None:
    fields = challenge()
    original = fields[field]
    tampered = ("0" if original[0] != "0" else "1") + original[1:]
    assert refused(payload(fields, **{field: tampered})) == "does not solve a challenge"


def test_a_longer_expiry_cannot_be_spliced_into_the_salt() -> None:
    fields = challenge(ttl_s=10)
    later = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=365)).timestamp())
    salt = fields["salt"].split("?")[0] + f"?expires={later}&"
    assert refused(payload(fields, salt=salt)) == "does not solve a challenge"


def test_a_challenge_signed_with_another_key_does_not_solve() -> None:
    fields = challenge(key=altcha_key("another-secret-entirely-0123456789abcdef"))
    assert refused(payload(fields)) == "does not solve a challenge"


def test_an_expired_challenge_is_refused() -> None:
    fields = challenge(now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), ttl_s=600)
    assert refused(payload(fields)) == "expired"


def test_a_salt_without_an_expiry_was_never_ours() -> None:
    fields = challenge()
    assert refused(payload(fields, salt=fields["salt"].split("?")[0])) == "does not solve a challenge"


def _fields() -> dict[str, Any]:
    fields = challenge()
    return {name: fields[name] for name in ("algorithm", "challenge", "salt", "signature")} | {"number": 1}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 at all!",
        "QUJD=",  # bad padding
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
        encode([1, 2, 3]),
        encode("a string"),
        encode(None),
        encode(42),
        "é" * 8,
        base64.b64encode(b"[" * 1400).decode(),  # nesting deep enough to exhaust the recursion limit
        base64.b64encode(b'{"a":' * 300 + b"1" + b"}" * 300).decode()[:MAX_PAYLOAD_CHARS],
        "A" * (MAX_PAYLOAD_CHARS + 1),
    ],
    ids=lambda text: f"{text[:12]!r}..{len(text)}",
)
def test_malformed_payloads_are_refused(text: str) -> None:
    assert refused(text) == "malformed payload"


@pytest.mark.parametrize("missing", ["algorithm", "challenge", "salt", "signature", "number"])
def test_a_missing_field_is_malformed(missing: str) -> None:
    fields = _fields()
    del fields[missing]
    assert refused(encode(fields)) == "malformed payload"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number", True),
        ("number", False),
        ("number", -1),
        ("number", 1.0),
        ("number", "1"),
        ("number", None),
        ("salt", 5),
        ("challenge", ["x"]),
        ("signature", None),
        ("algorithm", {"name": "SHA-256"}),
    ],
)
def test_a_field_of_the_wrong_type_is_malformed(field: str, value: Any) -> None:
    assert refused(encode(_fields() | {field: value})) == "malformed payload"


@pytest.mark.parametrize("algorithm", ["SHA-1", "SHA-512", "sha-256", "MD5", ""])
def test_other_algorithms_are_refused(algorithm: str) -> None:
    assert refused(encode(_fields() | {"algorithm": algorithm})) == "unsupported algorithm"


@pytest.mark.parametrize("expires", ["soon", "1e5", "9" * 30, "-" + "9" * 30])
def test_a_garbled_expiry_is_malformed(expires: str) -> None:
    fields = _fields() | {"salt": f"abc?expires={expires}&"}
    assert refused(encode(fields)) == "malformed payload"


def test_the_reason_never_echoes_the_input() -> None:
    marker = "<script>alert(1)</script>"
    for text in (marker, encode({"algorithm": marker}), encode(_fields() | {"salt": marker + "?expires=x"})):
        with pytest.raises(BadSolution) as caught:
            check_solution(text, KEY)
        assert marker not in str(caught.value)
        assert "script" not in caught.value.reason


# The form's origin check -----------------------------------------------------------------------

SITE = "https://verdicts.example"


@pytest.mark.parametrize(
    ("origin", "fetch_site", "site_url", "host", "expected"),
    [
        # a configured site URL decides
        (SITE, "same-origin", SITE, "internal:8000", True),
        (SITE, None, SITE, None, True),
        ("https://verdicts.example:443", None, SITE, None, True),
        ("HTTPS://Verdicts.Example", None, SITE, None, True),
        (SITE, None, SITE + "/some/path/", None, True),
        ("https://verdicts.example:8443", None, SITE, None, False),
        ("http://verdicts.example", None, SITE, None, False),
        ("https://evil.example", None, SITE, "verdicts.example", False),
        ("https://verdicts.example.evil.example", None, SITE, None, False),
        ("http://internal:8000", None, SITE, "internal:8000", False),  # the host does not count then
        ("http://localhost:8000", None, "http://localhost:8000", None, True),
        ("http://localhost", None, "http://localhost:80", None, True),
        # no site URL: the request's own host decides, whatever the scheme behind a TLS proxy
        ("http://testserver.local", None, "", "testserver.local", True),
        ("https://verdicts.example", None, "", "verdicts.example", True),
        ("https://verdicts.example", None, "", "verdicts.example:443", True),
        ("http://verdicts.example", None, "", "verdicts.example:80", True),
        ("http://verdicts.example:8000", None, "", "verdicts.example:8000", True),
        ("http://verdicts.example:8000", None, "", "verdicts.example:8001", False),
        ("http://verdicts.example", None, "", "verdicts.example:8000", False),
        ("https://evil.example", None, "", "verdicts.example", False),
        ("http://verdicts.example", None, "", None, False),
        ("http://verdicts.example", None, "", "", False),
        # IPv6 hosts
        ("http://[::1]:8000", None, "", "[::1]:8000", True),
        ("http://[2001:DB8::1]", None, "", "[2001:db8::1]", True),
        ("http://[::1]:8000", None, "", "[::2]:8000", False),
        ("http://[::1]:8000", None, "http://[::1]:8000", None, True),
        # "null" (a sandboxed or privacy-sensitive context) and other non-origins are not ours
        ("null", None, SITE, "verdicts.example", False),
        ("null", None, "", "verdicts.example", False),
        ("", None, SITE, None, False),
        ("file://", None, "", "verdicts.example", False),
        ("ftp://verdicts.example", None, "", "verdicts.example", False),
        ("https://verdicts.example:99999", None, SITE, None, False),
        # Sec-Fetch-Site: only same-origin passes when sent
        (SITE, "cross-site", SITE, None, False),
        (SITE, "same-site", SITE, None, False),
        (SITE, "none", SITE, None, False),
        (SITE, "", SITE, None, False),
        (SITE, " Same-Origin ", SITE, None, True),
        (None, "same-origin", SITE, None, True),
        (None, "cross-site", SITE, None, False),
        (None, "same-site", "", "verdicts.example", False),
        # neither header: not a current browser, left to the CSRF token
        (None, None, SITE, None, True),
        (None, None, "", None, True),
    ],
)
def test_same_origin(
    origin: str | None, fetch_site: str | None, site_url: str, host: str | None, expected: bool
) -> None:
    assert same_origin(origin, fetch_site, site_url, host) is expected


def test_origin_of_normalises() -> None:
    assert origin_of("HTTPS://Example.COM:443/path?q#f") == "https://example.com"
    assert origin_of("http://example.com:8080") == "http://example.com:8080"
    assert origin_of("http://[::1]") == "http://[::1]"
    assert origin_of(" https://example.com ") == "https://example.com"
    for garbage in ("null", "example.com", "https://", "https://x:port", "javascript:alert(1)", "data:,x"):
        assert origin_of(garbage) is None


# CSRF tokens and token shapes ----------------------------------------------------------------------


def test_a_csrf_token_belongs_to_its_voter() -> None:
    key = csrf_key(SECRET)
    _, voter = issue_token(SECRET)
    _, other = issue_token(SECRET)
    token = csrf_token(key, voter)
    assert token == csrf_token(key, voter)  # stable
    assert csrf_matches(key, voter, token)
    assert not csrf_matches(key, other, token)
    assert csrf_token(key, other) != token
    assert not csrf_matches(csrf_key("another-secret-entirely-0123456789abcdef"), voter, token)
    assert "=" not in token
    assert len(token) == 43


@pytest.mark.parametrize("sent", [None, "", " ", "x", "é" * 43, "\x00" * 43])
def test_a_missing_or_garbage_csrf_token_does_not_match(sent: str | None) -> None:
    key = csrf_key(SECRET)
    _, voter = issue_token(SECRET)
    assert not csrf_matches(key, voter, sent)


def test_a_tampered_csrf_token_does_not_match() -> None:
    key = csrf_key(SECRET)
    _, voter = issue_token(SECRET)
    token = csrf_token(key, voter)
    for tampered in (("A" if token[0] != "A" else "B") + token[1:], token[:-1], token + "A", token.upper()):
        if tampered != token:
            assert not csrf_matches(key, voter, tampered)


def test_the_csrf_key_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        csrf_key("")


def test_a_real_token_looks_like_one() -> None:
    for _ in range(20):
        token, _ = issue_token(SECRET)
        assert looks_like_token(token)
    foreign, _ = issue_token("another-secret-entirely-0123456789abcdef")
    assert looks_like_token(foreign)  # its shape is right: only its signature is wrong


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "forged.token",
        "x" * 66,
        "a" * 22 + "." + "b" * 42,
        "a" * 22 + "." + "b" * 44,
        "a" * 21 + "." + "b" * 43,
        "a" * 22 + "!" + "b" * 43,
        "a" * 22 + "." + "b" * 42 + "=",
        "a" * 22 + "." + "b" * 43 + "\n",
        " " + "a" * 22 + "." + "b" * 43,
        "é" * 22 + "." + "b" * 43,
    ],
)
def test_garbage_does_not_look_like_a_token(garbage: str) -> None:
    assert not looks_like_token(garbage)


def test_a_token_with_a_bad_signature_still_looks_like_one() -> None:
    token, _ = issue_token(SECRET)
    voter_id, signature = token.split(".")
    assert looks_like_token(f"{voter_id}.{('A' if signature[0] != 'A' else 'B') + signature[1:]}")
