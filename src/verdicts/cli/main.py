"""The `verdicts` command: up, run, status, announce, review, ask, keys, deadletters, outbox, newsletter,
docs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from verdicts.cli.database import db
from verdicts.cli.deadletters import deadletters, outbox
from verdicts.cli.newsletter import newsletter
from verdicts.cli.registry import SERVICE_MODULES
from verdicts.platform.embedded.process import EmbeddedError
from verdicts.platform.settings import PlatformSettings, SettingsError, load_settings, platform_settings


def fail(message: str) -> None:
    click.echo(f"verdicts: {message}", err=True)
    sys.exit(2)


def api_failure(exc: Exception, base: str) -> str:
    """One line for a CLI command that talks to the API: its own error, or the API unreachable."""
    import httpx

    if isinstance(exc, httpx.HTTPError):
        return f"cannot reach the API at {base}: {exc.__class__.__name__} (is `verdicts up` running?)"
    return str(exc)


def settings_or_exit() -> PlatformSettings:
    try:
        return load_settings(PlatformSettings)
    except SettingsError as exc:
        fail(str(exc))
        raise


@click.group()
def main() -> None:
    """Verdicts: AI tool A vs B, which one should you ship with?"""


@main.command()
def up() -> None:
    """Start the whole stack on embedded defaults (Ctrl-C stops everything)."""
    import asyncio

    from verdicts.cli.demo import announce_demo_in_background
    from verdicts.cli.keys import auth_headers, ensure_admin_key
    from verdicts.cli.registry import load_all
    from verdicts.cli.serving import serve
    from verdicts.cli.stack import (
        EmbeddedSettings,
        home_lock,
        raise_keyboard_interrupt_on_sigterm,
        start_stack,
    )
    from verdicts.platform.service import build_app

    raise_keyboard_interrupt_on_sigterm()
    settings = settings_or_exit()
    ports = load_settings(EmbeddedSettings)
    http_url = f"http://{settings.host}:{settings.port}"
    try:
        with home_lock(settings.home) as note:
            if note:
                click.echo(f"verdicts: {note}", err=True)
            click.echo(f"Starting Verdicts in {settings.home.resolve()} ...")
            stack = start_stack(settings, ports)
            try:
                os.environ.update(stack.environment())
                platform_settings.cache_clear()
                settings = settings_or_exit()

                def announce() -> None:
                    stack.write_state(http_url)
                    click.echo(
                        "\nVerdicts is up.\n"
                        f"  HTTP API      {http_url}  (ready: {http_url}/health/ready)\n"
                        f"  NATS          {stack.public_nats_url}\n"
                        f"  PostgreSQL    {stack.public_database_url}\n"
                        f"  Model server  {stack.model_url}\n"
                        + (
                            f"  Mail          {settings.home.resolve() / 'mail'}  (.eml)\n"
                            if stack.smtp_env
                            else ""
                        )
                        + f"  Data          {settings.home.resolve()}\n"
                        "Press Ctrl-C to stop.",
                        err=False,
                    )

                key_file, created = asyncio.run(ensure_admin_key(settings.home, stack.keys_database_url))
                click.echo(
                    f"Admin API key {'written to' if created else 'kept in'} {key_file.resolve()} "
                    "(owner-only; `verdicts announce` and `verdicts review` use it)."
                )
                started_hooks = [announce]
                if ports.demo:
                    started_hooks.append(
                        lambda: announce_demo_in_background(http_url, auth_headers(settings.home), click.echo)
                    )
                app = build_app(load_all(), settings, on_started=started_hooks)
                started = serve(app, settings)
            finally:
                stack.stop()
            if not started:
                fail("the services did not start; see the log lines above")
            click.echo("Verdicts stopped.")
    except EmbeddedError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("Verdicts stopped.")


@main.command()
@click.argument("name", type=click.Choice(sorted(SERVICE_MODULES)))
def run(name: str) -> None:
    """Run one service alone (what a Kubernetes pod runs)."""
    from verdicts.cli.registry import load_service, schema_of
    from verdicts.cli.serving import serve
    from verdicts.platform.db_roles import url_variable
    from verdicts.platform.service import build_app

    settings = settings_or_exit()
    if not settings.nats_url or not settings.database_url_for(schema_of(name)):
        fail(
            f"`verdicts run` needs VERDICTS_NATS_URL and {url_variable(schema_of(name))} or DATABASE_URL "
            "(`verdicts up` starts both)"
        )
    if not serve(build_app([load_service(name)], settings), settings):
        fail(f"{name} did not start; see the log lines above")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Streams, consumers, schemas and the model backend of the running stack."""
    from verdicts.cli.status import status_report

    report = status_report(settings_or_exit().home)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for section, value in report.items():
        click.echo(f"{section}:")
        if isinstance(value, dict):
            for key, item in value.items():
                click.echo(f"  {key}: {json.dumps(item) if not isinstance(item, str) else item}")
        else:
            click.echo(f"  {value}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--api", "api", default=None, help="API base URL (default: the running `verdicts up`).")
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 1000))
def announce(file: Path, api: str | None, batch_size: int) -> None:
    """Announce the tools in FILE (a JSON or YAML list) through ingest."""
    import httpx

    from verdicts.cli.announce import AnnounceError, api_url, load_tools, send_batch, summarize
    from verdicts.cli.keys import auth_headers

    try:
        tools = load_tools(file)
    except AnnounceError as exc:
        fail(str(exc))
        return
    base = (api or api_url(settings_or_exit().home)).rstrip("/")
    try:
        results: list[dict[str, Any]] = []
        with (
            httpx.Client(base_url=base, timeout=60, headers=auth_headers(settings_or_exit().home)) as client,
            click.progressbar(
                length=len(tools), label=f"Announcing {len(tools)} tools", file=sys.stderr
            ) as bar,
        ):
            for start in range(0, len(tools), batch_size):
                chunk = tools[start : start + batch_size]
                for result in send_batch(client, chunk):
                    results.append({**result, "index": start + int(str(result["index"]))})
                bar.update(len(chunk))
    except (AnnounceError, httpx.HTTPError) as exc:
        fail(api_failure(exc, base))
        return
    for result in results:
        if result["status"] == "rejected":
            click.echo(f"  rejected item {result['index']}: {result['detail']}", err=True)
    counts = summarize(results)
    click.echo(", ".join(f"{counts[k]} {k}" for k in ("accepted", "updated", "unchanged", "rejected")))
    if counts["rejected"]:
        sys.exit(1)


@main.command()
@click.argument("slug")
@click.option("--api", "api", default=None, help="API base URL (default: the running `verdicts up`).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the panel to finish.")
@click.option("--timeout", "timeout_s", default=900.0, show_default=True, type=float)
def review(slug: str, api: str | None, wait: bool, timeout_s: float) -> None:
    """Re-run the review panel on SLUG's latest version (earlier panels stay as history)."""
    import httpx

    from verdicts.cli.announce import api_url
    from verdicts.cli.keys import auth_headers
    from verdicts.cli.review import ReviewError, describe, start_panel, wait_for_panel

    base = (api or api_url(settings_or_exit().home)).rstrip("/")
    try:
        headers = auth_headers(settings_or_exit().home)
        with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
            started = start_panel(client, slug)
            click.echo(f"panel run {started['run']} for {slug} v{started['version']} started")
            if not wait:
                return
            entry = wait_for_panel(client, slug, started["version"], started["run"], timeout_s)
    except (ReviewError, httpx.HTTPError) as exc:
        fail(api_failure(exc, base))
        return
    for line in describe(entry):
        click.echo(line)
    if entry["panel"]["status"] == "partial":
        sys.exit(1)


@main.command()
@click.option(
    "--route", default="local", show_default=True, help="Route name (local, smollm3, claude-sonnet-4, ...)."
)
@click.option(
    "--schema", "schema_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option("--max-tokens", default=256, show_default=True, type=int)
@click.option("--temperature", default=0.2, show_default=True, type=float)
@click.option("--seed", default=None, type=int)
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, type=float)
@click.argument("prompt")
def ask(
    route: str,
    schema_file: Path,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    timeout_s: float,
    prompt: str,
) -> None:
    """Ask a route for JSON following the schema in SCHEMA (through inference.generate)."""
    import asyncio

    from verdicts.cli.ask import AskError, ask_inference

    try:
        reply = asyncio.run(
            ask_inference(
                settings_or_exit().home, route, schema_file, prompt, max_tokens, temperature, seed, timeout_s
            )
        )
    except AskError as exc:
        fail(str(exc))
        return
    click.echo(json.dumps(reply.answer, indent=2, ensure_ascii=False))
    click.echo(
        f"route {reply.route} ({reply.backend}, {reply.model}): {reply.usage.tokens_in} in / "
        f"{reply.usage.tokens_out} out, {reply.latency_ms:.0f} ms, ${reply.cost_usd}",
        err=True,
    )


main.add_command(deadletters)
main.add_command(outbox)
main.add_command(db)
main.add_command(newsletter)


@main.group()
def keys() -> None:
    """Partner API keys (printed once at creation; only a digest is kept)."""


@keys.command("create")
@click.option("--name", required=True, help="Who holds the key (shown in lists and the ledger).")
@click.option(
    "--scopes", required=True, help="Comma-separated: tools:write, reviews:rerun, inference, admin."
)
@click.option("--vendor", "vendors", multiple=True, help="A vendor whose tools the key may write.")
def keys_create(name: str, scopes: str, vendors: tuple[str, ...]) -> None:
    """Create a key and print it once."""
    import asyncio

    from verdicts.cli.keys import KeysError, create, database_url
    from verdicts.platform.access.keys import parse_scopes

    try:
        wanted = parse_scopes(scopes)
        key_id, secret = asyncio.run(
            create(database_url(settings_or_exit().home), name, wanted, frozenset(vendors))
        )
    except (ValueError, KeysError) as exc:
        fail(str(exc))
        return
    click.echo(f"key {key_id} created for {name} ({', '.join(sorted(wanted))}); it is shown once:", err=True)
    click.echo(secret)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(as_json: bool) -> None:
    """Every key: id, name, scopes, vendors, created, revoked (never a secret)."""
    import asyncio

    from verdicts.cli.keys import KeysError, database_url, listing

    try:
        rows = asyncio.run(listing(database_url(settings_or_exit().home)))
    except KeysError as exc:
        fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "live"
        vendors = f" vendors={','.join(row['vendors'])}" if row["vendors"] else ""
        click.echo(f"{row['id']}  {row['name']}  {','.join(row['scopes'])}{vendors}  {state}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: every process refuses it within a second."""
    import asyncio

    from verdicts.cli.keys import KeysError, database_url, revoke

    try:
        done = asyncio.run(revoke(database_url(settings_or_exit().home), key_id))
    except KeysError as exc:
        fail(str(exc))
        return
    if not done:
        fail(f"no key {key_id!r}")
    click.echo(f"key {key_id} revoked")


@main.group()
def docs() -> None:
    """Generated documents."""


@docs.command("asyncapi")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write to a file.")
@click.option("--check", type=click.Path(path_type=Path), default=None, help="Fail if FILE is stale.")
def asyncapi(output: Path | None, check: Path | None) -> None:
    """The AsyncAPI document generated from the FastStream apps."""
    from verdicts.cli.docs import asyncapi_document

    document = asyncapi_document()
    if check is not None:
        if not check.exists() or check.read_text() != document:
            fail(f"{check} is stale: run `verdicts docs asyncapi --output {check}`")
        click.echo(f"{check} is current")
    elif output is not None:
        output.write_text(document)
        click.echo(f"wrote {output}")
    else:
        click.echo(document, nl=False)


if __name__ == "__main__":
    main()
