"""Throughput and p99 latency of the shopper's "choose items" page, beside a bare page.

Set-up: a throwaway PostgreSQL database, migrated; the 30-rule policy of
``policy_bench.py`` published as the active policy; one order with 5 lines. The portal
is served by uvicorn (one worker, loopback) exactly as ``portal serve`` would, with
sessions in Redis when one answers (as in production) or in the database otherwise. A
shopper session is opened through the real lookup form; the load then comes from a
separate process: a small keep-alive HTTP/1.1 client that records every latency.

The bare page is a one-route Litestar app returning the same number of bytes, served by
the same uvicorn settings and loaded by the same client in the same run.

Run: ``uv run python benchmarks/choose_items_bench.py [--seconds 10] [--connections 16]``
(needs PostgreSQL at ``PORTAL_TEST_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

POSTGRES_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


# --- the bare page (imported by uvicorn in its own process) ------------------------------


def bare_app() -> Any:
    """A Litestar app with one page of BENCH_BODY_SIZE bytes of HTML."""
    from litestar import Litestar, MediaType, Response, get

    size = int(os.environ["BENCH_BODY_SIZE"])
    body = (b"<!doctype html><title>bare</title>" + b"x" * size)[:size]

    @get("/", sync_to_thread=False)
    def page() -> Response[bytes]:
        return Response(body, media_type=MediaType.HTML)

    return Litestar(route_handlers=[page], signature_namespace={"Response": Response})


def portal_with_bare_page() -> Any:
    """The portal app (every middleware: sessions, CSRF, logging) plus one page of
    BENCH_BODY_SIZE static bytes: what the stack costs before the page does any work."""
    from litestar import MediaType, Response, get

    from portal.app import create_app

    size = int(os.environ["BENCH_BODY_SIZE"])
    body = (b"<!doctype html><title>bare</title>" + b"x" * size)[:size]

    @get("/bench-bare", sync_to_thread=False, signature_namespace={"Response": Response})
    def page() -> Response[bytes]:
        return Response(body, media_type=MediaType.HTML)

    app = create_app()
    app.register(page)
    return app


# --- load generator (runs in a separate process) ---------------------------------------


async def _connection(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if match is None:
                errors.append("no content-length")
                return
            await reader.readexactly(int(match.group(1)))
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"HTTP {status}")
    finally:
        writer.close()


async def _load(url: str, cookie: str, seconds: float, connections: int) -> dict[str, Any]:
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, _, path = port_path.partition("/")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bench\r\n"
        f"Accept: text/html\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n"
    ).encode()
    latencies: list[float] = []
    errors: list[str] = []
    warm_until = time.perf_counter() + min(2.0, seconds / 3)
    await asyncio.gather(
        *(_connection(host, int(port), request, warm_until, [], errors) for _ in range(connections))
    )
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(
            _connection(host, int(port), request, deadline, latencies, errors)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - start
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": p(0.50),
        "p99_ms": p(0.99),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def run_load(url: str, cookie: str, seconds: float, connections: int) -> dict[str, Any]:
    """Start the load generator as its own process and read its JSON result."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load",
            url,
            "--cookie",
            cookie,
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return json.loads(out.stdout)


# --- servers ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(target: str, env: dict[str, str], app_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            "--app-dir",
            str(app_dir),
        ],
        env={**os.environ, **env},
        cwd=ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"{target} did not start") from None
            time.sleep(0.1)
    raise SystemExit(f"{target} did not start in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


# --- set-up ----------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _seed(database_url: str) -> None:
    from datetime import timedelta

    from policy_bench import POLICY

    from portal.catalog import ProductIn, VariantIn, upsert_products
    from portal.db import Database
    from portal.models.base import utcnow
    from portal.orders import AddressIn, CustomerIn, LineIn, OrderIn, upsert_order
    from portal.policy.versions import publish
    from portal.settings import async_database_url

    db = Database(async_database_url(database_url))
    now = utcnow()
    products = [
        ProductIn(
            handle=f"p{i}",
            title=f"Product {i}",
            product_type="Tops",
            vendor="Acme",
            tags=["cotton"],
            variants=[
                VariantIn(sku=f"P{i}-{size}", title=size, price=2500 + 1000 * i, stock=20)
                for size in ("S", "M", "L", "XL")
            ],
        )
        for i in range(5)
    ]
    lines = [
        LineIn(
            id=f"L{i + 1}",
            sku=f"P{i}-M",
            title=f"Product {i}",
            variant_title="M",
            product_type="Tops",
            vendor="Acme",
            tags=["cotton"] + (["final-sale"] if i == 4 else []),
            quantity=1 + i % 2,
            unit_price=2500 + 1000 * i,
            discount=500 if i == 2 else 0,
        )
        for i in range(5)
    ]
    order = OrderIn(
        number="5001",
        email="bench@example.com",
        currency="USD",
        placed_at=now - timedelta(days=6),
        fulfilled_at=now - timedelta(days=5),
        delivered_at=now - timedelta(days=3),
        total=sum(li.unit_price * li.quantity - li.discount for li in lines),
        customer=CustomerIn(email="bench@example.com", name="Bench Shopper", tags=["vip"]),
        shipping_address=AddressIn(country="US", postal_code="97205", name="Bench Shopper"),
        lines=lines,
    )
    async with db.session() as session:
        version = await publish(session, POLICY, author="bench")
        assert version.id
        await upsert_products(session, products, actor="bench")
        await upsert_order(session, order, "bench")
        await session.commit()
    await db.dispose()


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _open_session(base: str) -> tuple[str, int]:
    import httpx

    with httpx.Client(base_url=base, follow_redirects=False) as client:
        client.get("/")
        token = client.cookies["portal_csrf"]
        response = client.post(
            "/", data={"order_number": "5001", "contact": "bench@example.com", "_csrf_token": token}
        )
        assert response.status_code == 303, response.text
        page = client.get("/order")
        assert page.status_code == 200 and "Product 0" in page.text, page.text[:500]
        assert "Final" in page.text  # the final-sale line shows its policy message
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        return cookie, len(page.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--load")
    parser.add_argument("--cookie", default="")
    parser.add_argument("--no-redis", action="store_true", help="keep sessions in PostgreSQL")
    args = parser.parse_args()
    if args.load:
        print(
            json.dumps(asyncio.run(_load(args.load, args.cookie, args.seconds, args.connections)))
        )
        return

    from portal.db import migrate
    from portal.settings import async_database_url

    name = f"portal_bench_{uuid.uuid4().hex[:8]}"
    database_url = re.sub(r"/[^/]*$", f"/{name}", POSTGRES_ADMIN_URL)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        migrate(async_database_url(database_url))
        asyncio.run(_seed(database_url))
        use_redis = not args.no_redis and _redis_answers()
        data_dir = Path(tempfile.mkdtemp(prefix="portal-bench-"))
        env = {
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "PORTAL_DATA_DIR": str(data_dir),
            "PORTAL_LOG_LEVEL": "WARNING",
            "PORTAL_LOOKUP_ATTEMPTS_PER_MINUTE": "1000",
            "PORTAL_REDIS_URL": REDIS_URL if use_redis else "",
        }
        portal, portal_url = _serve("portal.app:create_app", env, ROOT)
        servers.append(portal)
        cookie, size = _open_session(portal_url)
        _stop(portal)
        servers.remove(portal)
        env["BENCH_BODY_SIZE"] = str(size)
        portal, portal_url = _serve(
            "choose_items_bench:portal_with_bare_page", env, ROOT / "benchmarks"
        )
        servers.append(portal)
        bare, bare_url = _serve(
            "choose_items_bench:bare_app", {"BENCH_BODY_SIZE": str(size)}, ROOT / "benchmarks"
        )
        servers.append(bare)
        print(
            f"choose-items page: {size} bytes, order with 5 lines, 30-rule policy, "
            f"PostgreSQL, sessions in {'Redis' if use_redis else 'PostgreSQL'}; "
            f"uvicorn 1 worker; {args.connections} keep-alive connections from a separate "
            f"process; {args.seconds:g} s each"
        )
        page = run_load(f"{portal_url}/order", cookie, args.seconds, args.connections)
        plain = run_load(f"{bare_url}/", "", args.seconds, args.connections)
        stack = run_load(f"{portal_url}/bench-bare", cookie, args.seconds, args.connections)
        for label, result in (
            ("choose items", page),
            ("bare page", plain),
            ("bare page in the portal's middleware stack", stack),
        ):
            print(
                f"  {label:44s} {result['rps']:8.0f} req/s   p50 {result['p50_ms']:6.1f} ms   "
                f"p99 {result['p99_ms']:6.1f} ms   errors {result['errors']}"
                + (f" ({result['first_error']})" if result["errors"] else "")
            )
        print(f"  ratio (choose items / bare): {page['rps'] / plain['rps']:.3f}  (goal >= 0.6)")
        print(
            f"  ratio (choose items / bare page in the portal stack): "
            f"{page['rps'] / stack['rps']:.2f}"
        )
    finally:
        for process in servers:
            _stop(process)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
