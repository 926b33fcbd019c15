from __future__ import annotations

import hashlib

import pytest
from itsdangerous import Signer

from verdicts.votes.domain.tokens import SALT, InvalidVoterToken, issue_token, verify_token

pytestmark = pytest.mark.unit

SECRET = "test-secret-not-for-production"


def test_roundtrip_returns_the_voter_id() -> None:
    token, voter_id = issue_token(SECRET)
    assert verify_token(token, SECRET) == voter_id
    assert voter_id in token
    assert len(voter_id) == 22


def test_every_token_names_a_new_voter() -> None:
    ids = {issue_token(SECRET)[1] for _ in range(100)}
    assert len(ids) == 100


def test_a_forged_signature_is_refused() -> None:
    token, _ = issue_token(SECRET)
    voter_id, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(InvalidVoterToken) as caught:
        verify_token(f"{voter_id}.{flipped}", SECRET)
    assert caught.value.reason == "bad signature"


def test_choosing_your_own_voter_id_is_refused() -> None:
    token, _ = issue_token(SECRET)
    _, signature = token.split(".")
    with pytest.raises(InvalidVoterToken, match="bad signature"):
        verify_token(f"{'x' * 22}.{signature}", SECRET)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token, _ = issue_token("another-secret")
    with pytest.raises(InvalidVoterToken, match="bad signature"):
        verify_token(token, SECRET)


def test_the_same_secret_under_another_salt_is_refused() -> None:
    other_purpose = Signer(SECRET, salt="something-else", digest_method=hashlib.sha256)
    with pytest.raises(InvalidVoterToken, match="bad signature"):
        verify_token(other_purpose.sign("a" * 22).decode(), SECRET)


@pytest.mark.parametrize("garbage", [".", "no-dot-at-all", "abc.", "é.é", "\ud800.x", "a.b.c", " " * 5])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidVoterToken) as caught:
        verify_token(garbage, SECRET)
    assert caught.value.reason == "bad signature"  # a fixed phrase: never the input echoed back


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(InvalidVoterToken) as caught:
        verify_token("", SECRET)
    assert caught.value.reason == "empty token"


def test_an_overlong_token_is_refused_before_checking() -> None:
    with pytest.raises(InvalidVoterToken, match="too long"):
        verify_token("a" * 10_000, SECRET)


def test_a_validly_signed_but_malformed_voter_id_is_refused() -> None:
    signer = Signer(SECRET, salt=SALT, digest_method=hashlib.sha256)
    with pytest.raises(InvalidVoterToken, match="malformed"):
        verify_token(signer.sign("").decode(), SECRET)


def test_an_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        issue_token("")
    with pytest.raises(ValueError, match="secret"):
        verify_token("a.b", "")
