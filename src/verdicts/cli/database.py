"""``verdicts db roles``: the per-schema PostgreSQL roles, schemas and grants on an external server.

What ``verdicts up`` does on its embedded server, for compose and Kubernetes (a one-shot job):
``DATABASE_URL`` is a superuser's (or the CloudNativePG cluster's owner with CREATEROLE), and each
role's password is the one in its own ``VERDICTS_<SCHEMA>_DATABASE_URL`` (``ACCESS`` included), so
the services' secrets and the roles cannot drift apart. Idempotent; prints no credentials.
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote, urlsplit

import click

from verdicts.platform.db_roles import ACCESS, SERVICE_SCHEMAS, provision, role_name, url_variable
from verdicts.platform.settings import PlatformSettings


def role_passwords(settings: PlatformSettings) -> dict[str, str]:
    """Each schema's password, read from its own URL; a missing or mismatched URL is an error."""
    passwords: dict[str, str] = {}
    for schema in [*SERVICE_SCHEMAS, ACCESS]:
        variable = url_variable(schema)
        url = settings.database_urls.get(schema)
        if not url:
            raise click.ClickException(f"{variable} is not set")
        parts = urlsplit(url)
        if unquote(parts.username or "") != role_name(schema) or not parts.password:
            raise click.ClickException(f"{variable} must log in as {role_name(schema)} with a password")
        passwords[schema] = unquote(parts.password)
    return passwords


@click.group("db")
def db() -> None:
    """PostgreSQL administration on an external server (compose, Kubernetes)."""


@db.command("roles")
def roles() -> None:
    """Create or update every schema's role, schema and grants (DATABASE_URL: a superuser's)."""
    from verdicts.cli.main import settings_or_exit

    settings = settings_or_exit()
    if not settings.database_url:
        raise click.ClickException("DATABASE_URL (a superuser's) is not set")
    passwords = role_passwords(settings)
    asyncio.run(provision(settings.database_url, passwords))
    click.echo("roles provisioned: " + ", ".join(role_name(s) for s in passwords))
