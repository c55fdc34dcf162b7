"""The ``portal`` command: serve, worker, migrate, demo, users, tokens, orders, products, policy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import click
import uvicorn
from arq.worker import Worker
from sqlmodel import select

from portal.accounts import AccountError, create_api_token, create_user, set_active
from portal.catalog import parse_products, upsert_products
from portal.composition import build_context
from portal.db import Database, NotMigrated
from portal.db import migrate as run_migrations
from portal.demo import seed_demo
from portal.jobs.worker import check_worker, worker_settings
from portal.models.staff import StaffUser
from portal.orders import IngestError, import_orders, parse_order_file
from portal.policy.cli import policy as policy_group
from portal.policy.loader import PolicyLoadError
from portal.policy.versions import (
    PolicyVersionError,
    backtest_candidate,
    list_versions,
    publish,
    rollback,
)
from portal.settings import Settings, SettingsError, load_settings
from portal.web.logging import configure_logging

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` against the configured database, migrated or not."""

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        try:
            await db.ensure_migrated()
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


@click.group()
def main() -> None:
    """Self-hosted returns and exchanges portal."""


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic upgrade head)."""
    settings = _settings()
    run_migrations(settings.resolved_database_url)
    click.echo("Database is at the latest revision.")


# uvicorn's own proxy handling would believe X-Forwarded-For from 127.0.0.1 (its default):
# off, the app takes the client address through PORTAL_TRUSTED_PROXIES only (portal.app).
UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": False}


def _serve(settings: Settings, host: str, port: int, workers: int, reload: bool = False) -> None:
    os.environ.setdefault("PORTAL_SECRET_KEY", settings.ensure_secret_key())
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        reload=reload,
        **UVICORN_OPTIONS,
    )


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=None, type=int, help="Web worker processes (PORTAL_WEB_WORKERS)."
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the portal (production). The database must be migrated."""
    settings = _settings()

    async def check() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await db.ensure_migrated()
        finally:
            await db.dispose()

    try:
        asyncio.run(check())
    except NotMigrated as exc:
        raise click.ClickException(str(exc)) from None
    _serve(settings, host, port, workers or settings.web_workers)


@main.command()
@click.option("--check", is_flag=True, help="Exit 0 if a worker reported healthy recently.")
def worker(check: bool) -> None:
    """Run the arq background worker (needs PORTAL_REDIS_URL)."""
    settings = _settings()
    if check:
        raise SystemExit(check_worker(settings))
    configure_logging(settings.log_level, settings.log_json)
    Worker(**worker_settings(settings, build_context)).run()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--fresh", is_flag=True, help="Delete the demo database and start over.")
def demo(host: str, port: int, fresh: bool) -> None:
    """Run the whole portal on a local SQLite file with a seeded demo store."""
    base_url = os.environ.get("PORTAL_BASE_URL", f"http://{host}:{port}")
    settings = _settings(base_url=base_url)
    if settings.env == "production":
        # The demo's staff passwords are printed here and published in the README.
        raise click.ClickException(
            "portal demo refuses to run with PORTAL_ENV=production: it creates staff accounts "
            "whose passwords are public. Use `portal users create` for real accounts."
        )
    if not settings.is_sqlite and not os.environ.get("PORTAL_DEMO_ALLOW_SERVER_DB"):
        raise click.ClickException(
            "portal demo runs on a SQLite file; unset PORTAL_DATABASE_URL to use the default."
        )
    db_path = Path(settings.resolved_database_url.split("///", 1)[-1])
    if fresh and db_path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        click.echo(f"Removed {db_path}.")
    run_migrations(settings.resolved_database_url)
    summary = _with_session(settings, seed_demo)
    click.echo("")
    click.echo(
        f"  {settings.store_name} demo: {summary.products} products, {summary.orders} orders"
    )
    click.echo(f"  Shopper portal:  {base_url}/")
    click.echo(f"  Staff login:     {base_url}/login")
    for email, password, roles in summary.users:
        click.echo(f"    {', '.join(roles):<10} {email:<26} {password}")
    click.echo(f"  Data in {settings.data_dir.resolve()}; press Ctrl+C to stop.")
    click.echo("")
    os.environ["PORTAL_BASE_URL"] = base_url
    _serve(settings, host, port, workers=1)


# --- users -----------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Staff accounts."""


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["admin", "merchant", "warehouse", "finance"]),
)
@click.option("--name", default="")
@click.password_option()
def users_create(email: str, roles: tuple[str, ...], name: str, password: str) -> None:
    """Create a staff user (asks for the password; --password for scripts)."""
    try:
        user = _with_session(
            _settings(), lambda s: create_user(s, email, password, list(roles), name=name)
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.email} ({', '.join(user.roles)}).")


@users.command("list")
def users_list() -> None:
    """List staff users."""

    async def fetch(session: Any) -> list[StaffUser]:
        return list((await session.exec(select(StaffUser).order_by(StaffUser.email))).all())

    for user in _with_session(_settings(), fetch):
        state = "active" if user.active else "disabled"
        click.echo(f"{user.email:<32} {','.join(user.roles):<20} {state}")


@users.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable a staff user; their sessions stop working at once."""
    try:
        _with_session(_settings(), lambda s: set_active(s, email, False, actor="cli"))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Disabled {email}.")


@users.command("enable")
@click.argument("email")
def users_enable(email: str) -> None:
    """Enable a disabled staff user."""
    try:
        _with_session(_settings(), lambda s: set_active(s, email, True, actor="cli"))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Enabled {email}.")


# --- API tokens ------------------------------------------------------------------------------


@main.group()
def tokens() -> None:
    """API tokens for the store's integration."""


@tokens.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Create a token; it is shown once."""
    issued = _with_session(_settings(), lambda s: create_api_token(s, name))
    click.echo(issued.secret)
    click.echo(f"Token {name!r} created. Store it now: it is not shown again.", err=True)


# --- imports ---------------------------------------------------------------------------------


@main.group()
def orders() -> None:
    """Orders from the store."""


@orders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def orders_import(file: Path) -> None:
    """Import orders from JSON or CSV; any bad row and nothing is written."""
    try:
        parsed = parse_order_file(file)
        created, updated = _with_session(
            _settings(), lambda s: import_orders(s, parsed, actor=f"import:{file.name}")
        )
    except IngestError as exc:
        for error in exc.errors:
            click.echo(f"{file}: {error}", err=True)
        raise click.ClickException(f"{len(exc.errors)} error(s); nothing was imported.") from None
    click.echo(f"Imported {created + updated} orders ({created} new, {updated} updated).")


@main.group()
def products() -> None:
    """Products, variants and stock from the store."""


@products.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def products_import(file: Path) -> None:
    """Import products from JSON; any bad item and nothing is written."""
    try:
        parsed = parse_products(json.loads(file.read_text()))
        count = _with_session(_settings(), lambda s: upsert_products(s, parsed, actor="import"))
    except (IngestError, json.JSONDecodeError) as exc:
        for error in getattr(exc, "errors", [exc]):
            click.echo(f"{file}: {error}", err=True)
        raise click.ClickException("nothing was imported.") from None
    click.echo(f"Imported {count} products.")


main.add_command(policy_group)


def _policy_errors_exit(exc: Exception, path: Path) -> None:
    if isinstance(exc, PolicyLoadError):
        for error in exc.errors:
            click.echo(str(error), err=True)
        click.echo(f"{path} was not applied; the active policy is unchanged.", err=True)
        raise SystemExit(2)
    raise exc


@policy_group.command("apply")
@click.argument(
    "policy_file", metavar="POLICY", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--author", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@click.option("--note", default="", help="Why this version (kept in the history).")
def policy_apply(policy_file: Path, author: str, note: str) -> None:
    """Store POLICY as a new version and activate it (a bad policy is never activated)."""
    text = policy_file.read_text(encoding="utf-8")
    try:
        version = _with_session(
            _settings(), lambda s: publish(s, text, author, note, file=str(policy_file))
        )
    except PolicyLoadError as exc:
        _policy_errors_exit(exc, policy_file)
    click.echo(
        f"Policy {version.name!r} is active as version {version.version} "
        f"(sha256 {version.sha256[:12]})."
    )


@policy_group.command("versions")
def policy_versions() -> None:
    """List stored policy versions, newest first."""
    for v in _with_session(_settings(), list_versions):
        marker = "*" if v.active else " "
        click.echo(
            f"{marker} v{v.version:<4} {v.created_at:%Y-%m-%d %H:%M} {v.author:<20} "
            f"{v.sha256[:12]}  {v.name}{f' — {v.note}' if v.note else ''}"
        )


@policy_group.command("rollback")
@click.argument("version", type=int)
@click.option("--author", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
def policy_rollback(version: int, author: str) -> None:
    """Make an earlier VERSION active again."""
    try:
        target = _with_session(_settings(), lambda s: rollback(s, version, author))
    except PolicyVersionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Version {target.version} ({target.name}) is active again.")


@policy_group.command("backtest")
@click.argument(
    "policy_file", metavar="POLICY", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only returns created on or after this day (UTC).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the changed returns to this CSV file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def policy_backtest(policy_file: Path, since: Any, csv_path: Path | None, as_json: bool) -> None:
    """Replay past returns under POLICY and report what would change."""
    text = policy_file.read_text(encoding="utf-8")
    since_utc = since.replace(tzinfo=UTC) if since else None
    try:
        report = _with_session(
            _settings(), lambda s: backtest_candidate(s, text, since_utc, file=str(policy_file))
        )
    except PolicyLoadError as exc:
        _policy_errors_exit(exc, policy_file)
    if csv_path:
        report.write_csv(csv_path)
    counts = report.counts()
    if as_json:
        click.echo(json.dumps(counts, indent=2))
        return
    click.echo(
        f"Replayed {counts['returns']} returns ({counts['lines']} lines) under {policy_file}:"
    )
    for key, value in counts.items():
        if key not in ("returns", "lines"):
            click.echo(f"  {key.replace('_', ' '):<32} {value}")
    if csv_path:
        click.echo(f"Changed returns written to {csv_path}.")


if __name__ == "__main__":
    sys.exit(main())
