"""`verdicts db roles` reads each role's password from its own URL and refuses a missing or wrong one."""

from __future__ import annotations

import click
import pytest

from verdicts.cli.database import role_passwords
from verdicts.platform.db_roles import ACCESS, SERVICE_SCHEMAS, role_name
from verdicts.platform.settings import PlatformSettings

pytestmark = pytest.mark.unit


def urls(**override: str) -> dict[str, str]:
    every = {s: f"postgresql://{role_name(s)}:pw{s.replace('_', '')}@db/verdicts" for s in SERVICE_SCHEMAS}
    every[ACCESS] = f"postgresql://{role_name(ACCESS)}:pw%40x@db:5432/verdicts"
    return {**every, **override}


def test_passwords_come_from_each_roles_url():
    passwords = role_passwords(PlatformSettings(database_urls=urls()))
    assert passwords[ACCESS] == "pw@x"
    assert passwords["review_panel"] == "pwreviewpanel"
    assert set(passwords) == {*SERVICE_SCHEMAS, ACCESS}


def test_a_missing_or_foreign_url_is_refused():
    missing = urls()
    del missing["votes"]
    with pytest.raises(click.ClickException, match="VERDICTS_VOTES_DATABASE_URL is not set"):
        role_passwords(PlatformSettings(database_urls=missing))
    foreign = urls(render="postgresql://verdicts_votes:pw@db:5432/verdicts")
    with pytest.raises(click.ClickException, match="must log in as verdicts_render"):
        role_passwords(PlatformSettings(database_urls=foreign))
