from __future__ import annotations

import pytest

from verdicts.platform.settings import PlatformSettings, SettingsError, load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VERDICTS_NATS_URL", "http://localhost:4222"),
        ("DATABASE_URL", "mysql://x"),
        ("VERDICTS_PORT", "eighty"),
        ("VERDICTS_PORT", "70000"),
        ("VERDICTS_MAX_DELIVER", "0"),
        ("VERDICTS_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_wrong_value_names_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings(PlatformSettings)
    assert str(err.value).startswith(f"invalid setting {variable}:")


def test_defaults_and_environment(monkeypatch):
    monkeypatch.setenv("VERDICTS_PORT", "9001")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    settings = load_settings(PlatformSettings)
    assert settings.port == 9001
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.max_deliver == 5
