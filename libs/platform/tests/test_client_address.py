"""Client addresses behind proxies, rate-limit keys, and the key format: pure logic."""

from __future__ import annotations

import pytest

from verdicts.platform.access.keys import ApiKey, MalformedKey, Scope, new_key, parse_key, parse_scopes
from verdicts.platform.client_address import client_address, limit_key, parse_networks

pytestmark = pytest.mark.unit

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.7")


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    assert client_address("203.0.113.9", "1.2.3.4", PROXIES) == "203.0.113.9"
    assert client_address("203.0.113.9", "1.2.3.4", ()) == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_names_the_first_untrusted_hop():
    assert client_address("10.1.1.1", "198.51.100.2", PROXIES) == "198.51.100.2"
    # A client that forges an earlier hop does not get to choose: the proxy's own entry wins.
    assert client_address("10.1.1.1", "6.6.6.6, 198.51.100.2, 10.2.2.2", PROXIES) == "198.51.100.2"


def test_a_garbled_hop_stops_at_the_last_vouched_address():
    assert client_address("10.1.1.1", "198.51.100.2, garbage", PROXIES) == "10.1.1.1"
    assert client_address("10.1.1.1", "", PROXIES) == "10.1.1.1"


def test_ipv6_is_limited_per_64_and_mapped_ipv4_as_ipv4():
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("198.51.100.2") == "198.51.100.2"
    assert client_address("::ffff:198.51.100.2", None, ()) == "198.51.100.2"


def test_bad_proxy_settings_name_the_entry():
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_networks("10.0.0.0/8, not-an-ip")


def test_keys_parse_and_malformed_keys_never_echo():
    fresh = new_key()
    assert parse_key(fresh.secret_key) == fresh.key_id
    assert len(fresh.digest) == 32
    with pytest.raises(MalformedKey) as failure:
        parse_key("vdk_short_secret")
    assert "secret" not in str(failure.value)


def test_scopes_parse_and_admin_implies_all():
    assert parse_scopes("tools:write, inference") == {Scope.TOOLS_WRITE, Scope.INFERENCE}
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes("tools:read")
    admin = ApiKey("k", "admin", frozenset({Scope.ADMIN}), frozenset())
    assert all(admin.allows(scope) for scope in Scope)
    assert admin.owns_vendor("Anyone")
    writer = ApiKey("k", "w", frozenset({Scope.TOOLS_WRITE}), frozenset({"Acme"}))
    assert writer.owns_vendor("acme")
    assert not writer.owns_vendor("Other")
    assert not writer.allows(Scope.INFERENCE)
